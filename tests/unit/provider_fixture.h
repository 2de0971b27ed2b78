/* Shared by the provider unit tests (test_provider_*.c): temporary config
 * files, the shipped providers.conf loaded once per program, requests
 * written with ' for ". */
#ifndef ERASURE_TEST_PROVIDER_FIXTURE_H
#define ERASURE_TEST_PROVIDER_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <libconfig.h>

#include "provider.h"

static char tmpdir[64];
static struct provider_registry *reg; /* the shipped providers.conf */

static inline const char *source_dir(void)
{
        const char *d = getenv("ERASURE_SOURCE_DIR");
        return d && d[0] ? d : ".";
}

static inline void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

/* Writes text as tmpdir/name and loads it with @include resolved in
 * inc_dir. */
static inline struct provider_registry *
load_text_in(const char *inc_dir, const char *name, const char *text,
             int allow_missing, char *err, size_t errsize)
{
        char path[256];
        config_t cfg;
        struct provider_registry *r;

        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        write_file(path, text);
        config_init(&cfg);
        config_set_include_dir(&cfg, inc_dir);
        if (!config_read_file(&cfg, path)) {
                fail_msg("libconfig: %s:%d: %s", config_error_file(&cfg),
                         config_error_line(&cfg), config_error_text(&cfg));
        }
        r = provider_registry_load(&cfg, allow_missing, err, errsize);
        /* The registry must not keep pointers into the config. */
        config_destroy(&cfg);
        unlink(path);
        return r;
}

/* The same, with the repo's config/ as include dir so tests can @include
 * "providers.conf". */
static inline struct provider_registry *load_text(const char *name,
                                                  const char *text,
                                                  int allow_missing, char *err,
                                                  size_t errsize)
{
        char inc[512];
        snprintf(inc, sizeof(inc), "%s/config", source_dir());
        return load_text_in(inc, name, text, allow_missing, err, errsize);
}

/* JSON in tests is written with ' for " to stay readable. */
static inline struct request *test_req_new(const char *text)
{
        char *buf = strdup(text);
        json_error_t je;
        assert_non_null(buf);
        for (char *p = buf; *p; p++) {
                if (*p == '\'')
                        *p = '"';
        }
        json_t *root = json_loads(buf, 0, &je);
        if (!root)
                fail_msg("bad test JSON: %s in %s", je.text, buf);
        free(buf);
        struct request *r = calloc(1, sizeof(*r));
        assert_non_null(r);
        r->root = root;
        r->request_id = "req_test";
        json_t *ts = json_object_get(root, "targets");
        r->ntargets = json_array_size(ts);
        r->targets = calloc(r->ntargets + 1, sizeof(*r->targets));
        assert_non_null(r->targets);
        for (size_t i = 0; i < r->ntargets; i++) {
                json_t *t = json_array_get(ts, i);
                const char *acct =
                    json_string_value(json_object_get(t, "account"));
                r->targets[i].json = t;
                r->targets[i].provider =
                    json_string_value(json_object_get(t, "provider"));
                r->targets[i].account = acct ? acct : "default";
        }
        return r;
}

static inline void test_req_free(struct request *r)
{
        json_decref(r->root);
        free(r->targets);
        free(r);
}

/* Plans with the shipped registry; the request is freed before the plan
 * is looked at, so the plan must own or borrow from the registry only. */
static inline enum request_error plan_with(const struct provider_registry *r,
                                           const char *json, size_t max_calls,
                                           struct provider_plan *plan,
                                           char *err, size_t errsize)
{
        struct request *req = test_req_new(json);
        enum request_error rc =
            provider_plan(r, req, max_calls, plan, err, errsize);
        test_req_free(req);
        if (rc != REQUEST_OK) {
                assert_int_equal(plan->ncalls, 0);
                assert_null(plan->calls);
        }
        return rc;
}

static inline void plan_ok(const char *json, struct provider_plan *plan)
{
        char err[512];
        enum request_error rc = plan_with(reg, json, 0, plan, err, sizeof(err));
        if (rc != REQUEST_OK)
                fail_msg("plan failed (%d): %s", rc, err);
}

static inline void assert_header(const struct provider_call *c, size_t i,
                                 const char *name, const char *value,
                                 int secret)
{
        assert_true(i < c->nheaders);
        assert_string_equal(c->headers[i].name, name);
        assert_string_equal(c->headers[i].value, value);
        assert_int_equal(c->headers[i].secret, secret);
}

static inline void assert_contains(const char *haystack, const char *needle)
{
        if (!strstr(haystack, needle))
                fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static const char *const worker_conf =
    "@include \"providers.conf\"\n"
    "account_defaults = { limits = { concurrency = 16; timeout_ms = 20000; "
    "}; };\n"
    "accounts = (\n"
    "  { provider = \"vectara\"; secrets = { api_key = \"TP_VECTARA_KEY\"; "
    "}; },\n"
    "  { provider = \"vectara\"; name = \"oauth\"; auth = \"oauth\";\n"
    "    secrets = { oauth_token = \"TP_VECTARA_TOKEN\"; };\n"
    "    base_url = \"http://127.0.0.1:8080/vectara\"; allow_plain_http = "
    "true;\n"
    "    tls_verify = false; limits = { concurrency = 4; max_attempts = 2; "
    "}; },\n"
    "  { provider = \"convai\"; secrets = { api_key = \"TP_CONVAI_KEY\"; "
    "}; },\n"
    "  { provider = \"algolia\"; vars = { application_id = \"APPID42\"; };\n"
    "    secrets = { api_key = \"TP_ALGOLIA_KEY\"; }; allow_agent_wide = "
    "true; },\n"
    "  { provider = \"algolia\"; name = \"noopt\";\n"
    "    vars = { application_id = \"APPID42\"; };\n"
    "    secrets = { api_key = \"TP_ALGOLIA_KEY\"; }; },\n"
    "  { provider = \"avaamo\"; secrets = { access_token = "
    "\"TP_AVAAMO_TOKEN\"; }; allow_agent_wide = true;\n"
    "    ca_file = \"/etc/ssl/certs/ca-certificates.crt\"; }\n"
    ");\n";

static inline int group_setup(void **state)
{
        char err[512];
        (void)state;
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_provider.XXXXXX");
        if (!mkdtemp(tmpdir))
                return -1;
        setenv("TP_VECTARA_KEY", "vectara-key-1", 1);
        setenv("TP_VECTARA_TOKEN", "vectara-oauth-2", 1);
        setenv("TP_CONVAI_KEY", "convai-key-3", 1);
        setenv("TP_ALGOLIA_KEY", "algolia-key-4", 1);
        setenv("TP_AVAAMO_TOKEN", "avaamo-token-5", 1);
        setenv("TP_P_KEY", "p-key-6", 1);
        unsetenv("TP_UNSET_VAR");
        reg = load_text("worker.conf", worker_conf, 0, err, sizeof(err));
        if (!reg) {
                fprintf(stderr, "cannot load shipped providers: %s\n", err);
                return -1;
        }
        return 0;
}

static inline int group_teardown(void **state)
{
        (void)state;
        provider_registry_free(reg);
        rmdir(tmpdir);
        return 0;
}

#endif
