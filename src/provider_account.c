/* provider_account — loading accounts: base URLs, auth headers built from
 * secrets, TLS and limits. */
#include "provider_model.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- limits ------------------------------------------------------------ */

enum limit_kind { LIMIT_DOUBLE, LIMIT_INT, LIMIT_INT64 };

struct limit_spec {
        const char *name;
        enum limit_kind kind;
        size_t offset;
        double lo, hi;
};

#define LIMIT(n, k, lo, hi)                                                    \
        {                                                                      \
#n, k, offsetof(struct provider_limits, n), lo, hi             \
        }

static const struct limit_spec limit_specs[] = {
    LIMIT(rate_per_s, LIMIT_DOUBLE, 0, 1e6),
    LIMIT(burst, LIMIT_DOUBLE, 1, 1e6),
    LIMIT(concurrency, LIMIT_INT, 1, 100000),
    LIMIT(timeout_ms, LIMIT_INT64, 1, 86400000),
    LIMIT(connect_timeout_ms, LIMIT_INT64, 1, 86400000),
    LIMIT(max_attempts, LIMIT_INT, 1, 1000),
    LIMIT(budget_ms, LIMIT_INT64, 1, 604800000),
    LIMIT(backoff_base_ms, LIMIT_INT64, 1, 86400000),
    LIMIT(backoff_max_ms, LIMIT_INT64, 1, 86400000),
};

#define NLIMITS (sizeof(limit_specs) / sizeof(limit_specs[0]))

static void limits_builtin(struct provider_limits *l)
{
        memset(l, 0, sizeof(*l));
        l->rate_per_s = 0.0;
        l->burst = 10.0;
        l->concurrency = 32;
        l->timeout_ms = 15000;
        l->connect_timeout_ms = 5000;
        l->max_attempts = 6;
        l->budget_ms = 300000;
        l->backoff_base_ms = 500;
        l->backoff_max_ms = 30000;
        l->tls_verify = 1;
}

static int limit_apply(struct loader *ld, const config_setting_t *s,
                       const struct limit_spec *sp, struct provider_limits *l)
{
        char *field = (char *)l + sp->offset;
        double d = 0;
        long long v = 0;
        int rc;

        if (sp->kind == LIMIT_DOUBLE) {
                rc = confread_double(&ld->cr, s, sp->name, sp->lo, sp->hi, &d);
                if (rc > 0)
                        memcpy(field, &d, sizeof(d));
                return rc;
        }
        rc = confread_int64(&ld->cr, s, sp->name, (long long)sp->lo,
                            (long long)sp->hi, &v);
        if (rc <= 0)
                return rc;
        if (sp->kind == LIMIT_INT) {
                int iv = (int)v;
                memcpy(field, &iv, sizeof(iv));
        } else {
                int64_t i64 = v;
                memcpy(field, &i64, sizeof(i64));
        }
        return rc;
}

/* Overrides l field by field from the group `limits` of s, if any. */
static int load_limits(struct loader *ld, const config_setting_t *s,
                       struct provider_limits *l)
{
        const char *keys[NLIMITS + 1];
        const config_setting_t *ls = config_setting_get_member(s, "limits");

        if (!ls)
                return 0;
        for (size_t i = 0; i < NLIMITS; i++)
                keys[i] = limit_specs[i].name;
        keys[NLIMITS] = NULL;
        if (confread_check_keys(&ld->cr, ls, keys) != 0)
                return -1;
        for (size_t i = 0; i < NLIMITS; i++) {
                if (limit_apply(ld, ls, &limit_specs[i], l) < 0)
                        return -1;
        }
        if (l->backoff_max_ms < l->backoff_base_ms)
                return confread_fail(
                    &ld->cr, ls, NULL,
                    "backoff_max_ms (%lld) is below backoff_base_ms "
                    "(%lld)",
                    (long long)l->backoff_max_ms,
                    (long long)l->backoff_base_ms);
        return 0;
}

static int load_account_defaults(struct loader *ld, const config_t *cfg,
                                 struct provider_limits *l)
{
        static const char *const keys[] = {"limits", NULL};
        const config_setting_t *ds = config_lookup(cfg, "account_defaults");
        limits_builtin(l);
        if (!ds)
                return 0;
        if (confread_check_keys(&ld->cr, ds, keys) != 0)
                return -1;
        return load_limits(ld, ds, l);
}

/* ---- accounts ---------------------------------------------------------- */

const struct provider_def *provider_find_def(const struct provider_registry *r,
                                             const char *name)
{
        for (size_t i = 0; i < r->ndefs; i++) {
                if (strcmp(r->defs[i].name, name) == 0)
                        return &r->defs[i];
        }
        return NULL;
}

static int add_secret(struct provider_registry *reg, const char *value)
{
        for (size_t i = 0; i < reg->nsecrets; i++) {
                if (strcmp(reg->secrets[i], value) == 0)
                        return 0;
        }
        char **v = realloc(reg->secrets, (reg->nsecrets + 2) * sizeof(*v));
        if (!v)
                return -1;
        reg->secrets = v;
        v[reg->nsecrets] = strdup(value);
        if (!v[reg->nsecrets])
                return -1;
        v[++reg->nsecrets] = NULL;
        return 0;
}

/* Values of the provider's vars, in the provider's order. Vars may end up
 * in a host name, so only [A-Za-z0-9._-] whatever the pattern says. */
static int load_account_vars(struct loader *ld, const config_setting_t *s,
                             const struct provider_def *d, const char **vals)
{
        const config_setting_t *vs = config_setting_get_member(s, "vars");
        if (vs && !config_setting_is_group(vs))
                return confread_fail(&ld->cr, vs, NULL,
                                     "must be a group { NAME = \"...\"; }");
        for (int i = 0; vs && i < config_setting_length(vs); i++) {
                const config_setting_t *e = config_setting_get_elem(vs, i);
                long k = provider_find_var(d, config_setting_name(e));
                if (k < 0)
                        return confread_fail(&ld->cr, e, NULL,
                                             "provider %s has no such variable",
                                             d->name);
                if (config_setting_type(e) != CONFIG_TYPE_STRING)
                        return confread_fail(&ld->cr, e, NULL,
                                             "must be a string");
                const char *v = config_setting_get_string(e);
                if (has_ctl(v, strlen(v)))
                        return confread_fail(&ld->cr, e, NULL,
                                             "contains a control character");
                if (!v[0] || strlen(v) > VAR_MAX_LENGTH ||
                    !all_chars(v, is_var_char))
                        return confread_fail(&ld->cr, e, NULL,
                                             "must be 1..%d of [A-Za-z0-9._-]",
                                             VAR_MAX_LENGTH);
                if (d->vars[k].has_re &&
                    regexec(&d->vars[k].re, v, 0, NULL, 0) != 0)
                        return confread_fail(&ld->cr, e, NULL,
                                             "does not match %s",
                                             d->vars[k].pattern);
                vals[k] = v;
        }
        for (size_t k = 0; k < d->nvars; k++) {
                char child[NAME_MAX_LEN + 8];
                if (vals[k])
                        continue;
                snprintf(child, sizeof(child), "%s%s", vs ? "" : "vars.",
                         d->vars[k].name);
                return confread_fail(&ld->cr, vs ? vs : s, child, "missing");
        }
        return 0;
}

static char *render_vars(const struct tmpl *t, const char **vals, size_t max)
{
        struct buf b;
        buf_init(&b, max);
        for (size_t i = 0; i < t->n; i++)
                buf_adds(&b, t->v[i].text ? t->v[i].text : vals[t->v[i].ref]);
        return buf_take(&b);
}

static int check_base_url(struct loader *ld, const config_setting_t *s,
                          const char *url, int allow_http, const char *acct)
{
        const char *rest;
        if (strncmp(url, "https://", 8) == 0)
                rest = url + 8;
        else if (strncmp(url, "http://", 7) == 0 && allow_http)
                rest = url + 7;
        else if (strncmp(url, "http://", 7) == 0)
                return confread_fail(&ld->cr, s, NULL,
                                     "plain http:// is refused for %s (set "
                                     "allow_plain_http = true, tests only)",
                                     acct);
        else
                return confread_fail(&ld->cr, s, NULL,
                                     "must start with https://");
        if (rest[0] == '\0' || rest[0] == '/')
                return confread_fail(&ld->cr, s, NULL, "has no host");
        for (const char *p = url; *p; p++) {
                unsigned char c = (unsigned char)*p;
                if (is_ctl(c) || c == ' ' || c >= 0x80 ||
                    strchr("\"<>\\^`{|}?#", c))
                        return confread_fail(&ld->cr, s, NULL,
                                             "character 0x%02X is not allowed",
                                             c);
        }
        if (url[strlen(url) - 1] == '/')
                return confread_fail(&ld->cr, s, NULL, "must not end with /");
        return 0;
}

/* ---- insecure settings ---------------------------------------------- */

/* The environment variable that lets an operator turn TLS off for a
 * non-loopback host anyway, knowingly (a lab, a sidecar proxy). */
#define ALLOW_INSECURE_ENV "ERASURE_ALLOW_INSECURE"

static int host_is_loopback(const char *host)
{
        struct in_addr a4;
        struct in6_addr a6;
        char bare[INET6_ADDRSTRLEN + 2];
        size_t n = strlen(host);

        if (strcasecmp(host, "localhost") == 0)
                return 1;
        if (inet_pton(AF_INET, host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        if (n < 2 || n - 2 >= sizeof(bare) || host[0] != '[' ||
            host[n - 1] != ']')
                return 0;
        memcpy(bare, host + 1, n - 2);
        bare[n - 2] = '\0';
        return inet_pton(AF_INET6, bare, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* 1 if the URL's host is loopback, where no one else is on the wire. The
 * host is what libcurl will connect to, so libcurl parses it. */
static int url_is_loopback(const char *url)
{
        CURLU *u = curl_url();
        char *host = NULL;
        int loopback = 0;

        if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
                loopback = host_is_loopback(host);
        curl_free(host);
        curl_url_cleanup(u);
        return loopback;
}

static int insecure_allowed(const char *url)
{
        const char *env = getenv(ALLOW_INSECURE_ENV);
        return url_is_loopback(url) || (env && strcmp(env, "1") == 0);
}

/* Refuses a setting that weakens transport security (allow_plain_http =
 * true, tls_verify = false) unless the host is loopback or the operator
 * set ERASURE_ALLOW_INSECURE=1: a test setting must not reach a
 * production config unnoticed. */
static int check_insecure(struct loader *ld, const config_setting_t *s,
                          const char *name, const char *url)
{
        const config_setting_t *cs = config_setting_get_member(s, name);
        if (insecure_allowed(url))
                return 0;
        /* The URL is not quoted: its user part could hold a password. */
        return confread_fail(&ld->cr, cs, NULL,
                             "refused: the base_url host is not loopback "
                             "(allowed for 127.0.0.0/8, ::1 and localhost, or "
                             "with %s=1)",
                             ALLOW_INSECURE_ENV);
}

static int load_base_url(struct loader *ld, const config_setting_t *s,
                         struct provider_account *acct, const char **vals)
{
        const config_setting_t *us = config_setting_get_member(s, "base_url");
        const struct provider_def *d = acct->def;
        const struct tmpl *t = &d->base_url;
        struct tmpl own = {0};
        const char *src;
        int allow_http = 0;
        char where[64];

        if (confread_bool(&ld->cr, s, "allow_plain_http", &allow_http) < 0)
                return -1;
        acct->allow_plain_http = allow_http;
        if (us) {
                if (confread_need_string(&ld->cr, s, "base_url", &src) < 0 ||
                    provider_tmpl_parse(ld, us, src, provider_find_var, d,
                                        &own) != 0) {
                        provider_tmpl_free(&own);
                        return -1;
                }
                t = &own;
        }
        acct->base_url = render_vars(t, vals, URL_MAX / 2);
        provider_tmpl_free(&own);
        if (!acct->base_url)
                return confread_fail(&ld->cr, us ? us : s, NULL, "too long");
        confread_path(s, where, sizeof(where));
        if (check_base_url(ld, us ? us : d->base_url_setting, acct->base_url,
                           allow_http, where) != 0)
                return -1;
        return allow_http
                   ? check_insecure(ld, s, "allow_plain_http", acct->base_url)
                   : 0;
}

static int pick_scheme(struct loader *ld, const config_setting_t *s,
                       const struct provider_def *d, const struct scheme **out)
{
        const char *name = NULL;
        int rc = confread_string(&ld->cr, s, "auth", &name);
        *out = NULL;
        if (rc < 0)
                return -1;
        if (rc == 0) {
                *out = d->nschemes ? &d->schemes[0] : NULL;
                return 0;
        }
        for (size_t i = 0; i < d->nschemes; i++) {
                if (strcmp(d->schemes[i].name, name) == 0) {
                        *out = &d->schemes[i];
                        return 0;
                }
        }
        return confread_fail(&ld->cr, config_setting_get_member(s, "auth"),
                             NULL, "provider %s has no auth scheme %s", d->name,
                             name);
}

static int slot_is_declared(const struct provider_def *d, const char *slot)
{
        for (size_t i = 0; i < d->nschemes; i++) {
                if (d->schemes[i].oauth &&
                    (strcmp(slot, OAUTH_SLOT_ID) == 0 ||
                     strcmp(slot, OAUTH_SLOT_SECRET) == 0))
                        return 1;
                for (size_t j = 0; j < d->schemes[i].n; j++) {
                        const char *s = d->schemes[i].headers[j].secret;
                        if (s && strcmp(s, slot) == 0)
                                return 1;
                }
        }
        return 0;
}

static int env_name_ok(const char *v)
{
        if (!v[0] || (v[0] >= '0' && v[0] <= '9'))
                return 0;
        for (; *v; v++) {
                if (!is_alnum((unsigned char)*v) && *v != '_')
                        return 0;
        }
        return 1;
}

static int check_secrets_group(struct loader *ld, const config_setting_t *ss,
                               const struct provider_def *d)
{
        if (!ss)
                return 0;
        if (!config_setting_is_group(ss))
                return confread_fail(&ld->cr, ss, NULL,
                                     "must be a group { SLOT = \"ENV_VAR\"; }");
        for (int i = 0; i < config_setting_length(ss); i++) {
                const config_setting_t *e = config_setting_get_elem(ss, i);
                if (!slot_is_declared(d, config_setting_name(e)))
                        return confread_fail(
                            &ld->cr, e, NULL,
                            "provider %s has no secret slot %s", d->name,
                            config_setting_name(e));
                if (config_setting_type(e) != CONFIG_TYPE_STRING ||
                    !env_name_ok(config_setting_get_string(e)))
                        return confread_fail(
                            &ld->cr, e, NULL,
                            "must name an environment variable");
        }
        return 0;
}

/* Which variable feeds which slot, for check-config. */
static int note_secret_env(struct loader *ld, const config_setting_t *e,
                           struct provider_account *acct, const char *slot,
                           const char *var)
{
        size_t i = acct->nsecret_envs;
        acct->secret_slots[i] = slot;
        if (confread_strdup(&ld->cr, e, var, &acct->secret_envs[i]) != 0)
                return -1;
        acct->nsecret_envs++;
        return 0;
}

/* The secret's value from the environment; never quoted in errors. */
static int read_secret(struct loader *ld, const config_setting_t *s,
                       struct provider_account *acct, const char *scheme,
                       const char *slot, const char **out)
{
        const config_setting_t *ss = config_setting_get_member(s, "secrets");
        const config_setting_t *e =
            ss ? config_setting_get_member(ss, slot) : NULL;
        char child[NAME_MAX_LEN + 16];
        if (!e) {
                snprintf(child, sizeof(child), "%s%s", ss ? "" : "secrets.",
                         slot);
                return confread_fail(&ld->cr, ss ? ss : s, child,
                                     "missing (auth scheme %s needs it)",
                                     scheme);
        }
        const char *var = config_setting_get_string(e);
        if (note_secret_env(ld, e, acct, slot, var) != 0)
                return -1;
        const char *v = getenv(var);
        if (!v || !v[0]) {
                if (!ld->allow_missing_secrets)
                        return confread_fail(
                            &ld->cr, e, NULL,
                            "environment variable %s is not set", var);
                *out = NULL;
                return 0;
        }
        if (has_ctl(v, strlen(v)))
                return confread_fail(
                    &ld->cr, e, NULL,
                    "environment variable %s contains a control "
                    "character",
                    var);
        *out = v;
        return add_secret(ld->reg, v) == 0 ? 0
                                           : confread_fail_nomem(&ld->cr, e);
}

static int build_auth_header(struct loader *ld, const config_setting_t *s,
                             struct provider_account *acct, const char *scheme,
                             const struct auth_header *h, const char **vals,
                             struct provider_header *out)
{
        struct buf b;
        const char *secret = NULL;

        out->name = strdup(h->name);
        if (!out->name)
                return confread_fail_nomem(&ld->cr, s);
        buf_init(&b, 8000);
        if (h->secret) {
                out->secret = 1;
                if (read_secret(ld, s, acct, scheme, h->secret, &secret) != 0)
                        return -1;
                if (secret) {
                        buf_adds(&b, h->prefix);
                        buf_adds(&b, secret);
                }
        } else {
                char *v = render_vars(&h->value, vals, 4000);
                buf_adds(&b, h->prefix);
                buf_adds(&b, v ? v : "");
                free(v);
        }
        out->value = buf_take(&b);
        if (!out->value)
                return confread_fail(&ld->cr, h->where, NULL,
                                     "header value too long");
        /* Each part was checked already; this guards the whole line. */
        if (has_ctl(out->value, strlen(out->value)))
                return confread_fail(
                    &ld->cr, h->where, NULL,
                    "header value contains a control character");
        return 0;
}

static int load_token_url(struct loader *ld, const config_setting_t *s,
                          struct provider_account *acct,
                          const struct oauth_def *o)
{
        const config_setting_t *us = config_setting_get_member(s, "token_url");
        const char *url = o->token_url;
        char where[64];

        if (us && confread_need_string(&ld->cr, s, "token_url", &url) < 0)
                return -1;
        if (!url)
                return confread_fail(&ld->cr, s, "token_url",
                                     "missing (the scheme %s has none)",
                                     acct->auth);
        if (!us)
                us = o->token_url_setting;
        confread_path(s, where, sizeof(where));
        if (check_base_url(ld, us, url, acct->allow_plain_http, where) != 0)
                return -1;
        if (strncmp(url, "http://", 7) == 0 && !insecure_allowed(url))
                return confread_fail(&ld->cr, us, NULL,
                                     "plain http:// refused: the host is not "
                                     "loopback (or set %s=1)",
                                     ALLOW_INSECURE_ENV);
        return confread_strdup(&ld->cr, us, url, &acct->oauth_token_url);
}

static int dup_secret(struct loader *ld, const config_setting_t *s,
                      const char *v, char **out)
{
        return v ? confread_strdup(&ld->cr, s, v, out) : 0;
}

/* The token itself is fetched at run time (src/oauth.h); here only what
 * the fetch needs. */
static int load_oauth_account(struct loader *ld, const config_setting_t *s,
                              struct provider_account *acct,
                              const struct scheme *sc)
{
        const struct oauth_def *o = sc->oauth;
        const char *id = NULL, *secret = NULL;

        acct->secret_slots = alloc_array(2, sizeof(*acct->secret_slots));
        acct->secret_envs = alloc_array(2, sizeof(*acct->secret_envs));
        if (!acct->secret_slots || !acct->secret_envs)
                return confread_fail_nomem(&ld->cr, s);
        if (load_token_url(ld, s, acct, o) != 0 ||
            read_secret(ld, s, acct, sc->name, OAUTH_SLOT_ID, &id) != 0 ||
            read_secret(ld, s, acct, sc->name, OAUTH_SLOT_SECRET, &secret) !=
                0 ||
            dup_secret(ld, s, id, &acct->oauth_client_id) != 0 ||
            dup_secret(ld, s, secret, &acct->oauth_client_secret) != 0)
                return -1;
        acct->has_oauth = 1;
        acct->oauth = (struct provider_oauth){
            .token_url = acct->oauth_token_url,
            .client_id = acct->oauth_client_id,
            .client_secret = acct->oauth_client_secret,
            .scope = o->scope,
            .audience = o->audience,
            .basic_auth = o->basic_auth,
            .header = o->header,
            .prefix = o->prefix,
        };
        return 0;
}

static int load_auth_headers(struct loader *ld, const config_setting_t *s,
                             struct provider_account *acct, const char **vals)
{
        const struct provider_def *d = acct->def;
        const struct scheme *sc;

        if (pick_scheme(ld, s, d, &sc) != 0 ||
            check_secrets_group(ld, config_setting_get_member(s, "secrets"),
                                d) != 0)
                return -1;
        if (!sc)
                return 0;
        acct->auth = sc->name;
        if (sc->oauth)
                return load_oauth_account(ld, s, acct, sc);
        if (config_setting_get_member(s, "token_url"))
                return confread_fail(
                    &ld->cr, config_setting_get_member(s, "token_url"), NULL,
                    "only for an auth scheme of kind " OAUTH_KIND);
        acct->headers = alloc_array(sc->n, sizeof(*acct->headers));
        acct->secret_slots = alloc_array(sc->n, sizeof(*acct->secret_slots));
        acct->secret_envs = alloc_array(sc->n, sizeof(*acct->secret_envs));
        if (!acct->headers || !acct->secret_slots || !acct->secret_envs)
                return confread_fail_nomem(&ld->cr, s);
        for (size_t i = 0; i < sc->n; i++) {
                acct->nheaders = i + 1;
                if (build_auth_header(ld, s, acct, sc->name, &sc->headers[i],
                                      vals, &acct->headers[i]) != 0)
                        return -1;
        }
        return 0;
}

/* A CA bundle that cannot be read would fail every call at run time,
 * with a TLS error that does not name the setting. */
static int check_ca_file(struct loader *ld, const config_setting_t *cs,
                         const char *path)
{
        struct stat st;
        if (stat(path, &st) != 0 || access(path, R_OK) != 0)
                return confread_fail(&ld->cr, cs, NULL, "%s: %s", path,
                                     strerror(errno));
        if (!S_ISREG(st.st_mode))
                return confread_fail(&ld->cr, cs, NULL,
                                     "%s: not a regular file", path);
        return 0;
}

static int load_account_tls(struct loader *ld, const config_setting_t *s,
                            struct provider_account *acct)
{
        const char *ca = NULL;
        if (confread_bool(&ld->cr, s, "tls_verify", &acct->limits.tls_verify) <
            0)
                return -1;
        if (!acct->limits.tls_verify &&
            check_insecure(ld, s, "tls_verify", acct->base_url) != 0)
                return -1;
        int rc = confread_string(&ld->cr, s, "ca_file", &ca);
        if (rc <= 0)
                return rc;
        const config_setting_t *cs = config_setting_get_member(s, "ca_file");
        if (!ca[0])
                return confread_fail(&ld->cr, cs, NULL, "must not be empty");
        if (check_ca_file(ld, cs, ca) != 0)
                return -1;
        if (confread_strdup(&ld->cr, cs, ca, &acct->ca_file) != 0)
                return -1;
        acct->limits.ca_file = acct->ca_file;
        return 0;
}

static int load_account_identity(struct loader *ld, const config_setting_t *s,
                                 struct provider_account *acct)
{
        static const char *const keys[] = {
            "provider",         "name",       "auth",
            "secrets",          "vars",       "base_url",
            "allow_plain_http", "tls_verify", "ca_file",
            "limits",           "token_url",  NULL};
        const char *prov, *name = "default";
        const struct provider_registry *reg = ld->reg;

        if (confread_check_keys(&ld->cr, s, keys) != 0 ||
            confread_need_string(&ld->cr, s, "provider", &prov) < 0)
                return -1;
        acct->def = provider_find_def(reg, prov);
        if (!acct->def)
                return confread_fail(&ld->cr,
                                     config_setting_get_member(s, "provider"),
                                     NULL, "no provider %s is defined", prov);
        if (confread_string(&ld->cr, s, "name", &name) < 0)
                return -1;
        const config_setting_t *ns = config_setting_get_member(s, "name");
        if (!name[0] || !all_chars(name, is_var_char) || strlen(name) > 64)
                return confread_fail(&ld->cr, ns, NULL,
                                     "must be 1..64 of [A-Za-z0-9._-]");
        for (size_t i = 0; i < acct->index; i++) {
                const struct provider_account *o = &reg->accounts[i];
                if (o->def == acct->def && strcmp(o->name, name) == 0)
                        return confread_fail(
                            &ld->cr, ns ? ns : s, NULL,
                            "duplicate account %s for provider %s", name, prov);
        }
        return confread_strdup(&ld->cr, s, name, &acct->name);
}

static int load_account(struct loader *ld, const config_setting_t *s,
                        const struct provider_limits *defaults,
                        struct provider_account *acct)
{
        const char **vals;
        int rc;

        if (!config_setting_is_group(s))
                return confread_fail(&ld->cr, s, NULL,
                                     "must be a group { provider = ...; }");
        if (load_account_identity(ld, s, acct) != 0)
                return -1;
        vals = alloc_array(acct->def->nvars, sizeof(*vals));
        if (!vals)
                return confread_fail_nomem(&ld->cr, s);
        acct->limits = *defaults;
        acct->limits.ca_file = NULL;
        rc = load_account_vars(ld, s, acct->def, vals);
        if (rc == 0)
                rc = load_base_url(ld, s, acct, vals);
        if (rc == 0)
                rc = load_auth_headers(ld, s, acct, vals);
        if (rc == 0)
                rc = load_account_tls(ld, s, acct);
        if (rc == 0)
                rc = load_limits(ld, s, &acct->limits);
        free(vals);
        return rc;
}

void provider_account_free(struct provider_account *a)
{
        free(a->name);
        free(a->base_url);
        for (size_t i = 0; i < a->nheaders; i++) {
                free(a->headers[i].name);
                free(a->headers[i].value);
        }
        free(a->headers);
        free(a->ca_file);
        for (size_t i = 0; i < a->nsecret_envs; i++)
                free(a->secret_envs[i]);
        free(a->secret_envs);
        free(a->secret_slots);
        free(a->oauth_token_url);
        free(a->oauth_client_id);
        free(a->oauth_client_secret);
}

int provider_load_accounts(struct loader *ld, const config_t *cfg)
{
        struct provider_limits defaults;
        struct provider_registry *reg = ld->reg;
        const config_setting_t *as = config_lookup(cfg, "accounts");

        if (load_account_defaults(ld, cfg, &defaults) != 0)
                return -1;
        if (!as)
                return 0;
        if (!config_setting_is_list(as))
                return confread_fail(&ld->cr, as, NULL,
                                     "must be a list ( { ... }, ... )");
        size_t n = (size_t)config_setting_length(as);
        reg->accounts = alloc_array(n, sizeof(*reg->accounts));
        if (!reg->accounts)
                return confread_fail_nomem(&ld->cr, as);
        for (size_t i = 0; i < n; i++) {
                reg->naccounts = i + 1;
                reg->accounts[i].index = i;
                if (load_account(ld, config_setting_get_elem(as, (unsigned)i),
                                 &defaults, &reg->accounts[i]) != 0)
                        return -1;
        }
        return 0;
}
