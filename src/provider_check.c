/* provider_check — a request's targets against the providers' fields and
 * actions, before anything is rendered (DESIGN §3): every field known and
 * well-formed, the account found, an action fired, agent-wide scope
 * consented to, and the calls counted against the plan's cap. */
#include "provider_planner.h"

#include "text.h"

#include <stdarg.h>
#include <stdio.h>

enum request_error planner_fail(struct planner *pl, enum request_error err,
                                const char *fmt, ...)
{
        va_list ap;
        if (!pl->errstr || pl->errstr_size == 0)
                return err;
        va_start(ap, fmt);
        vsnprintf(pl->errstr, pl->errstr_size, fmt, ap);
        va_end(ap);
        return err;
}

json_t *planner_field(json_t *obj, const char *field)
{
        const char *p = field;
        json_t *cur = obj;
        for (;;) {
                size_t n = strcspn(p, ".");
                if (!json_is_object(cur))
                        return NULL;
                cur = json_object_getn(cur, p, n);
                if (!cur || p[n] == '\0')
                        return cur;
                p += n + 1;
        }
}

static enum request_error check_string(struct planner *pl,
                                       const struct param *p, json_t *v,
                                       const char *path)
{
        if (!json_is_string(v))
                return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                    "%s: must be a string", path);
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n == 0)
                return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                    "%s: must not be empty", path);
        if (strlen(s) != n || has_ctl(s, n))
                return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                    "%s: contains a control character", path);
        /* Such characters reach the resource in outcomes and logs, where
         * they can make one identifier read as another. */
        if (text_has_deceptive(s, n))
                return planner_fail(
                    pl, REQUEST_ERR_BAD_FIELD,
                    "%s: contains a C1 control, bidi control or "
                    "line separator",
                    path);
        if (n > p->max_length)
                return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                    "%s: longer than %zu bytes", path,
                                    p->max_length);
        if (p->has_re && regexec(&p->re, s, 0, NULL, 0) != 0)
                return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                    "%s: does not match %s", path, p->pattern);
        return REQUEST_OK;
}

static enum request_error check_integer(struct planner *pl,
                                        const struct param *p, json_t *v,
                                        const char *path)
{
        if (!json_is_integer(v))
                return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                    "%s: must be an integer", path);
        json_int_t i = json_integer_value(v);
        if (i < p->min || i > p->max)
                return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                    "%s: must be between %lld and %lld", path,
                                    (long long)p->min, (long long)p->max);
        return REQUEST_OK;
}

static enum request_error check_list(struct planner *pl, const struct param *p,
                                     json_t *v, const char *path)
{
        char item[512];
        if (!json_is_array(v))
                return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                    "%s: must be a list of strings", path);
        size_t n = json_array_size(v);
        if (n == 0)
                return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                    "%s: must not be empty", path);
        if (n > p->max_items)
                return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                    "%s: more than %zu items", path,
                                    p->max_items);
        for (size_t i = 0; i < n; i++) {
                snprintf(item, sizeof(item), "%s[%zu]", path, i);
                enum request_error rc =
                    check_string(pl, p, json_array_get(v, i), item);
                if (rc != REQUEST_OK)
                        return rc;
        }
        return REQUEST_OK;
}

enum request_error planner_check_value(struct planner *pl,
                                       const struct param *p, json_t *v)
{
        char path[256];
        snprintf(path, sizeof(path), "targets[%zu].%s", pl->target, p->field);
        switch (p->type) {
        case PARAM_STRING:
                return check_string(pl, p, v, path);
        case PARAM_INTEGER:
                return check_integer(pl, p, v, path);
        case PARAM_STRING_LIST:
                return check_list(pl, p, v, path);
        }
        return REQUEST_ERR_BAD_FIELD;
}

/* 1 if some action declares exactly this field, checking v against each
 * declaration; 2 if it is the parent of declared fields; 0 if unknown. */
static int classify_field(struct planner *pl, const struct provider_def *d,
                          const char *field, json_t *v, enum request_error *rc)
{
        int kind = 0;
        *rc = REQUEST_OK;
        for (size_t i = 0; i < d->nactions; i++) {
                const struct provider_action *a = &d->actions[i];
                for (size_t k = 0; k < a->nparams; k++) {
                        const struct param *p = &a->params[k];
                        if (p->discovered)
                                continue; /* the vendor's, never the target's */
                        if (strcmp(p->field, field) == 0) {
                                kind = 1;
                                *rc = planner_check_value(pl, p, v);
                                if (*rc != REQUEST_OK)
                                        return kind;
                        } else if (provider_is_parent_of(field, p->field)) {
                                kind = 2;
                        }
                }
        }
        return kind;
}

static enum request_error unknown_field(struct planner *pl, const char *prefix,
                                        const char *key, size_t len)
{
        char esc[ECHO_MAX * 4 + 8];
        text_escape(esc, sizeof(esc), key, len, ECHO_MAX, 0);
        return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                            "targets[%zu].%s%s: unknown field", pl->target,
                            prefix, esc);
}

/* Every field of the target must be declared by some action of its
 * provider (strict: a typo must not silently skip a deletion), and every
 * declared field present must be valid, used by this request or not. */
static enum request_error check_object(struct planner *pl,
                                       const struct provider_def *d,
                                       json_t *obj, const char *prefix)
{
        const char *key;
        size_t klen;
        json_t *v;
        enum request_error rc;

        json_object_keylen_foreach(obj, key, klen, v)
        {
                char full[NAME_MAX_LEN + 2];
                if (!prefix[0] &&
                    (strcmp(key, "provider") == 0 ||
                     strcmp(key, "account") == 0 || strcmp(key, "scope") == 0))
                        continue;
                if (strlen(key) != klen || strchr(key, '.') ||
                    strlen(prefix) + klen > NAME_MAX_LEN)
                        return unknown_field(pl, prefix, key, klen);
                snprintf(full, sizeof(full), "%s%s", prefix, key);
                int kind = classify_field(pl, d, full, v, &rc);
                if (kind == 0)
                        return unknown_field(pl, prefix, key, klen);
                if (rc != REQUEST_OK)
                        return rc;
                if (kind == 1)
                        continue;
                if (!json_is_object(v))
                        return planner_fail(
                            pl, REQUEST_ERR_BAD_FIELD,
                            "targets[%zu].%s: must be an object", pl->target,
                            full);
                strcat(full, ".");
                rc = check_object(pl, d, v, full);
                if (rc != REQUEST_OK)
                        return rc;
        }
        return REQUEST_OK;
}

int planner_triggers(const struct provider_action *a, json_t *target)
{
        return planner_field(target, a->when) != NULL;
}

struct item_ref {
        const char *s;
        size_t i;
};

static int item_cmp(const void *x, const void *y)
{
        const struct item_ref *a = x, *b = y;
        int c = strcmp(a->s, b->s);
        if (c != 0)
                return c;
        return a->i < b->i ? -1 : a->i > b->i;
}

long planner_unique_items(json_t *arr, size_t *order)
{
        size_t n = json_array_size(arr), m = 0;
        struct item_ref *refs = alloc_array(n, sizeof(*refs));
        unsigned char *keep = alloc_array(n, 1);
        if (!refs || !keep) {
                free(refs);
                free(keep);
                return -1;
        }
        for (size_t i = 0; i < n; i++) {
                refs[i].s = json_string_value(json_array_get(arr, i));
                refs[i].i = i;
        }
        qsort(refs, n, sizeof(*refs), item_cmp);
        for (size_t i = 0; i < n; i++) {
                if (i == 0 || strcmp(refs[i].s, refs[i - 1].s) != 0)
                        keep[refs[i].i] = 1;
        }
        for (size_t i = 0; i < n; i++) {
                if (keep[i])
                        order[m++] = i;
        }
        free(refs);
        free(keep);
        return (long)m;
}

enum request_error planner_nomem(struct planner *pl)
{
        return planner_fail(pl, REQUEST_ERR_INTERNAL,
                            "out of memory while planning");
}

/* Calls one triggered action makes for this target. */
static enum request_error count_action_calls(struct planner *pl,
                                             const struct provider_action *a,
                                             json_t *target, size_t *count)
{
        for (size_t k = 0; k < a->nparams; k++) {
                const struct param *p = &a->params[k];
                if (!p->optional && !p->discovered &&
                    !planner_field(target, p->field))
                        return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                            "targets[%zu].%s: missing (action "
                                            "%s needs it)",
                                            pl->target, p->field, a->name);
        }
        if (a->expand == EXPAND_NONE || a->discover) {
                *count = 1;
                return REQUEST_OK;
        }
        json_t *list = planner_field(target, a->params[a->expand_param].field);
        size_t *order = alloc_array(json_array_size(list), sizeof(*order));
        long m = order ? planner_unique_items(list, order) : -1;
        free(order);
        if (m < 0)
                return planner_nomem(pl);
        *count = a->expand == EXPAND_FOR_EACH
                     ? (size_t)m
                     : ((size_t)m + a->chunk_size - 1) / a->chunk_size;
        return REQUEST_OK;
}

enum request_error planner_find_account(struct planner *pl,
                                        const struct request_target *t,
                                        const struct provider_account **out)
{
        char esc[ECHO_MAX * 4 + 8];
        const char *prov = t->provider ? t->provider : "";
        const char *name = t->account ? t->account : "default";
        const struct provider_def *d = provider_find_def(pl->reg, prov);

        if (!d) {
                text_escape(esc, sizeof(esc), prov, strlen(prov), ECHO_MAX, 0);
                return planner_fail(pl, REQUEST_ERR_UNKNOWN_PROVIDER,
                                    "targets[%zu].provider: unknown provider "
                                    "\"%s\"",
                                    pl->target, esc);
        }
        for (size_t i = 0; i < pl->reg->naccounts; i++) {
                const struct provider_account *a = &pl->reg->accounts[i];
                if (a->def == d && strcmp(a->name, name) == 0) {
                        *out = a;
                        return REQUEST_OK;
                }
        }
        text_escape(esc, sizeof(esc), name, strlen(name), ECHO_MAX, 0);
        return planner_fail(pl, REQUEST_ERR_UNKNOWN_ACCOUNT,
                            "targets[%zu].account: provider %s has no account "
                            "\"%s\"",
                            pl->target, d->name, esc);
}

/* "scope": "agent" is the requester's explicit consent to erase every
 * user of an agent; the account's allow_agent_wide is the operator's.
 * Both are needed, and without them nothing of the target runs. */
static enum request_error check_scope(struct planner *pl,
                                      const struct provider_account *acct,
                                      const struct provider_action *a,
                                      json_t *target)
{
        json_t *scope = json_object_get(target, "scope");
        if (scope && (!json_is_string(scope) ||
                      strcmp(json_string_value(scope), "agent") != 0))
                return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                    "targets[%zu].scope: must be \"agent\"",
                                    pl->target);
        if (!a->agent_scope)
                return REQUEST_OK;
        if (!scope)
                return planner_fail(pl, REQUEST_ERR_AGENT_WIDE,
                                    "targets[%zu]: action %s erases every user "
                                    "of the agent; the target must say "
                                    "\"scope\": \"agent\"",
                                    pl->target, a->name);
        if (!acct->allow_agent_wide)
                return planner_fail(pl, REQUEST_ERR_AGENT_WIDE,
                                    "targets[%zu]: action %s erases every user "
                                    "of the agent; account %s/%s does not set "
                                    "allow_agent_wide = true",
                                    pl->target, a->name, acct->def->name,
                                    acct->name);
        return REQUEST_OK;
}

enum request_error planner_check_target(struct planner *pl,
                                        const struct request_target *t,
                                        size_t *ncalls)
{
        const struct provider_account *acct;
        enum request_error rc = planner_find_account(pl, t, &acct);
        size_t fired = 0;

        if (rc != REQUEST_OK)
                return rc;
        if (!json_is_object(t->json))
                return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                    "targets[%zu]: must be an object",
                                    pl->target);
        rc = check_object(pl, acct->def, t->json, "");
        for (size_t i = 0; rc == REQUEST_OK && i < acct->def->nactions; i++) {
                const struct provider_action *a = &acct->def->actions[i];
                size_t n = 0;
                if (!planner_triggers(a, t->json))
                        continue;
                fired++;
                rc = count_action_calls(pl, a, t->json, &n);
                if (rc == REQUEST_OK)
                        rc = check_scope(pl, acct, a, t->json);
                *ncalls += n;
        }
        if (rc == REQUEST_OK && fired == 0)
                return planner_fail(pl, REQUEST_ERR_NO_ACTION,
                                    "targets[%zu]: no field of provider %s's "
                                    "actions is present (nothing to delete)",
                                    pl->target, acct->def->name);
        return rc;
}
