/* What the fake vendors know: credentials, agents and deleted sessions. */
#ifndef PS_STATE_H
#define PS_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct keys {
        const char *vectara_key;
        const char *vectara_token;
        const char *convai_key;
        const char *algolia_app_id;
        const char *algolia_key;
        const char *avaamo_token;
};

/* The keys are read without locking, so they are set once, before the
 * server starts. */
void state_set_keys(const struct keys *keys);
const struct keys *state_keys(void);

void state_init(void);
void state_free(void);

/* Startup configuration; DELETE /_control/state returns to it. */
void state_add_initial_missing(const char *agent_id);
void state_add_initial_unlocked(const char *agent_id);

bool state_agent_missing(const char *agent_id);
bool state_agent_unlocked(const char *agent_id);

/* Remembers a deleted Vectara session, gone from visible_at (mono ms; 0:
 * a sticky delete that never goes); false if it was already deleted. */
bool state_delete_session(const char *agent_id, const char *session_id,
                          uint64_t visible_at);
/* Whether a read of the session finds it gone by now. */
bool state_session_gone(const char *agent_id, const char *session_id);

/* Replaces the given sets (NULL leaves one alone); arrays of strings. */
void state_replace(json_t *missing, json_t *unlocked);
void state_reset(void);
json_t *state_snapshot(void);

#endif
