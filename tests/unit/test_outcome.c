/* Unit tests: outcome (idempotency keys, call and summary events). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "outcome.h"

/* 2026-11-22T10:00:00Z (date -u -d ... +%s) in ms. */
#define T0 1795341600000LL

static json_t *parse_doc(char *text)
{
        assert_non_null(text);
        json_error_t err;
        json_t *doc = json_loads(text, 0, &err);
        if (!doc)
                fail_msg("not JSON: %s: %s", err.text, text);
        free(text);
        return doc;
}

static const char *str(json_t *obj, const char *key)
{
        json_t *v = json_object_get(obj, key);
        if (!json_is_string(v))
                fail_msg("%s is not a string", key);
        return json_string_value(v);
}

static void assert_keys(json_t *obj, const char *const keys[], size_t n)
{
        size_t i = 0;
        const char *key;
        json_t *value;
        json_object_foreach(obj, key, value)
        {
                (void)value;
                assert_true(i < n);
                assert_string_equal(key, keys[i]);
                i++;
        }
        assert_int_equal(i, n);
}

static void key_fixed_vector(void **state)
{
        (void)state;
        char key[OUTCOME_KEY_LEN + 1];
        /* printf 'req-1\0vectara\0default\0delete_session\0agt_a/ase_1' |
         * sha256sum */
        outcome_key("req-1", "vectara", "default", "delete_session",
                    "agt_a/ase_1", key);
        assert_string_equal(
            key,
            "e95857ae42d1da22c10a4c5c066fae6b506c2592b89ede2c3351da16c9220144");
}

static void key_separators_matter(void **state)
{
        (void)state;
        char k1[OUTCOME_KEY_LEN + 1], k2[OUTCOME_KEY_LEN + 1];
        outcome_key("r", "ab", "c", "act", "res", k1);
        outcome_key("r", "a", "bc", "act", "res", k2);
        assert_string_not_equal(k1, k2);
        outcome_key("ab", "c", "", "", "", k1);
        outcome_key("a", "bc", "", "", "", k2);
        assert_string_not_equal(k1, k2);
        outcome_key("r", "p", "a", "x", "y/z", k1);
        outcome_key("r", "p", "a", "x/y", "z", k2);
        assert_string_not_equal(k1, k2);
}

static void key_stable_hex_and_null_is_empty(void **state)
{
        (void)state;
        char k1[OUTCOME_KEY_LEN + 1], k2[OUTCOME_KEY_LEN + 1];
        memset(k1, 'X', sizeof(k1));
        outcome_key("req", "p", "a", "act", "res", k1);
        outcome_key("req", "p", "a", "act", "res", k2);
        assert_string_equal(k1, k2);
        assert_int_equal(strlen(k1), OUTCOME_KEY_LEN);
        for (size_t i = 0; i < OUTCOME_KEY_LEN; i++)
                assert_non_null(strchr("0123456789abcdef", k1[i]));
        outcome_key("req", "p", "a", "act", "res2", k2);
        assert_string_not_equal(k1, k2);
        outcome_key("req", NULL, NULL, "summary", NULL, k1);
        outcome_key("req", "", "", "summary", "", k2);
        assert_string_equal(k1, k2);
}

static struct outcome_call sample_call(void)
{
        struct outcome_call c = {
            .request_id = "req-1",
            .provider = "vectara",
            .account = "default",
            .action = "delete_session",
            .resource = "agt_a/ase_1",
            .status = OUTCOME_DELETED,
            .retryable = 0,
            .http_status = 204,
            .attempts = 2,
            .error = NULL,
            .started_at_ms = T0 + 5,
            .finished_at_ms = T0 + 1250,
        };
        return c;
}

static void call_json_fields(void **state)
{
        (void)state;
        struct outcome_call c = sample_call();
        char key[OUTCOME_KEY_LEN + 1];
        json_t *doc = parse_doc(outcome_call_json(&c, key));
        static const char *const keys[] = {
            "idempotency_key", "request_id", "provider",    "account",
            "action",          "resource",   "status",      "retryable",
            "http_status",     "attempts",   "error",       "started_at",
            "finished_at",     "scope",      "verification"};
        assert_keys(doc, keys, sizeof(keys) / sizeof(keys[0]));
        assert_string_equal(
            key,
            "e95857ae42d1da22c10a4c5c066fae6b506c2592b89ede2c3351da16c9220144");
        assert_string_equal(str(doc, "idempotency_key"), key);
        assert_string_equal(str(doc, "request_id"), "req-1");
        assert_string_equal(str(doc, "provider"), "vectara");
        assert_string_equal(str(doc, "account"), "default");
        assert_string_equal(str(doc, "action"), "delete_session");
        assert_string_equal(str(doc, "resource"), "agt_a/ase_1");
        assert_string_equal(str(doc, "status"), "deleted");
        assert_true(json_is_false(json_object_get(doc, "retryable")));
        assert_int_equal(
            json_integer_value(json_object_get(doc, "http_status")), 204);
        assert_int_equal(json_integer_value(json_object_get(doc, "attempts")),
                         2);
        assert_true(json_is_null(json_object_get(doc, "error")));
        assert_string_equal(str(doc, "started_at"), "2026-11-22T10:00:00.005Z");
        assert_string_equal(str(doc, "finished_at"),
                            "2026-11-22T10:00:01.250Z");
        json_decref(doc);
}

static void call_json_scope_and_verification(void **state)
{
        (void)state;
        struct outcome_call c = sample_call();
        char key[OUTCOME_KEY_LEN + 1];
        json_t *doc = parse_doc(outcome_call_json(&c, key));
        assert_string_equal(str(doc, "scope"), "user");
        assert_true(json_is_null(json_object_get(doc, "verification")));
        json_decref(doc);

        c.agent_scope = 1;
        c.verification = (struct outcome_verification){OUTCOME_VERIFY_ABSENT,
                                                       404, 2, T0 + 2000};
        doc = parse_doc(outcome_call_json(&c, key));
        assert_string_equal(str(doc, "scope"), "agent");
        json_t *v = json_object_get(doc, "verification");
        static const char *const vkeys[] = {"status", "http_status", "attempts",
                                            "checked_at"};
        assert_keys(v, vkeys, 4);
        assert_string_equal(str(v, "status"), "absent");
        assert_int_equal(json_integer_value(json_object_get(v, "http_status")),
                         404);
        assert_int_equal(json_integer_value(json_object_get(v, "attempts")), 2);
        assert_string_equal(str(v, "checked_at"), "2026-11-22T10:00:02.000Z");
        json_decref(doc);

        /* No read API: no read-back made, so no time or status. */
        c.verification = (struct outcome_verification){
            OUTCOME_VERIFY_NOT_SUPPORTED, 0, 0, 0};
        doc = parse_doc(outcome_call_json(&c, key));
        v = json_object_get(doc, "verification");
        assert_string_equal(str(v, "status"), "not_supported");
        assert_true(json_is_null(json_object_get(v, "http_status")));
        assert_true(json_is_null(json_object_get(v, "checked_at")));
        json_decref(doc);
}

static void summary_fully_verified_needs_every_call_absent(void **state)
{
        (void)state;
        struct outcome_summary s;
        memset(&s, 0, sizeof(s));
        s.request_id = "req-1";
        s.counts[OUTCOME_DELETED] = 2;
        s.verify_counts[OUTCOME_VERIFY_ABSENT] = 2;
        assert_true(outcome_fully_verified(&s));
        char key[OUTCOME_KEY_LEN + 1];
        json_t *doc = parse_doc(outcome_summary_json(&s, key));
        assert_true(json_is_true(json_object_get(doc, "fully_verified")));
        json_t *v = json_object_get(doc, "verification");
        assert_int_equal(json_integer_value(json_object_get(v, "verified")), 2);
        json_decref(doc);

        s.counts[OUTCOME_DELETED] = 3;
        s.verify_counts[OUTCOME_VERIFY_NOT_SUPPORTED] = 1;
        assert_false(outcome_fully_verified(&s));
        doc = parse_doc(outcome_summary_json(&s, key));
        assert_true(json_is_false(json_object_get(doc, "fully_verified")));
        v = json_object_get(doc, "verification");
        assert_int_equal(
            json_integer_value(json_object_get(v, "not_supported")), 1);
        json_decref(doc);

        s.verify_counts[OUTCOME_VERIFY_NOT_SUPPORTED] = 0;
        s.verify_counts[OUTCOME_VERIFY_UNVERIFIED] = 1;
        assert_false(outcome_fully_verified(&s));
        s.verify_counts[OUTCOME_VERIFY_UNVERIFIED] = 0;
        s.counts[OUTCOME_FAILED] = 1; /* present: the call failed */
        assert_false(outcome_fully_verified(&s));
}

static void call_json_failure_fields(void **state)
{
        (void)state;
        struct outcome_call c = sample_call();
        c.status = OUTCOME_FAILED;
        c.retryable = 1;
        c.http_status = 0;
        c.attempts = 5;
        c.error = "connect: \"refused\"\n\x01";
        char key[OUTCOME_KEY_LEN + 1];
        json_t *doc = parse_doc(outcome_call_json(&c, key));
        assert_string_equal(str(doc, "status"), "failed");
        assert_true(json_is_true(json_object_get(doc, "retryable")));
        assert_true(json_is_null(json_object_get(doc, "http_status")));
        assert_string_equal(str(doc, "error"), "connect: \"refused\"\n\x01");
        json_decref(doc);

        c.status = OUTCOME_ALREADY_ABSENT;
        c.http_status = 404;
        c.error = NULL;
        doc = parse_doc(outcome_call_json(&c, key));
        assert_string_equal(str(doc, "status"), "already_absent");
        assert_int_equal(
            json_integer_value(json_object_get(doc, "http_status")), 404);
        json_decref(doc);
}

static void call_error_is_redacted_bounded_and_utf8(void **state)
{
        (void)state;
        log_add_secret("sk_live_secret_1234");
        char big[5000];
        memset(big, 'e', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        memcpy(big, "echo sk_live_secret_1234 \xff\xfe end", 31);

        struct outcome_call c = sample_call();
        c.status = OUTCOME_FAILED;
        c.error = big;
        char key[OUTCOME_KEY_LEN + 1];
        char *text = outcome_call_json(&c, key);
        assert_non_null(text);
        assert_null(strstr(text, "sk_live_secret_1234"));
        json_t *doc = parse_doc(text);
        const char *err = str(doc, "error");
        assert_true(strlen(err) <= 1024 + 3);
        assert_true(strlen(err) >= 1000);
        assert_memory_equal(err, "echo ******************* ?? end", 31);
        json_decref(doc);

        /* A secret straddling the cut must not leave its first half. */
        memcpy(big + 1015, "sk_live_secret_1234", 19);
        doc = parse_doc(outcome_call_json(&c, key));
        err = str(doc, "error");
        assert_null(strstr(err, "sk_live"));
        assert_null(strstr(err, "sk_"));
        json_decref(doc);
        log_clear_secrets();
}

static void overall_rules(void **state)
{
        (void)state;
        struct outcome_summary s;
        memset(&s, 0, sizeof(s));
        s.request_id = "r";
        assert_string_equal(outcome_overall(&s), "completed"); /* no calls */

        s.counts[OUTCOME_DELETED] = 3;
        assert_string_equal(outcome_overall(&s), "completed");
        s.counts[OUTCOME_ALREADY_ABSENT] = 2;
        assert_string_equal(outcome_overall(&s), "completed");
        s.counts[OUTCOME_FAILED] = 1;
        assert_string_equal(outcome_overall(&s), "partially_failed");
        s.counts[OUTCOME_DELETED] = 0;
        assert_string_equal(outcome_overall(&s), "partially_failed");
        s.counts[OUTCOME_ALREADY_ABSENT] = 0;
        assert_string_equal(outcome_overall(&s), "failed");
        s.counts[OUTCOME_REJECTED] = 1;
        assert_string_equal(outcome_overall(&s), "rejected");

        memset(s.counts, 0, sizeof(s.counts));
        s.counts[OUTCOME_DELETED] = 1;
        s.error_code = "bad_targets";
        assert_string_equal(outcome_overall(&s), "rejected");
}

static const char *const summary_keys[] = {
    "idempotency_key", "request_id",     "status",     "counts",
    "calls",           "error",          "error_code", "finished_at",
    "verification",    "fully_verified", "discovered"};

static void summary_json_completed(void **state)
{
        (void)state;
        struct outcome_summary s;
        memset(&s, 0, sizeof(s));
        s.request_id = "req-1";
        s.counts[OUTCOME_DELETED] = 4;
        s.counts[OUTCOME_ALREADY_ABSENT] = 1;
        s.finished_at_ms = T0 + 999;
        s.error = "ignored unless rejected";
        char key[OUTCOME_KEY_LEN + 1];
        json_t *doc = parse_doc(outcome_summary_json(&s, key));
        assert_keys(doc, summary_keys, 11);
        /* printf 'req-1\0\0\0summary\0' | sha256sum */
        assert_string_equal(
            key,
            "4746e6226b14055e766d24fa38eefab3bb7595c3882eb702f978fdfda56c5caa");
        assert_string_equal(str(doc, "idempotency_key"), key);
        assert_string_equal(str(doc, "request_id"), "req-1");
        assert_string_equal(str(doc, "status"), "completed");
        json_t *counts = json_object_get(doc, "counts");
        static const char *const count_keys[] = {"deleted", "already_absent",
                                                 "failed", "rejected"};
        assert_keys(counts, count_keys, 4);
        assert_int_equal(json_integer_value(json_object_get(counts, "deleted")),
                         4);
        assert_int_equal(
            json_integer_value(json_object_get(counts, "already_absent")), 1);
        assert_int_equal(json_integer_value(json_object_get(counts, "failed")),
                         0);
        assert_int_equal(
            json_integer_value(json_object_get(counts, "rejected")), 0);
        assert_int_equal(json_integer_value(json_object_get(doc, "calls")), 5);
        assert_true(json_is_null(json_object_get(doc, "error")));
        assert_true(json_is_null(json_object_get(doc, "error_code")));
        assert_string_equal(str(doc, "finished_at"),
                            "2026-11-22T10:00:00.999Z");
        json_decref(doc);
}

static void summary_json_partial_and_failed(void **state)
{
        (void)state;
        struct outcome_summary s;
        memset(&s, 0, sizeof(s));
        s.request_id = "req-2";
        s.counts[OUTCOME_DELETED] = 1;
        s.counts[OUTCOME_FAILED] = 2;
        char key[OUTCOME_KEY_LEN + 1];
        json_t *doc = parse_doc(outcome_summary_json(&s, key));
        assert_string_equal(str(doc, "status"), "partially_failed");
        assert_int_equal(json_integer_value(json_object_get(doc, "calls")), 3);
        json_decref(doc);

        s.counts[OUTCOME_DELETED] = 0;
        doc = parse_doc(outcome_summary_json(&s, key));
        assert_string_equal(str(doc, "status"), "failed");
        assert_true(json_is_null(json_object_get(doc, "error")));
        json_decref(doc);
}

static void summary_json_rejected(void **state)
{
        (void)state;
        struct outcome_summary s;
        memset(&s, 0, sizeof(s));
        s.request_id = "req-3";
        s.error = "targets[0].provider \"X\" does not match";
        s.error_code = "bad_targets";
        s.finished_at_ms = T0;
        char key[OUTCOME_KEY_LEN + 1];
        json_t *doc = parse_doc(outcome_summary_json(&s, key));
        assert_keys(doc, summary_keys, 11);
        assert_string_equal(str(doc, "status"), "rejected");
        assert_string_equal(str(doc, "error"), s.error);
        assert_string_equal(str(doc, "error_code"), "bad_targets");
        assert_int_equal(json_integer_value(json_object_get(doc, "calls")), 0);
        json_decref(doc);

        /* The summary key differs from every call key of the request. */
        char call_key[OUTCOME_KEY_LEN + 1];
        outcome_key("req-3", "p", "a", "summary", "", call_key);
        assert_string_not_equal(key, call_key);
}

static void status_names(void **state)
{
        (void)state;
        assert_string_equal(outcome_status_name(OUTCOME_DELETED), "deleted");
        assert_string_equal(outcome_status_name(OUTCOME_ALREADY_ABSENT),
                            "already_absent");
        assert_string_equal(outcome_status_name(OUTCOME_FAILED), "failed");
        assert_string_equal(outcome_status_name(OUTCOME_REJECTED), "rejected");
        assert_string_equal(outcome_status_name(OUTCOME_NSTATUS), "unknown");
        assert_string_equal(OUTCOME_CE_TYPE_SUMMARY,
                            "erasure.request.completed.v1");
}

/* ---- envelope: CloudEvents and dead-letter headers, the stub ---- */

/* The last value of header name, as a NUL-terminated copy in buf. */
static const char *hdr(rd_kafka_headers_t *h, const char *name, char *buf,
                       size_t n)
{
        const void *v = NULL;
        size_t len = 0;
        if (rd_kafka_header_get_last(h, name, &v, &len) != 0)
                return NULL;
        assert_true(len < n);
        memcpy(buf, v, len);
        buf[len] = '\0';
        return buf;
}

static void ce_headers_carry_every_attribute(void **state)
{
        (void)state;
        char b[256];
        struct outcome_ce ce = {"urn:test",
                                OUTCOME_CE_TYPE_CALL,
                                "k123",
                                "req-1",
                                "00-abc-def-01",
                                T0,
                                "{\"status\":\"failed\"}"};
        char id[OUTCOME_KEY_LEN + 1];
        outcome_event_id("k123", ce.body, id);
        rd_kafka_headers_t *h = outcome_ce_headers(&ce);
        assert_non_null(h);
        assert_string_equal(hdr(h, "ce_specversion", b, sizeof(b)), "1.0");
        assert_string_equal(hdr(h, "ce_id", b, sizeof(b)), id);
        assert_string_equal(hdr(h, "idempotency-key", b, sizeof(b)), "k123");
        assert_string_equal(hdr(h, "ce_source", b, sizeof(b)), "urn:test");
        assert_string_equal(hdr(h, "ce_type", b, sizeof(b)),
                            "erasure.call.completed.v1");
        assert_string_equal(hdr(h, "ce_subject", b, sizeof(b)), "req-1");
        assert_string_equal(hdr(h, "ce_time", b, sizeof(b)),
                            "2026-11-22T10:00:00.000Z");
        assert_string_equal(hdr(h, "content-type", b, sizeof(b)),
                            "application/json");
        assert_string_equal(hdr(h, "traceparent", b, sizeof(b)),
                            "00-abc-def-01");
        assert_int_equal(rd_kafka_header_cnt(h), 9);
        rd_kafka_headers_destroy(h);
        ce.traceparent = NULL;
        h = outcome_ce_headers(&ce);
        assert_null(hdr(h, "traceparent", b, sizeof(b)));
        rd_kafka_headers_destroy(h);
}

/* CloudEvents: source + id unique per distinct event. Two events of one
 * call (failed, then deleted after a replay) differ; a re-send of the
 * same event does not; the call's key is not the event's id. */
static void event_id_differs_per_event_not_per_resend(void **state)
{
        (void)state;
        char failed[OUTCOME_KEY_LEN + 1], deleted[OUTCOME_KEY_LEN + 1];
        char again[OUTCOME_KEY_LEN + 1], other[OUTCOME_KEY_LEN + 1];
        outcome_event_id("k1", "{\"status\":\"failed\"}", failed);
        outcome_event_id("k1", "{\"status\":\"deleted\"}", deleted);
        outcome_event_id("k1", "{\"status\":\"failed\"}", again);
        outcome_event_id("k2", "{\"status\":\"failed\"}", other);
        assert_int_equal(strlen(failed), OUTCOME_KEY_LEN);
        assert_string_not_equal(failed, deleted);
        assert_string_equal(failed, again);
        assert_string_not_equal(failed, other);
        assert_string_not_equal(failed, "k1");
        /* The NUL separator: ("k1x", "y") is not ("k1", "xy"). */
        outcome_event_id("k1x", "y", other);
        outcome_event_id("k1", "xy", again);
        assert_string_not_equal(other, again);
}

static void dead_letter_headers_keep_original_and_add_ours(void **state)
{
        (void)state;
        char b[512];
        rd_kafka_headers_t *orig = rd_kafka_headers_new(2);
        rd_kafka_header_add(orig, "traceparent", -1, "tp", -1);
        struct outcome_dead_letter d = {.code = "bad_field",
                                        .reason = "targets[0]: no",
                                        .source_topic = "erasure.requests",
                                        .source_partition = 3,
                                        .source_offset = 12345,
                                        .request_id = "req-9"};
        rd_kafka_headers_t *h = outcome_dead_letter_headers(&d, orig);
        assert_string_equal(hdr(h, "traceparent", b, sizeof(b)), "tp");
        assert_string_equal(hdr(h, OUTCOME_H_ERROR_CODE, b, sizeof(b)),
                            "bad_field");
        assert_string_equal(hdr(h, "erasure-error-reason", b, sizeof(b)),
                            "targets[0]: no");
        assert_string_equal(hdr(h, "erasure-source-topic", b, sizeof(b)),
                            "erasure.requests");
        assert_string_equal(hdr(h, "erasure-source-partition", b, sizeof(b)),
                            "3");
        assert_string_equal(hdr(h, "erasure-source-offset", b, sizeof(b)),
                            "12345");
        assert_string_equal(hdr(h, "erasure-request-id", b, sizeof(b)),
                            "req-9");
        /* No failed calls: no failed-calls headers at all. */
        assert_null(hdr(h, OUTCOME_H_FAILED_CALLS, b, sizeof(b)));
        assert_null(hdr(h, OUTCOME_H_FAILED_CALLS_N, b, sizeof(b)));
        rd_kafka_headers_destroy(h);
        d.request_id = NULL;
        h = outcome_dead_letter_headers(&d, NULL);
        assert_null(hdr(h, "erasure-request-id", b, sizeof(b)));
        assert_null(hdr(h, "traceparent", b, sizeof(b)));
        rd_kafka_headers_destroy(h);
        rd_kafka_headers_destroy(orig);
}

static void failed_calls_header_lists_given_entries_and_total(void **state)
{
        (void)state;
        char b[4096];
        struct outcome_failed_call fc[2] = {
            {"vectara", "default", "delete_session", "agt_a/ase_1", "503"},
            {"vectara", "default", "delete_session", "agt_a/ase_2", "504"}};
        struct outcome_dead_letter d = {.code = "retries_exhausted",
                                        .reason = "r",
                                        .source_topic = "t",
                                        .failed = fc,
                                        .nfailed = 2,
                                        .total_failed = 10000};
        rd_kafka_headers_t *h = outcome_dead_letter_headers(&d, NULL);
        json_t *arr =
            json_loads(hdr(h, OUTCOME_H_FAILED_CALLS, b, sizeof(b)), 0, NULL);
        assert_true(json_is_array(arr));
        assert_int_equal(json_array_size(arr), 2);
        json_t *e = json_array_get(arr, 1);
        assert_string_equal(str(e, "resource"), "agt_a/ase_2");
        assert_string_equal(str(e, "error"), "504");
        assert_string_equal(str(e, "provider"), "vectara");
        json_decref(arr);
        assert_string_equal(hdr(h, "erasure-failed-calls-total", b, sizeof(b)),
                            "10000");
        rd_kafka_headers_destroy(h);
}

static void stub_names_the_original_without_carrying_it(void **state)
{
        (void)state;
        char b[256];
        struct outcome_dead_letter d = {.code = "oversize",
                                        .reason = "message is 2000000 bytes",
                                        .source_topic = "erasure.requests",
                                        .source_partition = 1,
                                        .source_offset = 77,
                                        .request_id = NULL};
        size_t len = 0;
        rd_kafka_headers_t *h = NULL;
        char *body = outcome_dead_letter_stub(&d, "abc", 3, &len, &h);
        assert_non_null(body);
        assert_int_equal(len, strlen(body));
        json_t *doc = parse_doc(body);
        assert_string_equal(str(doc, "error_code"), "too_large_for_dlq");
        assert_string_equal(str(doc, "original_error_code"), "oversize");
        assert_string_equal(str(doc, "source_topic"), "erasure.requests");
        assert_int_equal(json_integer_value(json_object_get(doc, "size")), 3);
        assert_int_equal(
            json_integer_value(json_object_get(doc, "source_offset")), 77);
        assert_int_equal(
            json_integer_value(json_object_get(doc, "source_partition")), 1);
        assert_true(json_is_null(json_object_get(doc, "request_id")));
        /* printf abc | sha256sum */
        assert_string_equal(
            str(doc, "sha256"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        json_decref(doc);
        assert_string_equal(hdr(h, OUTCOME_H_ERROR_CODE, b, sizeof(b)),
                            OUTCOME_CODE_TOO_LARGE_FOR_DLQ);
        assert_string_equal(hdr(h, OUTCOME_H_ORIGINAL_CODE, b, sizeof(b)),
                            "oversize");
        assert_string_equal(hdr(h, OUTCOME_H_SOURCE_OFFSET, b, sizeof(b)),
                            "77");
        rd_kafka_headers_destroy(h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(key_fixed_vector),
            cmocka_unit_test(key_separators_matter),
            cmocka_unit_test(key_stable_hex_and_null_is_empty),
            cmocka_unit_test(call_json_fields),
            cmocka_unit_test(call_json_scope_and_verification),
            cmocka_unit_test(summary_fully_verified_needs_every_call_absent),
            cmocka_unit_test(call_json_failure_fields),
            cmocka_unit_test(call_error_is_redacted_bounded_and_utf8),
            cmocka_unit_test(overall_rules),
            cmocka_unit_test(summary_json_completed),
            cmocka_unit_test(summary_json_partial_and_failed),
            cmocka_unit_test(summary_json_rejected),
            cmocka_unit_test(status_names),
            cmocka_unit_test(ce_headers_carry_every_attribute),
            cmocka_unit_test(event_id_differs_per_event_not_per_resend),
            cmocka_unit_test(dead_letter_headers_keep_original_and_add_ours),
            cmocka_unit_test(failed_calls_header_lists_given_entries_and_total),
            cmocka_unit_test(stub_names_the_original_without_carrying_it),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
