/* Unit tests of src/provider.c: the shipped config/providers.conf against
 * the vendors' documents (exact calls, classification), request checks,
 * and start-up errors naming file, line and setting. */
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

static const char *source_dir(void)
{
        const char *d = getenv("ERASURE_SOURCE_DIR");
        return d && d[0] ? d : ".";
}

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

/* Writes text as tmpdir/name and loads it with @include resolved in
 * inc_dir. */
static struct provider_registry *
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
static struct provider_registry *load_text(const char *name, const char *text,
                                           int allow_missing, char *err,
                                           size_t errsize)
{
        char inc[512];
        snprintf(inc, sizeof(inc), "%s/config", source_dir());
        return load_text_in(inc, name, text, allow_missing, err, errsize);
}

/* JSON in tests is written with ' for " to stay readable. */
static struct request *test_req_new(const char *text)
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

static void test_req_free(struct request *r)
{
        json_decref(r->root);
        free(r->targets);
        free(r);
}

/* Plans with the shipped registry; the request is freed before the plan
 * is looked at, so the plan must own or borrow from the registry only. */
static enum request_error plan_with(const struct provider_registry *r,
                                    const char *json, size_t max_calls,
                                    struct provider_plan *plan, char *err,
                                    size_t errsize)
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

static void plan_ok(const char *json, struct provider_plan *plan)
{
        char err[512];
        enum request_error rc = plan_with(reg, json, 0, plan, err, sizeof(err));
        if (rc != REQUEST_OK)
                fail_msg("plan failed (%d): %s", rc, err);
}

static void assert_header(const struct provider_call *c, size_t i,
                          const char *name, const char *value, int secret)
{
        assert_true(i < c->nheaders);
        assert_string_equal(c->headers[i].name, name);
        assert_string_equal(c->headers[i].value, value);
        assert_int_equal(c->headers[i].secret, secret);
}

static void assert_contains(const char *haystack, const char *needle)
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
    "    secrets = { api_key = \"TP_ALGOLIA_KEY\"; }; },\n"
    "  { provider = \"avaamo\"; secrets = { access_token = "
    "\"TP_AVAAMO_TOKEN\"; };\n"
    "    ca_file = \"/etc/ssl/certs/ca-certificates.crt\"; }\n"
    ");\n";

static int group_setup(void **state)
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

static int group_teardown(void **state)
{
        (void)state;
        provider_registry_free(reg);
        rmdir(tmpdir);
        return 0;
}

/* ---- accounts, limits, secrets ---------------------------------------- */

static void test_accounts_and_limits(void **state)
{
        (void)state;
        assert_int_equal(provider_account_count(reg), 5);
        const char *want[][2] = {{"vectara", "default"},
                                 {"vectara", "oauth"},
                                 {"convai", "default"},
                                 {"algolia", "default"},
                                 {"avaamo", "default"}};
        for (size_t i = 0; i < 5; i++) {
                const struct provider_account *a = provider_account_at(reg, i);
                assert_non_null(a);
                assert_int_equal(provider_account_index(a), i);
                assert_string_equal(provider_account_provider(a), want[i][0]);
                assert_string_equal(provider_account_name(a), want[i][1]);
        }
        assert_null(provider_account_at(reg, 5));

        /* built-in < account_defaults < account, field by field */
        const struct provider_limits *l =
            provider_account_limits(provider_account_at(reg, 0));
        assert_int_equal(l->concurrency, 16);
        assert_int_equal(l->timeout_ms, 20000);
        assert_int_equal(l->max_attempts, 6);
        assert_int_equal(l->connect_timeout_ms, 5000);
        assert_int_equal(l->budget_ms, 300000);
        assert_int_equal(l->backoff_base_ms, 500);
        assert_int_equal(l->backoff_max_ms, 30000);
        assert_true(l->rate_per_s == 0.0);
        assert_true(l->burst == 10.0);
        assert_int_equal(l->tls_verify, 1);
        assert_null(l->ca_file);

        l = provider_account_limits(provider_account_at(reg, 1));
        assert_int_equal(l->concurrency, 4);
        assert_int_equal(l->max_attempts, 2);
        assert_int_equal(l->timeout_ms, 20000);
        assert_int_equal(l->tls_verify, 0);

        l = provider_account_limits(provider_account_at(reg, 4));
        assert_string_equal(l->ca_file, "/etc/ssl/certs/ca-certificates.crt");
        assert_int_equal(l->tls_verify, 1);
}

static void test_secrets_enumerated(void **state)
{
        const char *want[] = {"vectara-key-1", "vectara-oauth-2",
                              "convai-key-3", "algolia-key-4",
                              "avaamo-token-5"};
        (void)state;
        for (size_t i = 0; i < 5; i++)
                assert_string_equal(provider_secret_at(reg, i), want[i]);
        assert_null(provider_secret_at(reg, 5));
}

static void test_secret_listed_once(void **state)
{
        char err[512];
        (void)state;
        struct provider_registry *r = load_text(
            "twice.conf",
            "@include \"providers.conf\"\n"
            "accounts = (\n"
            "  { provider = \"convai\"; secrets = { api_key = \"TP_P_KEY\"; "
            "}; },\n"
            "  { provider = \"convai\"; name = \"eu\"; secrets = { api_key = "
            "\"TP_P_KEY\"; }; }\n"
            ");\n",
            0, err, sizeof(err));
        assert_non_null(r);
        assert_string_equal(provider_secret_at(r, 0), "p-key-6");
        assert_null(provider_secret_at(r, 1));
        provider_registry_free(r);
}

static void test_allow_missing_secrets(void **state)
{
        char err[512];
        struct provider_plan plan;
        const char *conf =
            "@include \"providers.conf\"\n"
            "accounts = ( { provider = \"vectara\"; secrets = { api_key = "
            "\"TP_UNSET_VAR\"; }; } );\n";
        (void)state;
        struct provider_registry *r =
            load_text("missing_ok.conf", conf, 1, err, sizeof(err));
        assert_non_null(r);
        assert_null(provider_secret_at(r, 0));
        assert_int_equal(plan_with(r,
                                   "{'targets':[{'provider':'vectara',"
                                   "'agent_id':'agt_a','session_ids':['ase_"
                                   "1']}]}",
                                   0, &plan, err, sizeof(err)),
                         REQUEST_OK);
        assert_header(&plan.calls[0], 0, "x-api-key", "", 1);
        provider_plan_clear(&plan);
        provider_registry_free(r);

        /* and without the flag it is an error */
        assert_null(load_text("missing.conf", conf, 0, err, sizeof(err)));
        assert_contains(err, "accounts.[0].secrets.api_key: environment "
                             "variable TP_UNSET_VAR is not set");
}

static void test_free_null_and_clear(void **state)
{
        struct provider_plan plan;
        (void)state;
        provider_registry_free(NULL);
        plan_ok("{'targets':[{'provider':'vectara','agent_id':'agt_a',"
                "'session_ids':['ase_1']}]}",
                &plan);
        provider_plan_clear(&plan);
        assert_null(plan.calls);
        assert_int_equal(plan.ncalls, 0);
        provider_plan_clear(&plan); /* twice is harmless */
}

static void test_builtin_limits(void **state)
{
        char err[512];
        (void)state;
        struct provider_registry *r = load_text(
            "builtin.conf",
            "@include \"providers.conf\"\n"
            "accounts = ( { provider = \"convai\"; secrets = { api_key = "
            "\"TP_P_KEY\"; };\n"
            "  limits = { rate_per_s = 2; burst = 2.5; }; } );\n",
            0, err, sizeof(err));
        if (!r)
                fail_msg("%s", err);
        const struct provider_limits *l =
            provider_account_limits(provider_account_at(r, 0));
        assert_true(l->rate_per_s == 2.0); /* an integer is a number too */
        assert_true(l->burst == 2.5);
        assert_int_equal(l->concurrency, 32);
        assert_int_equal(l->timeout_ms, 15000);
        assert_int_equal(l->connect_timeout_ms, 5000);
        assert_int_equal(l->max_attempts, 6);
        assert_int_equal(l->budget_ms, 300000);
        assert_int_equal(l->backoff_base_ms, 500);
        assert_int_equal(l->backoff_max_ms, 30000);
        assert_int_equal(l->tls_verify, 1);
        assert_null(l->ca_file);
        provider_registry_free(r);
}

/* ---- the five endpoints ------------------------------------------------ */

static void test_vectara_for_each(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok("{'targets':[{'provider':'vectara','agent_id':'agt_support',"
                "'session_ids':['ase_1','ase_2','ase_1','ase_3']}]}",
                &plan);
        /* one DELETE per session; the repeated ase_1 is sent once */
        assert_int_equal(plan.ncalls, 3);
        const char *ids[] = {"ase_1", "ase_2", "ase_3"};
        for (size_t i = 0; i < 3; i++) {
                const struct provider_call *c = &plan.calls[i];
                char url[256], res[64];
                snprintf(url, sizeof(url),
                         "https://api.vectara.io/v2/agents/agt_support/"
                         "sessions/%s",
                         ids[i]);
                snprintf(res, sizeof(res), "agt_support/%s", ids[i]);
                assert_string_equal(c->method, "DELETE");
                assert_string_equal(c->url, url);
                assert_string_equal(c->resource, res);
                assert_string_equal(c->provider, "vectara");
                assert_string_equal(c->account_name, "default");
                assert_string_equal(c->action_name, "delete_session");
                assert_ptr_equal(c->account, provider_account_at(reg, 0));
                assert_null(c->body);
                assert_int_equal(c->nheaders, 1);
                assert_header(c, 0, "x-api-key", "vectara-key-1", 1);
        }
        provider_plan_clear(&plan);
}

static void test_vectara_oauth_account(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok("{'targets':[{'provider':'vectara','account':'oauth',"
                "'agent_id':'agt_a','session_ids':['ase_9']}]}",
                &plan);
        assert_int_equal(plan.ncalls, 1);
        assert_string_equal(plan.calls[0].url,
                            "http://127.0.0.1:8080/vectara/v2/agents/agt_a/"
                            "sessions/ase_9");
        assert_string_equal(plan.calls[0].account_name, "oauth");
        assert_int_equal(plan.calls[0].nheaders, 1);
        assert_header(&plan.calls[0], 0, "Authorization",
                      "Bearer vectara-oauth-2", 1);
        provider_plan_clear(&plan);
}

static char *convai_request(size_t n)
{
        size_t cap = 128 + n * 16, o = 0;
        char *s = malloc(cap);
        assert_non_null(s);
        o += (size_t)snprintf(s, cap,
                              "{'targets':[{'provider':'convai',"
                              "'character_id':'c0ffee','session_ids':[");
        for (size_t i = 0; i < n; i++)
                o += (size_t)snprintf(s + o, cap - o, "%s's-%zu'", i ? "," : "",
                                      i);
        snprintf(s + o, cap - o, "]}]}");
        return s;
}

static void test_convai_chunks(void **state)
{
        struct provider_plan plan;
        (void)state;
        char *json = convai_request(250);
        plan_ok(json, &plan);
        free(json);
        assert_int_equal(plan.ncalls, 3);
        size_t sizes[] = {100, 100, 50}, first = 0;
        for (size_t i = 0; i < 3; i++) {
                const struct provider_call *c = &plan.calls[i];
                assert_string_equal(c->method, "POST");
                assert_string_equal(
                    c->url,
                    "https://api.convai.com/character/chatHistory/delete");
                assert_int_equal(c->nheaders, 2);
                assert_header(c, 0, "CONVAI-API-KEY", "convai-key-3", 1);
                assert_header(c, 1, "Content-Type", "application/json", 0);
                json_error_t je;
                json_t *body = json_loads(c->body, 0, &je);
                assert_non_null(body);
                assert_string_equal(
                    json_string_value(json_object_get(body, "charID")),
                    "c0ffee");
                json_t *ids = json_object_get(body, "sessionIDs");
                assert_int_equal(json_array_size(ids), sizes[i]);
                for (size_t k = 0; k < sizes[i]; k++) {
                        char want[16];
                        snprintf(want, sizeof(want), "s-%zu", first + k);
                        assert_string_equal(
                            json_string_value(json_array_get(ids, k)), want);
                }
                json_decref(body);
                first += sizes[i];
        }
        /* exact text of the last body and its resource */
        char want[2048];
        size_t o = (size_t)snprintf(want, sizeof(want),
                                    "{\"charID\":\"c0ffee\",\"sessionIDs\":[");
        for (size_t k = 200; k < 250; k++)
                o += (size_t)snprintf(want + o, sizeof(want) - o, "%s\"s-%zu\"",
                                      k > 200 ? "," : "", k);
        snprintf(want + o, sizeof(want) - o, "]}");
        assert_string_equal(plan.calls[2].body, want);
        assert_true(
            strncmp(plan.calls[2].resource, "c0ffee/s-200,s-201,", 19) == 0);
        provider_plan_clear(&plan);
}

static void test_convai_small(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok("{'targets':[{'provider':'convai','character_id':'c0ffee',"
                "'session_ids':['s-1','s-2']}]}",
                &plan);
        assert_int_equal(plan.ncalls, 1);
        assert_string_equal(plan.calls[0].body,
                            "{\"charID\":\"c0ffee\",\"sessionIDs\":[\"s-1\","
                            "\"s-2\"]}");
        assert_string_equal(plan.calls[0].resource, "c0ffee/s-1,s-2");
        provider_plan_clear(&plan);
}

static void test_algolia_user_data(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok("{'targets':[{'provider':'algolia','user_token':'user-42'}]}",
                &plan);
        assert_int_equal(plan.ncalls, 1);
        const struct provider_call *c = &plan.calls[0];
        assert_string_equal(c->method, "DELETE");
        assert_string_equal(c->url, "https://APPID42.algolia.net/agent-studio/"
                                    "1/user-data/user-42");
        assert_string_equal(c->action_name, "delete_user_data");
        assert_string_equal(c->resource, "user-42");
        assert_null(c->body);
        assert_int_equal(c->nheaders, 2);
        assert_header(c, 0, "x-algolia-application-id", "APPID42", 0);
        assert_header(c, 1, "x-algolia-api-key", "algolia-key-4", 1);
        provider_plan_clear(&plan);
}

static void test_algolia_conversations_query(void **state)
{
        struct provider_plan plan;
        const char *base = "https://APPID42.algolia.net/agent-studio/1/agents/"
                           "76710f1b-8231-42e5-b0d1-f43aac618e15/conversations";
        char want[512];
        (void)state;

        plan_ok("{'targets':[{'provider':'algolia','agent_id':"
                "'76710f1b-8231-42e5-b0d1-f43aac618e15','conversations':{"
                "'start_date':'2026-01-01','end_date':'2026-11-01'}}]}",
                &plan);
        assert_int_equal(plan.ncalls, 1);
        snprintf(want, sizeof(want),
                 "%s?startDate=2026-01-01&endDate=2026-11-01", base);
        assert_string_equal(plan.calls[0].method, "DELETE");
        assert_string_equal(plan.calls[0].url, want);
        assert_string_equal(plan.calls[0].action_name, "delete_conversations");
        assert_string_equal(plan.calls[0].resource,
                            "76710f1b-8231-42e5-b0d1-f43aac618e15/2026-01-01.."
                            "2026-11-01");
        assert_null(plan.calls[0].body);
        assert_header(&plan.calls[0], 0, "x-algolia-application-id", "APPID42",
                      0);
        assert_header(&plan.calls[0], 1, "x-algolia-api-key", "algolia-key-4",
                      1);
        provider_plan_clear(&plan);

        /* only start_date: only startDate, never an empty endDate */
        plan_ok("{'targets':[{'provider':'algolia','agent_id':"
                "'76710f1b-8231-42e5-b0d1-f43aac618e15','conversations':{"
                "'start_date':'2026-01-01'}}]}",
                &plan);
        snprintf(want, sizeof(want), "%s?startDate=2026-01-01", base);
        assert_string_equal(plan.calls[0].url, want);
        provider_plan_clear(&plan);

        plan_ok("{'targets':[{'provider':'algolia','agent_id':"
                "'76710f1b-8231-42e5-b0d1-f43aac618e15','conversations':{"
                "'end_date':'2026-11-01'}}]}",
                &plan);
        snprintf(want, sizeof(want), "%s?endDate=2026-11-01", base);
        assert_string_equal(plan.calls[0].url, want);
        provider_plan_clear(&plan);

        /* no dates: no query at all */
        plan_ok("{'targets':[{'provider':'algolia','agent_id':"
                "'76710f1b-8231-42e5-b0d1-f43aac618e15','conversations':{}}]}",
                &plan);
        assert_string_equal(plan.calls[0].url, base);
        provider_plan_clear(&plan);
}

static void test_algolia_both_actions(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok("{'targets':[{'provider':'algolia','agent_id':'ag1',"
                "'user_token':'u1','conversations':{'end_date':'2026-02-03'}}"
                "]}",
                &plan);
        /* action order of the config: user data, then conversations */
        assert_int_equal(plan.ncalls, 2);
        assert_string_equal(plan.calls[0].action_name, "delete_user_data");
        assert_string_equal(plan.calls[1].action_name, "delete_conversations");
        assert_string_equal(plan.calls[1].url,
                            "https://APPID42.algolia.net/agent-studio/1/agents/"
                            "ag1/conversations?endDate=2026-02-03");
        provider_plan_clear(&plan);
}

static void test_avaamo_clear_data(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok("{'targets':[{'provider':'avaamo','agent_id':20123,"
                "'data_types':['storage_data','js_errors','conversation_"
                "sessions']}]}",
                &plan);
        assert_int_equal(plan.ncalls, 1);
        const struct provider_call *c = &plan.calls[0];
        assert_string_equal(c->method, "POST");
        assert_string_equal(
            c->url,
            "https://cx.avaamo.com/dashboard/agents/20123/clear_data.json");
        /* exactly what the request names, in its order: no translation */
        assert_string_equal(c->body,
                            "{\"data_types\":[\"storage_data\",\"js_errors\","
                            "\"conversation_sessions\"]}");
        assert_string_equal(c->resource,
                            "20123/storage_data,js_errors,conversation_"
                            "sessions");
        assert_int_equal(c->nheaders, 2);
        assert_header(c, 0, "Access-Token", "avaamo-token-5", 1);
        assert_header(c, 1, "Content-Type", "application/json", 0);
        provider_plan_clear(&plan);

        plan_ok("{'targets':[{'provider':'avaamo','agent_id':"
                "9007199254740992,'data_types':['storage']}]}",
                &plan);
        assert_string_equal(plan.calls[0].url,
                            "https://cx.avaamo.com/dashboard/agents/"
                            "9007199254740992/clear_data.json");
        assert_string_equal(plan.calls[0].body,
                            "{\"data_types\":[\"storage\"]}");
        provider_plan_clear(&plan);
}

static void test_design_example_order(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok(
            "{'version':1,'request_id':'req_2026-11-22_000123','targets':["
            "{'provider':'vectara','agent_id':'agt_support','session_ids':["
            "'ase_1','ase_2']},"
            "{'provider':'convai','character_id':'c0ffee','session_ids':['s-"
            "1','s-2']},"
            "{'provider':'algolia','agent_id':'76710f1b-8231-42e5-b0d1-"
            "f43aac618e15','user_token':'user-42'},"
            "{'provider':'algolia','agent_id':'76710f1b-8231-42e5-b0d1-"
            "f43aac618e15','conversations':{'start_date':'2026-01-01','end_"
            "date':'2026-11-01'}},"
            "{'provider':'avaamo','agent_id':20123,'data_types':['"
            "conversation_sessions']}]}",
            &plan);
        const char *actions[] = {"delete_session",       "delete_session",
                                 "delete_sessions",      "delete_user_data",
                                 "delete_conversations", "clear_data"};
        assert_int_equal(plan.ncalls, 6);
        for (size_t i = 0; i < 6; i++)
                assert_string_equal(plan.calls[i].action_name, actions[i]);
        provider_plan_clear(&plan);
}

static void test_duplicate_calls_across_targets(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok("{'targets':["
                "{'provider':'vectara','agent_id':'agt_a','session_ids':["
                "'ase_1','ase_2']},"
                "{'provider':'vectara','agent_id':'agt_a','session_ids':["
                "'ase_2','ase_3']},"
                "{'provider':'vectara','account':'oauth','agent_id':'agt_a',"
                "'session_ids':['ase_2']},"
                "{'provider':'vectara','agent_id':'agt_a','session_ids':["
                "'ase_2']}]}",
                &plan);
        /* same call (account, action, resource) kept once, first wins; the
         * other account's call is a different call */
        assert_int_equal(plan.ncalls, 4);
        assert_string_equal(plan.calls[0].resource, "agt_a/ase_1");
        assert_string_equal(plan.calls[1].resource, "agt_a/ase_2");
        assert_string_equal(plan.calls[2].resource, "agt_a/ase_3");
        assert_string_equal(plan.calls[3].resource, "agt_a/ase_2");
        assert_string_equal(plan.calls[3].account_name, "oauth");
        for (size_t i = 0; i < 3; i++)
                assert_string_equal(plan.calls[i].account_name, "default");
        provider_plan_clear(&plan);
}

/* ---- encoding of hostile identifiers ---------------------------------- */

static void test_percent_encoding(void **state)
{
        struct provider_plan plan;
        const char *prefix = "https://APPID42.algolia.net/agent-studio/1/"
                             "user-data/";
        char want[256];
        (void)state;

        plan_ok("{'targets':[{'provider':'algolia','user_token':"
                "'a/../b?c#d%0D'}]}",
                &plan);
        snprintf(want, sizeof(want), "%sa%%2F..%%2Fb%%3Fc%%23d%%250D", prefix);
        assert_string_equal(plan.calls[0].url, want);
        assert_string_equal(plan.calls[0].resource, "a/../b?c#d%0D");
        provider_plan_clear(&plan);

        /* unreserved stays, the rest (space, &, =, +, UTF-8) is encoded */
        plan_ok("{'targets':[{'provider':'algolia','user_token':"
                "'A-z_0.9~ &=+\\u00e9@:'}]}",
                &plan);
        snprintf(want, sizeof(want),
                 "%sA-z_0.9~%%20%%26%%3D%%2B%%C3%%A9%%40%%3A", prefix);
        assert_string_equal(plan.calls[0].url, want);
        provider_plan_clear(&plan);

        plan_ok("{'targets':[{'provider':'algolia','user_token':'...'}]}",
                &plan);
        snprintf(want, sizeof(want), "%s...", prefix);
        assert_string_equal(plan.calls[0].url, want);
        provider_plan_clear(&plan);
}

struct bad_case {
        const char *json;
        size_t max_calls;
        enum request_error code;
        const char *errstr; /* substring */
};

static const struct bad_case bad_cases[] = {
    /* wrong type */
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':"
     "'ase_1'}]}",
     0, REQUEST_ERR_BAD_FIELD,
     "targets[0].session_ids: must be a list of strings"},
    {"{'targets':[{'provider':'vectara','agent_id':7,'session_ids':['ase_1']}"
     "]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].agent_id: must be a string"},
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':["
     "'ase_1',2]}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].session_ids[1]: must be a string"},
    {"{'targets':[{'provider':'vectara','agent_id':null,'session_ids':["
     "'ase_1']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].agent_id: must be a string"},
    /* pattern */
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':["
     "'ase_1','ase_2/../x']}]}",
     0, REQUEST_ERR_BAD_FIELD,
     "targets[0].session_ids[1]: does not match ^ase_[0-9a-zA-Z_-]+$"},
    {"{'targets':[{'provider':'vectara','agent_id':'xagt_a','session_ids':["
     "'ase_1']}]}",
     0, REQUEST_ERR_BAD_FIELD,
     "targets[0].agent_id: does not match ^agt_[0-9a-zA-Z_-]+$"},
    {"{'targets':[{'provider':'algolia','agent_id':'a1','conversations':{"
     "'start_date':'2026-1-1'}}]}",
     0, REQUEST_ERR_BAD_FIELD,
     "targets[0].conversations.start_date: does not match"},
    {"{'targets':[{'provider':'avaamo','agent_id':1,'data_types':["
     "'everything']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].data_types[0]: does not match"},
    /* too long, empty, control characters */
    {"{'targets':[{'provider':'vectara','agent_id':'agt_"
     "1234567890123456789012345678901234567890123456789012345678901',"
     "'session_ids':['ase_1']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].agent_id: longer than 64 bytes"},
    {"{'targets':[{'provider':'algolia','user_token':''}]}", 0,
     REQUEST_ERR_BAD_FIELD, "targets[0].user_token: must not be empty"},
    {"{'targets':[{'provider':'algolia','user_token':'a\\r\\nX-Evil: 1'}]}", 0,
     REQUEST_ERR_BAD_FIELD,
     "targets[0].user_token: contains a control character"},
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':[]}"
     "]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].session_ids: must not be empty"},
    {"{'targets':[{'provider':'avaamo','agent_id':1,'data_types':['storage',"
     "'js_errors','storage','js_errors','storage']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].data_types: more than 4 items"},
    /* integers */
    {"{'targets':[{'provider':'avaamo','agent_id':'20123','data_types':["
     "'storage']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].agent_id: must be an integer"},
    {"{'targets':[{'provider':'avaamo','agent_id':20123.0,'data_types':["
     "'storage']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].agent_id: must be an integer"},
    {"{'targets':[{'provider':'avaamo','agent_id':0,'data_types':["
     "'storage']}]}",
     0, REQUEST_ERR_BAD_FIELD,
     "targets[0].agent_id: must be between 1 and 9007199254740992"},
    {"{'targets':[{'provider':'avaamo','agent_id':9007199254740993,'data_"
     "types':['storage']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].agent_id: must be between"},
    /* unknown and missing fields */
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','sesion_ids':["
     "'ase_1']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].sesion_ids: unknown field"},
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':["
     "'ase_1'],'user_token':'u'}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].user_token: unknown field"},
    {"{'targets':[{'provider':'algolia','agent_id':'a1','conversations':{"
     "'start':'2026-01-01'}}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].conversations.start: unknown field"},
    {"{'targets':[{'provider':'algolia','agent_id':'a1','conversations':{},"
     "'conversations.start_date':'2026-01-01'}]}",
     0, REQUEST_ERR_BAD_FIELD,
     "targets[0].conversations.start_date: unknown field"},
    {"{'targets':[{'provider':'algolia','agent_id':'a1','conversations':"
     "'all'}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].conversations: must be an object"},
    {"{'targets':[{'provider':'vectara','session_ids':['ase_1']}]}", 0,
     REQUEST_ERR_BAD_FIELD,
     "targets[0].agent_id: missing (action delete_session needs it)"},
    {"{'targets':[{'provider':'algolia','conversations':{}}]}", 0,
     REQUEST_ERR_BAD_FIELD, "targets[0].agent_id: missing"},
    /* a value that would be a dot segment */
    {"{'targets':[{'provider':'algolia','user_token':'..'}]}", 0,
     REQUEST_ERR_BAD_FIELD, "targets[0]: a value would make a . or .. segment"},
    {"{'targets':[{'provider':'algolia','user_token':'.'}]}", 0,
     REQUEST_ERR_BAD_FIELD, "targets[0]: a value would make a . or .. segment"},
    /* nothing to do */
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a'}]}", 0,
     REQUEST_ERR_NO_ACTION, "targets[0]: no field"},
    {"{'targets':[{'provider':'algolia','agent_id':'a1'}]}", 0,
     REQUEST_ERR_NO_ACTION, "targets[0]: no field"},
    /* routing */
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':["
     "'ase_1']},{'provider':'openai','x':1}]}",
     0, REQUEST_ERR_UNKNOWN_PROVIDER,
     "targets[1].provider: unknown provider \"openai\""},
    {"{'targets':[{'provider':'vectara','account':'eu','agent_id':'agt_a',"
     "'session_ids':['ase_1']}]}",
     0, REQUEST_ERR_UNKNOWN_ACCOUNT,
     "targets[0].account: provider vectara has no account \"eu\""},
    /* the plan bound */
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':["
     "'ase_1','ase_2','ase_3']},{'provider':'avaamo','agent_id':1,'data_"
     "types':['storage']}]}",
     3, REQUEST_ERR_TOO_MANY_CALLS, "4 calls needed, at most 3 allowed"},
};

static void test_bad_fields(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
                const struct bad_case *bc = &bad_cases[i];
                struct provider_plan plan = {(void *)1, 42};
                char err[512] = "";
                enum request_error rc = plan_with(reg, bc->json, bc->max_calls,
                                                  &plan, err, sizeof(err));
                if (rc != bc->code)
                        fail_msg("case %zu: code %d, want %d (%s)", i, rc,
                                 bc->code, err);
                assert_contains(err, bc->errstr);
        }
}

static void test_plan_bound_exact(void **state)
{
        struct provider_plan plan;
        char err[256];
        const char *json = "{'targets':[{'provider':'vectara','agent_id':"
                           "'agt_a','session_ids':['ase_1','ase_2','ase_1']}]}";
        (void)state;
        /* duplicates do not count against the bound */
        assert_int_equal(plan_with(reg, json, 2, &plan, err, sizeof(err)),
                         REQUEST_OK);
        assert_int_equal(plan.ncalls, 2);
        provider_plan_clear(&plan);
        assert_int_equal(plan_with(reg, json, 1, &plan, err, sizeof(err)),
                         REQUEST_ERR_TOO_MANY_CALLS);
}

static void test_list_item_bound(void **state)
{
        struct provider_plan plan;
        char err[256];
        (void)state;
        char *json = convai_request(1000);
        assert_int_equal(plan_with(reg, json, 0, &plan, err, sizeof(err)),
                         REQUEST_OK);
        assert_int_equal(plan.ncalls, 10);
        provider_plan_clear(&plan);
        free(json);
        json = convai_request(1001);
        assert_int_equal(plan_with(reg, json, 0, &plan, err, sizeof(err)),
                         REQUEST_ERR_BAD_FIELD);
        assert_contains(err, "targets[0].session_ids: more than 1000 items");
        free(json);
}

static void test_hostile_names_escaped(void **state)
{
        struct provider_plan plan;
        char err[1024], key[400], json[1200];
        (void)state;
        memset(key, 'A', sizeof(key) - 1);
        key[sizeof(key) - 1] = '\0';
        snprintf(json, sizeof(json),
                 "{'targets':[{'provider':'vectara','\\u0001%s':1}]}", key);
        assert_int_equal(plan_with(reg, json, 0, &plan, err, sizeof(err)),
                         REQUEST_ERR_BAD_FIELD);
        assert_contains(err, "targets[0].\\x01AAAA");
        assert_contains(err, "...: unknown field");
        assert_true(strlen(err) < 160); /* at most ~64 bytes echoed */

        snprintf(json, sizeof(json),
                 "{'targets':[{'provider':'ev\\nil\\u00e9%s'}]}", key);
        assert_int_equal(plan_with(reg, json, 0, &plan, err, sizeof(err)),
                         REQUEST_ERR_UNKNOWN_PROVIDER);
        assert_contains(err, "unknown provider \"ev\\x0Ail\\xC3\\xA9AAA");
        assert_true(strlen(err) < 200);
        for (const char *p = err; *p; p++)
                assert_true(*p >= 0x20 && *p < 0x7f);
}

/* A bad later target must leave nothing planned (all-or-nothing). */
static void test_all_or_nothing(void **state)
{
        struct provider_plan plan;
        char err[256];
        (void)state;
        assert_int_equal(
            plan_with(reg,
                      "{'targets':[{'provider':'vectara','agent_id':'agt_a',"
                      "'session_ids':['ase_1']},{'provider':'convai',"
                      "'character_id':'c1','session_ids':['s1']},{'provider':"
                      "'algolia','user_token':'..'}]}",
                      0, &plan, err, sizeof(err)),
            REQUEST_ERR_BAD_FIELD);
        assert_contains(err, "targets[2]");
        assert_null(plan.calls);
        assert_int_equal(plan.ncalls, 0);
}

/* Templates beyond the shipped ones: typed and literal body values, nested
 * objects, optional fields left out, a for_each item in a body, literal
 * query values, and patterns that match the whole value even unanchored. */
static const char *const custom_conf =
    "providers = { t = {\n"
    "  base_url = \"https://{region}.t.example/v1\";\n"
    "  vars = { region = { }; };\n"
    "  auth = { k = ( { header = \"X-Region\"; value = \"r-{region}\"; },\n"
    "                 { header = \"X-Key\"; prefix = \"Key \"; secret = "
    "\"key\"; } ); };\n"
    "  actions = ( { name = \"purge\"; when = \"users\"; method = "
    "\"PUT\";\n"
    "    path = \"/orgs/{org}/users/{users}/purge\"; for_each = "
    "\"users\";\n"
    "    query = ( { name = \"mode\"; value = \"hard&fast\"; },\n"
    "              { name = \"n\"; value = \"{n}\"; },\n"
    "              { name = \"note\"; value = \"x{tag}\"; } );\n"
    "    body = { user = \"{users}\"; org = \"{org}\"; n = \"{n}\";\n"
    "             tag = \"{tag}\"; fixed = 3; ratio = 0.5; yes = true;\n"
    "             list = [ \"a\", \"b\" ]; mixed = ( 1, \"{tag}\", "
    "\"{n}\" );\n"
    "             meta = { who = \"{org}\"; why = \"{tag}\"; }; };\n"
    "    resource = \"{org}/{users}/{tag}\";\n"
    "    params = ( { field = \"org\"; type = \"string\"; pattern = "
    "\"[a-z]+\"; },\n"
    "               { field = \"users\"; type = \"string_list\"; pattern "
    "= \"u[0-9]+|admin\"; },\n"
    "               { field = \"n\"; type = \"integer\"; min = -5; max = "
    "5; },\n"
    "               { field = \"tag\"; type = \"string\"; optional = true; "
    "} );\n"
    "  } );\n"
    "}; };\n"
    "accounts = ( { provider = \"t\"; vars = { region = \"eu-1\"; };\n"
    "  secrets = { key = \"TP_P_KEY\"; }; } );\n";

static void test_custom_templates(void **state)
{
        char err[512];
        struct provider_plan plan;
        (void)state;
        struct provider_registry *r =
            load_text("custom.conf", custom_conf, 0, err, sizeof(err));
        if (!r)
                fail_msg("%s", err);

        assert_int_equal(plan_with(r,
                                   "{'targets':[{'provider':'t','org':'acme',"
                                   "'users':['u1','admin'],'n':-5}]}",
                                   0, &plan, err, sizeof(err)),
                         REQUEST_OK);
        assert_int_equal(plan.ncalls, 2);
        const struct provider_call *c = &plan.calls[0];
        assert_string_equal(c->method, "PUT");
        assert_string_equal(c->url, "https://eu-1.t.example/v1/orgs/acme/users/"
                                    "u1/purge?mode=hard%26fast&n=-5");
        /* absent optional {tag}: its keys, elements and query are left out */
        assert_string_equal(c->body,
                            "{\"user\":\"u1\",\"org\":\"acme\",\"n\":-5,"
                            "\"fixed\":3,\"ratio\":0.5,\"yes\":true,"
                            "\"list\":[\"a\",\"b\"],\"mixed\":[1,-5],"
                            "\"meta\":{\"who\":\"acme\"}}");
        assert_string_equal(c->resource, "acme/u1/");
        assert_int_equal(c->nheaders, 3);
        assert_header(c, 0, "X-Region", "r-eu-1", 0);
        assert_header(c, 1, "X-Key", "Key p-key-6", 1);
        assert_header(c, 2, "Content-Type", "application/json", 0);
        assert_string_equal(plan.calls[1].url,
                            "https://eu-1.t.example/v1/orgs/acme/users/admin/"
                            "purge?mode=hard%26fast&n=-5");
        provider_plan_clear(&plan);

        assert_int_equal(plan_with(r,
                                   "{'targets':[{'provider':'t','org':'acme',"
                                   "'users':['u2'],'n':5,'tag':'t 1'}]}",
                                   0, &plan, err, sizeof(err)),
                         REQUEST_OK);
        assert_string_equal(plan.calls[0].url,
                            "https://eu-1.t.example/v1/orgs/acme/users/u2/"
                            "purge?mode=hard%26fast&n=5&note=xt%201");
        assert_string_equal(plan.calls[0].body,
                            "{\"user\":\"u2\",\"org\":\"acme\",\"n\":5,"
                            "\"tag\":\"t 1\",\"fixed\":3,\"ratio\":0.5,"
                            "\"yes\":true,\"list\":[\"a\",\"b\"],"
                            "\"mixed\":[1,\"t 1\",5],\"meta\":{\"who\":"
                            "\"acme\",\"why\":\"t 1\"}}");
        assert_string_equal(plan.calls[0].resource, "acme/u2/t 1");
        provider_plan_clear(&plan);

        /* patterns match the whole value although written unanchored */
        const char *bad[] = {
            "{'targets':[{'provider':'t','org':'acme/../x','users':['u1'],"
            "'n':1}]}",
            "{'targets':[{'provider':'t','org':'acme','users':['u1x'],"
            "'n':1}]}",
            "{'targets':[{'provider':'t','org':'acme','users':['xadmin'],"
            "'n':1}]}",
            "{'targets':[{'provider':'t','org':'acme','users':['u1'],"
            "'n':6}]}",
        };
        const char *why[] = {
            "targets[0].org: does not match [a-z]+",
            "targets[0].users[0]: does not match u[0-9]+|admin",
            "targets[0].users[0]: does not match u[0-9]+|admin",
            "targets[0].n: must be between -5 and 5"};
        for (size_t i = 0; i < 4; i++) {
                assert_int_equal(
                    plan_with(r, bad[i], 0, &plan, err, sizeof(err)),
                    REQUEST_ERR_BAD_FIELD);
                assert_contains(err, why[i]);
        }
        provider_registry_free(r);
}

/* ---- classification ---------------------------------------------------- */

/* The action a target of the shipped config plans to. */
static const struct provider_action *action_of(const char *json)
{
        struct provider_plan plan;
        plan_ok(json, &plan);
        const struct provider_action *a = plan.calls[0].action;
        provider_plan_clear(&plan);
        return a;
}

static const char *const vectara_target =
    "{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':["
    "'ase_1']}]}";
static const char *const convai_target =
    "{'targets':[{'provider':'convai','character_id':'c1','session_ids':["
    "'s1']}]}";
static const char *const algolia_user_target =
    "{'targets':[{'provider':'algolia','user_token':'u1'}]}";
static const char *const algolia_conv_target =
    "{'targets':[{'provider':'algolia','agent_id':'a1','conversations':{}}]}";
static const char *const avaamo_target =
    "{'targets':[{'provider':'avaamo','agent_id':1,'data_types':['storage']}"
    "]}";

static struct provider_verdict classify(const struct provider_action *a,
                                        long status, const char *body)
{
        struct provider_verdict v;
        memset(&v, 0x55, sizeof(v));
        provider_classify(a, status, body, body ? strlen(body) : 0, &v);
        return v;
}

static void expect(const struct provider_action *a, long status,
                   const char *body, enum provider_verdict_kind kind,
                   int retryable, const char *error)
{
        struct provider_verdict v = classify(a, status, body);
        if (v.kind != kind || v.retryable != retryable)
                fail_msg("HTTP %ld %s: kind %d retryable %d, want %d %d (%s)",
                         status, body ? body : "(null)", v.kind, v.retryable,
                         kind, retryable, v.error);
        if (strcmp(v.error, error) != 0)
                fail_msg("HTTP %ld: error \"%s\", want \"%s\"", status, v.error,
                         error);
}

static void test_classify_vectara(void **state)
{
        (void)state;
        const struct provider_action *a = action_of(vectara_target);
        expect(a, 204, NULL, PROVIDER_DELETED, 0, "");
        expect(a, 204, "", PROVIDER_DELETED, 0, "");
        expect(a, 404,
               "{\"error_code\":\"session_not_found\",\"messages\":[\"Session "
               "ase_1 not found\"]}",
               PROVIDER_ALREADY_ABSENT, 0, "");
        /* the code may sit anywhere in the body */
        expect(a, 404, "{\"errors\":[{\"code\":\"session_not_found\"}]}",
               PROVIDER_ALREADY_ABSENT, 0, "");
        expect(a, 404,
               "{\"error_code\":\"agent_not_found\",\"messages\":[\"Agent "
               "agt_a not found\"]}",
               PROVIDER_FAILED, 0, "HTTP 404: Agent agt_a not found");
        expect(a, 404, NULL, PROVIDER_FAILED, 0, "HTTP 404");
        expect(a, 400, "{\"error\":\"invalid_request\"}", PROVIDER_FAILED, 0,
               "HTTP 400: invalid_request");
        expect(a, 401, "{\"error\":\"unauthorized\"}", PROVIDER_FAILED, 0,
               "HTTP 401: unauthorized");
        expect(a, 403, "{\"message\":\"forbidden\"}", PROVIDER_FAILED, 0,
               "HTTP 403: forbidden");
        expect(a, 429, "{\"error\":\"rate_limit_exceeded\"}", PROVIDER_RETRY, 0,
               "HTTP 429: rate_limit_exceeded");
        expect(a, 503, "upstream down", PROVIDER_RETRY, 0,
               "HTTP 503: upstream down");
        /* 204 is the documented success: a 200 is not it */
        expect(a, 200, "{}", PROVIDER_FAILED, 0,
               "HTTP 200: unexpected response: {}");
}

static void test_classify_convai(void **state)
{
        (void)state;
        const struct provider_action *a = action_of(convai_target);
        expect(a, 200, "{\"status\": \"SUCCESSFULLY DELETED\"}",
               PROVIDER_DELETED, 0, "");
        expect(a, 200, "{\"status\": \"PENDING\"}", PROVIDER_FAILED, 0,
               "HTTP 200: unexpected response: {\"status\": \"PENDING\"}");
        expect(a, 200, NULL, PROVIDER_FAILED, 0,
               "HTTP 200: unexpected response");
        expect(a, 401, "{\n    \"ERROR\": \"Invalid API key provided.\"\n}",
               PROVIDER_FAILED, 0, "HTTP 401: Invalid API key provided.");
        expect(a, 429, NULL, PROVIDER_RETRY, 0, "HTTP 429");
        expect(a, 500, "{\"ERROR\":\"oops\"}", PROVIDER_RETRY, 0,
               "HTTP 500: oops");
        expect(a, 503, NULL, PROVIDER_RETRY, 0, "HTTP 503");
}

static void test_classify_algolia(void **state)
{
        (void)state;
        const struct provider_action *u = action_of(algolia_user_target);
        const struct provider_action *c = action_of(algolia_conv_target);
        assert_ptr_not_equal(u, c);
        const char *v422 = "{\"detail\":[{\"loc\":[\"query\",\"startDate\"],"
                           "\"msg\":\"invalid date format\",\"type\":\"value_"
                           "error\"}]}";
        for (int i = 0; i < 2; i++) {
                const struct provider_action *a = i ? c : u;
                expect(a, 204, NULL, PROVIDER_DELETED, 0, "");
                expect(a, 200, "{}", PROVIDER_DELETED, 0, "");
                expect(a, 422, v422, PROVIDER_FAILED, 0,
                       "HTTP 422: invalid date format");
                expect(a, 403, "{\"message\":\"Invalid credentials\"}",
                       PROVIDER_FAILED, 0, "HTTP 403: Invalid credentials");
                expect(a, 404, "{\"message\":\"Agent not found\"}",
                       PROVIDER_FAILED, 0, "HTTP 404: Agent not found");
                expect(a, 429, NULL, PROVIDER_RETRY, 0, "HTTP 429");
                expect(a, 502, "<html>bad gateway</html>", PROVIDER_RETRY, 0,
                       "HTTP 502: <html>bad gateway</html>");
        }
}

static void test_classify_avaamo(void **state)
{
        (void)state;
        const struct provider_action *a = action_of(avaamo_target);
        expect(a, 200, "{\"success\": true}", PROVIDER_DELETED, 0, "");
        /* NOTES.md: a 200 without success:true is a final failure, with the
         * provider's text (e.g. the agent is not locked for edit) */
        expect(a, 200,
               "{\"success\": false, \"error\": \"Agent must be locked for "
               "edit\"}",
               PROVIDER_FAILED, 0,
               "HTTP 200: unexpected response: Agent must be locked for edit");
        expect(a, 200, "{\"success\": \"true\"}", PROVIDER_FAILED, 0,
               "HTTP 200: unexpected response: {\"success\": \"true\"}");
        expect(a, 200, "{}", PROVIDER_FAILED, 0,
               "HTTP 200: unexpected response: {}");
        expect(a, 200, NULL, PROVIDER_FAILED, 0,
               "HTTP 200: unexpected response");
        expect(a, 401, "{\"message\":\"Invalid access token\"}",
               PROVIDER_FAILED, 0, "HTTP 401: Invalid access token");
        expect(a, 429, NULL, PROVIDER_RETRY, 0, "HTTP 429");
        expect(a, 500, NULL, PROVIDER_RETRY, 0, "HTTP 500");
}

static void test_classify_defaults(void **state)
{
        (void)state;
        const struct provider_action *a = action_of(algolia_user_target);
        expect(a, 408, NULL, PROVIDER_RETRY, 0, "HTTP 408");
        expect(a, 425, NULL, PROVIDER_RETRY, 0, "HTTP 425");
        expect(a, 599, NULL, PROVIDER_RETRY, 0, "HTTP 599");
        expect(a, 302, NULL, PROVIDER_FAILED, 0, "HTTP 302");
        expect(a, 100, NULL, PROVIDER_FAILED, 0, "HTTP 100");
        expect(a, 409, NULL, PROVIDER_FAILED, 0, "HTTP 409");
        expect(a, 410, NULL, PROVIDER_FAILED, 0, "HTTP 410");
        expect(a, 299, NULL, PROVIDER_DELETED, 0, "");
        /* other JSON error shapes */
        expect(a, 400, "{\"messages\":[\"first\",\"second\"]}", PROVIDER_FAILED,
               0, "HTTP 400: first");
        expect(a, 400, "{\"detail\":\"Not Found\"}", PROVIDER_FAILED, 0,
               "HTTP 400: Not Found");
        expect(a, 400, "{\"error\":{\"message\":\"nested\"}}", PROVIDER_FAILED,
               0, "HTTP 400: nested");
        expect(a, 400, "\"just a string\"", PROVIDER_FAILED, 0,
               "HTTP 400: \"just a string\"");
}

static void test_classify_hostile_body(void **state)
{
        char body[4096];
        (void)state;
        const struct provider_action *a = action_of(algolia_user_target);
        /* raw bodies: non-printables escaped, at most ~160 bytes kept */
        memset(body, 'x', sizeof(body) - 1);
        body[sizeof(body) - 1] = '\0';
        memcpy(body, "bad\r\n\x01\xff", 7);
        struct provider_verdict v = classify(a, 500, body);
        assert_int_equal(v.kind, PROVIDER_RETRY);
        assert_true(
            strncmp(v.error, "HTTP 500: bad\\x0D\\x0A\\x01\\xFFxxx", 32) == 0);
        assert_true(strlen(v.error) < sizeof(v.error));
        assert_true(strlen(v.error) <= 10 + 4 * 4 + 160 + 3);
        assert_contains(v.error, "x...");
        for (const char *p = v.error; *p; p++)
                assert_true(*p >= 0x20 && *p < 0x7f);

        /* a long message made of escapes still fits, whole escapes only */
        char msg[2048];
        size_t o = (size_t)snprintf(msg, sizeof(msg), "{\"message\":\"");
        for (int i = 0; i < 150; i++)
                o += (size_t)snprintf(msg + o, sizeof(msg) - o, "\\u0001");
        snprintf(msg + o, sizeof(msg) - o, "\"}");
        v = classify(a, 400, msg);
        assert_int_equal(v.kind, PROVIDER_FAILED);
        assert_true(strlen(v.error) < sizeof(v.error));
        assert_contains(v.error, "HTTP 400: \\x01\\x01");
        size_t n = strlen(v.error);
        const char *tail = v.error + n - 4;
        assert_true(strcmp(tail, "\\x01") == 0 || strcmp(tail, "...") == 0 ||
                    strcmp(v.error + n - 3, "...") == 0);
}

/* Rules beyond the shipped ones: retry, retryable failures, integer
 * equality, first match wins. */
static void test_classify_custom_rules(void **state)
{
        char err[512];
        struct provider_plan plan;
        (void)state;
        struct provider_registry *r = load_text(
            "rules.conf",
            "providers = { p = {\n"
            "  base_url = \"https://p.example\";\n"
            "  actions = ( { name = \"del\"; when = \"id\"; method = "
            "\"DELETE\";\n"
            "    path = \"/items/{id}\"; resource = \"{id}\";\n"
            "    params = ( { field = \"id\"; type = \"integer\"; } );\n"
            "    classify = (\n"
            "      { status = [409]; outcome = \"retry\"; },\n"
            "      { status = [400, 423]; json_field = \"code\"; json_equals = "
            "7; outcome = \"failed\"; retryable = true; },\n"
            "      { status = [423]; outcome = \"already_absent\"; },\n"
            "      { status = [202, 200]; json_field = \"done\"; json_equals = "
            "false; outcome = \"failed\"; }\n"
            "    ); } );\n"
            "}; };\n"
            "accounts = ( { provider = \"p\"; } );\n",
            0, err, sizeof(err));
        if (!r)
                fail_msg("%s", err);
        assert_int_equal(plan_with(r, "{'targets':[{'provider':'p','id':0}]}",
                                   0, &plan, err, sizeof(err)),
                         REQUEST_OK);
        assert_string_equal(plan.calls[0].url, "https://p.example/items/0");
        assert_int_equal(plan.calls[0].nheaders, 0);
        const struct provider_action *a = plan.calls[0].action;
        provider_plan_clear(&plan);
        expect(a, 409, NULL, PROVIDER_RETRY, 0, "HTTP 409");
        expect(a, 423, "{\"code\":7,\"message\":\"locked\"}", PROVIDER_FAILED,
               1, "HTTP 423: locked");
        expect(a, 423, "{\"code\":8}", PROVIDER_ALREADY_ABSENT, 0, "");
        expect(a, 400, "{\"code\":\"7\"}", PROVIDER_FAILED, 0,
               "HTTP 400: {\"code\":\"7\"}");
        /* no rule says deleted: any other 2xx is success */
        expect(a, 200, "{\"done\":false}", PROVIDER_FAILED, 0,
               "HTTP 200: {\"done\":false}");
        expect(a, 200, "{\"done\":true}", PROVIDER_DELETED, 0, "");
        expect(a, 204, NULL, PROVIDER_DELETED, 0, "");
        provider_registry_free(r);
}

/* ---- start-up errors --------------------------------------------------- */

/* The line holding "#<" in text, 1-based. */
static int marker_line(const char *text)
{
        const char *m = strstr(text, "#<");
        int line = 1;
        assert_non_null(m);
        for (const char *p = text; p < m; p++)
                line += *p == '\n';
        return line;
}

struct config_case {
        const char *name;
        const char *text;
        const char *want; /* "PATH: reason" after "FILE:LINE: " */
};

#define P_HEAD                                                                 \
        "providers = {\n"                                                      \
        "  p = {\n"                                                            \
        "    base_url = \"https://p.example/api\";\n"                          \
        "    auth = { key = ( { header = \"X-Key\"; secret = \"key\"; } ); "   \
        "};\n"
#define P_ACTION_OPEN                                                          \
        "    actions = (\n"                                                    \
        "      { name = \"del\";\n"                                            \
        "        when = \"ids\";\n"
#define P_PARAMS                                                               \
        "        params = ( { field = \"ids\"; type = \"string_list\"; "       \
        "pattern = \"^[a-z0-9]+$\"; } );\n"
#define P_TAIL                                                                 \
        "      }\n"                                                            \
        "    );\n"                                                             \
        "  };\n"                                                               \
        "};\n"
#define P_ACCOUNT                                                              \
        "accounts = ( { provider = \"p\"; secrets = { key = \"TP_P_KEY\"; }; " \
        "} );\n"
#define P_GOOD_ACTION                                                          \
        P_ACTION_OPEN "        method = \"DELETE\";\n"                         \
                      "        path = \"/items/{ids}\";\n"                     \
                      "        for_each = \"ids\";\n"                          \
                      "        resource = \"{ids}\";\n" P_PARAMS P_TAIL

static const struct config_case config_cases[] = {
    {"unknown_placeholder.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{id}\"; #<\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].path: unknown placeholder {id}"},
    {"bad_regex.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\"; type = \"string_list\";\n"
     "                     pattern = \"^(a|b$\"; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].params.[0].pattern: invalid regular "
     "expression"},
    {"missing_env.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\";\n"
                          "    secrets = { key = \"TP_UNSET_VAR\"; }; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].secrets.key: environment variable TP_UNSET_VAR is not set"},
    {"cr_in_var.conf",
     "providers = {\n"
     "  p = {\n"
     "    base_url = \"https://{tenant}.p.example\";\n"
     "    vars = { tenant = { pattern = \"^[A-Za-z0-9]+$\"; }; "
     "};\n" P_GOOD_ACTION "accounts = (\n"
     "  { provider = \"p\";\n"
     "    vars = {\n"
     "      tenant = \"abc\\r\\nHost: evil\"; #<\n"
     "    };\n"
     "  }\n"
     ");\n",
     "accounts.[0].vars.tenant: contains a control character"},
    {"plain_http.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\"; secrets = { key = "
                          "\"TP_P_KEY\"; };\n"
                          "    base_url = \"http://127.0.0.1:9/p\"; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].base_url: plain http:// is refused for accounts.[0]"},
    {"duplicate_account.conf",
     P_HEAD P_GOOD_ACTION
     "accounts = (\n"
     "  { provider = \"p\"; name = \"eu\"; secrets = { key = \"TP_P_KEY\"; }; "
     "},\n"
     "  { provider = \"p\";\n"
     "    name = \"eu\"; #<\n"
     "    secrets = { key = \"TP_P_KEY\"; }; }\n"
     ");\n",
     "accounts.[1].name: duplicate account eu for provider p"},
    {"unknown_key_action.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        foreach = \"ids\"; #<\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].foreach: unknown setting (known: name, when"},
    {"bad_method.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"delete\"; #<\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].method: must be GET, POST, PUT, PATCH or "
     "DELETE"},
    {"unknown_key_account.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\";\n"
                          "    secret = { key = \"TP_P_KEY\"; }; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].secret: unknown setting"},
    {"unknown_key_param.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\"; type = "
     "\"string_list\";\n"
     "                     max_lenght = 5; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].params.[0].max_lenght: unknown setting"},
    {"unknown_key_rule.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS
     "        classify = ( { status = [204];\n"
     "          outcom = \"deleted\"; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].classify.[0].outcom: unknown setting"},
    {"bad_outcome.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS
     "        classify = ( { status = [204];\n"
     "          outcome = \"gone\"; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].classify.[0].outcome: must be deleted, "
     "already_absent, failed or retry"},
    {"bad_status.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS "        classify = ( {\n"
     "          status = [204, 600]; #<\n"
     "          outcome = \"deleted\"; } );\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].classify.[0].status.[1]: must be an HTTP status "
     "100..599"},
    {"retryable_not_failed.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS
     "        classify = ( { status = [204]; outcome = "
     "\"deleted\";\n"
     "          retryable = true; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].classify.[0].retryable: only valid with "
     "outcome failed"},
    {"optional_in_path.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}/{v}\"; #<\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\"; type = \"string_list\"; },\n"
     "                   { field = \"v\"; type = \"string\"; optional = true; "
     "} );\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].path: optional param {v} cannot be used in a "
     "path"},
    {"for_each_not_list.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\"; #<\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\"; type = \"string\"; } );\n" P_TAIL
         P_ACCOUNT,
     "providers.p.actions.[0].for_each: ids is not a string_list param"},
    {"list_in_path.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\"; #<\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].path: list {ids} in a path must be the "
     "for_each field"},
    {"chunk_zero.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"POST\";\n"
     "        path = \"/items/delete\";\n"
     "        chunk = { field = \"ids\";\n"
     "                  size = 0; }; #<\n"
     "        body = { ids = \"{ids}\"; };\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].chunk.size: must be between 1 and 100000"},
    {"body_half_placeholder.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"POST\";\n"
     "        path = \"/items/delete\";\n"
     "        body = { ids = \"{ids}\";\n"
     "                 note = \"x-{ids}\"; }; #<\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].body.note: a placeholder must be the whole "
     "string"},
    {"body_unknown_placeholder.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"POST\";\n"
     "        path = \"/items/delete\";\n"
     "        body = { outer = { ids = \"{idz}\"; }; }; "
     "#<\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].body.outer.ids: unknown placeholder {idz}"},
    {"query_unknown_placeholder.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        query = ( { name = \"since\";\n"
     "                    value = \"{since}\"; } ); #<\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].query.[0].value: unknown placeholder {since}"},
    {"unused_param.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( #<\n"
     "          { field = \"ids\"; type = \"string_list\"; },\n"
     "          { field = \"extra\"; type = \"string\"; } );\n" P_TAIL
         P_ACCOUNT,
     "providers.p.actions.[0].params: extra is not used"},
    {"when_undeclared.conf",
     P_HEAD "    actions = (\n"
            "      { name = \"del\";\n"
            "        when = \"id\"; #<\n"
            "        method = \"DELETE\";\n"
            "        path = \"/items/{ids}\";\n"
            "        for_each = \"ids\";\n"
            "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].when: id is not a declared param"},
    {"path_no_slash.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"items/{ids}\"; #<\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].path: must start with /"},
    {"path_dot_segment.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/../{ids}\"; #<\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].path: must not hold empty, . or .. segments"},
    {"min_above_max.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\"; type = "
     "\"integer\";\n"
     "          min = 5; max = 1; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].params.[0].max: is below min (5 > 1)"},
    {"for_each_and_chunk.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        chunk = { field = \"ids\"; size = 2; }; "
     "#<\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].chunk: cannot be used with for_each"},
    {"param_bad_type.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\";\n"
     "          type = \"int\"; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].params.[0].type: must be string, integer or "
     "string_list"},
    {"pattern_on_integer.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\"; type = "
     "\"integer\";\n"
     "          pattern = \"^[0-9]+$\"; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].params.[0].pattern: not valid for type "
     "integer"},
    {"duplicate_action.conf",
     P_HEAD
     "    actions = (\n"
     "      { name = \"del\"; when = \"ids\"; method = \"DELETE\"; path = "
     "\"/a/{ids}\"; for_each = \"ids\"; resource = \"{ids}\";\n"
     "        " P_PARAMS "      },\n"
     "      { name = \"del\"; when = \"ids\"; method = \"DELETE\"; path = "
     "\"/b/{ids}\"; for_each = \"ids\"; resource = \"{ids}\"; #<\n"
     "        " P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[1].name: action del is declared twice"},
    {"header_name.conf",
     "providers = {\n"
     "  p = {\n"
     "    base_url = \"https://p.example\";\n"
     "    auth = { key = ( { header = \"X Key\"; secret = \"key\"; } ); }; "
     "#<\n" P_GOOD_ACTION P_ACCOUNT,
     "providers.p.auth.key.[0].header: is not an HTTP header name"},
    {"prefix_ctl.conf",
     "providers = {\n"
     "  p = {\n"
     "    base_url = \"https://p.example\";\n"
     "    auth = { key = ( { header = \"X-Key\"; secret = \"key\";\n"
     "                       prefix = \"Bearer\\n\"; } ); }; #<\n" P_GOOD_ACTION
         P_ACCOUNT,
     "providers.p.auth.key.[0].prefix: contains a control character"},
    {"base_url_provider_http.conf",
     "providers = {\n"
     "  p = {\n"
     "    base_url = \"http://p.example\"; #<\n"
     "    auth = { key = ( { header = \"X-Key\"; secret = \"key\"; } ); };\n"
     "" P_GOOD_ACTION P_ACCOUNT,
     "providers.p.base_url: plain http:// is refused for accounts.[0]"},
    {"base_url_slash.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\"; secrets = { key = "
                          "\"TP_P_KEY\"; };\n"
                          "    base_url = \"https://p.example/\"; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].base_url: must not end with /"},
    {"base_url_query.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\"; secrets = { key = "
                          "\"TP_P_KEY\"; };\n"
                          "    base_url = \"https://p.example?x=1\"; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].base_url: character 0x3F is not allowed"},
    {"account_no_provider.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"q\"; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].provider: no provider q is defined"},
    {"account_unknown_scheme.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\";\n"
                          "    auth = \"oauth\"; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].auth: provider p has no auth scheme oauth"},
    {"account_unknown_slot.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\";\n"
                          "    secrets = { key = \"TP_P_KEY\";\n"
                          "                token = \"TP_P_KEY\"; }; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].secrets.token: provider p has no secret slot token"},
    {"account_missing_slot.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\"; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].secrets.key: missing (auth scheme key needs it)"},
    {"account_missing_var.conf",
     "providers = {\n"
     "  p = {\n"
     "    base_url = \"https://{tenant}.p.example\";\n"
     "    vars = { tenant = { }; };\n" P_GOOD_ACTION "accounts = (\n"
     "  { provider = \"p\";\n"
     "    vars = { }; #<\n"
     "  }\n"
     ");\n",
     "accounts.[0].vars.tenant: missing"},
    {"var_pattern.conf",
     "providers = {\n"
     "  p = {\n"
     "    base_url = \"https://{tenant}.p.example\";\n"
     "    vars = { tenant = { pattern = \"^[a-z]{1,8}$\"; }; };\n" P_GOOD_ACTION
     "accounts = (\n"
     "  { provider = \"p\";\n"
     "    vars = { tenant = \"ABCDEF\"; }; #<\n"
     "  }\n"
     ");\n",
     "accounts.[0].vars.tenant: does not match ^[a-z]{1,8}$"},
    {"var_slash.conf",
     "providers = {\n"
     "  p = {\n"
     "    base_url = \"https://{tenant}.p.example\";\n"
     "    vars = { tenant = { }; };\n" P_GOOD_ACTION "accounts = (\n"
     "  { provider = \"p\";\n"
     "    vars = { tenant = \"evil.com/x\"; }; #<\n"
     "  }\n"
     ");\n",
     "accounts.[0].vars.tenant: must be 1..256 of [A-Za-z0-9._-]"},
    {"limits_range.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\"; secrets = { key = "
                          "\"TP_P_KEY\"; };\n"
                          "    limits = { concurrency = 0; }; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].limits.concurrency: must be between 1 and 100000"},
    {"limits_defaults_key.conf",
     P_HEAD P_GOOD_ACTION "account_defaults = { limits = {\n"
                          "  timeout = 5; }; }; #<\n" P_ACCOUNT,
     "account_defaults.limits.timeout: unknown setting"},
    {"limits_backoff.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\"; secrets = { key = "
                          "\"TP_P_KEY\"; };\n"
                          "    limits = { backoff_base_ms = 60000; }; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].limits: backoff_max_ms (30000) is below backoff_base_ms "
     "(60000)"},
    {"limits_float_int.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\"; secrets = { key = "
                          "\"TP_P_KEY\"; };\n"
                          "    limits = { max_attempts = 2.5; }; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].limits.max_attempts: must be an integer"},
    {"field_type_conflict.conf",
     P_HEAD
     "    actions = (\n"
     "      { name = \"a\"; when = \"ids\"; method = \"DELETE\"; path = "
     "\"/a/{ids}\"; for_each = \"ids\"; resource = \"{ids}\";\n"
     "        " P_PARAMS "      },\n"
     "      { name = \"b\"; when = \"ids\"; method = \"DELETE\"; path = "
     "\"/b/{ids}\"; resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\";\n"
     "                     type = \"string\"; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[1].params.[0].type: field ids is a string_list in "
     "action a"},
    {"field_overlap.conf",
     P_HEAD "    actions = (\n"
            "      { name = \"a\"; when = \"ids\"; method = \"DELETE\"; path = "
            "\"/a/{ids}\"; for_each = \"ids\"; resource = \"{ids}\";\n"
            "        " P_PARAMS "      },\n"
            "      { name = \"b\"; when = \"ids\"; method = \"DELETE\"; path = "
            "\"/b\"; resource = \"{ids.x}\";\n"
            "        params = ( {\n"
            "          field = \"ids.x\"; type = \"string\"; } ); #<\n" P_TAIL
                P_ACCOUNT,
     "providers.p.actions.[1].params.[0].field: fields ids.x and ids (action "
     "a) overlap"},
    {"reserved_field.conf",
     P_HEAD P_ACTION_OPEN "        method = \"DELETE\";\n"
                          "        path = \"/items/{ids}\";\n"
                          "        resource = \"{ids}\";\n"
                          "        params = ( {\n"
                          "          field = \"account\"; type = \"string\"; "
                          "} ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].params.[0].field: \"provider\" and \"account\" "
     "are reserved"},
    {"missing_providers.conf", "accounts = ( ); #<\n", "providers: missing"},
};

static void test_config_errors(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(config_cases) / sizeof(config_cases[0]);
             i++) {
                const struct config_case *cc = &config_cases[i];
                char err[1024] = "", want[512];
                struct provider_registry *r =
                    load_text(cc->name, cc->text, 0, err, sizeof(err));
                if (r) {
                        provider_registry_free(r);
                        fail_msg("%s: loaded, want an error", cc->name);
                }
                int line = strcmp(cc->name, "missing_providers.conf") == 0
                               ? 0
                               : marker_line(cc->text);
                snprintf(want, sizeof(want), "/%s:%d: %s", cc->name, line,
                         cc->want);
                if (!strstr(err, want))
                        fail_msg("%s:\n got: %s\nwant: %s", cc->name, err,
                                 want);
        }
}

/* The skeleton of the broken configs is itself valid, so each case above
 * fails for its own reason. */
static void test_config_skeleton_valid(void **state)
{
        char err[512];
        (void)state;
        struct provider_registry *r =
            load_text("skeleton.conf", P_HEAD P_GOOD_ACTION P_ACCOUNT, 0, err,
                      sizeof(err));
        if (!r)
                fail_msg("%s", err);
        provider_registry_free(r);
}

static void test_secret_never_in_error(void **state)
{
        char err[1024];
        (void)state;
        setenv("TP_CR_SECRET", "s3cr3t-value\r\nX-Evil: 1", 1);
        const char *text = P_HEAD P_GOOD_ACTION
            "accounts = (\n"
            "  { provider = \"p\";\n"
            "    secrets = { key = \"TP_CR_SECRET\"; }; #<\n"
            "  }\n"
            ");\n";
        assert_null(load_text("cr_secret.conf", text, 0, err, sizeof(err)));
        char want[256];
        snprintf(want, sizeof(want),
                 "cr_secret.conf:%d: accounts.[0].secrets.key: environment "
                 "variable TP_CR_SECRET contains a control character",
                 marker_line(text));
        assert_contains(err, want);
        assert_null(strstr(err, "s3cr3t"));
        unsetenv("TP_CR_SECRET");
}

/* An error in an @included file names that file and its line. */
static void test_error_in_included_file(void **state)
{
        char err[1024], path[256], want[256];
        (void)state;
        const char *inc =
            "# included\n" P_HEAD P_ACTION_OPEN "        method = \"DELETE\";\n"
            "        path = \"/items/{ids}\";\n"
            "        for_each = \"ids\";\n"
            "        resource = \"{idz}\"; #<\n" P_PARAMS P_TAIL;
        snprintf(path, sizeof(path), "%s/inc_broken.conf", tmpdir);
        write_file(path, inc);
        assert_null(
            load_text_in(tmpdir, "main_ok.conf",
                         "# main\n@include \"inc_broken.conf\"\n" P_ACCOUNT, 0,
                         err, sizeof(err)));
        unlink(path);
        snprintf(want, sizeof(want),
                 "inc_broken.conf:%d: providers.p.actions.[0].resource: "
                 "unknown placeholder {idz}",
                 marker_line(inc));
        assert_contains(err, want);
}

/* The shipped file's own header promises every load error is reported;
 * a tampered copy of it must fail on the right line. */
static void test_shipped_file_error_line(void **state)
{
        char path[512], err[1024], want[256];
        (void)state;
        snprintf(path, sizeof(path), "%s/config/providers.conf", source_dir());
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        static char text[64 * 1024];
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[n] = '\0';
        const char *needle = "path = \"/dashboard/agents/{agent_id}/";
        char *at = strstr(text, needle);
        assert_non_null(at);
        memcpy(at + strlen("path = \"/dashboard/agents/{"), "agent_ix", 8);
        int line = 1;
        for (const char *p = text; p < at; p++)
                line += *p == '\n';
        assert_null(load_text("tampered.conf", text, 0, err, sizeof(err)));
        snprintf(want, sizeof(want),
                 "tampered.conf:%d: providers.avaamo.actions.[0].path: "
                 "unknown placeholder {agent_ix}",
                 line);
        assert_contains(err, want);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_accounts_and_limits),
            cmocka_unit_test(test_secrets_enumerated),
            cmocka_unit_test(test_secret_listed_once),
            cmocka_unit_test(test_allow_missing_secrets),
            cmocka_unit_test(test_free_null_and_clear),
            cmocka_unit_test(test_builtin_limits),
            cmocka_unit_test(test_vectara_for_each),
            cmocka_unit_test(test_vectara_oauth_account),
            cmocka_unit_test(test_convai_chunks),
            cmocka_unit_test(test_convai_small),
            cmocka_unit_test(test_algolia_user_data),
            cmocka_unit_test(test_algolia_conversations_query),
            cmocka_unit_test(test_algolia_both_actions),
            cmocka_unit_test(test_avaamo_clear_data),
            cmocka_unit_test(test_design_example_order),
            cmocka_unit_test(test_duplicate_calls_across_targets),
            cmocka_unit_test(test_percent_encoding),
            cmocka_unit_test(test_bad_fields),
            cmocka_unit_test(test_plan_bound_exact),
            cmocka_unit_test(test_list_item_bound),
            cmocka_unit_test(test_hostile_names_escaped),
            cmocka_unit_test(test_all_or_nothing),
            cmocka_unit_test(test_custom_templates),
            cmocka_unit_test(test_classify_vectara),
            cmocka_unit_test(test_classify_convai),
            cmocka_unit_test(test_classify_algolia),
            cmocka_unit_test(test_classify_avaamo),
            cmocka_unit_test(test_classify_defaults),
            cmocka_unit_test(test_classify_hostile_body),
            cmocka_unit_test(test_classify_custom_rules),
            cmocka_unit_test(test_config_errors),
            cmocka_unit_test(test_config_skeleton_valid),
            cmocka_unit_test(test_secret_never_in_error),
            cmocka_unit_test(test_error_in_included_file),
            cmocka_unit_test(test_shipped_file_error_line),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
