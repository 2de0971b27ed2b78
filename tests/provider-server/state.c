#include "state.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Sets are jansson objects whose keys are the members: a hash table that
 * is already linked in and copes with the 100k+ deleted sessions of a
 * benchmark run. */
static struct {
        pthread_mutex_t mu;
        struct keys keys;
        json_t *missing;
        json_t *unlocked;
        json_t *initial_missing;
        json_t *initial_unlocked;
        json_t *deleted_sessions;
} st = {.mu = PTHREAD_MUTEX_INITIALIZER};

void state_set_keys(const struct keys *keys)
{
        st.keys = *keys;
}

const struct keys *state_keys(void)
{
        return &st.keys;
}

void state_init(void)
{
        st.missing = json_object();
        st.unlocked = json_object();
        st.initial_missing = json_object();
        st.initial_unlocked = json_object();
        st.deleted_sessions = json_object();
}

void state_free(void)
{
        json_decref(st.missing);
        json_decref(st.unlocked);
        json_decref(st.initial_missing);
        json_decref(st.initial_unlocked);
        json_decref(st.deleted_sessions);
}

static void set_add(json_t *set, const char *member)
{
        json_object_set_new(set, member, json_true());
}

void state_add_initial_missing(const char *agent_id)
{
        pthread_mutex_lock(&st.mu);
        set_add(st.initial_missing, agent_id);
        set_add(st.missing, agent_id);
        pthread_mutex_unlock(&st.mu);
}

void state_add_initial_unlocked(const char *agent_id)
{
        pthread_mutex_lock(&st.mu);
        set_add(st.initial_unlocked, agent_id);
        set_add(st.unlocked, agent_id);
        pthread_mutex_unlock(&st.mu);
}

static bool set_has(json_t *set, const char *member)
{
        bool has;

        pthread_mutex_lock(&st.mu);
        has = json_object_get(set, member) != NULL;
        pthread_mutex_unlock(&st.mu);
        return has;
}

bool state_agent_missing(const char *agent_id)
{
        return set_has(st.missing, agent_id);
}

bool state_agent_unlocked(const char *agent_id)
{
        return set_has(st.unlocked, agent_id);
}

/* '/' cannot occur in either id (both are validated first), so the
 * joined key is unambiguous. */
static char *session_key(const char *agent_id, const char *session_id)
{
        size_t alen = strlen(agent_id);
        size_t slen = strlen(session_id);
        char *key = xmalloc(alen + slen + 2);

        memcpy(key, agent_id, alen);
        key[alen] = '/';
        memcpy(key + alen + 1, session_id, slen + 1);
        return key;
}

bool state_delete_session(const char *agent_id, const char *session_id,
                          uint64_t visible_at)
{
        char *key = session_key(agent_id, session_id);
        bool fresh;

        pthread_mutex_lock(&st.mu);
        fresh = json_object_get(st.deleted_sessions, key) == NULL;
        if (fresh && visible_at > 0)
                json_object_set_new(st.deleted_sessions, key,
                                    json_integer((json_int_t)visible_at));
        pthread_mutex_unlock(&st.mu);
        free(key);
        return fresh;
}

bool state_session_gone(const char *agent_id, const char *session_id)
{
        char *key = session_key(agent_id, session_id);
        bool gone;

        pthread_mutex_lock(&st.mu);
        json_t *at = json_object_get(st.deleted_sessions, key);
        gone = at != NULL && (uint64_t)json_integer_value(at) <= mono_ms();
        pthread_mutex_unlock(&st.mu);
        free(key);
        return gone;
}

static json_t *set_from_array(json_t *array)
{
        json_t *set = json_object();
        size_t i;
        json_t *v;

        json_array_foreach(array, i, v)
        {
                if (json_is_string(v))
                        set_add(set, json_string_value(v));
        }
        return set;
}

void state_replace(json_t *missing, json_t *unlocked)
{
        json_t *new_missing = missing != NULL ? set_from_array(missing) : NULL;
        json_t *new_unlocked =
            unlocked != NULL ? set_from_array(unlocked) : NULL;

        pthread_mutex_lock(&st.mu);
        if (new_missing != NULL) {
                json_decref(st.missing);
                st.missing = new_missing;
        }
        if (new_unlocked != NULL) {
                json_decref(st.unlocked);
                st.unlocked = new_unlocked;
        }
        pthread_mutex_unlock(&st.mu);
}

void state_reset(void)
{
        json_t *missing = json_deep_copy(st.initial_missing);
        json_t *unlocked = json_deep_copy(st.initial_unlocked);
        json_t *deleted = json_object();

        pthread_mutex_lock(&st.mu);
        json_decref(st.missing);
        json_decref(st.unlocked);
        json_decref(st.deleted_sessions);
        st.missing = missing;
        st.unlocked = unlocked;
        st.deleted_sessions = deleted;
        pthread_mutex_unlock(&st.mu);
}

static json_t *set_members(json_t *set)
{
        json_t *array = json_array();
        const char *key;
        json_t *v;

        json_object_foreach(set, key, v)
        {
                json_array_append_new(array, json_string(key));
        }
        return array;
}

json_t *state_snapshot(void)
{
        json_t *snap;

        pthread_mutex_lock(&st.mu);
        snap = json_pack("{s:o, s:o, s:I}", "missing_agents",
                         set_members(st.missing), "unlocked_agents",
                         set_members(st.unlocked), "deleted_sessions",
                         (json_int_t)json_object_size(st.deleted_sessions));
        pthread_mutex_unlock(&st.mu);
        return snap;
}
