#include "userdata.h"

#include <pthread.h>
#include <string.h>

#include "util.h"

/* Deletions wait in `pending` until their time: a read applies every due
 * one first, so "visible only after a delay" needs no timer. */
static struct {
        pthread_mutex_t mu;
        json_t *users;    /* token -> {conversations: [...], memories: [...]} */
        json_t *sessions; /* charID -> [sessionID, ...] */
        json_t *pending;  /* [{at, op, a, b}] */
        bool sticky;
        uint64_t delay_ms;
} ud = {.mu = PTHREAD_MUTEX_INITIALIZER};

void userdata_init(void)
{
        ud.users = json_object();
        ud.sessions = json_object();
        ud.pending = json_array();
}

void userdata_free(void)
{
        json_decref(ud.users);
        json_decref(ud.sessions);
        json_decref(ud.pending);
}

void userdata_reset(void)
{
        pthread_mutex_lock(&ud.mu);
        json_object_clear(ud.users);
        json_object_clear(ud.sessions);
        json_array_clear(ud.pending);
        ud.sticky = false;
        ud.delay_ms = 0;
        pthread_mutex_unlock(&ud.mu);
}

uint64_t userdata_visible_at(void)
{
        uint64_t at;
        pthread_mutex_lock(&ud.mu);
        at = ud.sticky ? 0 : mono_ms() + ud.delay_ms;
        pthread_mutex_unlock(&ud.mu);
        return at;
}

/* ---- applying deletions (ud.mu held) ---- */

static void drop_conversation(const char *agent, const char *id)
{
        const char *token;
        json_t *user;
        json_object_foreach(ud.users, token, user)
        {
                json_t *convs = json_object_get(user, "conversations");
                for (size_t i = json_array_size(convs); i-- > 0;) {
                        json_t *c = json_array_get(convs, i);
                        const char *cid =
                            json_string_value(json_object_get(c, "id"));
                        const char *ag =
                            json_string_value(json_object_get(c, "agentId"));
                        if (ag && strcmp(ag, agent) == 0 &&
                            (!id || (cid && strcmp(cid, id) == 0)))
                                json_array_remove(convs, i);
                }
        }
}

static void drop_messages(const char *token)
{
        json_t *convs =
            json_object_get(json_object_get(ud.users, token), "conversations");
        size_t i;
        json_t *c;
        json_array_foreach(convs, i, c)
        {
                json_object_set_new(c, "messages", json_array());
                json_object_set_new(c, "messageCount", json_integer(0));
        }
}

static void drop_session(const char *char_id, const char *sid)
{
        json_t *list = json_object_get(ud.sessions, char_id);
        for (size_t i = json_array_size(list); i-- > 0;) {
                if (strcmp(json_string_value(json_array_get(list, i)), sid) ==
                    0)
                        json_array_remove(list, i);
        }
}

static void apply(json_t *op)
{
        const char *kind = json_string_value(json_object_get(op, "op"));
        const char *a = json_string_value(json_object_get(op, "a"));
        const char *b = json_string_value(json_object_get(op, "b"));
        if (strcmp(kind, "conversation") == 0)
                drop_conversation(a, b);
        else if (strcmp(kind, "agent") == 0)
                drop_conversation(a, NULL);
        else if (strcmp(kind, "messages") == 0)
                drop_messages(a);
        else if (strcmp(kind, "session") == 0)
                drop_session(a, b);
}

static void apply_due(void)
{
        uint64_t now = mono_ms();
        for (size_t i = 0; i < json_array_size(ud.pending);) {
                json_t *op = json_array_get(ud.pending, i);
                if ((uint64_t)json_integer_value(json_object_get(op, "at")) >
                    now) {
                        i++;
                        continue;
                }
                apply(op);
                json_array_remove(ud.pending, i);
        }
}

static void schedule(const char *op, const char *a, const char *b)
{
        pthread_mutex_lock(&ud.mu);
        if (!ud.sticky)
                json_array_append_new(
                    ud.pending, json_pack("{s:I, s:s, s:s, s:s?}", "at",
                                          (json_int_t)(mono_ms() + ud.delay_ms),
                                          "op", op, "a", a, "b", b));
        apply_due();
        pthread_mutex_unlock(&ud.mu);
}

/* ---- Algolia ---- */

json_t *userdata_algolia_user(const char *token)
{
        json_t *out;
        pthread_mutex_lock(&ud.mu);
        apply_due();
        json_t *user = json_object_get(ud.users, token);
        out = user ? json_deep_copy(user)
                   : json_pack("{s:[], s:[]}", "conversations", "memories");
        pthread_mutex_unlock(&ud.mu);
        return out;
}

void userdata_algolia_delete_conversation(const char *agent, const char *id)
{
        schedule("conversation", agent, id);
}

void userdata_algolia_delete_messages(const char *token)
{
        schedule("messages", token, NULL);
}

void userdata_algolia_delete_agent(const char *agent)
{
        schedule("agent", agent, NULL);
}

/* ---- Convai ---- */

json_t *userdata_convai_list(const char *char_id)
{
        json_t *out = json_array();
        size_t i;
        json_t *sid;
        pthread_mutex_lock(&ud.mu);
        apply_due();
        json_array_foreach(json_object_get(ud.sessions, char_id), i, sid)
        {
                json_array_append_new(
                    out, json_pack("{s:O, s:s, s:s, s:b}", "sessionID", sid,
                                   "date", "25-09-2024", "time", "20:52:57",
                                   "is_added_to_memory", 0));
        }
        pthread_mutex_unlock(&ud.mu);
        return out;
}

void userdata_convai_delete(const char *char_id, json_t *session_ids)
{
        size_t i;
        json_t *sid;
        json_array_foreach(session_ids, i, sid)
        {
                if (json_is_string(sid))
                        schedule("session", char_id, json_string_value(sid));
        }
}

/* ---- control ---- */

static bool seed_users(json_t *users, const char **err)
{
        const char *token;
        json_t *u;
        json_object_foreach(users, token, u)
        {
                json_t *convs = json_object_get(u, "conversations");
                if (!json_is_array(convs)) {
                        *err = "algolia_users.TOKEN.conversations must be an "
                               "array";
                        return false;
                }
                json_t *copy =
                    json_pack("{s:O, s:O}", "conversations", convs, "memories",
                              json_is_array(json_object_get(u, "memories"))
                                  ? json_object_get(u, "memories")
                                  : json_array());
                size_t i;
                json_t *c;
                json_array_foreach(json_object_get(copy, "conversations"), i, c)
                {
                        json_object_set_new(c, "userToken", json_string(token));
                }
                json_object_set_new(ud.users, token, json_deep_copy(copy));
                json_decref(copy);
        }
        return true;
}

bool userdata_seed(json_t *doc, const char **err)
{
        json_t *users = json_object_get(doc, "algolia_users");
        json_t *sessions = json_object_get(doc, "convai_sessions");
        json_t *mode = json_object_get(doc, "deletes");
        json_t *delay = json_object_get(doc, "deletion_delay_ms");
        bool ok = true;

        if ((users && !json_is_object(users)) ||
            (sessions && !json_is_object(sessions)) ||
            (mode && !json_is_string(mode)) ||
            (delay && !json_is_integer(delay))) {
                *err = "algolia_users and convai_sessions are objects, "
                       "deletes a string, deletion_delay_ms an integer";
                return false;
        }
        pthread_mutex_lock(&ud.mu);
        if (users)
                ok = seed_users(users, err);
        if (ok && sessions) {
                json_t *copy = json_deep_copy(sessions);
                json_object_update(ud.sessions, copy);
                json_decref(copy);
        }
        if (ok && mode)
                ud.sticky = strcmp(json_string_value(mode), "sticky") == 0;
        if (ok && delay)
                ud.delay_ms = (uint64_t)json_integer_value(delay);
        pthread_mutex_unlock(&ud.mu);
        return ok;
}

json_t *userdata_snapshot(void)
{
        json_t *snap;
        pthread_mutex_lock(&ud.mu);
        apply_due();
        snap = json_pack("{s:O, s:O, s:s, s:I, s:I}", "algolia_users", ud.users,
                         "convai_sessions", ud.sessions, "deletes",
                         ud.sticky ? "sticky" : "normal", "deletion_delay_ms",
                         (json_int_t)ud.delay_ms, "pending",
                         (json_int_t)json_array_size(ud.pending));
        json_t *deep = json_deep_copy(snap);
        json_decref(snap);
        pthread_mutex_unlock(&ud.mu);
        return deep;
}
