/* libFuzzer harness for planning: request_parse() then provider_plan()
 * with the shipped config/providers.conf (src/provider_plan.c).
 *
 * DESIGN §2 promises that nothing in an event can change the host, the
 * path structure or the headers of a call. This harness holds the planner
 * to that on arbitrary requests: every URL keeps its account's base URL
 * and the number of path segments its action was configured with, uses
 * only RFC 3986 characters, has no dot segments; headers stay single
 * lines; secrets appear only in the headers that are masked; bodies are
 * JSON; and planning is deterministic and free of duplicate calls. */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "provider.h"
#include "request.h"
#include "settings.h"
#include "text.h"

#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Below the worker's default (10000) so one input stays fast; the bound
 * itself is checked like any other. */
#define FUZZ_MAX_CALLS 5000
#define ERRSTR_SIZE    512
#define MAX_ACTIONS    64

/* An account of the fuzzing config. Two providers get a second account so
 * a target's "account" field reaches a different base URL and auth. */
struct fuzz_account {
        const char *provider;
        const char *name;
        const char *config;   /* the account group, past provider and name */
        const char *base_url; /* what every URL of the account starts with */
};

static const struct fuzz_account fuzz_accounts[] = {
    {"vectara", "default", "secrets = { api_key = \"FUZZ_VECTARA_KEY\"; };",
     "https://api.vectara.io"},
    {"vectara", "oauth",
     "auth = \"oauth\"; secrets = { oauth_token = \"FUZZ_VECTARA_TOKEN\"; }; "
     "base_url = \"https://vectara-eu.example.com/proxy/v1\";",
     "https://vectara-eu.example.com/proxy/v1"},
    {"convai", "default", "secrets = { api_key = \"FUZZ_CONVAI_KEY\"; };",
     "https://api.convai.com"},
    {"algolia", "default",
     "vars = { application_id = \"FUZZAPP1\"; }; "
     "secrets = { api_key = \"FUZZ_ALGOLIA_KEY\"; }; allow_agent_wide = true;",
     "https://FUZZAPP1.algolia.net/agent-studio"},
    {"algolia", "eu",
     "vars = { application_id = \"EUAPP2\"; }; "
     "secrets = { api_key = \"FUZZ_ALGOLIA_EU_KEY\"; }; "
     "allow_agent_wide = true; "
     "base_url = \"https://{application_id}.eu.algolia.example/agent-studio\";",
     "https://EUAPP2.eu.algolia.example/agent-studio"},
    {"avaamo", "default",
     "secrets = { access_token = \"FUZZ_AVAAMO_TOKEN\"; }; "
     "allow_agent_wide = true;",
     "https://cx.avaamo.com"},
    {"avaamo", "local",
     "secrets = { access_token = \"FUZZ_AVAAMO_TOKEN\"; }; "
     "base_url = \"http://127.0.0.1:8080/avaamo\"; allow_plain_http = true; "
     "allow_agent_wide = true;",
     "http://127.0.0.1:8080/avaamo"},
};
#define NACCOUNTS (sizeof(fuzz_accounts) / sizeof(fuzz_accounts[0]))

/* Dummy secrets, distinctive enough to search outputs for. */
static const char *const fuzz_secrets[][2] = {
    {"FUZZ_VECTARA_KEY", "fzsecret-vectara-key-7Qx2"},
    {"FUZZ_VECTARA_TOKEN", "fzsecret-vectara-oauth-K9p4"},
    {"FUZZ_CONVAI_KEY", "fzsecret-convai-key-3Lm8"},
    {"FUZZ_ALGOLIA_KEY", "fzsecret-algolia-key-Z5w1"},
    {"FUZZ_ALGOLIA_EU_KEY", "fzsecret-algolia-eu-key-R2d6"},
    {"FUZZ_AVAAMO_TOKEN", "fzsecret-avaamo-token-H7v3"},
};
#define NSECRETS (sizeof(fuzz_secrets) / sizeof(fuzz_secrets[0]))

/* One target per provider that fires every action it has, planned at
 * start-up for each account: a way to learn each action's path shape from
 * the config itself instead of copying it here. Fields past provider and
 * account. */
static const char *const probes[][2] = {
    {"vectara", "\"agent_id\":\"agt_probe\",\"session_ids\":[\"ase_probe\"]"},
    {"convai", "\"character_id\":\"probe\",\"session_ids\":[\"probe\"]"},
    {"algolia", "\"scope\":\"agent\",\"agent_id\":\"probe\","
                "\"user_token\":\"probe\","
                "\"conversations\":{\"start_date\":\"2026-01-01\","
                "\"end_date\":\"2026-11-01\"}"},
    {"avaamo",
     "\"scope\":\"agent\",\"agent_id\":1,\"data_types\":[\"storage\"]"},
};
#define NPROBES (sizeof(probes) / sizeof(probes[0]))

/* Path segments of an action, as the probes found them. A value is one
 * encoded segment, so no request can change this count. */
struct action_shape {
        const char *provider;
        const char *action;
        size_t segments;
};

static struct settings *settings;
static struct action_shape shapes[MAX_ACTIONS];
static size_t nshapes;

static const struct fuzz_account *find_account(const char *provider,
                                               const char *name)
{
        for (size_t i = 0; i < NACCOUNTS; i++) {
                if (strcmp(fuzz_accounts[i].provider, provider) == 0 &&
                    strcmp(fuzz_accounts[i].name, name) == 0)
                        return &fuzz_accounts[i];
        }
        return NULL;
}

static struct action_shape *find_shape(const char *provider, const char *action)
{
        for (size_t i = 0; i < nshapes; i++) {
                if (strcmp(shapes[i].provider, provider) == 0 &&
                    strcmp(shapes[i].action, action) == 0)
                        return &shapes[i];
        }
        return NULL;
}

/* ---- start-up ---------------------------------------------------------- */

static void load_settings(void)
{
        char accounts[4096];
        size_t n = 0;
        for (size_t i = 0; i < NACCOUNTS; i++) {
                const struct fuzz_account *a = &fuzz_accounts[i];
                n += (size_t)snprintf(
                    accounts + n, sizeof(accounts) - n,
                    "  { provider = \"%s\"; name = \"%s\"; %s }%s\n",
                    a->provider, a->name, a->config,
                    i + 1 < NACCOUNTS ? "," : "");
                if (n >= sizeof(accounts))
                        fuzz_die("accounts do not fit");
        }
        for (size_t i = 0; i < NSECRETS; i++)
                setenv(fuzz_secrets[i][0], fuzz_secrets[i][1], 1);
        settings = fuzz_load_settings(accounts);
}

static size_t count_char(const char *s, size_t n, char c)
{
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                k += s[i] == c;
        return k;
}

/* Path segments after the base URL, up to the query. */
static size_t path_segments(const char *url, size_t base_len)
{
        const char *path = url + base_len;
        return count_char(path, strcspn(path, "?"), '/');
}

static void learn_one(const struct fuzz_account *a,
                      const struct provider_call *c);

/* A discover's calls have their own shapes: learnt from a plain answer. */
static void learn_discovered(const struct fuzz_account *a,
                             const struct provider_call *d)
{
        static const char body[] =
            "{\"conversations\":[{\"id\":\"probe\",\"agentId\":\"probe\","
            "\"userToken\":\"probe\"}],\"memories\":[]}";
        struct provider_plan items;
        size_t found;
        char err[ERRSTR_SIZE];
        if (provider_expand(d, body, strlen(body), &items, &found, err,
                            sizeof(err)) != 0 ||
            items.ncalls == 0)
                fuzz_die("probe discover does not expand (update "
                         "fuzz/fuzz_plan.c): %s",
                         err);
        for (size_t i = 0; i < items.ncalls; i++)
                learn_one(a, &items.calls[i]);
        provider_plan_clear(&items);
}

static void learn_shapes(const struct fuzz_account *a, const char *fields)
{
        char json[1024], err[ERRSTR_SIZE];
        enum request_error rc;
        struct provider_plan plan;

        snprintf(json, sizeof(json),
                 "{\"version\":1,\"request_id\":\"probe\",\"targets\":[{"
                 "\"provider\":\"%s\",\"account\":\"%s\",%s}]}",
                 a->provider, a->name, fields);
        struct request *req = request_parse(json, strlen(json), NULL, &rc, NULL,
                                            err, sizeof(err));
        if (!req)
                fuzz_die("probe request does not parse: %s", err);
        rc =
            provider_plan(settings->providers, req, 0, &plan, err, sizeof(err));
        if (rc != REQUEST_OK)
                fuzz_die("probe does not plan (update fuzz/fuzz_plan.c along "
                         "with config/providers.conf): %s: %s",
                         a->provider, err);
        for (size_t i = 0; i < plan.ncalls; i++) {
                learn_one(a, &plan.calls[i]);
                if (plan.calls[i].discover)
                        learn_discovered(a, &plan.calls[i]);
        }
        provider_plan_clear(&plan);
        request_free(req);
}

static void learn_one(const struct fuzz_account *a,
                      const struct provider_call *c)
{
        {
                size_t bl = strlen(a->base_url);
                if (strncmp(c->url, a->base_url, bl) != 0)
                        fuzz_die("URL %s does not start with the expected base "
                                 "URL %s (update fuzz/fuzz_plan.c)",
                                 c->url, a->base_url);
                size_t segs = path_segments(c->url, bl);
                struct action_shape *sh =
                    find_shape(a->provider, c->action_name);
                if (!sh && nshapes < MAX_ACTIONS) {
                        sh = &shapes[nshapes++];
                        sh->provider = c->provider; /* registry-owned */
                        sh->action = c->action_name;
                        sh->segments = segs;
                }
                if (sh && sh->segments != segs)
                        fuzz_die("accounts disagree on the path of %s: %s",
                                 c->action_name, c->url);
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        json_object_seed(1); /* a crash reproduces the same way */
        load_settings();
        for (size_t i = 0; i < NACCOUNTS; i++) {
                for (size_t p = 0; p < NPROBES; p++) {
                        if (strcmp(probes[p][0], fuzz_accounts[i].provider) ==
                            0)
                                learn_shapes(&fuzz_accounts[i], probes[p][1]);
                }
        }
        if (find_shape("vectara", "delete_session") == NULL)
                fuzz_die("no probe planned");
        return 0;
}

/* ---- invariants -------------------------------------------------------- */

static int is_alnum(unsigned char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               (c >= '0' && c <= '9');
}

static int is_hex(unsigned char c)
{
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') ||
               (c >= 'a' && c <= 'f');
}

static int hex_val(unsigned char c)
{
        return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int is_unreserved(unsigned char c)
{
        return is_alnum(c) || (c && strchr("-._~", c));
}

/* RFC 3986 URI characters minus '#': a fragment would cut the URL short
 * of what the planner meant to send. */
static void check_url_chars(const char *url)
{
        for (const char *p = url; *p; p++) {
                unsigned char c = (unsigned char)*p;
                if (c == '%') {
                        CHECK(is_hex((unsigned char)p[1]) &&
                              is_hex((unsigned char)p[2]));
                        continue;
                }
                CHECK(is_unreserved(c) || strchr(":/?[]@!$&'()*+,;=", c));
        }
}

/* A segment, decoded, that a client or server would resolve away. */
static int is_dot_segment(const char *s, size_t n)
{
        char d[3];
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                if (k == sizeof(d))
                        return 0;
                if (s[i] == '%' && i + 2 < n &&
                    is_hex((unsigned char)s[i + 1]) &&
                    is_hex((unsigned char)s[i + 2])) {
                        d[k++] = (char)(hex_val((unsigned char)s[i + 1]) * 16 +
                                        hex_val((unsigned char)s[i + 2]));
                        i += 2;
                } else {
                        d[k++] = s[i];
                }
        }
        return (k == 1 && d[0] == '.') ||
               (k == 2 && d[0] == '.' && d[1] == '.');
}

static void check_path(const char *path, size_t len)
{
        CHECK(len > 0 && path[0] == '/');
        const char *p = path;
        const char *end = path + len;
        while (p < end) {
                const char *seg = p + 1;
                const char *next = memchr(seg, '/', (size_t)(end - seg));
                size_t n = (size_t)((next ? next : end) - seg);
                /* Values are never empty, so neither is a segment. */
                CHECK(n > 0);
                CHECK(!is_dot_segment(seg, n));
                p = seg + n;
        }
}

/* name=value pairs, '&'-separated: a value cannot add a parameter. */
static void check_query(const char *q)
{
        CHECK(strchr(q, '?') == NULL);
        while (*q) {
                size_t n = strcspn(q, "&");
                CHECK(n > 0);
                CHECK(count_char(q, n, '=') == 1);
                CHECK(q[0] != '=');
                q += n;
                if (*q == '&') {
                        q++;
                        CHECK(*q != '\0');
                }
        }
}

static const char *authority(const char *url, size_t *len)
{
        const char *a = strstr(url, "://");
        CHECK(a != NULL);
        a += 3;
        *len = strcspn(a, "/?#");
        return a;
}

static void check_url(const struct provider_call *c,
                      const struct fuzz_account *fa)
{
        size_t bl = strlen(fa->base_url);
        CHECK(strncmp(c->url, fa->base_url, bl) == 0);
        /* The base URL ends where the configured path begins: nothing was
         * appended to the host or the base path. */
        CHECK(c->url[bl] == '/');

        size_t hl, ul;
        const char *h = authority(fa->base_url, &hl);
        const char *u = authority(c->url, &ul);
        CHECK(hl == ul && memcmp(h, u, hl) == 0);

        check_url_chars(c->url);
        const char *path = c->url + bl;
        size_t plen = strcspn(path, "?");
        check_path(path, plen);
        if (path[plen] == '?')
                check_query(path + plen + 1);

        const struct action_shape *sh = find_shape(c->provider, c->action_name);
        if (sh)
                CHECK(path_segments(c->url, bl) == sh->segments);
}

static int is_token_char(unsigned char c)
{
        return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* HTTP field value: no CR, LF or other controls (HTAB is allowed). */
static void check_header_value(const char *v)
{
        for (const char *p = v; *p; p++) {
                unsigned char c = (unsigned char)*p;
                CHECK(c != '\r' && c != '\n');
                CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
}

static int contains(const uint8_t *hay, size_t n, const char *needle)
{
        size_t k = strlen(needle);
        for (size_t i = 0; k <= n && i <= n - k; i++) {
                if (memcmp(hay + i, needle, k) == 0)
                        return 1;
        }
        return 0;
}

/* The secret s is in out but the input did not put it there. Inputs may
 * contain a secret (libFuzzer learns strings from comparisons, ours
 * included); only the config may put one into a call. */
static int leaks(const char *out, const char *s, const uint8_t *in,
                 size_t inlen)
{
        return out && strstr(out, s) && !contains(in, inlen, s);
}

static void check_headers(const struct provider_call *c)
{
        int content_type = 0;
        for (size_t i = 0; i < c->nheaders; i++) {
                const struct provider_header *h = &c->headers[i];
                CHECK(h->name && h->name[0] && h->value);
                for (const char *p = h->name; *p; p++)
                        CHECK(is_token_char((unsigned char)*p));
                check_header_value(h->value);
                int has_secret = 0;
                for (size_t k = 0; k < NSECRETS; k++)
                        has_secret |=
                            strstr(h->value, fuzz_secrets[k][1]) != NULL;
                /* Masking in logs and `plan` output relies on the flag;
                 * no header value comes from the request. */
                CHECK(has_secret == h->secret);
                if (strcmp(h->name, "Content-Type") == 0) {
                        content_type++;
                        CHECK(strcmp(h->value, "application/json") == 0);
                }
        }
        CHECK(content_type == (c->body ? 1 : 0));
}

static void check_call(const struct provider_call *c, const uint8_t *in,
                       size_t inlen)
{
        CHECK(c->account && c->action);
        CHECK(c->provider && c->account_name && c->action_name && c->method);
        CHECK(strcmp(provider_account_provider(c->account), c->provider) == 0);
        CHECK(strcmp(provider_account_name(c->account), c->account_name) == 0);
        CHECK(strcmp(c->method, "GET") == 0 || strcmp(c->method, "POST") == 0 ||
              strcmp(c->method, "PUT") == 0 ||
              strcmp(c->method, "PATCH") == 0 ||
              strcmp(c->method, "DELETE") == 0);

        const struct fuzz_account *fa =
            find_account(c->provider, c->account_name);
        CHECK(fa != NULL);
        CHECK(c->url != NULL);
        check_url(c, fa);
        check_headers(c);

        if (c->body) {
                json_error_t je;
                json_t *doc = json_loads(c->body, JSON_REJECT_DUPLICATES, &je);
                CHECK(doc != NULL);
                CHECK(json_is_object(doc));
                json_decref(doc);
        }

        /* The resource names the deletion in outcomes and keys. */
        CHECK(c->resource && c->resource[0]);
        for (const char *p = c->resource; *p; p++)
                CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);

        for (size_t k = 0; k < NSECRETS; k++) {
                const char *s = fuzz_secrets[k][1];
                CHECK(!leaks(c->url, s, in, inlen));
                CHECK(!leaks(c->body, s, in, inlen));
                CHECK(!leaks(c->resource, s, in, inlen));
        }
}

static int call_cmp(const void *x, const void *y)
{
        const struct provider_call *a = *(const struct provider_call *const *)x;
        const struct provider_call *b = *(const struct provider_call *const *)y;
        int c = strcmp(a->provider, b->provider);
        if (c == 0)
                c = strcmp(a->account_name, b->account_name);
        if (c == 0)
                c = strcmp(a->action_name, b->action_name);
        if (c == 0)
                c = strcmp(a->resource, b->resource);
        return c;
}

/* One outcome per idempotency key: no two calls may share account,
 * action and resource. */
static void check_unique(const struct provider_plan *plan)
{
        const struct provider_call **v = malloc(plan->ncalls * sizeof(*v));
        if (!v)
                return;
        for (size_t i = 0; i < plan->ncalls; i++)
                v[i] = &plan->calls[i];
        qsort(v, plan->ncalls, sizeof(*v), call_cmp);
        for (size_t i = 1; i < plan->ncalls; i++)
                CHECK(call_cmp(&v[i - 1], &v[i]) != 0);
        free(v);
}

static int str_eq(const char *a, const char *b)
{
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Redelivery must give the same calls in the same order. */
static void check_same_plan(const struct provider_plan *a,
                            const struct provider_plan *b)
{
        CHECK(a->ncalls == b->ncalls);
        for (size_t i = 0; i < a->ncalls; i++) {
                const struct provider_call *x = &a->calls[i];
                const struct provider_call *y = &b->calls[i];
                CHECK(x->account == y->account && x->action == y->action);
                CHECK(str_eq(x->url, y->url));
                CHECK(str_eq(x->body, y->body));
                CHECK(str_eq(x->resource, y->resource));
                CHECK(x->nheaders == y->nheaders);
                for (size_t k = 0; k < x->nheaders; k++) {
                        CHECK(str_eq(x->headers[k].name, y->headers[k].name));
                        CHECK(str_eq(x->headers[k].value, y->headers[k].value));
                        CHECK(x->headers[k].secret == y->headers[k].secret);
                }
        }
}

/* Every target fires at least one action of its own account (its calls
 * may be dropped as duplicates, but only of an equal target's). */
static void check_targets_covered(const struct request *req,
                                  const struct provider_plan *plan)
{
        for (size_t t = 0; t < req->ntargets; t++) {
                const struct request_target *rt = &req->targets[t];
                int found = 0;
                for (size_t i = 0; i < plan->ncalls && !found; i++) {
                        found = strcmp(plan->calls[i].provider, rt->provider) ==
                                    0 &&
                                strcmp(plan->calls[i].account_name,
                                       rt->account) == 0;
                }
                CHECK(found);
        }
}

static int is_plan_error(enum request_error err)
{
        switch (err) {
        case REQUEST_ERR_UNKNOWN_PROVIDER:
        case REQUEST_ERR_UNKNOWN_ACCOUNT:
        case REQUEST_ERR_BAD_FIELD:
        case REQUEST_ERR_NO_ACTION:
        case REQUEST_ERR_TOO_MANY_CALLS:
        case REQUEST_ERR_AGENT_WIDE:
        case REQUEST_ERR_OVERSIZE: /* out of memory while planning */
                return 1;
        default:
                return 0;
        }
}

/* errstr goes into logs and dead-letter headers. */
static void check_plan_error(enum request_error rc,
                             const struct provider_plan *plan,
                             const char *errstr)
{
        CHECK(is_plan_error(rc));
        CHECK(plan->ncalls == 0 && plan->calls == NULL);
        const char *end = memchr(errstr, '\0', ERRSTR_SIZE);
        CHECK(end != NULL && end > errstr);
        for (const char *p = errstr; p < end; p++)
                CHECK(*p >= 0x20 && *p <= 0x7e);
}

/* The input's bytes as a vendor's string (made valid UTF-8: a vendor's
 * JSON is parsed before any value is seen). */
static json_t *input_string(const uint8_t *data, size_t n)
{
        char *buf = malloc(n + 1);
        if (!buf)
                return NULL;
        memcpy(buf, data, n);
        buf[n] = '\0';
        text_fix_utf8(buf, n);
        json_t *s = json_stringn(buf, n);
        free(buf);
        return s;
}

/* The input as what a discover read finds: hostile ids and agents must
 * be refused or encoded like any request field. */
static void check_discovered(const struct provider_call *d, const uint8_t *data,
                             size_t size)
{
        size_t half = size / 2;
        json_t *tok = json_object_get(d->target, "user_token");
        json_t *doc = json_pack(
            "{s:[{s:o*, s:o*, s:O*}, {s:o*, s:o*, s:O*}]}", "conversations",
            "id", input_string(data, half), "agentId",
            input_string(data + half, size - half), "userToken", tok, "id",
            input_string(data + half, size - half), "agentId",
            json_string("agent-1"), "userToken", tok);
        char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!body)
                return;
        struct provider_plan items, again;
        size_t found, found2;
        char err[ERRSTR_SIZE];
        int rc = provider_expand(d, body, strlen(body), &items, &found, err,
                                 sizeof(err));
        CHECK(provider_expand(d, body, strlen(body), &again, &found2, err,
                              sizeof(err)) == rc);
        free(body);
        if (rc != 0) {
                CHECK(items.ncalls == 0 && items.calls == NULL);
                for (const char *p = err; *p; p++)
                        CHECK(*p >= 0x20 && *p <= 0x7e);
                return;
        }
        CHECK(found == found2 && items.ncalls <= found);
        for (size_t i = 0; i < items.ncalls; i++) {
                CHECK(!items.calls[i].discover);
                check_call(&items.calls[i], data, size);
        }
        check_unique(&items);
        check_same_plan(&items, &again);
        provider_plan_clear(&items);
        provider_plan_clear(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char err[ERRSTR_SIZE];
        enum request_error rc;
        struct provider_plan plan, again;

        struct request *req = request_parse(
            data, size, &settings->request_limits, &rc, NULL, err, sizeof(err));
        if (!req)
                return 0;

        memset(err, 'x', sizeof(err));
        rc = provider_plan(settings->providers, req, FUZZ_MAX_CALLS, &plan, err,
                           sizeof(err));
        if (rc != REQUEST_OK) {
                check_plan_error(rc, &plan, err);
                request_free(req);
                return 0;
        }
        CHECK(err[0] == '\0');
        CHECK(plan.ncalls >= 1 && plan.ncalls <= FUZZ_MAX_CALLS);
        check_targets_covered(req, &plan);

        CHECK(provider_plan(settings->providers, req, FUZZ_MAX_CALLS, &again,
                            err, sizeof(err)) == REQUEST_OK);

        /* max_calls counts calls before duplicates are dropped, so one
         * less than what came out is always too few. */
        if (plan.ncalls > 1) {
                struct provider_plan small;
                rc = provider_plan(settings->providers, req, plan.ncalls - 1,
                                   &small, err, sizeof(err));
                CHECK(rc == REQUEST_ERR_TOO_MANY_CALLS);
                check_plan_error(rc, &small, err);
        }

        /* The plan outlives the request in the worker: everything below
         * would be a use-after-free if the plan borrowed from it. */
        request_free(req);
        for (size_t i = 0; i < plan.ncalls; i++) {
                check_call(&plan.calls[i], data, size);
                if (plan.calls[i].discover)
                        check_discovered(&plan.calls[i], data, size);
        }
        check_unique(&plan);
        check_same_plan(&plan, &again);
        provider_plan_clear(&plan);
        provider_plan_clear(&again);
        return 0;
}
