/* provider_load — reading provider definitions from libconfig, and the
 * registry they form (DESIGN §3). */
#include "provider_model.h"

#include <stdio.h>

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
                return confread_fail(&ld->cr, vs, NULL,
                                     "must be a group { ... }");
        size_t n = (size_t)config_setting_length(vs);
        d->vars = alloc_array(n, sizeof(*d->vars));
        if (!d->vars)
                return confread_fail_nomem(&ld->cr, vs);
        for (size_t i = 0; i < n; i++) {
                const config_setting_t *e =
                    config_setting_get_elem(vs, (unsigned)i);
                struct var_def *v = &d->vars[i];
                const char *pattern = NULL;
                d->nvars = i + 1;
                if (confread_check_keys(&ld->cr, e, keys) != 0 ||
                    confread_strdup(&ld->cr, e, config_setting_name(e),
                                    &v->name) != 0)
                        return -1;
                int rc = confread_string(&ld->cr, e, "pattern", &pattern);
                if (rc < 0)
                        return -1;
                if (rc == 0)
                        continue;
                const config_setting_t *ps =
                    config_setting_get_member(e, "pattern");
                if (provider_compile_pattern(ld, ps, pattern, &v->re) != 0)
                        return -1;
                v->has_re = 1;
                if (confread_strdup(&ld->cr, ps, pattern, &v->pattern) != 0)
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
        if (confread_check_keys(&ld->cr, e, keys) != 0 ||
            confread_need_string(&ld->cr, e, "header", &name) < 0)
                return -1;
        if (!all_chars(name, is_token_char))
                return confread_fail(&ld->cr,
                                     config_setting_get_member(e, "header"),
                                     NULL, "is not an HTTP header name");
        if (confread_string(&ld->cr, e, "secret", &secret) < 0 ||
            confread_string(&ld->cr, e, "value", &value) < 0 ||
            confread_string(&ld->cr, e, "prefix", &prefix) < 0)
                return -1;
        if ((secret != NULL) == (value != NULL))
                return confread_fail(&ld->cr, e, NULL,
                                     "needs exactly one of secret, value");
        if (has_ctl(prefix, strlen(prefix)))
                return confread_fail(&ld->cr,
                                     config_setting_get_member(e, "prefix"),
                                     NULL, "contains a control character");
        if (confread_strdup(&ld->cr, e, name, &h->name) != 0 ||
            confread_strdup(&ld->cr, e, prefix, &h->prefix) != 0)
                return -1;
        if (secret) {
                if (!all_chars(secret, is_ident_char) || !secret[0])
                        return confread_fail(
                            &ld->cr, config_setting_get_member(e, "secret"),
                            NULL, "must be a name of [A-Za-z0-9_-]");
                return confread_strdup(&ld->cr, e, secret, &h->secret);
        }
        const config_setting_t *vs = config_setting_get_member(e, "value");
        if (has_ctl(value, strlen(value)))
                return confread_fail(&ld->cr, vs, NULL,
                                     "contains a control character");
        return provider_tmpl_parse(ld, vs, value, provider_find_var, d,
                                   &h->value);
}

/* An optional string setting, dflt when absent; "" only if may_be_empty. */
static int oauth_string(struct loader *ld, const config_setting_t *s,
                        const char *name, const char *dflt, int may_be_empty,
                        char **out)
{
        const char *v = dflt;
        int rc = confread_string(&ld->cr, s, name, &v);
        if (rc < 0)
                return -1;
        if (!v)
                return 0;
        const config_setting_t *vs = config_setting_get_member(s, name);
        if (rc > 0 && !v[0] && !may_be_empty)
                return confread_fail(&ld->cr, vs, NULL, "must not be empty");
        if (has_ctl(v, strlen(v)))
                return confread_fail(&ld->cr, vs, NULL,
                                     "contains a control character");
        return confread_strdup(&ld->cr, s, v, out);
}

static int load_client_auth(struct loader *ld, const config_setting_t *s,
                            struct oauth_def *o)
{
        const char *v = "form";
        if (confread_string(&ld->cr, s, "client_auth", &v) < 0)
                return -1;
        if (strcmp(v, "form") != 0 && strcmp(v, "basic") != 0)
                return confread_fail(
                    &ld->cr, config_setting_get_member(s, "client_auth"), NULL,
                    "must be \"form\" or \"basic\" (RFC 6749 2.3.1)");
        o->basic_auth = strcmp(v, "basic") == 0;
        return 0;
}

/* SCHEME = { kind = "oauth2_client_credentials"; token_url = ...; } */
static int load_oauth_scheme(struct loader *ld, const config_setting_t *s,
                             struct scheme *sc)
{
        static const char *const keys[] = {
            "kind",   "token_url",   "scope",  "audience",
            "header", "client_auth", "prefix", NULL};
        const char *kind;
        if (confread_check_keys(&ld->cr, s, keys) != 0 ||
            confread_need_string(&ld->cr, s, "kind", &kind) < 0)
                return -1;
        if (strcmp(kind, OAUTH_KIND) != 0)
                return confread_fail(
                    &ld->cr, config_setting_get_member(s, "kind"), NULL,
                    "unknown kind %.*s (known: " OAUTH_KIND ")", ECHO_MAX,
                    kind);
        struct oauth_def *o = calloc(1, sizeof(*o));
        if (!o)
                return confread_fail_nomem(&ld->cr, s);
        sc->oauth = o;
        o->token_url_setting = config_setting_get_member(s, "token_url");
        if (oauth_string(ld, s, "token_url", NULL, 0, &o->token_url) != 0 ||
            oauth_string(ld, s, "scope", NULL, 0, &o->scope) != 0 ||
            oauth_string(ld, s, "audience", NULL, 0, &o->audience) != 0 ||
            oauth_string(ld, s, "header", "Authorization", 0, &o->header) !=
                0 ||
            oauth_string(ld, s, "prefix", "Bearer ", 1, &o->prefix) != 0 ||
            load_client_auth(ld, s, o) != 0)
                return -1;
        if (!all_chars(o->header, is_token_char))
                return confread_fail(&ld->cr,
                                     config_setting_get_member(s, "header"),
                                     NULL, "is not an HTTP header name");
        return 0;
}

static int load_scheme(struct loader *ld, const config_setting_t *s,
                       struct provider_def *d, struct scheme *sc)
{
        if (confread_strdup(&ld->cr, s, config_setting_name(s), &sc->name) != 0)
                return -1;
        if (config_setting_is_group(s))
                return load_oauth_scheme(ld, s, sc);
        if (!config_setting_is_list(s))
                return confread_fail(&ld->cr, s, NULL,
                                     "must be a list ( { header = ...; "
                                     "}, ... ) or a group { kind = "
                                     "\"" OAUTH_KIND "\"; ... }");
        size_t n = (size_t)config_setting_length(s);
        if (n == 0)
                return confread_fail(&ld->cr, s, NULL, "must not be empty");
        sc->headers = alloc_array(n, sizeof(*sc->headers));
        if (!sc->headers)
                return confread_fail_nomem(&ld->cr, s);
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
                return confread_fail(&ld->cr, as, NULL,
                                     "must be a group { SCHEME = ( ... "
                                     "); }");
        size_t n = (size_t)config_setting_length(as);
        d->schemes = alloc_array(n, sizeof(*d->schemes));
        if (!d->schemes)
                return confread_fail_nomem(&ld->cr, as);
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
                return confread_fail(&ld->cr, s, "actions", "missing");
        if (!config_setting_is_list(as) || config_setting_length(as) == 0)
                return confread_fail(
                    &ld->cr, as, NULL,
                    "must be a non-empty list ( { ... }, ... )");
        size_t n = (size_t)config_setting_length(as);
        d->actions = alloc_array(n, sizeof(*d->actions));
        if (!d->actions)
                return confread_fail_nomem(&ld->cr, as);
        for (size_t i = 0; i < n; i++) {
                const config_setting_t *e =
                    config_setting_get_elem(as, (unsigned)i);
                d->nactions = i + 1;
                if (provider_load_action(ld, e, &d->actions[i]) != 0)
                        return -1;
                for (size_t j = 0; j < i; j++) {
                        if (strcmp(d->actions[j].name, d->actions[i].name) == 0)
                                return confread_fail(
                                    &ld->cr,
                                    config_setting_get_member(e, "name"), NULL,
                                    "action %s is declared twice",
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
                        return confread_fail(
                            &ld->cr, config_setting_get_member(ps, "type"),
                            NULL,
                            "field %s is a %s in action %s: a field "
                            "has one type per provider",
                            p->field, types[q->type], b->name);
                if (provider_is_parent_of(p->field, q->field) ||
                    provider_is_parent_of(q->field, p->field))
                        return confread_fail(
                            &ld->cr, config_setting_get_member(ps, "field"),
                            NULL, "fields %s and %s (action %s) overlap",
                            p->field, q->field, b->name);
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

        if (confread_check_keys(&ld->cr, s, keys) != 0 ||
            confread_strdup(&ld->cr, s, config_setting_name(s), &d->name) !=
                0 ||
            load_vars(ld, s, d) != 0 || load_auth(ld, s, d) != 0 ||
            confread_need_string(&ld->cr, s, "base_url", &base) < 0)
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
                if (sc->oauth) {
                        free(sc->oauth->token_url);
                        free(sc->oauth->scope);
                        free(sc->oauth->audience);
                        free(sc->oauth->header);
                        free(sc->oauth->prefix);
                        free(sc->oauth);
                }
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
                return confread_fail(&ld->cr, config_root_setting(cfg),
                                     "providers", "missing");
        if (!config_setting_is_group(ps))
                return confread_fail(&ld->cr, ps, NULL,
                                     "must be a group { NAME = { ... }; "
                                     "}");
        size_t n = (size_t)config_setting_length(ps);
        reg->defs = alloc_array(n, sizeof(*reg->defs));
        if (!reg->defs)
                return confread_fail_nomem(&ld->cr, ps);
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
        struct loader ld = {{errstr, errstr_size}, NULL, allow_missing_secrets};

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

const char *provider_account_base_url(const struct provider_account *acct)
{
        return acct->base_url;
}

const char *provider_account_auth(const struct provider_account *acct)
{
        return acct->auth;
}

int provider_account_plain_http(const struct provider_account *acct)
{
        return acct->allow_plain_http;
}

const char *provider_account_secret_slot(const struct provider_account *acct,
                                         size_t i, const char **env_var)
{
        if (i >= acct->nsecret_envs)
                return NULL;
        *env_var = acct->secret_envs[i];
        return acct->secret_slots[i];
}

const struct provider_oauth *
provider_account_oauth(const struct provider_account *acct)
{
        return acct->has_oauth ? &acct->oauth : NULL;
}

const char *provider_secret_at(const struct provider_registry *reg, size_t i)
{
        return i < reg->nsecrets ? reg->secrets[i] : NULL;
}
