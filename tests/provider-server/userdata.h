/* What the fake vendors store about end users, so a read after a delete
 * shows what a real one would: Algolia users with conversations (across
 * agents) and their messages, Convai sessions per character. Also the
 * two deletion faults: "sticky" (a delete answers success, nothing goes)
 * and a delay before a deletion becomes visible. */
#ifndef PS_USERDATA_H
#define PS_USERDATA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

void userdata_init(void);
void userdata_free(void);
void userdata_reset(void);

/* POST /_control/data: merges the given users and sessions, sets the
 * deletion mode. false with *err on a bad document. */
bool userdata_seed(json_t *doc, const char **err);
json_t *userdata_snapshot(void);

/* When a deletion made now becomes visible; 0 for a sticky delete, which
 * never does. */
uint64_t userdata_visible_at(void);

/* Algolia. The result is a new reference. */
json_t *userdata_algolia_user(const char *token);
void userdata_algolia_delete_conversation(const char *agent, const char *id);
void userdata_algolia_delete_messages(const char *token);
void userdata_algolia_delete_agent(const char *agent);

/* Convai: the character's sessions as the list call shows them. */
json_t *userdata_convai_list(const char *char_id);
void userdata_convai_delete(const char *char_id, json_t *session_ids);

#endif
