/* Unit tests of src/provider_classify.c: responses of the five endpoints
 * classified as the vendors' documents say, defaults, hostile bodies. */
#include "provider_fixture.h"

#include "log.h"

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
    "{'targets':[{'provider':'algolia','scope':'agent','agent_id':'a1','"
    "conversations':{}}]}";
static const char *const avaamo_target =
    "{'targets':[{'provider':'avaamo','scope':'agent','agent_id':1,'data_types'"
    ":['storage']}"
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
               "HTTP 401: credentials refused");
        expect(a, 403, "{\"message\":\"forbidden\"}", PROVIDER_FAILED, 0,
               "HTTP 403: credentials refused");
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
               PROVIDER_FAILED, 0, "HTTP 401: credentials refused");
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
                       PROVIDER_FAILED, 0, "HTTP 403: credentials refused");
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
        /* docs/vendors.md (Avaamo): a 200 without success:true is a final
         * failure, with the provider's text (e.g. the agent is not locked for
         * edit) */
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
               PROVIDER_FAILED, 0, "HTTP 401: credentials refused");
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

#define ECHOED "vk-SENTINEL-7f3a9c-vectara"

/* A vendor that echoes the key it was sent: the key never survives, not
 * even its first bytes where the 160-byte cut falls inside it. */
static void test_classify_echoed_secret_masked(void **state)
{
        (void)state;
        const struct provider_action *a = action_of(algolia_user_target);
        char body[1024];
        log_clear_secrets();
        log_add_secret(ECHOED);
        for (size_t pad = 130; pad <= 160; pad++) {
                snprintf(body, sizeof(body), "{\"message\":\"%*s%s\"}",
                         (int)pad, "k=", ECHOED);
                struct provider_verdict v = classify(a, 400, body);
                assert_null(strstr(v.error, "vk-S"));
                assert_contains(v.error, "HTTP 400: ");
                /* the raw body is quoted when no field is known */
                snprintf(body, sizeof(body), "%*s%s tail", (int)pad,
                         "k=", ECHOED);
                v = classify(a, 502, body);
                assert_null(strstr(v.error, "vk-S"));
        }
        /* percent-encoded, as in an echoed URL */
        struct provider_verdict v =
            classify(a, 400,
                     "{\"message\":\"bad key "
                     "vk-SENTINEL-7f3a9c-vectara%2F\"}");
        assert_string_equal(v.error, "HTTP 400: bad key "
                                     "**************************%2F");
        log_clear_secrets();
}

/* The cut itself masks where the kept text starts a secret, even one the
 * vendor cut short before us. */
static void test_classify_cut_masks_secret_prefix(void **state)
{
        (void)state;
        const struct provider_action *a = action_of(algolia_user_target);
        char body[512];
        log_clear_secrets();
        log_add_secret(ECHOED);
        snprintf(body, sizeof(body), "%*svk-SENTINEL-7f3a9c-ve", 150, "");
        struct provider_verdict v = classify(a, 500, body);
        assert_null(strstr(v.error, "vk-SEN"));
        assert_contains(v.error, "**********...");
        log_clear_secrets();
}

/* On 401/403 nothing of the vendor's text is quoted. */
static void test_classify_refused_credentials_not_quoted(void **state)
{
        (void)state;
        const struct provider_action *a = action_of(algolia_user_target);
        expect(a, 401, "{\"message\":\"key abc-not-registered\"}",
               PROVIDER_FAILED, 0, "HTTP 401: credentials refused");
        expect(a, 403, "raw abc-not-registered", PROVIDER_FAILED, 0,
               "HTTP 403: credentials refused");
        expect(a, 401, NULL, PROVIDER_FAILED, 0,
               "HTTP 401: credentials refused");
}

static enum provider_check check_of(const char *target, long status,
                                    const char *body)
{
        struct provider_plan plan;
        plan_ok(target, &plan);
        enum provider_check k = provider_classify_verify(
            &plan.calls[0], status, body, body ? strlen(body) : 0);
        provider_plan_clear(&plan);
        return k;
}

static void test_classify_verify(void **state)
{
        (void)state;
        /* Vectara: the session reads back 404 once gone. */
        assert_int_equal(check_of(vectara_target, 404, NULL),
                         PROVIDER_CHECK_ABSENT);
        assert_int_equal(check_of(vectara_target, 200, "{\"key\":\"ase_1\"}"),
                         PROVIDER_CHECK_PRESENT);
        assert_int_equal(check_of(vectara_target, 503, NULL),
                         PROVIDER_CHECK_RETRY);
        assert_int_equal(check_of(vectara_target, 429, NULL),
                         PROVIDER_CHECK_RETRY);
        /* Convai: the deleted id must be absent from the list; others may
         * stay. */
        assert_int_equal(
            check_of(convai_target, 200,
                     "[{\"sessionID\":\"s2\"},{\"sessionID\":\"s3\"}]"),
            PROVIDER_CHECK_ABSENT);
        assert_int_equal(check_of(convai_target, 200, "[]"),
                         PROVIDER_CHECK_ABSENT);
        assert_int_equal(
            check_of(convai_target, 200,
                     "[{\"sessionID\":\"s2\"},{\"sessionID\":\"s1\"}]"),
            PROVIDER_CHECK_PRESENT);
        /* Not the documented shape: no evidence, look again. */
        assert_int_equal(check_of(convai_target, 200, "{\"ERROR\":\"x\"}"),
                         PROVIDER_CHECK_RETRY);
        assert_int_equal(check_of(convai_target, 200, "not json"),
                         PROVIDER_CHECK_RETRY);
        assert_int_equal(check_of(convai_target, 401, "{}"),
                         PROVIDER_CHECK_RETRY);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_classify_vectara),
            cmocka_unit_test(test_classify_verify),
            cmocka_unit_test(test_classify_convai),
            cmocka_unit_test(test_classify_algolia),
            cmocka_unit_test(test_classify_avaamo),
            cmocka_unit_test(test_classify_defaults),
            cmocka_unit_test(test_classify_hostile_body),
            cmocka_unit_test(test_classify_custom_rules),
            cmocka_unit_test(test_classify_echoed_secret_masked),
            cmocka_unit_test(test_classify_cut_masks_secret_prefix),
            cmocka_unit_test(test_classify_refused_credentials_not_quoted),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
