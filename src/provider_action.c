/* provider_action — loading the actions of a provider definition:
 * templates, parameters, response rules (an action's reads, verify and
 * discover, are provider_readback.c). The format is described at the top
 * of config/providers.conf. */
#include "provider_model.h"

#include <stdio.h>

void provider_tmpl_free(struct tmpl *t)
{
        for (size_t i = 0; i < t->n; i++)
                free(t->v[i].text);
        free(t->v);
        memset(t, 0, sizeof(*t));
}

static int tmpl_add_literal(struct tmpl *t, const char *s, size_t n)
{
        if (n == 0)
                return 0;
        t->v[t->n].text = strndup(s, n);
        if (!t->v[t->n].text)
                return -1;
        t->n++;
        return 0;
}

int provider_tmpl_parse(struct loader *ld, const config_setting_t *s,
                        const char *src,
                        long (*find)(const void *ctx, const char *name),
                        const void *ctx, struct tmpl *t)
{
        size_t len = strlen(src);
        const char *p = src, *lit = src;

        memset(t, 0, sizeof(*t));
        t->v = alloc_array(len + 1, sizeof(*t->v));
        if (!t->v)
                return confread_fail_nomem(&ld->cr, s);
        while (*p) {
                if (*p == '}')
                        return confread_fail(&ld->cr, s, NULL,
                                             "unbalanced } in template");
                if (*p != '{') {
                        p++;
                        continue;
                }
                const char *end = strchr(p + 1, '}');
                const char *open = strchr(p + 1, '{');
                if (!end || (open && open < end))
                        return confread_fail(&ld->cr, s, NULL,
                                             "unbalanced { in template");
                char name[NAME_MAX_LEN + 1];
                size_t n = (size_t)(end - p - 1);
                if (n == 0 || n > NAME_MAX_LEN)
                        return confread_fail(&ld->cr, s, NULL,
                                             "bad placeholder name");
                memcpy(name, p + 1, n);
                name[n] = '\0';
                long ref = find(ctx, name);
                if (ref < 0)
                        return confread_fail(&ld->cr, s, NULL,
                                             "unknown placeholder {%s}", name);
                if (tmpl_add_literal(t, lit, (size_t)(p - lit)) != 0)
                        return confread_fail_nomem(&ld->cr, s);
                t->v[t->n].text = NULL;
                t->v[t->n].ref = (size_t)ref;
                t->n++;
                p = end + 1;
                lit = p;
        }
        if (tmpl_add_literal(t, lit, (size_t)(p - lit)) != 0)
                return confread_fail_nomem(&ld->cr, s);
        return 0;
}

/* ---- params ------------------------------------------------------------ */

long provider_find_param(const void *ctx, const char *name)
{
        const struct provider_action *a = ctx;
        for (size_t i = 0; i < a->nparams; i++) {
                if (a->params[i].field && strcmp(a->params[i].field, name) == 0)
                        return (long)i;
        }
        return -1;
}

/* The pattern must match the whole value: a forgotten ^ or $ must not let
 * "../x" through a pattern written for "x". */
int provider_compile_pattern(struct loader *ld, const config_setting_t *s,
                             const char *pattern, regex_t *re)
{
        char msg[160];
        int rc;

        if (pattern[0] == '\0')
                return confread_fail(&ld->cr, s, NULL, "must not be empty");
        /* Compiled alone first: wrapping could hide an unbalanced ')'. */
        rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
                regerror(rc, re, msg, sizeof(msg));
                return confread_fail(&ld->cr, s, NULL,
                                     "invalid regular expression: %s", msg);
        }
        regfree(re);
        size_t n = strlen(pattern) + 5;
        char *full = malloc(n);
        if (!full)
                return confread_fail_nomem(&ld->cr, s);
        snprintf(full, n, "^(%s)$", pattern);
        rc = regcomp(re, full, REG_EXTENDED | REG_NOSUB);
        free(full);
        if (rc != 0) {
                regerror(rc, re, msg, sizeof(msg));
                return confread_fail(&ld->cr, s, NULL,
                                     "invalid regular expression: %s", msg);
        }
        return 0;
}

static int valid_field_name(const char *f)
{
        const char *p = f;
        if (!*p)
                return 0;
        while (*p) {
                size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "abcdefghijklmnopqrstuvwxyz"
                                     "0123456789_-");
                if (n == 0)
                        return 0;
                p += n;
                if (*p == '.' && p[1])
                        p++;
                else if (*p)
                        return 0;
        }
        return strlen(f) <= NAME_MAX_LEN;
}

static int top_is_reserved(const char *field)
{
        size_t n = strcspn(field, ".");
        return (n == 8 && strncmp(field, "provider", 8) == 0) ||
               (n == 7 && strncmp(field, "account", 7) == 0);
}

static int load_param_type(struct loader *ld, const config_setting_t *s,
                           struct param *p)
{
        const char *type;
        if (confread_need_string(&ld->cr, s, "type", &type) < 0)
                return -1;
        if (strcmp(type, "string") == 0)
                p->type = PARAM_STRING;
        else if (strcmp(type, "integer") == 0)
                p->type = PARAM_INTEGER;
        else if (strcmp(type, "string_list") == 0)
                p->type = PARAM_STRING_LIST;
        else
                return confread_fail(&ld->cr,
                                     config_setting_get_member(s, "type"), NULL,
                                     "must be string, integer or string_list");
        return 0;
}

/* Each type has its own settings; one of another type is a mistake. */
static int check_type_keys(struct loader *ld, const config_setting_t *s,
                           const struct param *p)
{
        static const char *const str_only[] = {"pattern", "max_length", NULL};
        static const char *const int_only[] = {"min", "max", NULL};
        const char *names[] = {"string", "integer", "string_list"};

        for (const char *const *k = str_only; *k; k++) {
                const config_setting_t *e = config_setting_get_member(s, *k);
                if (e && p->type == PARAM_INTEGER)
                        return confread_fail(&ld->cr, e, NULL,
                                             "not valid for type %s",
                                             names[p->type]);
        }
        for (const char *const *k = int_only; *k; k++) {
                const config_setting_t *e = config_setting_get_member(s, *k);
                if (e && p->type != PARAM_INTEGER)
                        return confread_fail(&ld->cr, e, NULL,
                                             "not valid for type %s",
                                             names[p->type]);
        }
        const config_setting_t *mi = config_setting_get_member(s, "max_items");
        if (mi && p->type != PARAM_STRING_LIST)
                return confread_fail(&ld->cr, mi, NULL, "not valid for type %s",
                                     names[p->type]);
        return 0;
}

static int load_param_limits(struct loader *ld, const config_setting_t *s,
                             struct param *p)
{
        long long v = 0, lo = 0, hi = INT_SAFE_MAX;
        const char *pattern = NULL;

        p->max_length = DEFAULT_MAX_LENGTH;
        p->max_items = DEFAULT_MAX_ITEMS;
        if (confread_int64(&ld->cr, s, "max_length", 1, 65536, &v) < 0)
                return -1;
        p->max_length = v > 0 ? (size_t)v : p->max_length;
        v = 0;
        if (confread_int64(&ld->cr, s, "max_items", 1, 100000, &v) < 0)
                return -1;
        p->max_items = v > 0 ? (size_t)v : p->max_items;
        if (confread_int64(&ld->cr, s, "min", -INT_SAFE_MAX, INT_SAFE_MAX,
                           &lo) < 0 ||
            confread_int64(&ld->cr, s, "max", -INT_SAFE_MAX, INT_SAFE_MAX,
                           &hi) < 0)
                return -1;
        if (lo > hi) {
                const config_setting_t *ms =
                    config_setting_get_member(s, "max");
                return confread_fail(
                    &ld->cr, ms ? ms : config_setting_get_member(s, "min"),
                    NULL, "%s (%lld > %lld)",
                    ms ? "is below min" : "is above max", lo, hi);
        }
        p->min = lo;
        p->max = hi;
        int rc = confread_string(&ld->cr, s, "pattern", &pattern);
        if (rc <= 0)
                return rc;
        const config_setting_t *ps = config_setting_get_member(s, "pattern");
        if (provider_compile_pattern(ld, ps, pattern, &p->re) != 0)
                return -1;
        p->has_re = 1;
        return confread_strdup(&ld->cr, ps, pattern, &p->pattern);
}

static int load_param(struct loader *ld, const config_setting_t *s,
                      struct param *p)
{
        static const char *const keys[] = {
            "field", "type", "pattern",  "max_length", "max_items",
            "min",   "max",  "optional", "discovered", NULL};
        const char *field;

        if (confread_check_keys(&ld->cr, s, keys) != 0 ||
            confread_need_string(&ld->cr, s, "field", &field) < 0)
                return -1;
        const config_setting_t *fs = config_setting_get_member(s, "field");
        if (!valid_field_name(field))
                return confread_fail(
                    &ld->cr, fs, NULL,
                    "must be names of [A-Za-z0-9_-] joined by '.'");
        if (top_is_reserved(field))
                return confread_fail(
                    &ld->cr, fs, NULL,
                    "\"provider\" and \"account\" are reserved");
        if (confread_strdup(&ld->cr, fs, field, &p->field) != 0 ||
            load_param_type(ld, s, p) != 0 || check_type_keys(ld, s, p) != 0 ||
            confread_bool(&ld->cr, s, "optional", &p->optional) < 0 ||
            confread_bool(&ld->cr, s, "discovered", &p->discovered) < 0)
                return -1;
        if (p->discovered && (p->optional || p->type == PARAM_STRING_LIST ||
                              strchr(p->field, '.')))
                return confread_fail(
                    &ld->cr, config_setting_get_member(s, "discovered"), NULL,
                    "a discovered param is a top-level string or "
                    "integer, not optional");
        return load_param_limits(ld, s, p);
}

static void param_free(struct param *p)
{
        free(p->field);
        free(p->pattern);
        if (p->has_re)
                regfree(&p->re);
}

/* ---- classification rules ---------------------------------------------- */

int provider_load_rule_status(struct loader *ld, const config_setting_t *s,
                              struct rule *r)
{
        const config_setting_t *st = config_setting_get_member(s, "status");
        if (!st)
                return confread_fail(&ld->cr, s, "status", "missing");
        if (!config_setting_is_array(st) && !config_setting_is_list(st))
                return confread_fail(&ld->cr, st, NULL,
                                     "must be an array like [404]");
        int n = config_setting_length(st);
        if (n == 0)
                return confread_fail(&ld->cr, st, NULL, "must not be empty");
        r->status = alloc_array((size_t)n, sizeof(*r->status));
        if (!r->status)
                return confread_fail_nomem(&ld->cr, st);
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(st, i);
                long long v =
                    confread_is_int(e) ? config_setting_get_int64(e) : 0;
                if (v < 100 || v > 599)
                        return confread_fail(&ld->cr, e, NULL,
                                             "must be an HTTP status 100..599");
                r->status[r->nstatus++] = (int)v;
        }
        return 0;
}

static int load_rule_outcome(struct loader *ld, const config_setting_t *s,
                             struct rule *r)
{
        const char *o;
        if (confread_need_string(&ld->cr, s, "outcome", &o) < 0 ||
            confread_bool(&ld->cr, s, "retryable", &r->retryable) < 0)
                return -1;
        if (strcmp(o, "deleted") == 0)
                r->kind = PROVIDER_DELETED;
        else if (strcmp(o, "already_absent") == 0)
                r->kind = PROVIDER_ALREADY_ABSENT;
        else if (strcmp(o, "failed") == 0)
                r->kind = PROVIDER_FAILED;
        else if (strcmp(o, "retry") == 0)
                r->kind = PROVIDER_RETRY;
        else
                return confread_fail(
                    &ld->cr, config_setting_get_member(s, "outcome"), NULL,
                    "must be deleted, already_absent, failed or "
                    "retry");
        const config_setting_t *rt = config_setting_get_member(s, "retryable");
        if (rt && r->kind != PROVIDER_FAILED)
                return confread_fail(&ld->cr, rt, NULL,
                                     "only valid with outcome failed");
        return 0;
}

static int load_rule_equals(struct loader *ld, const config_setting_t *s,
                            struct rule *r)
{
        const config_setting_t *eq =
            config_setting_get_member(s, "json_equals");
        const config_setting_t *f = config_setting_get_member(s, "json_field");
        const char *field;

        if (!eq && !f)
                return 0;
        if (!eq || !f)
                return confread_fail(&ld->cr, s,
                                     eq ? "json_field" : "json_equals",
                                     "missing (json_field and json_equals go "
                                     "together)");
        if (confread_need_string(&ld->cr, s, "json_field", &field) < 0 ||
            confread_strdup(&ld->cr, f, field, &r->json_field) != 0)
                return -1;
        if (config_setting_type(eq) == CONFIG_TYPE_STRING)
                r->json_equals = json_string(config_setting_get_string(eq));
        else if (config_setting_type(eq) == CONFIG_TYPE_BOOL)
                r->json_equals = json_boolean(config_setting_get_bool(eq));
        else if (confread_is_int(eq))
                r->json_equals = json_integer(config_setting_get_int64(eq));
        else
                return confread_fail(
                    &ld->cr, eq, NULL,
                    "must be a string, a boolean or an integer");
        return r->json_equals ? 0 : confread_fail_nomem(&ld->cr, eq);
}

static int load_rule(struct loader *ld, const config_setting_t *s,
                     struct rule *r)
{
        static const char *const keys[] = {
            "status",  "json_value", "json_field", "json_equals",
            "outcome", "retryable",  NULL};
        const char *jv = NULL;

        if (confread_check_keys(&ld->cr, s, keys) != 0 ||
            provider_load_rule_status(ld, s, r) != 0 ||
            load_rule_outcome(ld, s, r) != 0 || load_rule_equals(ld, s, r) != 0)
                return -1;
        int rc = confread_string(&ld->cr, s, "json_value", &jv);
        if (rc <= 0)
                return rc;
        const config_setting_t *js = config_setting_get_member(s, "json_value");
        if (jv[0] == '\0')
                return confread_fail(&ld->cr, js, NULL, "must not be empty");
        return confread_strdup(&ld->cr, js, jv, &r->json_value);
}

static void rule_free(struct rule *r)
{
        free(r->status);
        free(r->json_value);
        free(r->json_field);
        json_decref(r->json_equals);
}

/* ---- actions ----------------------------------------------------------- */

static const char *const action_keys[] = {
    "name",     "when",     "method",   "path",   "query",    "body",
    "for_each", "chunk",    "resource", "params", "classify", "scope",
    "verify",   "discover", "after",    NULL};

static int load_params(struct loader *ld, const config_setting_t *s,
                       struct provider_action *a)
{
        const config_setting_t *ps = config_setting_get_member(s, "params");
        if (!ps)
                return confread_fail(&ld->cr, s, "params", "missing");
        if (!config_setting_is_list(ps))
                return confread_fail(&ld->cr, ps, NULL,
                                     "must be a list ( { ... }, ... )");
        size_t n = (size_t)config_setting_length(ps);
        a->params = alloc_array(n, sizeof(*a->params));
        if (!a->params)
                return confread_fail_nomem(&ld->cr, ps);
        for (size_t i = 0; i < n; i++) {
                const config_setting_t *e =
                    config_setting_get_elem(ps, (unsigned)i);
                a->nparams = i + 1;
                if (load_param(ld, e, &a->params[i]) != 0)
                        return -1;
                if ((size_t)provider_find_param(a, a->params[i].field) != i)
                        return confread_fail(
                            &ld->cr, config_setting_get_member(e, "field"),
                            NULL, "field %s is declared twice",
                            a->params[i].field);
        }
        return 0;
}

int provider_load_method(struct loader *ld, const config_setting_t *s,
                         struct provider_action *a)
{
        static const char *const methods[] = {"GET",   "POST",   "PUT",
                                              "PATCH", "DELETE", NULL};
        const char *m;
        if (confread_need_string(&ld->cr, s, "method", &m) < 0)
                return -1;
        const config_setting_t *ms = config_setting_get_member(s, "method");
        if (!is_key(m, methods))
                return confread_fail(&ld->cr, ms, NULL,
                                     "must be GET, POST, PUT, PATCH or DELETE");
        return confread_strdup(&ld->cr, ms, m, &a->method);
}

/* `when` names a param, or the top of a dotted one ("conversations"). */
static int when_is_declared(const struct provider_action *a, const char *w)
{
        size_t n = strlen(w);
        for (size_t i = 0; i < a->nparams; i++) {
                const char *f = a->params[i].field;
                if (a->params[i].discovered)
                        continue;
                if (strcmp(f, w) == 0 || (strncmp(f, w, n) == 0 && f[n] == '.'))
                        return 1;
        }
        return 0;
}

static int load_expand_field(struct loader *ld, const config_setting_t *s,
                             const char *field, struct provider_action *a)
{
        long i = provider_find_param(a, field);
        if (i < 0)
                return confread_fail(&ld->cr, s, NULL,
                                     "%s is not a declared param", field);
        if (a->params[i].type != PARAM_STRING_LIST)
                return confread_fail(&ld->cr, s, NULL,
                                     "%s is not a string_list param", field);
        if (a->params[i].optional)
                return confread_fail(&ld->cr, s, NULL,
                                     "%s must not be optional", field);
        a->expand_param = (size_t)i;
        return 0;
}

static int load_expand(struct loader *ld, const config_setting_t *s,
                       struct provider_action *a)
{
        static const char *const chunk_keys[] = {"field", "size", NULL};
        const config_setting_t *fe = config_setting_get_member(s, "for_each");
        const config_setting_t *ch = config_setting_get_member(s, "chunk");
        const char *field;
        long long size = 0;

        if (fe && ch)
                return confread_fail(&ld->cr, ch, NULL,
                                     "cannot be used with for_each");
        if (fe) {
                if (confread_need_string(&ld->cr, s, "for_each", &field) < 0)
                        return -1;
                a->expand = EXPAND_FOR_EACH;
                return load_expand_field(ld, fe, field, a);
        }
        if (!ch)
                return 0;
        if (confread_check_keys(&ld->cr, ch, chunk_keys) != 0 ||
            confread_need_string(&ld->cr, ch, "field", &field) < 0)
                return -1;
        if (confread_int64(&ld->cr, ch, "size", 1, 100000, &size) < 0)
                return -1;
        if (size == 0)
                return confread_fail(&ld->cr, ch, "size", "missing");
        a->expand = EXPAND_CHUNK;
        a->chunk_size = (size_t)size;
        return load_expand_field(ld, config_setting_get_member(ch, "field"),
                                 field, a);
}

/* Marks the template's params used; with where = "path" or "query" also
 * refuses what cannot go into a URL. */
static int check_refs(struct loader *ld, const config_setting_t *s,
                      struct provider_action *a, const struct tmpl *t,
                      const char *where)
{
        for (size_t i = 0; i < t->n; i++) {
                if (t->v[i].text)
                        continue;
                struct param *p = &a->params[t->v[i].ref];
                p->used = 1;
                if (!where)
                        continue;
                if (strcmp(where, "path") == 0 && p->optional)
                        return confread_fail(
                            &ld->cr, s, NULL,
                            "optional param {%s} cannot be used in "
                            "a path",
                            p->field);
                if (p->type == PARAM_STRING_LIST &&
                    !(a->expand == EXPAND_FOR_EACH &&
                      t->v[i].ref == a->expand_param))
                        return confread_fail(
                            &ld->cr, s, NULL,
                            "list {%s} in a %s must be the for_each "
                            "field",
                            p->field, where);
        }
        return 0;
}

/* Literal path text must be plain: no query, fragment, spaces or dot
 * segments sneaking in from the config either. */
static int check_path_literal(struct loader *ld, const config_setting_t *s,
                              const char *path)
{
        if (path[0] != '/')
                return confread_fail(&ld->cr, s, NULL, "must start with /");
        for (const char *p = path; *p; p++) {
                unsigned char c = (unsigned char)*p;
                if (!is_unreserved(c) && !strchr("/{}!$&'()*+,;=:@", c))
                        return confread_fail(
                            &ld->cr, s, NULL,
                            "character 0x%02X is not allowed in a "
                            "path",
                            c);
        }
        if (provider_has_dot_segment(path) || strstr(path, "//"))
                return confread_fail(&ld->cr, s, NULL,
                                     "must not hold empty, . or .. "
                                     "segments");
        return 0;
}

int provider_load_path(struct loader *ld, const config_setting_t *s,
                       struct provider_action *a)
{
        const char *path;
        if (confread_need_string(&ld->cr, s, "path", &path) < 0)
                return -1;
        const config_setting_t *ps = config_setting_get_member(s, "path");
        if (check_path_literal(ld, ps, path) != 0 ||
            provider_tmpl_parse(ld, ps, path, provider_find_param, a,
                                &a->path) != 0)
                return -1;
        return check_refs(ld, ps, a, &a->path, "path");
}

int provider_load_resource(struct loader *ld, const config_setting_t *s,
                           struct provider_action *a)
{
        const char *res;
        if (confread_need_string(&ld->cr, s, "resource", &res) < 0)
                return -1;
        const config_setting_t *rs = config_setting_get_member(s, "resource");
        if (has_ctl(res, strlen(res)))
                return confread_fail(&ld->cr, rs, NULL,
                                     "contains a control character");
        if (provider_tmpl_parse(ld, rs, res, provider_find_param, a,
                                &a->resource) != 0)
                return -1;
        return check_refs(ld, rs, a, &a->resource, NULL);
}

static int load_query_item(struct loader *ld, const config_setting_t *e,
                           struct provider_action *a, struct query_item *q)
{
        static const char *const keys[] = {"name", "value", NULL};
        const char *name = NULL, *value = NULL;

        if (confread_check_keys(&ld->cr, e, keys) != 0 ||
            confread_need_string(&ld->cr, e, "name", &name) < 0 ||
            confread_strdup(&ld->cr, e, name, &q->name) != 0)
                return -1;
        int rc = confread_string(&ld->cr, e, "value", &value);
        if (rc == 0)
                return confread_fail(&ld->cr, e, "value", "missing");
        if (rc < 0)
                return -1;
        const config_setting_t *vs = config_setting_get_member(e, "value");
        if (provider_tmpl_parse(ld, vs, value, provider_find_param, a,
                                &q->value) != 0)
                return -1;
        return check_refs(ld, vs, a, &q->value, "query");
}

int provider_load_query(struct loader *ld, const config_setting_t *s,
                        struct provider_action *a)
{
        const config_setting_t *qs = config_setting_get_member(s, "query");
        if (!qs)
                return 0;
        if (!config_setting_is_list(qs))
                return confread_fail(&ld->cr, qs, NULL,
                                     "must be a list ( { ... }, ... )");
        size_t n = (size_t)config_setting_length(qs);
        a->query = alloc_array(n, sizeof(*a->query));
        if (!a->query)
                return confread_fail_nomem(&ld->cr, qs);
        for (size_t i = 0; i < n; i++) {
                a->nquery = i + 1;
                if (load_query_item(ld,
                                    config_setting_get_elem(qs, (unsigned)i), a,
                                    &a->query[i]) != 0)
                        return -1;
        }
        return 0;
}

/* A body string is either exactly "{field}" or plain text: half-templated
 * text would be a second, untyped way of building JSON. */
static json_t *body_string(struct loader *ld, const config_setting_t *s,
                           struct provider_action *a)
{
        const char *v = config_setting_get_string(s);
        size_t n = strlen(v);
        if (!strchr(v, '{') && !strchr(v, '}'))
                return json_string(v);
        if (n < 3 || v[0] != '{' || v[n - 1] != '}' ||
            strchr(v + 1, '{') != NULL || strchr(v, '}') != v + n - 1) {
                confread_fail(&ld->cr, s, NULL,
                              "a placeholder must be the whole string");
                return NULL;
        }
        char name[NAME_MAX_LEN + 1];
        if (n - 2 > NAME_MAX_LEN) {
                confread_fail(&ld->cr, s, NULL, "bad placeholder name");
                return NULL;
        }
        memcpy(name, v + 1, n - 2);
        name[n - 2] = '\0';
        long ref = provider_find_param(a, name);
        if (ref < 0) {
                confread_fail(&ld->cr, s, NULL, "unknown placeholder {%s}",
                              name);
                return NULL;
        }
        a->params[ref].used = 1;
        return json_string(v);
}

static json_t *body_from_setting(struct loader *ld, const config_setting_t *s,
                                 struct provider_action *a);

static json_t *body_aggregate(struct loader *ld, const config_setting_t *s,
                              struct provider_action *a)
{
        int is_obj = config_setting_is_group(s);
        json_t *out = is_obj ? json_object() : json_array();
        if (!out) {
                confread_fail_nomem(&ld->cr, s);
                return NULL;
        }
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, i);
                json_t *v = body_from_setting(ld, e, a);
                int rc = -1;
                if (v && is_obj)
                        rc =
                            json_object_set_new(out, config_setting_name(e), v);
                else if (v)
                        rc = json_array_append_new(out, v);
                if (rc != 0) {
                        if (v)
                                confread_fail_nomem(&ld->cr, e);
                        json_decref(out);
                        return NULL;
                }
        }
        return out;
}

static json_t *body_from_setting(struct loader *ld, const config_setting_t *s,
                                 struct provider_action *a)
{
        json_t *v = NULL;
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_GROUP:
        case CONFIG_TYPE_LIST:
        case CONFIG_TYPE_ARRAY:
                return body_aggregate(ld, s, a);
        case CONFIG_TYPE_STRING:
                return body_string(ld, s, a);
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                v = json_integer(config_setting_get_int64(s));
                break;
        case CONFIG_TYPE_FLOAT:
                v = json_real(config_setting_get_float(s));
                break;
        case CONFIG_TYPE_BOOL:
                v = json_boolean(config_setting_get_bool(s));
                break;
        default:
                confread_fail(&ld->cr, s, NULL, "unsupported value");
                return NULL;
        }
        if (!v)
                confread_fail_nomem(&ld->cr, s);
        return v;
}

int provider_load_body(struct loader *ld, const config_setting_t *s,
                       struct provider_action *a)
{
        const config_setting_t *bs = config_setting_get_member(s, "body");
        if (!bs)
                return 0;
        if (!config_setting_is_group(bs))
                return confread_fail(&ld->cr, bs, NULL,
                                     "must be a group { ... }");
        a->body = body_from_setting(ld, bs, a);
        return a->body ? 0 : -1;
}

static int load_classify(struct loader *ld, const config_setting_t *s,
                         struct provider_action *a)
{
        const config_setting_t *cs = config_setting_get_member(s, "classify");
        if (!cs)
                return 0;
        if (!config_setting_is_list(cs))
                return confread_fail(&ld->cr, cs, NULL,
                                     "must be a list ( { ... }, ... )");
        size_t n = (size_t)config_setting_length(cs);
        a->rules = alloc_array(n, sizeof(*a->rules));
        if (!a->rules)
                return confread_fail_nomem(&ld->cr, cs);
        for (size_t i = 0; i < n; i++) {
                a->nrules = i + 1;
                if (load_rule(ld, config_setting_get_elem(cs, (unsigned)i),
                              &a->rules[i]) != 0)
                        return -1;
                if (a->rules[i].kind == PROVIDER_DELETED)
                        a->documents_success = 1;
        }
        return 0;
}

static int load_action_head(struct loader *ld, const config_setting_t *s,
                            struct provider_action *a)
{
        const char *name, *when;
        if (confread_check_keys(&ld->cr, s, action_keys) != 0 ||
            confread_need_string(&ld->cr, s, "name", &name) < 0)
                return -1;
        const config_setting_t *ns = config_setting_get_member(s, "name");
        if (!all_chars(name, is_ident_char) || strlen(name) > 64)
                return confread_fail(&ld->cr, ns, NULL,
                                     "must be 1..64 of [A-Za-z0-9_-]");
        if (confread_strdup(&ld->cr, ns, name, &a->name) != 0 ||
            provider_load_method(ld, s, a) != 0 || load_params(ld, s, a) != 0 ||
            confread_need_string(&ld->cr, s, "when", &when) < 0)
                return -1;
        const config_setting_t *ws = config_setting_get_member(s, "when");
        if (!when_is_declared(a, when))
                return confread_fail(&ld->cr, ws, NULL,
                                     "%s is not a declared param", when);
        return confread_strdup(&ld->cr, ws, when, &a->when);
}

static int load_scope(struct loader *ld, const config_setting_t *s,
                      struct provider_action *a)
{
        const char *scope;
        int rc = confread_string(&ld->cr, s, "scope", &scope);
        if (rc <= 0)
                return rc;
        if (strcmp(scope, "agent") != 0)
                return confread_fail(&ld->cr,
                                     config_setting_get_member(s, "scope"),
                                     NULL, "must be \"agent\" (or left out)");
        a->agent_scope = 1;
        return 0;
}

int provider_resolve_after(struct loader *ld, const config_setting_t *s,
                           struct provider_def *d, size_t i)
{
        struct provider_action *a = &d->actions[i];
        const char *after;
        a->after = -1;
        int rc = confread_string(&ld->cr, s, "after", &after);
        if (rc <= 0)
                return rc;
        for (size_t j = 0; j < i; j++) {
                if (strcmp(d->actions[j].name, after) == 0) {
                        a->after = (long)j;
                        return 0;
                }
        }
        return confread_fail(
            &ld->cr, config_setting_get_member(s, "after"), NULL,
            "%s is not an action declared before this one", after);
}

int provider_load_action(struct loader *ld, const config_setting_t *s,
                         struct provider_action *a)
{
        if (load_action_head(ld, s, a) != 0 || load_scope(ld, s, a) != 0 ||
            load_expand(ld, s, a) != 0 || provider_load_path(ld, s, a) != 0 ||
            provider_load_query(ld, s, a) != 0 ||
            provider_load_body(ld, s, a) != 0 ||
            provider_load_resource(ld, s, a) != 0 ||
            load_classify(ld, s, a) != 0 ||
            provider_load_verify(ld, s, a) != 0 ||
            provider_load_discover(ld, s, a) != 0)
                return -1;
        /* A declared field nobody sends would be accepted and ignored. */
        for (size_t i = 0; i < a->nparams; i++) {
                if (!a->params[i].used)
                        return confread_fail(
                            &ld->cr, config_setting_get_member(s, "params"),
                            NULL,
                            "%s is not used by the path, query, "
                            "body or resource",
                            a->params[i].field);
        }
        return 0;
}

void provider_action_free(struct provider_action *a)
{
        free(a->name);
        free(a->when);
        free(a->method);
        for (size_t i = 0; !a->borrowed_params && i < a->nparams; i++)
                param_free(&a->params[i]);
        if (!a->borrowed_params)
                free(a->params);
        provider_verify_free(a->verify);
        provider_discover_free(a->discover);
        provider_tmpl_free(&a->path);
        provider_tmpl_free(&a->resource);
        for (size_t i = 0; i < a->nquery; i++) {
                free(a->query[i].name);
                provider_tmpl_free(&a->query[i].value);
        }
        free(a->query);
        json_decref(a->body);
        for (size_t i = 0; i < a->nrules; i++)
                rule_free(&a->rules[i]);
        free(a->rules);
}
