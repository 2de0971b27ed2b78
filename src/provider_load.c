/* provider_load — reading provider definitions from libconfig, and the
 * registry they form (DESIGN §3). */
#include "provider_model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

/* "providers.vectara.actions.[0].path": names, and [i] for list items. */
void provider_setting_path(const config_setting_t *s, char *buf, size_t size)
{
        const config_setting_t *chain[PATH_DEPTH_MAX];
        size_t n = 0, o = 0;

        buf[0] = '\0';
        while (s && !config_setting_is_root(s) && n < PATH_DEPTH_MAX) {
                chain[n++] = s;
                s = config_setting_parent(s);
        }
        while (n-- > 0) {
                const char *name = config_setting_name(chain[n]);
                char idx[32];
                if (!name) {
                        snprintf(idx, sizeof(idx), "[%d]",
                                 config_setting_index(chain[n]));
                        name = idx;
                }
                int w = snprintf(buf + o, size - o, "%s%s", o ? "." : "", name);
                if (w < 0 || (size_t)w >= size - o)
                        return;
                o += (size_t)w;
        }
}

/* The nearest setting (s or a parent) that knows where it was written. */
static void setting_where(const config_setting_t *s, const char **file,
                          unsigned *line)
{
        for (; s && !config_setting_is_root(s); s = config_setting_parent(s)) {
                if (config_setting_source_file(s) &&
                    config_setting_source_line(s) > 0) {
                        *file = config_setting_source_file(s);
                        *line = config_setting_source_line(s);
                        return;
                }
        }
        /* A top-level setting is missing: the root knows only the file. */
        *file = s && config_setting_source_file(s)
                    ? config_setting_source_file(s)
                    : "<config>";
        *line = 0;
}

/* Reports "FILE:LINE: PATH[.child]: reason" and returns -1. child names a
 * setting that is missing from s. */
int provider_fail(struct loader *ld, const config_setting_t *s,
                  const char *child, const char *fmt, ...)
{
        char path[512], msg[512];
        const char *file;
        unsigned line;
        va_list ap;

        if (!ld->errstr || ld->errstr_size == 0)
                return -1;
        provider_setting_path(s, path, sizeof(path));
        setting_where(s, &file, &line);
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(ld->errstr, ld->errstr_size, "%s:%u: %s%s%s: %s", file, line,
                 path, child && path[0] ? "." : "", child ? child : "", msg);
        return -1;
}

int provider_fail_nomem(struct loader *ld, const config_setting_t *s)
{
        return provider_fail(ld, s, NULL, "out of memory");
}

/* ---- reading settings -------------------------------------------------- */

/* The getters return 1 (found), 0 (absent) or -1 (wrong type, reported). */
int provider_get_string(struct loader *ld, const config_setting_t *group,
                        const char *name, const char **out)
{
        const config_setting_t *s = config_setting_get_member(group, name);
        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return provider_fail(ld, s, NULL, "must be a string");
        *out = config_setting_get_string(s);
        return 1;
}

int provider_need_string(struct loader *ld, const config_setting_t *group,
                         const char *name, const char **out)
{
        int rc = provider_get_string(ld, group, name, out);
        if (rc == 0)
                return provider_fail(ld, group, name, "missing");
        if (rc > 0 && (*out)[0] == '\0') {
                return provider_fail(ld, config_setting_get_member(group, name),
                                     NULL, "must not be empty");
        }
        return rc;
}

int provider_get_bool(struct loader *ld, const config_setting_t *group,
                      const char *name, int *out)
{
        const config_setting_t *s = config_setting_get_member(group, name);
        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                return provider_fail(ld, s, NULL, "must be true or false");
        *out = config_setting_get_bool(s);
        return 1;
}

int provider_is_int_setting(const config_setting_t *s)
{
        int t = config_setting_type(s);
        return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

int provider_get_int64(struct loader *ld, const config_setting_t *group,
                       const char *name, long long lo, long long hi,
                       long long *out)
{
        const config_setting_t *s = config_setting_get_member(group, name);
        if (!s)
                return 0;
        if (!provider_is_int_setting(s))
                return provider_fail(ld, s, NULL, "must be an integer");
        long long v = config_setting_get_int64(s);
        if (v < lo || v > hi)
                return provider_fail(ld, s, NULL,
                                     "must be between %lld and %lld", lo, hi);
        *out = v;
        return 1;
}

int provider_get_double(struct loader *ld, const config_setting_t *group,
                        const char *name, double lo, double hi, double *out)
{
        const config_setting_t *s = config_setting_get_member(group, name);
        double v;
        if (!s)
                return 0;
        if (provider_is_int_setting(s))
                v = (double)config_setting_get_int64(s);
        else if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
                v = config_setting_get_float(s);
        else
                return provider_fail(ld, s, NULL, "must be a number");
        if (!isfinite(v) || v < lo || v > hi)
                return provider_fail(ld, s, NULL, "must be between %g and %g",
                                     lo, hi);
        *out = v;
        return 1;
}

/* Typos must not pass silently: a group may hold only the known keys. */
int provider_check_keys(struct loader *ld, const config_setting_t *group,
                        const char *const *allowed)
{
        if (!config_setting_is_group(group))
                return provider_fail(ld, group, NULL,
                                     "must be a group { ... }");
        for (int i = 0; i < config_setting_length(group); i++) {
                const config_setting_t *e = config_setting_get_elem(group, i);
                if (is_key(config_setting_name(e), allowed))
                        continue;
                char list[256] = "";
                size_t o = 0;
                for (const char *const *k = allowed; *k; k++) {
                        int w = snprintf(list + o, sizeof(list) - o, "%s%s",
                                         o ? ", " : "", *k);
                        if (w < 0 || (size_t)w >= sizeof(list) - o)
                                break;
                        o += (size_t)w;
                }
                return provider_fail(ld, e, NULL, "unknown setting (known: %s)",
                                     list);
        }
        return 0;
}

int provider_dup_into(struct loader *ld, const config_setting_t *s,
                      const char *src, char **out)
{
        *out = strdup(src);
        return *out ? 0 : provider_fail_nomem(ld, s);
}

/* ---- providers --------------------------------------------------------- */

long provider_find_var(const void *ctx, const char *name)
{
        const struct provider_def *d = ctx;
        for (size_t i = 0; i < d->nvars; i++) {
                if (strcmp(d->vars[i].name, name) == 0)
                        return (long)i;
        }
        return -1;
}

static int load_vars(struct loader *ld, const config_setting_t *s,
                     struct provider_def *d)
{
        static const char *const keys[] = {"pattern", NULL};
        const config_setting_t *vs = config_setting_get_member(s, "vars");
        if (!vs)
                return 0;
        if (!config_setting_is_group(vs))
                return provider_fail(ld, vs, NULL, "must be a group { ... }");
        size_t n = (size_t)config_setting_length(vs);
        d->vars = alloc_array(n, sizeof(*d->vars));
        if (!d->vars)
                return provider_fail_nomem(ld, vs);
        for (size_t i = 0; i < n; i++) {
                const config_setting_t *e =
                    config_setting_get_elem(vs, (unsigned)i);
                struct var_def *v = &d->vars[i];
                const char *pattern = NULL;
                d->nvars = i + 1;
                if (provider_check_keys(ld, e, keys) != 0 ||
                    provider_dup_into(ld, e, config_setting_name(e),
                                      &v->name) != 0)
                        return -1;
                int rc = provider_get_string(ld, e, "pattern", &pattern);
                if (rc < 0)
                        return -1;
                if (rc == 0)
                        continue;
                const config_setting_t *ps =
                    config_setting_get_member(e, "pattern");
                if (provider_compile_pattern(ld, ps, pattern, &v->re) != 0)
                        return -1;
                v->has_re = 1;
                if (provider_dup_into(ld, ps, pattern, &v->pattern) != 0)
                        return -1;
        }
        return 0;
}

static int load_auth_header(struct loader *ld, const config_setting_t *e,
                            struct provider_def *d, struct auth_header *h)
{
        static const char *const keys[] = {"header", "secret", "value",
                                           "prefix", NULL};
        const char *name, *secret = NULL, *value = NULL, *prefix = "";

        h->where = e;
        if (provider_check_keys(ld, e, keys) != 0 ||
            provider_need_string(ld, e, "header", &name) < 0)
                return -1;
        if (!all_chars(name, is_token_char))
                return provider_fail(ld, config_setting_get_member(e, "header"),
                                     NULL, "is not an HTTP header name");
        if (provider_get_string(ld, e, "secret", &secret) < 0 ||
            provider_get_string(ld, e, "value", &value) < 0 ||
            provider_get_string(ld, e, "prefix", &prefix) < 0)
                return -1;
        if ((secret != NULL) == (value != NULL))
                return provider_fail(ld, e, NULL,
                                     "needs exactly one of secret, value");
        if (has_ctl(prefix, strlen(prefix)))
                return provider_fail(ld, config_setting_get_member(e, "prefix"),
                                     NULL, "contains a control character");
        if (provider_dup_into(ld, e, name, &h->name) != 0 ||
            provider_dup_into(ld, e, prefix, &h->prefix) != 0)
                return -1;
        if (secret) {
                if (!all_chars(secret, is_ident_char) || !secret[0])
                        return provider_fail(
                            ld, config_setting_get_member(e, "secret"), NULL,
                            "must be a name of [A-Za-z0-9_-]");
                return provider_dup_into(ld, e, secret, &h->secret);
        }
        const config_setting_t *vs = config_setting_get_member(e, "value");
        if (has_ctl(value, strlen(value)))
                return provider_fail(ld, vs, NULL,
                                     "contains a control character");
        return provider_tmpl_parse(ld, vs, value, provider_find_var, d,
                                   &h->value);
}

static int load_scheme(struct loader *ld, const config_setting_t *s,
                       struct provider_def *d, struct scheme *sc)
{
        if (provider_dup_into(ld, s, config_setting_name(s), &sc->name) != 0)
                return -1;
        if (!config_setting_is_list(s))
                return provider_fail(ld, s, NULL,
                                     "must be a list ( { header = ...; "
                                     "}, ... )");
        size_t n = (size_t)config_setting_length(s);
        if (n == 0)
                return provider_fail(ld, s, NULL, "must not be empty");
        sc->headers = alloc_array(n, sizeof(*sc->headers));
        if (!sc->headers)
                return provider_fail_nomem(ld, s);
        for (size_t i = 0; i < n; i++) {
                sc->n = i + 1;
                if (load_auth_header(ld,
                                     config_setting_get_elem(s, (unsigned)i), d,
                                     &sc->headers[i]) != 0)
                        return -1;
        }
        return 0;
}

static int load_auth(struct loader *ld, const config_setting_t *s,
                     struct provider_def *d)
{
        const config_setting_t *as = config_setting_get_member(s, "auth");
        if (!as)
                return 0;
        if (!config_setting_is_group(as))
                return provider_fail(ld, as, NULL,
                                     "must be a group { SCHEME = ( ... "
                                     "); }");
        size_t n = (size_t)config_setting_length(as);
        d->schemes = alloc_array(n, sizeof(*d->schemes));
        if (!d->schemes)
                return provider_fail_nomem(ld, as);
        for (size_t i = 0; i < n; i++) {
                d->nschemes = i + 1;
                if (load_scheme(ld, config_setting_get_elem(as, (unsigned)i), d,
                                &d->schemes[i]) != 0)
                        return -1;
        }
        return 0;
}

static int load_actions(struct loader *ld, const config_setting_t *s,
                        struct provider_def *d)
{
        const config_setting_t *as = config_setting_get_member(s, "actions");
        if (!as)
                return provider_fail(ld, s, "actions", "missing");
        if (!config_setting_is_list(as) || config_setting_length(as) == 0)
                return provider_fail(
                    ld, as, NULL, "must be a non-empty list ( { ... }, ... )");
        size_t n = (size_t)config_setting_length(as);
        d->actions = alloc_array(n, sizeof(*d->actions));
        if (!d->actions)
                return provider_fail_nomem(ld, as);
        for (size_t i = 0; i < n; i++) {
                const config_setting_t *e =
                    config_setting_get_elem(as, (unsigned)i);
                d->nactions = i + 1;
                if (provider_load_action(ld, e, &d->actions[i]) != 0)
                        return -1;
                for (size_t j = 0; j < i; j++) {
                        if (strcmp(d->actions[j].name, d->actions[i].name) == 0)
                                return provider_fail(
                                    ld, config_setting_get_member(e, "name"),
                                    NULL, "action %s is declared twice",
                                    d->actions[i].name);
                }
        }
        return 0;
}

int provider_is_parent_of(const char *parent, const char *field)
{
        size_t n = strlen(parent);
        return strncmp(parent, field, n) == 0 && field[n] == '.';
}

/* The setting of param k of action i, for errors found across actions. */
static const config_setting_t *param_setting(const config_setting_t *actions,
                                             size_t i, size_t k)
{
        const config_setting_t *a =
            config_setting_get_elem(actions, (unsigned)i);
        const config_setting_t *ps = config_setting_get_member(a, "params");
        return config_setting_get_elem(ps, (unsigned)k);
}

/* A target field means one thing per provider: one type, and never both a
 * value and an object holding other fields. */
static int check_param_agrees(struct loader *ld, const config_setting_t *ps,
                              const struct param *p,
                              const struct provider_action *b)
{
        static const char *const types[] = {"string", "integer", "string_list"};
        for (size_t m = 0; m < b->nparams; m++) {
                const struct param *q = &b->params[m];
                if (strcmp(p->field, q->field) == 0 && p->type != q->type)
                        return provider_fail(
                            ld, config_setting_get_member(ps, "type"), NULL,
                            "field %s is a %s in action %s: a field "
                            "has one type per provider",
                            p->field, types[q->type], b->name);
                if (provider_is_parent_of(p->field, q->field) ||
                    provider_is_parent_of(q->field, p->field))
                        return provider_fail(
                            ld, config_setting_get_member(ps, "field"), NULL,
                            "fields %s and %s (action %s) overlap", p->field,
                            q->field, b->name);
        }
        return 0;
}

static int check_fields_agree(struct loader *ld,
                              const config_setting_t *actions,
                              const struct provider_def *d)
{
        for (size_t i = 0; i < d->nactions; i++) {
                const struct provider_action *a = &d->actions[i];
                for (size_t k = 0; k < a->nparams; k++) {
                        const config_setting_t *ps =
                            param_setting(actions, i, k);
                        for (size_t j = 0; j <= i; j++) {
                                if (check_param_agrees(ld, ps, &a->params[k],
                                                       &d->actions[j]) != 0)
                                        return -1;
                        }
                }
        }
        return 0;
}

static int load_provider(struct loader *ld, const config_setting_t *s,
                         struct provider_def *d)
{
        static const char *const keys[] = {"base_url", "vars", "auth",
                                           "actions", NULL};
        const char *base;

        if (provider_check_keys(ld, s, keys) != 0 ||
            provider_dup_into(ld, s, config_setting_name(s), &d->name) != 0 ||
            load_vars(ld, s, d) != 0 || load_auth(ld, s, d) != 0 ||
            provider_need_string(ld, s, "base_url", &base) < 0)
                return -1;
        d->base_url_setting = config_setting_get_member(s, "base_url");
        if (provider_tmpl_parse(ld, d->base_url_setting, base,
                                provider_find_var, d, &d->base_url) != 0 ||
            load_actions(ld, s, d) != 0)
                return -1;
        return check_fields_agree(ld, config_setting_get_member(s, "actions"),
                                  d);
}

static void def_free(struct provider_def *d)
{
        free(d->name);
        provider_tmpl_free(&d->base_url);
        for (size_t i = 0; i < d->nvars; i++) {
                free(d->vars[i].name);
                free(d->vars[i].pattern);
                if (d->vars[i].has_re)
                        regfree(&d->vars[i].re);
        }
        free(d->vars);
        for (size_t i = 0; i < d->nschemes; i++) {
                struct scheme *sc = &d->schemes[i];
                for (size_t j = 0; j < sc->n; j++) {
                        free(sc->headers[j].name);
                        free(sc->headers[j].prefix);
                        free(sc->headers[j].secret);
                        provider_tmpl_free(&sc->headers[j].value);
                }
                free(sc->headers);
                free(sc->name);
        }
        free(d->schemes);
        for (size_t i = 0; i < d->nactions; i++)
                provider_action_free(&d->actions[i]);
        free(d->actions);
}

static int load_providers(struct loader *ld, const config_t *cfg)
{
        const config_setting_t *ps = config_lookup(cfg, "providers");
        struct provider_registry *reg = ld->reg;
        if (!ps)
                return provider_fail(ld, config_root_setting(cfg), "providers",
                                     "missing");
        if (!config_setting_is_group(ps))
                return provider_fail(ld, ps, NULL,
                                     "must be a group { NAME = { ... }; "
                                     "}");
        size_t n = (size_t)config_setting_length(ps);
        reg->defs = alloc_array(n, sizeof(*reg->defs));
        if (!reg->defs)
                return provider_fail_nomem(ld, ps);
        for (size_t i = 0; i < n; i++) {
                reg->ndefs = i + 1;
                if (load_provider(ld, config_setting_get_elem(ps, (unsigned)i),
                                  &reg->defs[i]) != 0)
                        return -1;
        }
        return 0;
}

/* ---- registry ---------------------------------------------------------- */

struct provider_registry *provider_registry_load(const config_t *cfg,
                                                 int allow_missing_secrets,
                                                 char *errstr,
                                                 size_t errstr_size)
{
        struct loader ld = {NULL, allow_missing_secrets, errstr, errstr_size};

        if (errstr && errstr_size)
                errstr[0] = '\0';
        ld.reg = calloc(1, sizeof(*ld.reg));
        if (!ld.reg) {
                if (errstr && errstr_size)
                        snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (load_providers(&ld, cfg) != 0 ||
            provider_load_accounts(&ld, cfg) != 0) {
                provider_registry_free(ld.reg);
                return NULL;
        }
        return ld.reg;
}

void provider_registry_free(struct provider_registry *reg)
{
        if (!reg)
                return;
        for (size_t i = 0; i < reg->naccounts; i++)
                provider_account_free(&reg->accounts[i]);
        free(reg->accounts);
        for (size_t i = 0; i < reg->ndefs; i++)
                def_free(&reg->defs[i]);
        free(reg->defs);
        for (size_t i = 0; i < reg->nsecrets; i++) {
                /* Secrets should not linger in freed memory. */
                memset(reg->secrets[i], 0, strlen(reg->secrets[i]));
                free(reg->secrets[i]);
        }
        free(reg->secrets);
        free(reg);
}

size_t provider_account_count(const struct provider_registry *reg)
{
        return reg->naccounts;
}

const struct provider_account *
provider_account_at(const struct provider_registry *reg, size_t i)
{
        return i < reg->naccounts ? &reg->accounts[i] : NULL;
}

size_t provider_account_index(const struct provider_account *acct)
{
        return acct->index;
}

const char *provider_account_provider(const struct provider_account *acct)
{
        return acct->def->name;
}

const char *provider_account_name(const struct provider_account *acct)
{
        return acct->name;
}

const struct provider_limits *
provider_account_limits(const struct provider_account *acct)
{
        return &acct->limits;
}

const char *provider_secret_at(const struct provider_registry *reg, size_t i)
{
        return i < reg->nsecrets ? reg->secrets[i] : NULL;
}
