/* Unit tests: request (version-1 envelope, DESIGN §2). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

static const char design_example[] =
    "{\n"
    "  \"version\": 1,\n"
    "  \"request_id\": \"req_2026-11-22_000123\",\n"
    "  \"requested_at\": \"2026-11-22T10:00:00Z\",\n"
    "  \"targets\": [\n"
    "    {\"provider\": \"vectara\", \"agent_id\": \"agt_support\", "
    "\"session_ids\": [\"ase_1\", \"ase_2\"]},\n"
    "    {\"provider\": \"convai\", \"character_id\": \"c0ffee\", "
    "\"session_ids\": [\"s-1\", \"s-2\"]},\n"
    "    {\"provider\": \"algolia\", \"agent_id\": "
    "\"76710f1b-8231-42e5-b0d1-f43aac618e15\", \"user_token\": "
    "\"user-42\"},\n"
    "    {\"provider\": \"algolia\", \"agent_id\": "
    "\"76710f1b-8231-42e5-b0d1-f43aac618e15\",\n"
    "     \"conversations\": {\"start_date\": \"2026-01-01\", "
    "\"end_date\": \"2026-11-01\"}},\n"
    "    {\"provider\": \"avaamo\", \"agent_id\": 20123, \"data_types\": "
    "[\"conversation_sessions\"]}\n"
    "  ]\n"
    "}\n";

/* Result of one parse, with everything the caller gets back. */
struct result {
        struct request *req;
        enum request_error err;
        char *id;
        char errstr[256];
};

static void parse_lim(struct result *r, const char *json, size_t len,
                      const struct request_limits *lim)
{
        memset(r, 0, sizeof(*r));
        r->err = (enum request_error) - 1;
        r->id = (char *)"sentinel"; /* must be overwritten */
        r->req = request_parse(json, len, lim, &r->err, &r->id, r->errstr,
                               sizeof(r->errstr));
        if (r->req)
                assert_int_equal(r->err, REQUEST_OK);
        else
                assert_true(r->errstr[0] != '\0');
}

static void parse(struct result *r, const char *json)
{
        struct request_limits lim;
        request_limits_default(&lim);
        parse_lim(r, json, strlen(json), &lim);
}

static void done(struct result *r)
{
        request_free(r->req);
        free(r->id);
}

/* Asserts json is rejected with err and that the request_id was (or was
 * not) still handed out. */
static void expect_reject(const char *json, enum request_error err,
                          const char *id)
{
        struct result r;
        parse(&r, json);
        if (r.req || r.err != err)
                fail_msg("%s: got %s (%s), want %s", json,
                         request_error_name(r.err), r.errstr,
                         request_error_name(err));
        if (id)
                assert_string_equal(r.id, id);
        else
                assert_null(r.id);
        done(&r);
}

/* A minimal valid request with one extra top-level member and one target
 * given as raw JSON. */
static char *with_target(const char *target)
{
        static char buf[4096];
        snprintf(buf, sizeof(buf),
                 "{\"version\":1,\"request_id\":\"r1\",\"targets\":[%s]}",
                 target);
        return buf;
}

static void design_example_parses(void **state)
{
        (void)state;
        struct result r;
        parse(&r, design_example);
        assert_non_null(r.req);
        assert_string_equal(r.req->request_id, "req_2026-11-22_000123");
        assert_string_equal(r.req->requested_at, "2026-11-22T10:00:00Z");
        assert_int_equal(r.req->ntargets, 5);
        const char *providers[] = {"vectara", "convai", "algolia", "algolia",
                                   "avaamo"};
        for (size_t i = 0; i < 5; i++) {
                assert_string_equal(r.req->targets[i].provider, providers[i]);
                assert_string_equal(r.req->targets[i].account, "default");
                assert_ptr_equal(
                    r.req->targets[i].json,
                    json_array_get(json_object_get(r.req->root, "targets"), i));
        }
        assert_string_equal(r.id, "req_2026-11-22_000123");
        done(&r);
}

static void account_and_optional_fields(void **state)
{
        (void)state;
        struct result r;
        parse(&r, "{\"version\":1,\"request_id\":\"a.b:c-d_e\",\"targets\":"
                  "[{\"provider\":\"p\",\"account\":\"EU-west_2\"}],"
                  "\"future_field\":{\"x\":[1,2]},\"trace\":\"t\"}");
        assert_non_null(r.req);
        assert_null(r.req->requested_at);
        assert_string_equal(r.req->targets[0].account, "EU-west_2");
        assert_string_equal(r.req->targets[0].provider, "p");
        done(&r);
}

static void oversize_checked_before_parsing(void **state)
{
        (void)state;
        struct request_limits lim = {.max_bytes = 64, .max_targets = 100};
        const char *ok = "{\"version\":1,\"request_id\":\"r\",\"targets\":"
                         "[{\"provider\":\"p\"}]}";
        struct result r;
        parse_lim(&r, ok, strlen(ok), &lim);
        assert_non_null(r.req);
        done(&r);

        /* Valid JSON with a readable id, yet nothing is parsed: no id. */
        char big[200];
        snprintf(big, sizeof(big),
                 "{\"version\":1,\"request_id\":\"r\",\"targets\":"
                 "[{\"provider\":\"p\"}],\"pad\":\"%040d\"}",
                 0);
        parse_lim(&r, big, strlen(big), &lim);
        assert_null(r.req);
        assert_int_equal(r.err, REQUEST_ERR_OVERSIZE);
        assert_null(r.id);
        assert_non_null(strstr(r.errstr, "64"));
        done(&r);

        /* Garbage that is too big is oversize, not not_json. */
        parse_lim(&r,
                  "garbage garbage garbage garbage garbage garbage "
                  "garbage garbage garbage",
                  70, &lim);
        assert_int_equal(r.err, REQUEST_ERR_OVERSIZE);
        done(&r);

        /* Exactly at the limit is allowed. */
        lim.max_bytes = strlen(ok);
        parse_lim(&r, ok, strlen(ok), &lim);
        assert_non_null(r.req);
        done(&r);
}

static void not_json(void **state)
{
        (void)state;
        expect_reject("", REQUEST_ERR_NOT_JSON, NULL);
        expect_reject("{", REQUEST_ERR_NOT_JSON, NULL);
        expect_reject("{\"version\":1,}", REQUEST_ERR_NOT_JSON, NULL);
        expect_reject("{\"version\":1} trailing", REQUEST_ERR_NOT_JSON, NULL);
        expect_reject("{'version':1}", REQUEST_ERR_NOT_JSON, NULL);
        expect_reject("{\"version\":1,\"request_id\":\"a\",\"request_id\":"
                      "\"b\",\"targets\":[{\"provider\":\"p\"}]}",
                      REQUEST_ERR_NOT_JSON, NULL);
        expect_reject("{\"version\":1,\"request_id\":\"r\",\"targets\":"
                      "[{\"provider\":\"p\",\"provider\":\"q\"}]}",
                      REQUEST_ERR_NOT_JSON, NULL);
        expect_reject("{\"version\":1,\"request_id\":\"r\",\"x\":\"\xff\"}",
                      REQUEST_ERR_NOT_JSON, NULL);
        expect_reject("{\"version\":1,\"request_id\":\"r\",\"x\":\"\xc0\xaf\"}",
                      REQUEST_ERR_NOT_JSON, NULL);
        expect_reject("{\"version\":1,\"request_id\":\"r\\u0000x\"}",
                      REQUEST_ERR_NOT_JSON, NULL);
        expect_reject("{\"version\":1,\"x\":\"a\\u0000\"}",
                      REQUEST_ERR_NOT_JSON, NULL);
}

static void raw_nul_byte_is_not_json(void **state)
{
        (void)state;
        static const char msg[] = "{\"version\":1,\"request_id\":\"r\"}\0x";
        struct result r;
        struct request_limits lim;
        request_limits_default(&lim);
        parse_lim(&r, msg, sizeof(msg) - 1, &lim);
        assert_null(r.req);
        assert_int_equal(r.err, REQUEST_ERR_NOT_JSON);
        done(&r);
}

static void null_buffer_is_not_json(void **state)
{
        (void)state;
        struct result r;
        parse_lim(&r, NULL, 0, NULL);
        assert_null(r.req);
        assert_int_equal(r.err, REQUEST_ERR_NOT_JSON);
        done(&r);
}

static void deep_nesting_rejected_gracefully(void **state)
{
        (void)state;
        size_t depth = 100000;
        char *buf = malloc(2 * depth + 64);
        assert_non_null(buf);
        memset(buf, '[', depth);
        memset(buf + depth, ']', depth);
        struct result r;
        parse_lim(&r, buf, 2 * depth, NULL);
        assert_null(r.req);
        assert_int_equal(r.err, REQUEST_ERR_NOT_JSON);
        done(&r);

        /* The same inside an otherwise valid request. */
        size_t n = (size_t)sprintf(buf, "{\"version\":1,\"x\":");
        memset(buf + n, '[', depth);
        memset(buf + n + depth, ']', depth);
        buf[n + 2 * depth] = '}';
        parse_lim(&r, buf, n + 2 * depth + 1, NULL);
        assert_null(r.req);
        assert_int_equal(r.err, REQUEST_ERR_NOT_JSON);
        done(&r);
        free(buf);
}

static void not_object(void **state)
{
        (void)state;
        expect_reject("[]", REQUEST_ERR_NOT_OBJECT, NULL);
        expect_reject("[{\"version\":1}]", REQUEST_ERR_NOT_OBJECT, NULL);
        expect_reject("\"req\"", REQUEST_ERR_NOT_OBJECT, NULL);
        expect_reject("1", REQUEST_ERR_NOT_OBJECT, NULL);
        expect_reject("null", REQUEST_ERR_NOT_OBJECT, NULL);
        expect_reject(" true ", REQUEST_ERR_NOT_OBJECT, NULL);
}

static void bad_version_keeps_request_id(void **state)
{
        (void)state;
        const char *tail = "\"request_id\":\"r-9\",\"targets\":"
                           "[{\"provider\":\"p\"}]}";
        const char *versions[] = {"",
                                  "\"version\":\"1\",",
                                  "\"version\":1.0,",
                                  "\"version\":2,",
                                  "\"version\":0,",
                                  "\"version\":true,",
                                  "\"version\":null,",
                                  "\"version\":[1],",
                                  "\"version\":1e0,"};
        for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
                char buf[256];
                snprintf(buf, sizeof(buf), "{%s%s", versions[i], tail);
                expect_reject(buf, REQUEST_ERR_VERSION, "r-9");
        }
        /* 1.0 is refused for its type, not read as some other number. */
        struct result r;
        parse(&r, "{\"version\":1.0,\"request_id\":\"r\"}");
        assert_int_equal(r.err, REQUEST_ERR_VERSION);
        assert_non_null(strstr(r.errstr, "integer 1"));
        done(&r);
}

static void bad_request_id(void **state)
{
        (void)state;
        expect_reject("{\"version\":1,\"targets\":[{\"provider\":\"p\"}]}",
                      REQUEST_ERR_REQUEST_ID, NULL);
        expect_reject("{\"version\":1,\"request_id\":42,\"targets\":"
                      "[{\"provider\":\"p\"}]}",
                      REQUEST_ERR_REQUEST_ID, NULL);
        expect_reject("{\"version\":1,\"request_id\":\"\",\"targets\":"
                      "[{\"provider\":\"p\"}]}",
                      REQUEST_ERR_REQUEST_ID, NULL);
        expect_reject("{\"version\":1,\"request_id\":\"../etc\",\"targets\":"
                      "[{\"provider\":\"p\"}]}",
                      REQUEST_ERR_REQUEST_ID, NULL);
        expect_reject("{\"version\":1,\"request_id\":\"a b\",\"targets\":"
                      "[{\"provider\":\"p\"}]}",
                      REQUEST_ERR_REQUEST_ID, NULL);
        /* The id reaches keys, headers and logs: nothing that can hide or
         * reorder text there (C1, bidi override/isolate, U+2028). */
        const char *deceptive[] = {"r\\u0085x", "r\\u202ex", "r\\u2067x",
                                   "r\\u2028x"};
        for (size_t i = 0; i < sizeof(deceptive) / sizeof(deceptive[0]); i++) {
                char buf[128];
                snprintf(buf, sizeof(buf),
                         "{\"version\":1,\"request_id\":\"%s\","
                         "\"targets\":[{\"provider\":\"p\"}]}",
                         deceptive[i]);
                expect_reject(buf, REQUEST_ERR_REQUEST_ID, NULL);
        }
}

static void request_id_syntax(void **state)
{
        (void)state;
        char id[200];
        assert_true(request_id_valid("a"));
        assert_true(request_id_valid("9"));
        assert_true(request_id_valid("req_2026-11-22_000123"));
        assert_true(request_id_valid("urn:x.y-z_1"));
        assert_false(request_id_valid(NULL));
        assert_false(request_id_valid(""));
        assert_false(request_id_valid("_a"));
        assert_false(request_id_valid(".a"));
        assert_false(request_id_valid("-a"));
        assert_false(request_id_valid("a/b"));
        assert_false(request_id_valid("a%2f"));
        assert_false(request_id_valid("a\n"));
        assert_false(request_id_valid("caf\xc3\xa9"));
        memset(id, 'a', 128);
        id[128] = '\0';
        assert_true(request_id_valid(id));
        id[128] = 'a';
        id[129] = '\0';
        assert_false(request_id_valid(id));
}

static void requested_at_formats(void **state)
{
        (void)state;
        const char *good[] = {"2026-11-22T10:00:00Z",
                              "2026-11-22T10:00:00.1Z",
                              "2026-11-22T10:00:00.123456789Z",
                              "2026-11-22T10:00:00+02:00",
                              "2026-11-22T10:00:00.5-05:30",
                              "2026-11-22t10:00:00z",
                              "2016-12-31T23:59:60Z"};
        const char *bad[] = {
            "yesterday",
            "2026-11-22",
            "2026-11-22T10:00:00",
            "2026-11-22 10:00:00Z",
            "2026-13-22T10:00:00Z",
            "2026-11-32T10:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T10:60:00Z",
            "2026-11-22T10:00:61Z",
            "2026-11-22T10:00:00.Z",
            "2026-11-22T10:00:00.1234567890Z",
            "2026-11-22T10:00:00+0200",
            "2026-11-22T10:00:00+24:00",
            "2026-11-22T10:00:00Zjunk",
            "26-11-22T10:00:00Z",
            "2026-1-22T10:00:00Z",
            "+2026-11-22T10:00:00Z",
        };
        char buf[256];
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                struct result r;
                snprintf(buf, sizeof(buf),
                         "{\"version\":1,\"request_id\":\"r\",\"requested_at\""
                         ":\"%s\",\"targets\":[{\"provider\":\"p\"}]}",
                         good[i]);
                parse(&r, buf);
                if (!r.req)
                        fail_msg("%s rejected: %s", good[i], r.errstr);
                assert_string_equal(r.req->requested_at, good[i]);
                done(&r);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(buf, sizeof(buf),
                         "{\"version\":1,\"request_id\":\"r\",\"requested_at\""
                         ":\"%s\",\"targets\":[{\"provider\":\"p\"}]}",
                         bad[i]);
                expect_reject(buf, REQUEST_ERR_BAD_FIELD, "r");
        }
        expect_reject("{\"version\":1,\"request_id\":\"r\",\"requested_at\":"
                      "1700000000,\"targets\":[{\"provider\":\"p\"}]}",
                      REQUEST_ERR_BAD_FIELD, "r");
}

static void bad_targets(void **state)
{
        (void)state;
        const char *head = "{\"version\":1,\"request_id\":\"r\"";
        const char *cases[] = {
            "}",
            ",\"targets\":null}",
            ",\"targets\":{}}",
            ",\"targets\":\"vectara\"}",
            ",\"targets\":[]}",
            ",\"targets\":[1]}",
            ",\"targets\":[[]]}",
            ",\"targets\":[{}]}",
            ",\"targets\":[{\"provider\":\"p\"},null]}",
        };
        char buf[256];
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                snprintf(buf, sizeof(buf), "%s%s", head, cases[i]);
                expect_reject(buf, REQUEST_ERR_TARGETS, "r");
        }
}

static void provider_and_account_syntax(void **state)
{
        (void)state;
        char p32[40], p33[40], a64[80], a65[80], t[256];
        memset(p32, 'p', 32);
        p32[32] = '\0';
        memset(p33, 'p', 33);
        p33[33] = '\0';
        memset(a64, 'A', 64);
        a64[64] = '\0';
        memset(a65, 'A', 65);
        a65[65] = '\0';

        const char *good[] = {"{\"provider\":\"a\"}",
                              "{\"provider\":\"a-b_c9\"}",
                              "{\"provider\":\"p\",\"account\":\"0\"}"};
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                struct result r;
                parse(&r, with_target(good[i]));
                assert_non_null(r.req);
                done(&r);
        }
        struct result r;
        snprintf(t, sizeof(t), "{\"provider\":\"%s\",\"account\":\"%s\"}", p32,
                 a64);
        parse(&r, with_target(t));
        assert_non_null(r.req);
        assert_string_equal(r.req->targets[0].provider, p32);
        assert_string_equal(r.req->targets[0].account, a64);
        done(&r);

        const char *bad[] = {
            "{\"provider\":1}",
            "{\"provider\":\"\"}",
            "{\"provider\":\"Vectara\"}",
            "{\"provider\":\"1abc\"}",
            "{\"provider\":\"_abc\"}",
            "{\"provider\":\"a.b\"}",
            "{\"provider\":\"a/b\"}",
            "{\"provider\":\"p\",\"account\":\"\"}",
            "{\"provider\":\"p\",\"account\":null}",
            "{\"provider\":\"p\",\"account\":7}",
            "{\"provider\":\"p\",\"account\":\"eu west\"}",
            "{\"provider\":\"p\",\"account\":\"../x\"}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                expect_reject(with_target(bad[i]), REQUEST_ERR_TARGETS, "r1");
        snprintf(t, sizeof(t), "{\"provider\":\"%s\"}", p33);
        expect_reject(with_target(t), REQUEST_ERR_TARGETS, "r1");
        snprintf(t, sizeof(t), "{\"provider\":\"p\",\"account\":\"%s\"}", a65);
        expect_reject(with_target(t), REQUEST_ERR_TARGETS, "r1");
}

static void target_count_limit(void **state)
{
        (void)state;
        struct request_limits lim = {.max_bytes = 4096, .max_targets = 2};
        const char *two = "{\"version\":1,\"request_id\":\"r\",\"targets\":"
                          "[{\"provider\":\"a\"},{\"provider\":\"b\"}]}";
        const char *three = "{\"version\":1,\"request_id\":\"r\",\"targets\":"
                            "[{\"provider\":\"a\"},{\"provider\":\"b\"},"
                            "{\"provider\":\"c\"}]}";
        struct result r;
        parse_lim(&r, two, strlen(two), &lim);
        assert_non_null(r.req);
        assert_int_equal(r.req->ntargets, 2);
        done(&r);
        parse_lim(&r, three, strlen(three), &lim);
        assert_null(r.req);
        assert_int_equal(r.err, REQUEST_ERR_TARGETS);
        assert_string_equal(r.id, "r");
        done(&r);
}

static void errstr_quotes_little_and_escapes(void **state)
{
        (void)state;
        /* An invalid id of 1000 bytes with control characters in it. */
        char id[1001];
        memset(id, 'A', 1000);
        id[0] = '!';
        id[1000] = '\0';
        char *buf = malloc(1200);
        assert_non_null(buf);
        snprintf(buf, 1200,
                 "{\"version\":1,\"request_id\":\"%s\\u0007\\n\","
                 "\"targets\":[{\"provider\":\"p\"}]}",
                 id);
        struct result r;
        parse(&r, buf);
        assert_int_equal(r.err, REQUEST_ERR_REQUEST_ID);
        char run[66];
        memset(run, 'A', 65);
        run[65] = '\0';
        assert_null(strstr(r.errstr, run));
        assert_non_null(strstr(r.errstr, "\"!AAAA"));
        assert_non_null(strstr(r.errstr, "A...\""));
        done(&r);

        snprintf(buf, 1200,
                 "{\"version\":1,\"request_id\":\"\\u0007\\n\\\"x\","
                 "\"targets\":[{\"provider\":\"p\"}]}");
        parse(&r, buf);
        assert_int_equal(r.err, REQUEST_ERR_REQUEST_ID);
        for (const char *p = r.errstr; *p; p++)
                assert_true((unsigned char)*p >= 0x20 &&
                            (unsigned char)*p < 0x7f);
        assert_non_null(strstr(r.errstr, "\\x07\\x0A\\x22x"));
        done(&r);
        free(buf);
}

static void errstr_small_buffer_and_null(void **state)
{
        (void)state;
        char small[8];
        memset(small, 'z', sizeof(small));
        enum request_error err;
        struct request *req =
            request_parse("[1]", 3, NULL, &err, NULL, small, sizeof(small));
        assert_null(req);
        assert_int_equal(err, REQUEST_ERR_NOT_OBJECT);
        assert_int_equal(strlen(small), sizeof(small) - 1);

        req = request_parse("[1]", 3, NULL, &err, NULL, NULL, 0);
        assert_null(req);
        assert_int_equal(err, REQUEST_ERR_NOT_OBJECT);
}

static void error_names(void **state)
{
        (void)state;
        assert_string_equal(request_error_name(REQUEST_OK), "ok");
        assert_string_equal(request_error_name(REQUEST_ERR_OVERSIZE),
                            "oversize");
        assert_string_equal(request_error_name(REQUEST_ERR_NOT_JSON),
                            "not_json");
        assert_string_equal(request_error_name(REQUEST_ERR_NOT_OBJECT),
                            "not_object");
        assert_string_equal(request_error_name(REQUEST_ERR_VERSION),
                            "bad_version");
        assert_string_equal(request_error_name(REQUEST_ERR_REQUEST_ID),
                            "bad_request_id");
        assert_string_equal(request_error_name(REQUEST_ERR_TARGETS),
                            "bad_targets");
        assert_string_equal(request_error_name(REQUEST_ERR_UNKNOWN_PROVIDER),
                            "unknown_provider");
        assert_string_equal(request_error_name(REQUEST_ERR_UNKNOWN_ACCOUNT),
                            "unknown_account");
        assert_string_equal(request_error_name(REQUEST_ERR_BAD_FIELD),
                            "bad_field");
        assert_string_equal(request_error_name(REQUEST_ERR_NO_ACTION),
                            "no_action");
        assert_string_equal(request_error_name(REQUEST_ERR_TOO_MANY_CALLS),
                            "too_many_calls");
        assert_string_equal(request_error_name((enum request_error)99),
                            "unknown");
}

static void limits_default(void **state)
{
        (void)state;
        struct request_limits lim = {0, 0};
        request_limits_default(&lim);
        assert_int_equal(lim.max_bytes, 1024 * 1024);
        assert_int_equal(lim.max_targets, 100);
}

static void null_outputs_allowed(void **state)
{
        (void)state;
        const char *ok = "{\"version\":1,\"request_id\":\"r\",\"targets\":"
                         "[{\"provider\":\"p\"}]}";
        struct request *req =
            request_parse(ok, strlen(ok), NULL, NULL, NULL, NULL, 0);
        assert_non_null(req);
        request_free(req);
        request_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(design_example_parses),
            cmocka_unit_test(account_and_optional_fields),
            cmocka_unit_test(oversize_checked_before_parsing),
            cmocka_unit_test(not_json),
            cmocka_unit_test(raw_nul_byte_is_not_json),
            cmocka_unit_test(null_buffer_is_not_json),
            cmocka_unit_test(deep_nesting_rejected_gracefully),
            cmocka_unit_test(not_object),
            cmocka_unit_test(bad_version_keeps_request_id),
            cmocka_unit_test(bad_request_id),
            cmocka_unit_test(request_id_syntax),
            cmocka_unit_test(requested_at_formats),
            cmocka_unit_test(bad_targets),
            cmocka_unit_test(provider_and_account_syntax),
            cmocka_unit_test(target_count_limit),
            cmocka_unit_test(errstr_quotes_little_and_escapes),
            cmocka_unit_test(errstr_small_buffer_and_null),
            cmocka_unit_test(error_names),
            cmocka_unit_test(limits_default),
            cmocka_unit_test(null_outputs_allowed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
