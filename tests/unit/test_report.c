/* Unit tests of src/report_book.c, report_render.c and report_html.c: the
 * join of requests, outcome events and dead letters into one row per
 * request, deadlines, and the rows of each format; plus the
 * worker.deadline_days setting. The Kafka reading is covered by
 * tests/integration/test_report_real_kafka.py. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "report_book.h"
#include "report_render.h"
#include "settings.h"

/* 2026-11-22T10:00:00Z (date -u -d ... +%s) in ms. */
#define T0  1795341600000LL
#define DAY 86400000LL

static void add_request(struct report_book *b, int64_t off, int64_t ts,
                        const char *json)
{
        assert_int_equal(
            report_book_add_request(b, 0, off, ts, json, strlen(json)), 0);
}

static void add_outcome(struct report_book *b, const char *type,
                        const char *json)
{
        assert_int_equal(report_book_add_outcome(b, type, json, strlen(json)),
                         0);
}

static void add_call(struct report_book *b, const char *id, const char *key,
                     const char *status, const char *error)
{
        char resource[64];
        snprintf(resource, sizeof(resource), "agt/%s", key);
        json_t *doc =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:o}", "request_id",
                      id, "idempotency_key", key, "provider", "vectara",
                      "action", "delete_session", "resource", resource,
                      "status", status, "http_status", error ? 500 : 204,
                      "error", error ? json_string(error) : json_null());
        char *json = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        add_outcome(b, "erasure.call.completed.v1", json);
        free(json);
}

static void add_summary(struct report_book *b, const char *id,
                        const char *status, int deleted, int failed,
                        const char *finished)
{
        char json[512];
        snprintf(json, sizeof(json),
                 "{\"request_id\":\"%s\",\"status\":\"%s\",\"counts\":{"
                 "\"deleted\":%d,\"already_absent\":0,\"failed\":%d,"
                 "\"rejected\":0},\"finished_at\":\"%s\"}",
                 id, status, deleted, failed, finished);
        add_outcome(b, "erasure.request.completed.v1", json);
}

static const struct report_entry *by_id(const struct report_book *b,
                                        const char *id)
{
        for (size_t i = 0; i < report_book_count(b); i++) {
                const struct report_entry *e = report_book_at(b, i);
                if (e->request_id && strcmp(e->request_id, id) == 0)
                        return e;
        }
        fail_msg("no row for %s", id);
        return NULL;
}

/* clock_parse_rfc3339 (src/clock.c), added for the report. */
static void test_parse_time(void **state)
{
        (void)state;
        int64_t ms;
        assert_int_equal(clock_parse_rfc3339("2026-11-22T10:00:00Z", &ms), 0);
        assert_int_equal(ms, T0);
        assert_int_equal(clock_parse_rfc3339("2026-11-22", &ms), 0);
        assert_int_equal(ms, T0 - 10 * 3600000LL);
        assert_int_equal(
            clock_parse_rfc3339("2026-11-22T11:00:00.25+01:00", &ms), 0);
        assert_int_equal(ms, T0 + 250);
        assert_int_equal(clock_parse_rfc3339("2026-11-22T10:00:00", &ms), -1);
        assert_int_equal(clock_parse_rfc3339("2026-13-01", &ms), -1);
        assert_int_equal(clock_parse_rfc3339("yesterday", &ms), -1);
        assert_int_equal(clock_parse_rfc3339(NULL, &ms), -1);
}

/* Completed, partially failed (one failure cleared by a redelivered
 * success), and open; events of other requests are ignored. */
static void test_join_statuses(void **state)
{
        (void)state;
        struct report_book *b = report_book_new(NULL);
        assert_non_null(b);
        add_request(b, 0, T0 + 1000,
                    "{\"request_id\":\"r-ok\",\"requested_at\":"
                    "\"2026-11-22T10:00:00Z\"}");
        add_request(b, 1, T0 + 2000,
                    "{\"request_id\":\"r-part\",\"requested_at\":"
                    "\"2026-11-22T10:00:01Z\"}");
        add_request(b, 2, T0 + 3000,
                    "{\"request_id\":\"r-open\",\"requested_at\":"
                    "\"2026-11-22T10:00:02Z\"}");
        add_call(b, "r-ok", "k1", "deleted", NULL);
        add_summary(b, "r-ok", "completed", 1, 0, "2026-11-22T10:05:00Z");
        add_call(b, "r-part", "k2", "failed", "HTTP 500: boom");
        add_call(b, "r-part", "k3", "failed", "HTTP 500: first try");
        add_call(b, "r-part", "k3", "deleted", NULL);
        add_call(b, "r-part", "k4", "deleted", NULL);
        add_summary(b, "r-part", "partially_failed", 2, 1,
                    "2026-11-22T10:06:00Z");
        add_call(b, "r-open", "k5", "deleted", NULL);
        add_call(b, "elsewhere", "k6", "deleted", NULL);
        report_book_finish(b, T0 + DAY, 30);

        assert_int_equal(report_book_count(b), 3);
        const struct report_entry *ok = by_id(b, "r-ok");
        assert_int_equal(ok->status, REPORT_COMPLETED);
        assert_int_equal(ok->calls[REPORT_CALL_DELETED], 1);
        assert_int_equal(ok->finished_at_ms, T0 + 300000);
        assert_int_equal(ok->first_seen_ms, T0 + 1000);
        assert_int_equal(ok->deadline_ms, T0 + 30 * DAY);
        assert_false(ok->overdue);
        assert_string_equal(report_verification_text(ok), "not verified");

        const struct report_entry *part = by_id(b, "r-part");
        assert_int_equal(part->status, REPORT_PARTIALLY_FAILED);
        assert_int_equal(part->calls[REPORT_CALL_FAILED], 1);
        assert_int_equal(part->nfailures, 1);
        assert_string_equal(part->failures[0].key, "k2");
        assert_string_equal(part->failures[0].error, "HTTP 500: boom");
        assert_int_equal(part->failures[0].http_status, 500);

        const struct report_entry *open = by_id(b, "r-open");
        assert_int_equal(open->status, REPORT_OPEN);
        assert_int_equal(open->calls[REPORT_CALL_DELETED], 1);
        assert_int_equal(open->finished_at_ms, -1);

        const struct report_totals *t = report_book_totals(b);
        assert_int_equal(t->events, 9);
        assert_int_equal(t->events_ignored, 1);
        assert_int_equal(t->by_status[REPORT_OPEN], 1);
        assert_int_equal(t->overdue, 0);
        /* Sorted by requested_at. */
        assert_string_equal(report_book_at(b, 0)->request_id, "r-ok");
        assert_string_equal(report_book_at(b, 2)->request_id, "r-open");
        report_book_free(b);
}

/* Overdue: open past the deadline, completed late; not overdue:
 * completed in time although the deadline has passed since. */
static void test_deadlines(void **state)
{
        (void)state;
        struct report_book *b = report_book_new(NULL);
        add_request(b, 0, T0,
                    "{\"request_id\":\"old-open\",\"requested_at\":"
                    "\"2026-10-01T00:00:00Z\"}");
        add_request(b, 1, T0,
                    "{\"request_id\":\"old-late\",\"requested_at\":"
                    "\"2026-10-01T00:00:00Z\"}");
        add_request(b, 2, T0,
                    "{\"request_id\":\"old-in-time\",\"requested_at\":"
                    "\"2026-10-01T00:00:00Z\"}");
        /* No requested_at: the deadline runs from its arrival. */
        add_request(b, 3, T0, "{\"request_id\":\"no-date\"}");
        add_summary(b, "old-late", "completed", 1, 0, "2026-11-20T00:00:00Z");
        add_summary(b, "old-in-time", "completed", 1, 0,
                    "2026-10-20T00:00:00Z");
        report_book_finish(b, T0, 30);
        assert_true(by_id(b, "old-open")->overdue);
        assert_true(by_id(b, "old-late")->overdue);
        assert_false(by_id(b, "old-in-time")->overdue);
        assert_false(by_id(b, "no-date")->overdue);
        assert_int_equal(by_id(b, "no-date")->deadline_ms, T0 + 30 * DAY);
        assert_int_equal(report_book_totals(b)->overdue, 2);
        report_book_free(b);

        /* A longer deadline: nothing is overdue. */
        b = report_book_new(NULL);
        add_request(b, 0, T0,
                    "{\"request_id\":\"old-open\",\"requested_at\":"
                    "\"2026-10-01T00:00:00Z\"}");
        report_book_finish(b, T0, 90);
        assert_false(by_id(b, "old-open")->overdue);
        report_book_free(b);
}

/* Rejected with a request id (summary), malformed without one (only the
 * dead letter of its position tells why), and exhausted retries, which
 * are no rejection. */
static void test_rejected_and_dead_letters(void **state)
{
        (void)state;
        struct report_book *b = report_book_new(NULL);
        add_request(b, 0, T0, "{\"request_id\":\"r-bad\",\"version\":9}");
        add_request(b, 1, T0 + 1, "not json at all");
        add_request(b, 2, T0 + 2, "{\"request_id\":\"r-retry\"}");
        add_outcome(b, NULL,
                    "{\"request_id\":\"r-bad\",\"status\":\"rejected\","
                    "\"counts\":{\"rejected\":1},\"error\":\"unsupported "
                    "version 9\",\"error_code\":\"bad_version\","
                    "\"finished_at\":\"2026-11-22T10:00:01Z\"}");
        assert_int_equal(report_book_add_dead_letter(b, "r-bad", "0", "0",
                                                     "bad_version", "v9"),
                         0);
        assert_int_equal(report_book_add_dead_letter(b, NULL, "0", "1",
                                                     "not_json", "not JSON"),
                         0);
        assert_int_equal(report_book_add_dead_letter(b, "r-retry", "0", "2",
                                                     "retries_exhausted",
                                                     "ran out"),
                         0);
        assert_int_equal(report_book_add_dead_letter(b, NULL, "5", "5",
                                                     "not_json", "elsewhere"),
                         0);
        report_book_finish(b, T0, 30);
        assert_int_equal(report_book_count(b), 3);
        const struct report_entry *bad = by_id(b, "r-bad");
        assert_int_equal(bad->status, REPORT_REJECTED);
        assert_string_equal(bad->error_code, "bad_version");
        assert_string_equal(bad->error, "unsupported version 9");
        const struct report_entry *mal = report_book_at(b, 1);
        assert_null(mal->request_id);
        assert_string_equal(mal->source, "0@1");
        assert_int_equal(mal->status, REPORT_REJECTED);
        assert_string_equal(mal->error_code, "not_json");
        assert_string_equal(mal->error, "not JSON");
        const struct report_entry *retry = by_id(b, "r-retry");
        assert_int_equal(retry->status, REPORT_OPEN);
        assert_string_equal(retry->dead_letter_code, "retries_exhausted");
        assert_null(retry->error_code);
        assert_int_equal(report_book_totals(b)->dead_letters, 3);
        report_book_free(b);
}

/* A request seen twice is one row; the latest summary counts; the
 * failures kept are capped and the rest counted. */
static void test_repeats_and_caps(void **state)
{
        (void)state;
        struct report_book *b = report_book_new(NULL);
        add_request(b, 7, T0 + 50, "{\"request_id\":\"r\"}");
        add_request(b, 3, T0 + 10, "{\"request_id\":\"r\"}");
        for (int i = 0; i < REPORT_BOOK_FAILURES_MAX + 5; i++) {
                char key[16];
                snprintf(key, sizeof(key), "k%d", i);
                add_call(b, "r", key, "failed", "nope");
        }
        add_summary(b, "r", "failed", 0, 25, "2026-11-22T10:10:00Z");
        add_summary(b, "r", "completed", 25, 0, "2026-11-22T11:00:00Z");
        add_summary(b, "r", "failed", 0, 25, "2026-11-22T10:20:00Z");
        report_book_finish(b, T0, 30);
        assert_int_equal(report_book_count(b), 1);
        const struct report_entry *e = report_book_at(b, 0);
        assert_int_equal(e->first_seen_ms, T0 + 10);
        assert_string_equal(e->source, "0@7"); /* the first copy read */
        assert_int_equal(e->status, REPORT_COMPLETED);
        assert_int_equal(e->calls[REPORT_CALL_DELETED], 25);
        assert_int_equal(e->nfailures, REPORT_BOOK_FAILURES_MAX);
        assert_int_equal(e->failures_dropped, 5);
        report_book_free(b);
}

/* Verification from call events (issue 12's `verification` field) and
 * from a summary's counts, whichever the worker sends. */
static void test_verification(void **state)
{
        (void)state;
        struct report_book *b = report_book_new(NULL);
        add_request(b, 0, T0, "{\"request_id\":\"v-calls\"}");
        add_request(b, 1, T0, "{\"request_id\":\"v-sum\"}");
        add_request(b, 2, T0, "{\"request_id\":\"v-part\"}");
        add_outcome(b, NULL,
                    "{\"request_id\":\"v-calls\",\"status\":\"deleted\","
                    "\"verification\":\"absent\"}");
        add_summary(b, "v-calls", "completed", 1, 0, "2026-11-22T10:00:00Z");
        add_outcome(b, NULL,
                    "{\"request_id\":\"v-sum\",\"status\":\"completed\","
                    "\"counts\":{\"deleted\":2},\"verification\":{"
                    "\"verified\":2,\"unverified\":0,\"not_supported\":0}}");
        add_outcome(b, NULL,
                    "{\"request_id\":\"v-part\",\"status\":\"deleted\","
                    "\"verification\":\"absent\"}");
        add_outcome(b, NULL,
                    "{\"request_id\":\"v-part\",\"status\":\"deleted\","
                    "\"verification\":\"not_supported\"}");
        report_book_finish(b, T0, 30);
        assert_string_equal(report_verification_text(by_id(b, "v-calls")),
                            "verified");
        assert_string_equal(report_verification_text(by_id(b, "v-sum")),
                            "verified");
        const struct report_entry *p = by_id(b, "v-part");
        assert_string_equal(report_verification_text(p), "unverified");
        assert_int_equal(p->verif[REPORT_NOT_SUPPORTED], 1);
        assert_int_equal(report_book_totals(b)->unverified, 1);
        report_book_free(b);
}

static void test_only_one_request(void **state)
{
        (void)state;
        struct report_book *b = report_book_new("r2");
        add_request(b, 0, T0, "{\"request_id\":\"r1\"}");
        add_request(b, 1, T0, "{\"request_id\":\"r2\"}");
        add_request(b, 2, T0, "garbage");
        add_call(b, "r1", "k", "deleted", NULL);
        report_book_finish(b, T0, 30);
        assert_int_equal(report_book_count(b), 1);
        assert_string_equal(report_book_at(b, 0)->request_id, "r2");
        assert_int_equal(report_book_totals(b)->events_ignored, 1);
        report_book_free(b);
}

/* ---- rendering ---- */

static struct report_book *fixture(void)
{
        struct report_book *b = report_book_new(NULL);
        add_request(b, 0, T0,
                    "{\"request_id\":\"a-done\",\"requested_at\":"
                    "\"2026-11-22T10:00:00Z\"}");
        add_request(b, 1, T0,
                    "{\"request_id\":\"b-part\",\"requested_at\":"
                    "\"2026-11-22T10:00:01Z\"}");
        add_request(b, 2, T0,
                    "{\"request_id\":\"c-late\",\"requested_at\":"
                    "\"2026-09-01T00:00:00Z\"}");
        add_call(b, "a-done", "k1", "deleted", NULL);
        add_summary(b, "a-done", "completed", 1, 0, "2026-11-22T10:01:00Z");
        add_call(b, "b-part", "k2", "deleted", NULL);
        add_call(b, "b-part", "k3", "failed", "HTTP 500: <b>, \"x\"");
        add_summary(b, "b-part", "partially_failed", 1, 1,
                    "2026-11-22T10:02:00Z");
        report_book_finish(b, T0 + DAY, 30);
        return b;
}

static char *render(const struct report_book *b, enum report_format f)
{
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        struct report_meta m = {T0 - DAY, T0 + DAY, T0 + DAY, 30};
        assert_int_equal(report_render(b, &m, f, mem), 0);
        fclose(mem);
        return text;
}

static void test_render_csv(void **state)
{
        (void)state;
        struct report_book *b = fixture();
        char *csv = render(b, REPORT_CSV);
        /* Header and rows, requested_at order: the old one first. */
        char *line2 = strstr(csv, "\r\n") + 2;
        assert_true(strncmp(csv, "request_id,source,requested_at,", 31) == 0);
        assert_true(strncmp(line2,
                            "c-late,0@2,2026-09-01T00:00:00.000Z,"
                            "2026-11-22T10:00:00.000Z,,"
                            "2026-10-01T00:00:00.000Z,open,yes,yes,0,0,0,0,"
                            "0,0,0,not verified,,,,\r\n",
                            strlen("c-late,0@2,2026-09-01T00:00:00.000Z,")) ==
                    0);
        assert_non_null(strstr(csv, "a-done,0@0,2026-11-22T10:00:00.000Z,"
                                    "2026-11-22T10:00:00.000Z,"
                                    "2026-11-22T10:01:00.000Z,"
                                    "2026-12-22T10:00:00.000Z,completed,no,"
                                    "no,1,0,0,0,0,0,0,not verified,,,,\r\n"));
        /* A field with a comma and quotes is quoted, quotes doubled. */
        assert_non_null(strstr(csv, ",\"vectara/delete_session agt/k3: HTTP "
                                    "500: <b>, \"\"x\"\" (HTTP 500)\"\r\n"));
        int rows = 0;
        for (char *p = csv; (p = strstr(p, "\r\n")); p += 2)
                rows++;
        assert_int_equal(rows, 4);
        free(csv);
        report_book_free(b);
}

static void test_render_json(void **state)
{
        (void)state;
        struct report_book *b = fixture();
        char *text = render(b, REPORT_JSON);
        json_error_t err;
        json_t *doc = json_loads(text, 0, &err);
        if (!doc)
                fail_msg("not JSON: %s: %s", err.text, text);
        json_t *reqs = json_object_get(doc, "requests");
        assert_int_equal(json_array_size(reqs), 3);
        json_t *late = json_array_get(reqs, 0);
        assert_string_equal(
            json_string_value(json_object_get(late, "request_id")), "c-late");
        assert_true(json_is_true(json_object_get(late, "overdue")));
        assert_true(json_is_true(json_object_get(late, "open")));
        json_t *part = json_array_get(reqs, 2);
        json_t *fails = json_object_get(part, "failed_calls");
        assert_int_equal(json_array_size(fails), 1);
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(fails, 0), "error")),
                            "HTTP 500: <b>, \"x\"");
        json_t *totals = json_object_get(doc, "totals");
        assert_int_equal(json_integer_value(json_object_get(totals, "overdue")),
                         1);
        assert_int_equal(json_integer_value(json_object_get(
                             json_object_get(totals, "by_status"), "open")),
                         1);
        json_decref(doc);
        free(text);
        report_book_free(b);
}

static int count(const char *hay, const char *needle)
{
        int n = 0;
        for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

static void test_render_html(void **state)
{
        (void)state;
        struct report_book *b = fixture();
        char *html = render(b, REPORT_HTML);
        /* Self-contained: nothing is fetched. */
        assert_null(strstr(html, "<script"));
        assert_null(strstr(html, "<link"));
        assert_null(strstr(html, "src="));
        assert_non_null(strstr(html, "<svg id=\"chart\""));
        /* One bar segment per (day, status) present: 2026-11-22 holds all
         * three requests (completed, partially failed, open). */
        assert_int_equal(count(html, "<title>2026-11-22 "), 3);
        char *overdue = strstr(html, "<table id=\"overdue\">");
        char *failed = strstr(html, "<table id=\"failed\">");
        char *unverified = strstr(html, "<table id=\"unverified\">");
        assert_non_null(overdue);
        assert_non_null(failed);
        assert_non_null(unverified);
        assert_true(overdue < failed && failed < unverified);
        *failed = *unverified = '\0';
        assert_int_equal(count(overdue, "<tr data-request-id="), 1);
        assert_non_null(strstr(overdue, "data-request-id=\"c-late\""));
        assert_int_equal(count(failed + 1, "<tr data-request-id="), 1);
        assert_non_null(strstr(failed + 1, "data-request-id=\"b-part\""));
        /* Vendor text is escaped. */
        assert_non_null(strstr(failed + 1, "&lt;b&gt;, &quot;x&quot;"));
        assert_int_equal(count(unverified + 1, "<tr data-request-id="), 2);
        free(html);
        report_book_free(b);
}

/* ---- the setting ---- */

/* The least a valid file needs besides the setting under test. */
#define PROVIDERS                                                              \
        "providers = { p = {\n"                                                \
        "  base_url = \"https://p.example/api\";\n"                            \
        "  auth = { key = ( { header = \"X-Key\"; secret = \"key\"; } ); };\n" \
        "  actions = ( { name = \"del\"; when = \"ids\"; method = "            \
        "\"DELETE\";\n"                                                        \
        "    path = \"/items/{ids}\"; for_each = \"ids\"; resource = "         \
        "\"{ids}\";\n"                                                         \
        "    params = ( { field = \"ids\"; type = \"string_list\"; } ); } "    \
        ");\n"                                                                 \
        "}; };\n"                                                              \
        "accounts = ( { provider = \"p\"; secrets = { key = \"TR_KEY\"; }; "   \
        "} );\n"

static struct settings *load(const char *text, char *err, size_t size)
{
        char path[] = "/tmp/test_report.XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_true(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
        close(fd);
        struct settings *s = settings_load(path, 1, err, size);
        unlink(path);
        return s;
}

static void test_deadline_days_setting(void **state)
{
        (void)state;
        char err[512] = "";
        struct settings *s = load(PROVIDERS, err, sizeof(err));
        if (!s)
                fail_msg("%s", err);
        assert_int_equal(s->deadline_days, 30);
        settings_free(s);
        s = load(PROVIDERS "worker = { deadline_days = 45; };\n", err,
                 sizeof(err));
        assert_non_null(s);
        assert_int_equal(s->deadline_days, 45);
        /* check-config --json shows it (tools read that, not the C). */
        char *text = settings_to_json(s);
        json_t *doc = json_loads(text, 0, NULL);
        assert_int_equal(json_integer_value(json_object_get(
                             json_object_get(doc, "worker"), "deadline_days")),
                         45);
        json_decref(doc);
        free(text);
        settings_free(s);
        s = load("worker = {\n  deadline_days = 0;\n};\n" PROVIDERS, err,
                 sizeof(err));
        assert_null(s);
        assert_non_null(strstr(err, ":2: worker.deadline_days: "));
}

static void test_worker_verification_and_discover_outcomes(void **state)
{
        (void)state;
        struct report_book *b = report_book_new(NULL);
        add_request(b, 0, T0,
                    "{\"version\":1,\"request_id\":\"r-v\",\"targets\":[]}");
        /* What the worker sends: a discover read, then a deletion whose
         * verification is an object. */
        add_outcome(b, "erasure.call.completed.v1",
                    "{\"request_id\":\"r-v\",\"idempotency_key\":\"k1\","
                    "\"action\":\"discover_conversations\",\"status\":"
                    "\"discovered\",\"items\":1,\"verification\":null}");
        add_outcome(b, "erasure.call.completed.v1",
                    "{\"request_id\":\"r-v\",\"idempotency_key\":\"k2\","
                    "\"action\":\"delete_user_data\",\"status\":\"deleted\","
                    "\"verification\":{\"status\":\"absent\",\"attempts\":1}}");
        const struct report_entry *e = by_id(b, "r-v");
        assert_int_equal(e->seen_calls[REPORT_CALL_FAILED], 0);
        assert_int_equal(e->seen_calls[REPORT_CALL_DELETED], 1);
        assert_int_equal(e->seen_verif[REPORT_VERIFIED], 1);
        assert_int_equal(e->nfailures, 0);
        report_book_free(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_time),
            cmocka_unit_test(test_worker_verification_and_discover_outcomes),
            cmocka_unit_test(test_join_statuses),
            cmocka_unit_test(test_deadlines),
            cmocka_unit_test(test_rejected_and_dead_letters),
            cmocka_unit_test(test_repeats_and_caps),
            cmocka_unit_test(test_verification),
            cmocka_unit_test(test_only_one_request),
            cmocka_unit_test(test_render_csv),
            cmocka_unit_test(test_render_json),
            cmocka_unit_test(test_render_html),
            cmocka_unit_test(test_deadline_days_setting),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
