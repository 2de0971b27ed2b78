/* Unit tests of src/oauth.c (the token cache state machine, the token
 * request) and of the oauth2_client_credentials scheme in the provider
 * loader (src/provider_load.c, provider_account.c). */
#include "provider_fixture.h"

#include "log.h"
#include "oauth.h"

static const struct provider_oauth form_cfg = {
    .token_url = "https://auth.example/oauth2/token",
    .client_id = "app id",
    .client_secret = "s3cr+t/=&",
    .scope = "erase all",
    .audience = NULL,
    .basic_auth = 0,
    .header = "Authorization",
    .prefix = "Bearer ",
};

static const struct retry_policy policy = {
    .max_attempts = 3, .budget_ms = 60000, .base_ms = 100, .max_ms = 1000};

static struct oauth *fresh(const struct provider_oauth *cfg)
{
        struct oauth *o = oauth_new(cfg, &policy, 42);
        assert_non_null(o);
        return o;
}

static void answer_token(struct oauth *o, const char *token, int expires_in,
                         int64_t now)
{
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"access_token\":\"%s\",\"token_type\":\"Bearer\","
                 "\"expires_in\":%d}",
                 token, expires_in);
        assert_int_equal(oauth_fetch_done(o, 200, body, strlen(body), -1, now),
                         OAUTH_OK);
}

/* ---- the cache ------------------------------------------------------- */

static void test_cold_start_one_fetch_then_ready(void **state)
{
        int64_t wake;
        (void)state;
        struct oauth *o = fresh(&form_cfg);
        assert_int_equal(oauth_status(o, 1000, &wake), OAUTH_WAIT);
        assert_true(oauth_fetch_due(o, 1000));
        oauth_fetch_started(o, 1000);
        /* One fetch per account at a time: later callers only wait. */
        assert_false(oauth_fetch_due(o, 1001));
        assert_int_equal(oauth_status(o, 1001, &wake), OAUTH_WAIT);
        assert_true(wake == INT64_MAX);
        answer_token(o, "tok-one-abcdef", 100, 1200);
        assert_int_equal(oauth_status(o, 1200, &wake), OAUTH_READY);
        assert_string_equal(oauth_header_value(o), "Bearer tok-one-abcdef");
        assert_int_equal(oauth_fetched_at(o), 1000);
        assert_int_equal(oauth_generation(o), 1);
        assert_false(oauth_fetch_due(o, 1200));
        oauth_free(o);
}

/* 100 s: margin 10 s, usable until 91 s after the request; refreshed in
 * the background from 3/4 of that while the old token stays in use. */
static void test_refresh_early_in_the_background(void **state)
{
        int64_t wake;
        (void)state;
        struct oauth *o = fresh(&form_cfg);
        oauth_fetch_started(o, 0);
        answer_token(o, "tok-first-123456", 100, 50);
        int64_t refresh = (100000 - 10000) * 3 / 4;
        assert_false(oauth_fetch_due(o, refresh - 1));
        assert_true(oauth_fetch_due(o, refresh));
        oauth_fetch_started(o, refresh);
        assert_int_equal(oauth_status(o, refresh + 10, &wake), OAUTH_READY);
        assert_string_equal(oauth_header_value(o), "Bearer tok-first-123456");
        /* Past the margin the old token is not used any more. */
        assert_int_equal(oauth_status(o, 90000, &wake), OAUTH_WAIT);
        answer_token(o, "tok-second-123456", 100, 90010);
        assert_int_equal(oauth_status(o, 90010, &wake), OAUTH_READY);
        assert_int_equal(oauth_generation(o), 2);
        oauth_free(o);
}

/* A 2 s token that took 1.5 s to come: counted from the request it would
 * be stale on arrival, every time. */
static void test_slow_answer_counts_from_arrival(void **state)
{
        int64_t wake;
        (void)state;
        struct oauth *o = fresh(&form_cfg);
        oauth_fetch_started(o, 0);
        answer_token(o, "tok-slow-1234567", 2, 1500);
        assert_int_equal(oauth_status(o, 1500, &wake), OAUTH_READY);
        assert_int_equal(oauth_fetched_at(o), 1500);
        assert_int_equal(oauth_status(o, 1500 + 1799, &wake), OAUTH_READY);
        assert_int_equal(oauth_status(o, 1500 + 1800, &wake), OAUTH_WAIT);
        /* A quick answer still counts from the request. */
        oauth_fetch_started(o, 5000);
        answer_token(o, "tok-fast-1234567", 2, 5100);
        assert_int_equal(oauth_fetched_at(o), 5000);
        oauth_free(o);
}

static void test_401_invalidates_only_the_token_it_was_sent_with(void **state)
{
        int64_t wake;
        (void)state;
        struct oauth *o = fresh(&form_cfg);
        oauth_fetch_started(o, 0);
        answer_token(o, "tok-gen-one-1234", 3600, 10);
        uint64_t gen = oauth_generation(o);
        oauth_invalidate(o, gen + 1); /* a stale answer: nothing happens */
        assert_int_equal(oauth_status(o, 20, &wake), OAUTH_READY);
        oauth_invalidate(o, gen);
        assert_null(oauth_header_value(o));
        assert_int_equal(oauth_status(o, 20, &wake), OAUTH_WAIT);
        assert_true(oauth_fetch_due(o, 20));
        oauth_free(o);
}

/* 503s back off like calls; when the attempts are used up the calls fail
 * (retryable) for max_ms instead of waiting on, then a new round starts. */
static void test_5xx_backs_off_then_fails_the_account(void **state)
{
        int64_t wake, now = 0;
        (void)state;
        struct oauth *o = fresh(&form_cfg);
        for (int i = 1; i <= 2; i++) {
                oauth_fetch_started(o, now);
                assert_int_equal(oauth_fetch_done(o, 503, "{}", 2, -1, now),
                                 OAUTH_ERROR);
                assert_int_equal(oauth_status(o, now, &wake), OAUTH_WAIT);
                assert_true(wake >= now && wake <= now + 1000);
                assert_false(oauth_fetch_due(o, wake - 1) && wake > now);
                now = wake;
                assert_true(oauth_fetch_due(o, now));
        }
        oauth_fetch_started(o, now);
        oauth_fetch_done(o, 503, "{}", 2, -1, now);
        assert_int_equal(oauth_status(o, now, &wake), OAUTH_FAILED);
        assert_contains(oauth_error(o), "unavailable after 3 attempt(s)");
        assert_contains(oauth_error(o), "HTTP 503");
        assert_false(oauth_fetch_due(o, now + 999));
        assert_true(oauth_fetch_due(o, now + 1000));
        assert_int_equal(oauth_status(o, now + 1000, &wake), OAUTH_WAIT);
        oauth_free(o);
}

static void test_retry_after_is_honoured(void **state)
{
        int64_t wake;
        (void)state;
        struct oauth *o = fresh(&form_cfg);
        oauth_fetch_started(o, 0);
        oauth_fetch_done(o, 429, "", 0, 5000, 0);
        oauth_status(o, 0, &wake);
        assert_true(wake >= 5000);
        assert_false(oauth_fetch_due(o, 4999));
        oauth_free(o);
}

/* Bad credentials cannot get better by retrying: fail at once. */
static void test_rejected_credentials_fail_fast(void **state)
{
        int64_t wake;
        (void)state;
        struct oauth *o = fresh(&form_cfg);
        oauth_fetch_started(o, 0);
        const char *body = "{\"error\":\"invalid_client\"}";
        assert_int_equal(oauth_fetch_done(o, 401, body, strlen(body), -1, 5),
                         OAUTH_REJECTED);
        assert_int_equal(oauth_status(o, 5, &wake), OAUTH_FAILED);
        assert_contains(oauth_error(o), "refused the client credentials");
        assert_contains(oauth_error(o), "HTTP 401 invalid_client");
        assert_false(oauth_fetch_due(o, 500));
        oauth_free(o);
}

static void test_unusable_200_is_an_error(void **state)
{
        int64_t wake;
        static const char *const bodies[] = {
            "not json",
            "{\"access_token\":\"\",\"expires_in\":5}",
            "{\"access_token\":\"abc\"}",
            "{\"access_token\":\"abc\",\"expires_in\":\"60\"}",
            "{\"access_token\":\"a\\nb\",\"expires_in\":60}",
            "{\"access_token\":\"abc\",\"expires_in\":0}"};
        (void)state;
        for (size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
                struct oauth *o = fresh(&form_cfg);
                oauth_fetch_started(o, 0);
                assert_int_equal(oauth_fetch_done(o, 200, bodies[i],
                                                  strlen(bodies[i]), -1, 0),
                                 OAUTH_ERROR);
                assert_int_equal(oauth_status(o, 0, &wake), OAUTH_WAIT);
                assert_null(oauth_header_value(o));
                oauth_free(o);
        }
}

/* ---- the request ----------------------------------------------------- */

static void test_form_request(void **state)
{
        struct oauth_request rq;
        (void)state;
        struct oauth *o = fresh(&form_cfg);
        assert_int_equal(oauth_request_build(o, &rq), 0);
        assert_string_equal(rq.body,
                            "grant_type=client_credentials&client_id=app%20id"
                            "&client_secret=s3cr%2Bt%2F%3D%26&scope=erase%20"
                            "all");
        assert_null(rq.authorization);
        oauth_request_clear(&rq);
        oauth_free(o);
}

/* RFC 6749 §2.3.1: form-encode id and secret, then base64("id:secret"). */
static void test_basic_request(void **state)
{
        struct provider_oauth cfg = form_cfg;
        struct oauth_request rq;
        (void)state;
        cfg.basic_auth = 1;
        cfg.scope = NULL;
        cfg.audience = "https://api.example";
        struct oauth *o = fresh(&cfg);
        assert_int_equal(oauth_request_build(o, &rq), 0);
        assert_string_equal(rq.body, "grant_type=client_credentials&audience="
                                     "https%3A%2F%2Fapi.example");
        /* base64("app%20id:s3cr%2Bt%2F%3D%26") */
        assert_string_equal(rq.authorization,
                            "Basic YXBwJTIwaWQ6czNjciUyQnQlMkYlM0QlMjY=");
        oauth_request_clear(&rq);
        oauth_free(o);
}

/* Every token is masked while it may still show up; older ones are
 * forgotten so that a long run does not use up the registry. */
static void test_tokens_registered_for_redaction(void **state)
{
        char line[128];
        (void)state;
        log_clear_secrets();
        struct oauth *o = fresh(&form_cfg);
        oauth_fetch_started(o, 0);
        answer_token(o, "tok-aaaaaaaaaaaa", 60, 0);
        snprintf(line, sizeof(line), "echo tok-aaaaaaaaaaaa");
        log_redact(line);
        assert_string_equal(line, "echo ****************");
        for (int i = 0; i < 100; i++) {
                char t[32];
                snprintf(t, sizeof(t), "tok-bbbbbbbb%04d", i);
                oauth_fetch_started(o, 0);
                answer_token(o, t, 60, 0);
        }
        snprintf(line, sizeof(line), "tok-bbbbbbbb0098 tok-bbbbbbbb0099");
        log_redact(line);
        assert_string_equal(line, "**************** ****************");
        snprintf(line, sizeof(line), "tok-aaaaaaaaaaaa");
        log_redact(line);
        assert_string_equal(line, "tok-aaaaaaaaaaaa");
        /* Not used up by 100 tokens: a new secret still registers. */
        log_add_secret("later-secret-xyz");
        snprintf(line, sizeof(line), "later-secret-xyz");
        log_redact(line);
        assert_string_equal(line, "****************");
        oauth_free(o);
        log_clear_secrets();
}

/* ---- the loader -------------------------------------------------------- */

#define O_HEAD                                                                 \
        "providers = {\n"                                                      \
        "  p = {\n"                                                            \
        "    base_url = \"https://p.example/api\";\n"                          \
        "    auth = { key = ( { header = \"X-Key\"; secret = \"key\"; } );\n"
#define O_REST                                                                 \
        "    };\n"                                                             \
        "    actions = ( { name = \"del\"; when = \"ids\"; method = "          \
        "\"DELETE\";\n"                                                        \
        "        path = \"/items/{ids}\"; for_each = \"ids\"; resource = "     \
        "\"{ids}\";\n"                                                         \
        "        params = ( { field = \"ids\"; type = \"string_list\"; } ); "  \
        "} );\n"                                                               \
        "  };\n"                                                               \
        "};\n"
#define O_SCHEME                                                               \
        "      cc = { kind = \"oauth2_client_credentials\";\n"                 \
        "             token_url = \"https://auth.p.example/token\";\n"         \
        "             client_auth = \"basic\"; scope = \"a b\";\n"             \
        "             header = \"X-Token\"; prefix = \"\"; };\n"
#define O_SECRETS                                                              \
        "secrets = { client_id = \"TO_ID\"; client_secret = \"TO_SECRET\"; "   \
        "}; "

static void test_vectara_ships_oauth2(void **state)
{
        char err[512];
        (void)state;
        setenv("TO_ID", "the-client-id", 1);
        setenv("TO_SECRET", "the-client-secret", 1);
        struct provider_registry *r = load_text(
            "vectara_oauth.conf",
            "@include \"providers.conf\"\n"
            "accounts = (\n"
            "  { provider = \"vectara\"; auth = \"oauth2\"; " O_SECRETS "},\n"
            "  { provider = \"vectara\"; name = \"io\"; auth = \"oauth2\";\n"
            "    token_url = "
            "\"https://auth.vectara.io/oauth/token\"; " O_SECRETS "},\n"
            "  { provider = \"vectara\"; name = \"key\"; secrets = { api_key = "
            "\"TO_ID\"; }; }\n"
            ");\n",
            0, err, sizeof(err));
        if (!r)
                fail_msg("%s", err);
        const struct provider_oauth *oa =
            provider_account_oauth(provider_account_at(r, 0));
        assert_non_null(oa);
        assert_string_equal(oa->token_url,
                            "https://auth.vectara.com/oauth2/token");
        assert_string_equal(oa->client_id, "the-client-id");
        assert_string_equal(oa->client_secret, "the-client-secret");
        assert_int_equal(oa->basic_auth, 0);
        assert_string_equal(oa->header, "Authorization");
        assert_string_equal(oa->prefix, "Bearer ");
        assert_null(oa->scope);
        oa = provider_account_oauth(provider_account_at(r, 1));
        assert_string_equal(oa->token_url,
                            "https://auth.vectara.io/oauth/token");
        assert_null(provider_account_oauth(provider_account_at(r, 2)));
        /* check-config lists the slots; the secret is registered. */
        const char *env = NULL;
        assert_string_equal(
            provider_account_secret_slot(provider_account_at(r, 0), 1, &env),
            "client_secret");
        assert_string_equal(env, "TO_SECRET");
        int found = 0;
        for (size_t i = 0; provider_secret_at(r, i); i++)
                found |=
                    strcmp(provider_secret_at(r, i), "the-client-secret") == 0;
        assert_true(found);
        provider_registry_free(r);
}

static void test_custom_scheme_fields(void **state)
{
        char err[512];
        (void)state;
        setenv("TO_ID", "the-client-id", 1);
        setenv("TO_SECRET", "the-client-secret", 1);
        struct provider_registry *r = load_text(
            "custom_oauth.conf",
            O_HEAD O_SCHEME O_REST "accounts = ( { provider = \"p\"; auth = "
                                   "\"cc\"; " O_SECRETS "} );\n",
            0, err, sizeof(err));
        if (!r)
                fail_msg("%s", err);
        const struct provider_oauth *oa =
            provider_account_oauth(provider_account_at(r, 0));
        assert_int_equal(oa->basic_auth, 1);
        assert_string_equal(oa->scope, "a b");
        assert_string_equal(oa->header, "X-Token");
        assert_string_equal(oa->prefix, "");
        assert_string_equal(provider_account_auth(provider_account_at(r, 0)),
                            "cc");
        provider_registry_free(r);
}

struct oauth_case {
        const char *name;
        const char *text;
        const char *want;
};

static int marker_line(const char *text)
{
        const char *m = strstr(text, "#<");
        int line = 1;
        assert_non_null(m);
        for (const char *p = text; p < m; p++)
                line += *p == '\n';
        return line;
}

#define ACCT(extra)                                                            \
        "accounts = ( { provider = \"p\"; auth = \"cc\"; " O_SECRETS extra     \
        " } );\n"

static const struct oauth_case oauth_cases[] = {
    {"oauth_kind.conf",
     O_HEAD "      cc = { kind = \"oauth2_password\"; }; #<\n" O_REST ACCT(""),
     "providers.p.auth.cc.kind: unknown kind oauth2_password"},
    {"oauth_client_auth.conf",
     O_HEAD "      cc = { kind = \"oauth2_client_credentials\";\n"
            "             client_auth = \"jwt\"; }; #<\n" O_REST ACCT(""),
     "providers.p.auth.cc.client_auth: must be \"form\" or \"basic\""},
    {"oauth_unknown_key.conf",
     O_HEAD "      cc = { kind = \"oauth2_client_credentials\";\n"
            "             client_secret = \"x\"; }; #<\n" O_REST ACCT(""),
     "providers.p.auth.cc.client_secret: unknown setting"},
    {"oauth_header.conf",
     O_HEAD "      cc = { kind = \"oauth2_client_credentials\";\n"
            "             header = \"X Token\"; }; #<\n" O_REST ACCT(""),
     "providers.p.auth.cc.header: is not an HTTP header name"},
    {"oauth_no_token_url.conf",
     O_HEAD "      cc = { kind = \"oauth2_client_credentials\"; };\n" O_REST
            "accounts = ( { provider = \"p\"; auth = \"cc\"; #<\n"
            "  " O_SECRETS "} );\n",
     "accounts.[0].token_url: missing (the scheme cc has none)"},
    {"oauth_token_url_scheme.conf",
     O_HEAD O_SCHEME O_REST
     "accounts = ( { provider = \"p\"; auth = \"cc\"; " O_SECRETS "\n"
     "  token_url = \"ftp://auth.p.example/t\"; #<\n"
     "} );\n",
     "accounts.[0].token_url: must start with https://"},
    {"oauth_token_url_plain.conf",
     O_HEAD O_SCHEME O_REST
     "accounts = ( { provider = \"p\"; auth = \"cc\"; " O_SECRETS "\n"
     "  token_url = \"http://auth.p.example/t\"; #<\n"
     "} );\n",
     "accounts.[0].token_url: plain http:// is refused"},
    {"oauth_token_url_elsewhere.conf",
     O_HEAD O_SCHEME O_REST
     "accounts = ( { provider = \"p\"; secrets = { key = \"TO_ID\"; };\n"
     "  token_url = \"https://auth.p.example/t\"; #<\n"
     "} );\n",
     "accounts.[0].token_url: only for an auth scheme of kind "
     "oauth2_client_credentials"},
    {"oauth_missing_secret.conf",
     O_HEAD O_SCHEME O_REST "accounts = ( { provider = \"p\"; auth = \"cc\";\n"
                            "  secrets = { client_id = \"TO_ID\"; }; #<\n"
                            "} );\n",
     "accounts.[0].secrets.client_secret: missing (auth scheme cc needs it)"},
    {"oauth_unset_env.conf",
     O_HEAD O_SCHEME O_REST
     "accounts = ( { provider = \"p\"; auth = \"cc\";\n"
     "  secrets = { client_id = \"TO_ID\";\n"
     "              client_secret = \"TO_UNSET\"; }; #<\n"
     "} );\n",
     "accounts.[0].secrets.client_secret: environment variable TO_UNSET is "
     "not set"},
};

static void test_loader_errors_name_file_line_setting(void **state)
{
        (void)state;
        setenv("TO_ID", "the-client-id", 1);
        setenv("TO_SECRET", "the-client-secret", 1);
        unsetenv("TO_UNSET");
        for (size_t i = 0; i < sizeof(oauth_cases) / sizeof(*oauth_cases);
             i++) {
                const struct oauth_case *oc = &oauth_cases[i];
                char err[1024] = "", want[512];
                struct provider_registry *r =
                    load_text(oc->name, oc->text, 0, err, sizeof(err));
                if (r) {
                        provider_registry_free(r);
                        fail_msg("%s: loaded, want an error", oc->name);
                }
                snprintf(want, sizeof(want), "/%s:%d: %s", oc->name,
                         marker_line(oc->text), oc->want);
                if (!strstr(err, want))
                        fail_msg("%s:\n got: %s\nwant: %s", oc->name, err,
                                 want);
                assert_null(strstr(err, "the-client-secret"));
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_cold_start_one_fetch_then_ready),
            cmocka_unit_test(test_refresh_early_in_the_background),
            cmocka_unit_test(test_slow_answer_counts_from_arrival),
            cmocka_unit_test(
                test_401_invalidates_only_the_token_it_was_sent_with),
            cmocka_unit_test(test_5xx_backs_off_then_fails_the_account),
            cmocka_unit_test(test_retry_after_is_honoured),
            cmocka_unit_test(test_rejected_credentials_fail_fast),
            cmocka_unit_test(test_unusable_200_is_an_error),
            cmocka_unit_test(test_form_request),
            cmocka_unit_test(test_basic_request),
            cmocka_unit_test(test_tokens_registered_for_redaction),
            cmocka_unit_test(test_vectara_ships_oauth2),
            cmocka_unit_test(test_custom_scheme_fields),
            cmocka_unit_test(test_loader_errors_name_file_line_setting),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
