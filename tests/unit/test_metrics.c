/* Unit tests for src/metrics.c: exact exposition lines, histogram maths,
 * label escaping and bounds, health logic, and a real HTTP round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "clock.h"
#include "metrics.h"

/* ---- helpers ---- */

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 if line occurs in doc as a whole line. */
static int has_line(const char *doc, const char *line)
{
        size_t n = strlen(line);
        const char *p = doc;

        for (;;) {
                const char *hit = strstr(p, line);

                if (!hit)
                        return 0;
                if ((hit == doc || hit[-1] == '\n') && hit[n] == '\n')
                        return 1;
                p = hit + 1;
        }
}

static void assert_line(const char *doc, const char *line)
{
        if (!has_line(doc, line))
                fail_msg("missing line: %s\n--- document ---\n%s", line, doc);
}

static void assert_no_line(const char *doc, const char *line)
{
        if (has_line(doc, line))
                fail_msg("unexpected line: %s", line);
}

static void assert_rendered_line(struct metrics *m, const char *line)
{
        char *doc = metrics_render(m);

        assert_non_null(doc);
        assert_line(doc, line);
        free(doc);
}

/* Number of lines of doc that start with prefix. */
static size_t count_lines(const char *doc, const char *prefix)
{
        size_t n = 0, plen = strlen(prefix);
        const char *p = doc;

        while (*p) {
                const char *eol = strchr(p, '\n');

                if (strncmp(p, prefix, plen) == 0)
                        n++;
                if (!eol)
                        break;
                p = eol + 1;
        }
        return n;
}

/* The value on the line that starts with "<series> ". */
static double sample_value(const char *doc, const char *series)
{
        char prefix[512];
        const char *p = doc;
        size_t n;

        snprintf(prefix, sizeof(prefix), "%s ", series);
        n = strlen(prefix);
        while (p && *p) {
                if (strncmp(p, prefix, n) == 0)
                        return strtod(p + n, NULL);
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        fail_msg("no sample %s", series);
        return NAN;
}

static int family_of_sample(const char *sample, const char *family,
                            const char *type)
{
        static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
        size_t flen = strlen(family), slen = strcspn(sample, "{ ");
        size_t i;

        if (slen == flen && strncmp(sample, family, flen) == 0)
                return strcmp(type, "histogram") != 0;
        if (strcmp(type, "histogram") != 0 || slen <= flen ||
            strncmp(sample, family, flen) != 0)
                return 0;
        for (i = 0; i < 3; i++) {
                if (slen - flen == strlen(suffixes[i]) &&
                    strncmp(sample + flen, suffixes[i], slen - flen) == 0)
                        return 1;
        }
        return 0;
}

/* Checks the text format's grammar as Prometheus reads it: every family
 * has HELP then TYPE, once; samples sit under their own family. */
static void assert_well_formed(const char *doc)
{
        char family[128] = "", type[32] = "", help_for[128] = "";
        char seen[64][128];
        size_t nseen = 0, i;
        const char *p = doc;

        assert_true(strlen(doc) > 0);
        assert_int_equal(doc[strlen(doc) - 1], '\n');
        while (*p) {
                const char *eol = strchr(p, '\n');
                char line[1024];
                size_t len = (size_t)(eol - p);

                assert_non_null(eol);
                assert_true(len < sizeof(line));
                memcpy(line, p, len);
                line[len] = '\0';
                if (strncmp(line, "# HELP ", 7) == 0) {
                        assert_int_equal(sscanf(line, "# HELP %127s", help_for),
                                         1);
                } else if (strncmp(line, "# TYPE ", 7) == 0) {
                        assert_int_equal(
                            sscanf(line, "# TYPE %127s %31s", family, type), 2);
                        assert_string_equal(family, help_for);
                        for (i = 0; i < nseen; i++)
                                assert_string_not_equal(seen[i], family);
                        assert_true(nseen < 64);
                        strcpy(seen[nseen++], family);
                        assert_true(strcmp(type, "counter") == 0 ||
                                    strcmp(type, "gauge") == 0 ||
                                    strcmp(type, "histogram") == 0);
                } else {
                        if (!family_of_sample(line, family, type))
                                fail_msg("sample outside its family: %s", line);
                }
                p = eol + 1;
        }
}

struct fetch {
        long status;
        char ctype[128];
        char body[65536];
        size_t len;
};

static size_t fetch_write(char *data, size_t size, size_t nmemb, void *arg)
{
        struct fetch *f = arg;
        size_t n = size * nmemb;

        if (f->len + n >= sizeof(f->body))
                return 0;
        memcpy(f->body + f->len, data, n);
        f->len += n;
        f->body[f->len] = '\0';
        return n;
}

/* GET (or method) http://host:port/path; returns the CURLcode. */
static int http_fetch(const char *host, int port, const char *path,
                      const char *method, struct fetch *f)
{
        char url[256];
        char *ctype = NULL;
        CURL *c = curl_easy_init();
        CURLcode rc;

        assert_non_null(c);
        memset(f, 0, sizeof(*f));
        snprintf(url, sizeof(url), "http://%s:%d%s", host, port, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
        if (method && strcmp(method, "POST") == 0)
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
        else if (method)
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f->status);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
        if (ctype)
                snprintf(f->ctype, sizeof(f->ctype), "%s", ctype);
        curl_easy_cleanup(c);
        return (int)rc;
}

static void assert_get(int port, const char *path, long status,
                       const char *body)
{
        struct fetch f;

        assert_int_equal(http_fetch("127.0.0.1", port, path, NULL, &f),
                         CURLE_OK);
        assert_int_equal(f.status, status);
        if (body)
                assert_string_equal(f.body, body);
}

static int group_setup(void **state)
{
        (void)state;
        return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
        (void)state;
        curl_global_cleanup();
        return 0;
}

/* ---- lifecycle and NULL safety ---- */

static void test_null_is_harmless(void **state)
{
        char err[128] = "";

        (void)state;
        metrics_free(NULL);
        metrics_request_consumed(NULL);
        metrics_request_rejected(NULL, "x");
        metrics_request_finished(NULL, "completed");
        metrics_request_dead_lettered(NULL, "x");
        metrics_call_finished(NULL, "p", "a", "s", 0.1);
        metrics_call_retried(NULL, "p", "a");
        metrics_set_in_flight(NULL, 1, 2);
        metrics_set_paused_partitions(NULL, 1);
        metrics_set_assigned_partitions(NULL, 1);
        metrics_offset_committed(NULL, 0, 1);
        metrics_set_producer_healthy(NULL, 1);
        metrics_loop_heartbeat(NULL, 1);
        metrics_set_stall_limit(NULL, 1);
        assert_null(metrics_render(NULL));
        assert_int_equal(metrics_healthy(NULL, 0), 0);
        assert_int_equal(metrics_ready(NULL), 0);
        assert_int_equal(metrics_port(NULL), 0);
        assert_int_equal(metrics_serve(NULL, "127.0.0.1", 0, err, sizeof(err)),
                         -1);
        assert_true(err[0] != '\0');
}

/* Fetches counted by account and result; the age runs from the request
 * of the token in use and is not reset by a failed fetch. */
static void test_token_metrics(void **state)
{
        struct metrics *m = metrics_new();
        int64_t now = clock_mono_ms();
        (void)state;
        metrics_token_fetched(m, "vectara", "oauth", "ok", now - 5000);
        metrics_token_fetched(m, "vectara", "oauth", "error", now - 5000);
        metrics_token_fetched(m, "vectara", "oauth", "error", now - 5000);
        char *doc = metrics_render(m);
        assert_non_null(doc);
        assert_well_formed(doc);
        assert_line(doc,
                    "erasure_oauth_token_fetches_total{provider=\"vectara\","
                    "account=\"oauth\",result=\"ok\"} 1");
        assert_line(doc,
                    "erasure_oauth_token_fetches_total{provider=\"vectara\","
                    "account=\"oauth\",result=\"error\"} 2");
        const char *age =
            strstr(doc, "erasure_oauth_token_age_seconds{provider="
                        "\"vectara\",account=\"oauth\"} ");
        assert_non_null(age);
        double secs = strtod(strchr(age, '}') + 2, NULL);
        assert_true(secs >= 5.0 && secs < 60.0);
        free(doc);
        metrics_free(m);
}

static void test_fresh_document(void **state)
{
        static const char *const headers[] = {
            "# TYPE erasure_requests_consumed_total counter",
            "# TYPE erasure_requests_rejected_total counter",
            "# TYPE erasure_requests_finished_total counter",
            "# TYPE erasure_requests_dead_lettered_total counter",
            "# TYPE erasure_calls_total counter",
            "# TYPE erasure_call_retries_total counter",
            "# TYPE erasure_call_duration_seconds histogram",
            "# TYPE erasure_oauth_token_fetches_total counter",
            "# TYPE erasure_oauth_token_age_seconds gauge",
            "# TYPE erasure_requests_in_flight gauge",
            "# TYPE erasure_calls_in_flight gauge",
            "# TYPE erasure_paused_partitions gauge",
            "# TYPE erasure_backlog_requests gauge",
            "# TYPE erasure_backlog_bytes gauge",
            "# TYPE erasure_assigned_partitions gauge",
            "# TYPE erasure_committed_offset gauge",
            "# TYPE erasure_producer_healthy gauge",
            "# TYPE erasure_loop_last_heartbeat_age_seconds gauge",
            "# TYPE erasure_oldest_open_request_age_seconds gauge",
            "# TYPE erasure_open_requests_past_deadline gauge",
        };
        struct metrics *m = metrics_new();
        char *doc;
        size_t i;

        (void)state;
        assert_non_null(m);
        assert_int_equal(metrics_port(m), 0);
        doc = metrics_render(m);
        assert_non_null(doc);
        assert_well_formed(doc);
        for (i = 0; i < sizeof(headers) / sizeof(*headers); i++)
                assert_line(doc, headers[i]);
        assert_int_equal(count_lines(doc, "# HELP "), 20);
        assert_int_equal(count_lines(doc, "# TYPE "), 20);
        assert_line(doc, "erasure_requests_consumed_total 0");
        assert_line(doc,
                    "erasure_requests_finished_total{status=\"completed\"} 0");
        assert_line(doc, "erasure_requests_finished_total"
                         "{status=\"partially_failed\"} 0");
        assert_line(doc,
                    "erasure_requests_finished_total{status=\"failed\"} 0");
        assert_line(doc,
                    "erasure_requests_finished_total{status=\"rejected\"} 0");
        assert_line(doc, "erasure_requests_in_flight 0");
        assert_line(doc, "erasure_calls_in_flight 0");
        assert_line(doc, "erasure_paused_partitions 0");
        assert_line(doc, "erasure_backlog_requests 0");
        assert_line(doc, "erasure_backlog_bytes 0");
        assert_line(doc, "erasure_assigned_partitions 0");
        assert_line(doc, "erasure_producer_healthy 1");
        assert_int_equal(count_lines(doc, "erasure_calls_total{"), 0);
        assert_int_equal(count_lines(doc, "erasure_committed_offset{"), 0);
        free(doc);
        metrics_free(m);
}

/* ---- counters ---- */

static void test_consumed(void **state)
{
        struct metrics *m = metrics_new();
        int i;

        (void)state;
        for (i = 0; i < 3; i++)
                metrics_request_consumed(m);
        assert_rendered_line(m, "erasure_requests_consumed_total 3");
        metrics_free(m);
}

static void test_rejected_and_dead_lettered(void **state)
{
        struct metrics *m = metrics_new();
        char *doc;

        (void)state;
        metrics_request_rejected(m, "invalid_json");
        metrics_request_rejected(m, "invalid_json");
        metrics_request_rejected(m, "unknown_provider");
        metrics_request_dead_lettered(m, "invalid_json");
        doc = metrics_render(m);
        assert_non_null(doc);
        assert_well_formed(doc);
        assert_line(
            doc, "erasure_requests_rejected_total{reason=\"invalid_json\"} 2");
        assert_line(doc, "erasure_requests_rejected_total"
                         "{reason=\"unknown_provider\"} 1");
        assert_line(doc, "erasure_requests_dead_lettered_total"
                         "{reason=\"invalid_json\"} 1");
        assert_int_equal(count_lines(doc, "erasure_requests_rejected_total{"),
                         2);
        assert_int_equal(
            count_lines(doc, "erasure_requests_dead_lettered_total{"), 1);
        free(doc);
        metrics_free(m);
}

/* Equal label values in two families are two series; with 4000 series
 * the index has enough collisions to catch a lookup that ignores the
 * family. */
static void test_families_stay_apart(void **state)
{
        struct metrics *m = metrics_new();
        char reason[32], line[128];
        char *doc;
        int i;

        (void)state;
        for (i = 0; i < 2000; i++) {
                snprintf(reason, sizeof(reason), "r%d", i);
                metrics_request_rejected(m, reason);
                metrics_request_dead_lettered(m, reason);
                metrics_request_dead_lettered(m, reason);
        }
        doc = metrics_render(m);
        assert_non_null(doc);
        for (i = 0; i < 2000; i++) {
                snprintf(line, sizeof(line),
                         "erasure_requests_rejected_total{reason=\"r%d\"} 1",
                         i);
                assert_line(doc, line);
                snprintf(line, sizeof(line),
                         "erasure_requests_dead_lettered_total"
                         "{reason=\"r%d\"} 2",
                         i);
                assert_line(doc, line);
        }
        free(doc);
        metrics_free(m);
}

static void test_finished(void **state)
{
        struct metrics *m = metrics_new();
        char *doc;

        (void)state;
        metrics_request_finished(m, "completed");
        metrics_request_finished(m, "completed");
        metrics_request_finished(m, "partially_failed");
        metrics_request_finished(m, "failed");
        metrics_request_finished(m, "failed");
        metrics_request_finished(m, "failed");
        doc = metrics_render(m);
        assert_non_null(doc);
        assert_line(doc,
                    "erasure_requests_finished_total{status=\"completed\"} 2");
        assert_line(doc, "erasure_requests_finished_total"
                         "{status=\"partially_failed\"} 1");
        assert_line(doc,
                    "erasure_requests_finished_total{status=\"failed\"} 3");
        assert_line(doc,
                    "erasure_requests_finished_total{status=\"rejected\"} 0");
        assert_int_equal(count_lines(doc, "erasure_requests_finished_total{"),
                         4);
        free(doc);
        metrics_free(m);
}

static void test_calls_and_retries(void **state)
{
        struct metrics *m = metrics_new();
        char *doc;
        int i;

        (void)state;
        for (i = 0; i < 3; i++)
                metrics_call_finished(m, "vectara", "delete_session", "deleted",
                                      0.1);
        metrics_call_finished(m, "vectara", "delete_session", "failed", 0.1);
        metrics_call_finished(m, "openai", "delete_thread", "deleted", 0.1);
        metrics_call_retried(m, "vectara", "delete_session");
        metrics_call_retried(m, "vectara", "delete_session");
        metrics_call_retried(m, "openai", "delete_thread");
        doc = metrics_render(m);
        assert_non_null(doc);
        assert_well_formed(doc);
        assert_line(doc, "erasure_calls_total{provider=\"vectara\","
                         "action=\"delete_session\",status=\"deleted\"} 3");
        assert_line(doc, "erasure_calls_total{provider=\"vectara\","
                         "action=\"delete_session\",status=\"failed\"} 1");
        assert_line(doc, "erasure_calls_total{provider=\"openai\","
                         "action=\"delete_thread\",status=\"deleted\"} 1");
        assert_int_equal(count_lines(doc, "erasure_calls_total{"), 3);
        assert_line(doc, "erasure_call_retries_total{provider=\"vectara\","
                         "action=\"delete_session\"} 2");
        assert_line(doc, "erasure_call_retries_total{provider=\"openai\","
                         "action=\"delete_thread\"} 1");
        assert_int_equal(count_lines(doc, "erasure_call_retries_total{"), 2);
        free(doc);
        metrics_free(m);
}

/* ---- histogram ---- */

static void test_histogram_buckets(void **state)
{
        /* Binary-exact latencies so the sum is exact:
         * 0.0078125 -> le 0.01, 0.25 -> le 0.25 (bounds are inclusive),
         * 0.75 -> le 1, 3 -> le 5, 45 -> only +Inf. */
        static const double lat[] = {0.0078125, 0.25, 0.75, 3, 45};
        static const char *const expect[] = {
            "0.005\"} 0", "0.01\"} 1", "0.025\"} 1", "0.05\"} 1", "0.1\"} 1",
            "0.25\"} 2",  "0.5\"} 2",  "1\"} 3",     "2.5\"} 3",  "5\"} 4",
            "10\"} 4",    "30\"} 4",   "+Inf\"} 5"};
        struct metrics *m = metrics_new();
        char *doc, line[256];
        size_t i;

        (void)state;
        for (i = 0; i < sizeof(lat) / sizeof(*lat); i++)
                metrics_call_finished(m, "vectara", "delete_session", "deleted",
                                      lat[i]);
        metrics_call_finished(m, "openai", "delete_thread", "deleted", 0.005);
        doc = metrics_render(m);
        assert_non_null(doc);
        assert_well_formed(doc);
        for (i = 0; i < 13; i++) {
                snprintf(line, sizeof(line),
                         "erasure_call_duration_seconds_bucket"
                         "{provider=\"vectara\",le=\"%s",
                         expect[i]);
                assert_line(doc, line);
        }
        assert_line(doc, "erasure_call_duration_seconds_sum"
                         "{provider=\"vectara\"} 49.0078125");
        assert_line(doc, "erasure_call_duration_seconds_count"
                         "{provider=\"vectara\"} 5");
        /* Exactly on the first bound counts in it. */
        assert_line(doc, "erasure_call_duration_seconds_bucket"
                         "{provider=\"openai\",le=\"0.005\"} 1");
        assert_line(doc, "erasure_call_duration_seconds_sum"
                         "{provider=\"openai\"} 0.005");
        assert_int_equal(
            count_lines(doc, "erasure_call_duration_seconds_bucket{"), 26);
        free(doc);
        metrics_free(m);
}

static void test_histogram_bad_latency(void **state)
{
        struct metrics *m = metrics_new();
        char *doc;

        (void)state;
        metrics_call_finished(m, "p", "a", "deleted", -1.0);
        metrics_call_finished(m, "p", "a", "deleted", NAN);
        metrics_call_finished(m, "p", "a", "deleted", INFINITY);
        metrics_call_finished(m, "p", "a", "deleted", 0.1);
        doc = metrics_render(m);
        assert_non_null(doc);
        assert_line(doc, "erasure_call_duration_seconds_bucket"
                         "{provider=\"p\",le=\"0.005\"} 3");
        assert_line(doc,
                    "erasure_call_duration_seconds_sum{provider=\"p\"} 0.1");
        assert_line(doc,
                    "erasure_call_duration_seconds_count{provider=\"p\"} 4");
        assert_line(doc, "erasure_calls_total{provider=\"p\",action=\"a\","
                         "status=\"deleted\"} 4");
        free(doc);
        metrics_free(m);
}

/* ---- gauges ---- */

static void test_gauges(void **state)
{
        struct metrics *m = metrics_new();
        char *doc;

        (void)state;
        metrics_set_in_flight(m, 17, 42);
        metrics_set_paused_partitions(m, 2);
        metrics_set_backlog(m, 7, 4096);
        metrics_set_assigned_partitions(m, 6);
        metrics_offset_committed(m, 0, 10);
        metrics_offset_committed(m, 0, 11);
        metrics_offset_committed(m, 12, 9007199254740993LL); /* 2^53 + 1 */
        metrics_set_producer_healthy(m, 0);
        doc = metrics_render(m);
        assert_non_null(doc);
        assert_well_formed(doc);
        assert_line(doc, "erasure_requests_in_flight 17");
        assert_line(doc, "erasure_calls_in_flight 42");
        assert_line(doc, "erasure_paused_partitions 2");
        assert_line(doc, "erasure_backlog_requests 7");
        assert_line(doc, "erasure_backlog_bytes 4096");
        assert_line(doc, "erasure_assigned_partitions 6");
        assert_line(doc, "erasure_committed_offset{partition=\"0\"} 11");
        assert_line(
            doc, "erasure_committed_offset{partition=\"12\"} 9007199254740993");
        assert_int_equal(count_lines(doc, "erasure_committed_offset{"), 2);
        assert_line(doc, "erasure_producer_healthy 0");
        free(doc);

        metrics_set_in_flight(m, 0, 1);
        metrics_set_paused_partitions(m, 0);
        metrics_set_assigned_partitions(m, 3);
        metrics_set_producer_healthy(m, 7); /* any non-zero is healthy */
        doc = metrics_render(m);
        assert_non_null(doc);
        assert_line(doc, "erasure_requests_in_flight 0");
        assert_line(doc, "erasure_calls_in_flight 1");
        assert_line(doc, "erasure_paused_partitions 0");
        assert_line(doc, "erasure_assigned_partitions 3");
        assert_line(doc, "erasure_producer_healthy 1");
        free(doc);
        metrics_free(m);
}

static void test_heartbeat_age_gauge(void **state)
{
        struct metrics *m = metrics_new();
        char *doc;
        double age;

        (void)state;
        metrics_loop_heartbeat(m, now_ms() - 5000);
        doc = metrics_render(m);
        assert_non_null(doc);
        age = sample_value(doc, "erasure_loop_last_heartbeat_age_seconds");
        assert_true(age >= 5.0 && age < 7.0);
        free(doc);

        metrics_loop_heartbeat(m, now_ms());
        doc = metrics_render(m);
        assert_non_null(doc);
        age = sample_value(doc, "erasure_loop_last_heartbeat_age_seconds");
        assert_true(age >= 0.0 && age < 2.0);
        free(doc);

        /* A heartbeat from the future must not render a negative age. */
        metrics_loop_heartbeat(m, now_ms() + 60000);
        assert_rendered_line(m,
                             "erasure_loop_last_heartbeat_age_seconds 0.000");
        metrics_free(m);
}

/* Two loops of one process: gauges summed, the oldest of heartbeats and
 * open requests, health and readiness for the process as a whole. */
static void test_loops_aggregate(void **state)
{
        struct metrics *m = metrics_new();
        struct metrics *l1 = metrics_loop_new(m);
        int64_t t = now_ms();
        char *doc;

        (void)state;
        assert_non_null(l1);
        assert_null(metrics_loop_new(l1));
        metrics_set_in_flight(m, 3, 10);
        metrics_set_in_flight(l1, 4, 20);
        metrics_set_paused_partitions(l1, 2);
        metrics_set_backlog(m, 5, 100);
        metrics_set_backlog(l1, 6, 200);
        metrics_set_assigned_partitions(m, 0);
        assert_int_equal(metrics_ready(m), 0);
        /* The second loop holds the process's only partitions. */
        metrics_set_assigned_partitions(l1, 3);
        assert_int_equal(metrics_ready(m), 1);
        metrics_set_open_requests(m, 5000, 1);
        metrics_set_open_requests(l1, 4000, 2);
        metrics_request_consumed(l1);
        metrics_call_finished(l1, "vectara", "delete_session", "deleted", 0.1);
        metrics_loop_heartbeat(m, t);
        metrics_loop_heartbeat(l1, t - 10000);
        doc = metrics_render(m);
        assert_non_null(doc);
        assert_well_formed(doc);
        assert_line(doc, "erasure_requests_in_flight 7");
        assert_line(doc, "erasure_calls_in_flight 30");
        assert_line(doc, "erasure_paused_partitions 2");
        assert_line(doc, "erasure_backlog_requests 11");
        assert_line(doc, "erasure_backlog_bytes 300");
        assert_line(doc, "erasure_assigned_partitions 3");
        assert_line(doc, "erasure_open_requests_past_deadline 3");
        assert_line(doc, "erasure_requests_consumed_total 1");
        assert_line(doc, "erasure_calls_total{provider=\"vectara\","
                         "action=\"delete_session\",status=\"deleted\"} 1");
        assert_true(
            sample_value(doc, "erasure_loop_last_heartbeat_age_seconds") >=
            10.0);
        free(doc);
        /* One loop stalled is the process stalled. */
        metrics_set_stall_limit(l1, 5000);
        assert_int_equal(metrics_healthy(m, t), 0);
        metrics_loop_heartbeat(l1, t);
        assert_int_equal(metrics_healthy(m, t), 1);
        /* One loop's producer failing makes the process unready. */
        metrics_set_producer_healthy(l1, 0);
        assert_int_equal(metrics_ready(m), 0);
        assert_string_equal(metrics_unready_reason(m), "producer unhealthy\n");
        /* A loop gone counts no more. */
        metrics_loop_heartbeat(l1, t - 60000);
        metrics_free(l1);
        assert_int_equal(metrics_healthy(m, t), 1);
        assert_rendered_line(m, "erasure_requests_in_flight 3");
        metrics_free(m);
}

/* ---- labels ---- */

static void test_label_escaping(void **state)
{
        struct metrics *m = metrics_new();
        char *doc;

        (void)state;
        metrics_request_rejected(m, "a\"b\\c\nd");
        metrics_call_finished(m, "q\"p", "back\\slash", "new\nline", 0.1);
        doc = metrics_render(m);
        assert_non_null(doc);
        assert_well_formed(doc);
        assert_line(
            doc,
            "erasure_requests_rejected_total{reason=\"a\\\"b\\\\c\\nd\"} 1");
        assert_line(doc, "erasure_calls_total{provider=\"q\\\"p\","
                         "action=\"back\\\\slash\",status=\"new\\nline\"} 1");
        assert_line(doc, "erasure_call_duration_seconds_count"
                         "{provider=\"q\\\"p\"} 1");
        free(doc);
        metrics_free(m);
}

static void test_label_bounds(void **state)
{
        struct metrics *m = metrics_new();
        char long_value[301], utf8_value[131], line[512];
        char *doc;

        (void)state;
        memset(long_value, 'x', 300);
        long_value[300] = '\0';
        /* 127 ASCII bytes, then a 2-byte character across the 128 cut. */
        memset(utf8_value, 'y', 127);
        memcpy(utf8_value + 127, "\xc3\xa9z", 4);
        metrics_request_rejected(m, long_value);
        metrics_request_rejected(m, utf8_value);
        metrics_request_rejected(m, NULL);
        doc = metrics_render(m);
        assert_non_null(doc);
        snprintf(line, sizeof(line),
                 "erasure_requests_rejected_total{reason=\"%.128s\"} 1",
                 long_value);
        assert_line(doc, line);
        snprintf(line, sizeof(line),
                 "erasure_requests_rejected_total{reason=\"%.127s\"} 1",
                 utf8_value);
        assert_line(doc, line);
        assert_line(doc, "erasure_requests_rejected_total{reason=\"\"} 1");
        free(doc);
        metrics_free(m);
}

/* ---- bounded series ---- */

static void test_overflow(void **state)
{
        struct metrics *m = metrics_new();
        char reason[32], line[128];
        size_t own, finished;
        char *doc;
        int i;

        (void)state;
        for (i = 0; i < 5000; i++) {
                snprintf(reason, sizeof(reason), "r%d", i);
                metrics_request_rejected(m, reason);
        }
        /* Existing series keep their own count past the cap. */
        metrics_request_rejected(m, "r0");
        metrics_request_finished(m, "completed");
        /* New combinations of other families overflow too, all labels. */
        metrics_call_finished(m, "vectara", "delete_session", "deleted", 0.3);
        metrics_call_retried(m, "vectara", "delete_session");
        metrics_request_dead_lettered(m, "bad");
        metrics_request_finished(m, "brand_new");
        metrics_offset_committed(m, 3, 77);
        doc = metrics_render(m);
        assert_non_null(doc);
        assert_well_formed(doc);
        own = count_lines(doc, "erasure_requests_rejected_total{reason=\"r");
        finished = count_lines(doc, "erasure_requests_finished_total{") - 1;
        assert_int_equal(own + finished, 4096);
        assert_line(doc, "erasure_requests_rejected_total{reason=\"r0\"} 2");
        assert_line(doc, "erasure_requests_finished_total"
                         "{status=\"completed\"} 1");
        snprintf(line, sizeof(line),
                 "erasure_requests_rejected_total{reason=\"_overflow\"} %zu",
                 (size_t)5000 - own);
        assert_line(doc, line);
        assert_line(doc, "erasure_calls_total{provider=\"_overflow\","
                         "action=\"_overflow\",status=\"_overflow\"} 1");
        assert_line(doc, "erasure_call_retries_total{provider=\"_overflow\","
                         "action=\"_overflow\"} 1");
        assert_line(doc, "erasure_call_duration_seconds_bucket"
                         "{provider=\"_overflow\",le=\"0.5\"} 1");
        assert_line(doc, "erasure_requests_dead_lettered_total"
                         "{reason=\"_overflow\"} 1");
        assert_line(doc, "erasure_requests_finished_total"
                         "{status=\"_overflow\"} 1");
        assert_line(doc,
                    "erasure_committed_offset{partition=\"_overflow\"} 77");
        assert_no_line(doc,
                       "erasure_requests_rejected_total{reason=\"r4999\"} 1");
        assert_int_equal(count_lines(doc, "erasure_calls_total{"), 1);
        free(doc);
        metrics_free(m);
}

static void test_no_overflow_below_cap(void **state)
{
        struct metrics *m = metrics_new();
        char reason[32];
        char *doc;
        int i;

        (void)state;
        for (i = 0; i < 1000; i++) {
                snprintf(reason, sizeof(reason), "r%d", i);
                metrics_request_rejected(m, reason);
        }
        doc = metrics_render(m);
        assert_non_null(doc);
        assert_int_equal(
            count_lines(doc, "erasure_requests_rejected_total{reason=\"r"),
            1000);
        assert_null(strstr(doc, "_overflow"));
        free(doc);
        metrics_free(m);
}

static void add_long_providers(struct metrics *m, int n)
{
        char provider[160];
        int i;

        memset(provider, 'p', 128);
        for (i = 0; i < n; i++) {
                snprintf(provider + 120, 40, "%08d", i % 100000000);
                metrics_call_finished(m, provider, "a", "deleted", 0.1);
        }
}

static void test_render_cap(void **state)
{
        struct metrics *m = metrics_new();
        char *doc;

        (void)state;
        /* ~2.9 kB per histogram series: 1000 fit under 4 MiB... */
        add_long_providers(m, 1000);
        doc = metrics_render(m);
        assert_non_null(doc);
        assert_true(strlen(doc) > 2u * 1024 * 1024);
        free(doc);
        metrics_free(m);

        /* ...but the cap of series would make about 12 MB. */
        m = metrics_new();
        add_long_providers(m, 2000);
        assert_null(metrics_render(m));
        metrics_free(m);
}

/* ---- health ---- */

static void test_healthz_stall(void **state)
{
        struct metrics *m = metrics_new();

        (void)state;
        metrics_loop_heartbeat(m, 1000);
        assert_int_equal(metrics_healthy(m, 1000), 1);
        assert_int_equal(metrics_healthy(m, 30999), 1);
        assert_int_equal(metrics_healthy(m, 31000), 0);
        assert_int_equal(metrics_healthy(m, 100000), 0);
        metrics_loop_heartbeat(m, 99000);
        assert_int_equal(metrics_healthy(m, 100000), 1);

        metrics_set_stall_limit(m, 500);
        assert_int_equal(metrics_healthy(m, 99499), 1);
        assert_int_equal(metrics_healthy(m, 99500), 0);
        /* A non-positive limit is ignored, not "always stalled". */
        metrics_set_stall_limit(m, 0);
        metrics_set_stall_limit(m, -5);
        assert_int_equal(metrics_healthy(m, 99499), 1);
        assert_int_equal(metrics_healthy(m, 99500), 0);
        /* Asked about a time before the heartbeat: age counts as 0. */
        assert_int_equal(metrics_healthy(m, 50), 1);
        metrics_free(m);
}

static void test_healthz_without_heartbeat(void **state)
{
        int64_t t0 = now_ms();
        struct metrics *m = metrics_new();

        (void)state;
        /* A loop that never beats is stalled 30 s after start. */
        assert_int_equal(metrics_healthy(m, t0), 1);
        assert_int_equal(metrics_healthy(m, t0 + 29000), 1);
        assert_int_equal(metrics_healthy(m, now_ms() + 30000), 0);
        metrics_free(m);
}

static void test_readyz(void **state)
{
        struct metrics *m = metrics_new();

        (void)state;
        assert_int_equal(metrics_ready(m), 0); /* no partitions yet */
        metrics_set_assigned_partitions(m, 3);
        assert_int_equal(metrics_ready(m), 1);
        metrics_set_producer_healthy(m, 0);
        assert_int_equal(metrics_ready(m), 0);
        metrics_set_producer_healthy(m, 1);
        assert_int_equal(metrics_ready(m), 1);
        metrics_set_assigned_partitions(m, 0);
        assert_int_equal(metrics_ready(m), 0);
        metrics_free(m);
}

/* ---- HTTP ---- */

static void test_http_round_trip(void **state)
{
        struct metrics *m = metrics_new();
        char err[256] = "";
        struct fetch f;
        int port;

        (void)state;
        assert_int_equal(metrics_serve(m, "127.0.0.1", 0, err, sizeof(err)), 0);
        port = metrics_port(m);
        assert_true(port > 0 && port <= 65535);

        metrics_call_finished(m, "vectara", "delete_session", "deleted", 0.2);
        metrics_call_finished(m, "vectara", "delete_session", "deleted", 0.2);
        metrics_call_finished(m, "vectara", "delete_session", "deleted", 0.2);
        metrics_loop_heartbeat(m, now_ms());

        assert_int_equal(http_fetch("127.0.0.1", port, "/metrics", NULL, &f),
                         CURLE_OK);
        assert_int_equal(f.status, 200);
        assert_string_equal(f.ctype, "text/plain; version=0.0.4");
        assert_well_formed(f.body);
        assert_line(f.body, "erasure_calls_total{provider=\"vectara\","
                            "action=\"delete_session\",status=\"deleted\"} 3");
        /* The query string does not change the route. */
        assert_get(port, "/metrics?x=1", 200, NULL);

        assert_get(port, "/healthz", 200, "ok\n");
        assert_get(port, "/readyz", 503, "no partitions assigned\n");
        /* With both faults, the partition count is reported first. */
        metrics_set_producer_healthy(m, 0);
        assert_get(port, "/readyz", 503, "no partitions assigned\n");
        metrics_set_producer_healthy(m, 1);
        metrics_set_assigned_partitions(m, 2);
        assert_get(port, "/readyz", 200, "ready\n");
        metrics_set_producer_healthy(m, 0);
        assert_get(port, "/readyz", 503, "producer unhealthy\n");
        metrics_set_producer_healthy(m, 1);

        metrics_set_stall_limit(m, 1000);
        metrics_loop_heartbeat(m, now_ms() - 10000);
        assert_get(port, "/healthz", 503, "stalled\n");
        metrics_loop_heartbeat(m, now_ms());
        assert_get(port, "/healthz", 200, "ok\n");

        assert_get(port, "/nope", 404, NULL);
        assert_get(port, "/", 404, NULL);
        assert_get(port, "/metrics/", 404, NULL);

        assert_int_equal(http_fetch("127.0.0.1", port, "/metrics", "POST", &f),
                         CURLE_OK);
        assert_int_equal(f.status, 405);
        assert_int_equal(
            http_fetch("127.0.0.1", port, "/healthz", "DELETE", &f), CURLE_OK);
        assert_int_equal(f.status, 405);
        metrics_free(m);
}

static void test_http_render_too_large(void **state)
{
        struct metrics *m = metrics_new();
        char err[256] = "";

        (void)state;
        add_long_providers(m, 2000);
        assert_int_equal(metrics_serve(m, "127.0.0.1", 0, err, sizeof(err)), 0);
        assert_get(metrics_port(m), "/metrics", 500, "metrics unavailable\n");
        assert_get(metrics_port(m), "/healthz", 200, "ok\n");
        metrics_free(m);
}

static int have_ipv6_loopback(void)
{
        struct sockaddr_in6 sa;
        int fd = socket(AF_INET6, SOCK_STREAM, 0);
        int ok;

        if (fd < 0)
                return 0;
        memset(&sa, 0, sizeof(sa));
        sa.sin6_family = AF_INET6;
        sa.sin6_addr = in6addr_loopback;
        ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        return ok;
}

static void test_http_ipv6(void **state)
{
        struct metrics *m;
        char err[256] = "";
        struct fetch f;

        (void)state;
        if (!have_ipv6_loopback())
                skip();
        m = metrics_new();
        assert_int_equal(metrics_serve(m, "::1", 0, err, sizeof(err)), 0);
        assert_true(metrics_port(m) > 0);
        assert_int_equal(
            http_fetch("[::1]", metrics_port(m), "/healthz", NULL, &f),
            CURLE_OK);
        assert_int_equal(f.status, 200);
        assert_string_equal(f.body, "ok\n");
        metrics_free(m);

        /* "::" is dual stack: IPv4 probes reach it too. */
        m = metrics_new();
        assert_int_equal(metrics_serve(m, "::", 0, err, sizeof(err)), 0);
        assert_get(metrics_port(m), "/healthz", 200, "ok\n");
        metrics_free(m);
}

static void test_serve_errors(void **state)
{
        struct metrics *m = metrics_new();
        struct metrics *other = metrics_new();
        char err[256];

        (void)state;
        err[0] = '\0';
        assert_int_equal(metrics_serve(m, "localhost", 0, err, sizeof(err)),
                         -1);
        assert_non_null(strstr(err, "localhost"));
        err[0] = '\0';
        assert_int_equal(metrics_serve(m, "127.0.0.1", -1, err, sizeof(err)),
                         -1);
        assert_true(err[0] != '\0');
        err[0] = '\0';
        assert_int_equal(metrics_serve(m, "127.0.0.1", 65536, err, sizeof(err)),
                         -1);
        assert_true(err[0] != '\0');
        assert_int_equal(metrics_serve(m, NULL, 0, err, sizeof(err)), -1);
        /* A tiny or missing errstr buffer must not matter. */
        assert_int_equal(metrics_serve(m, "nope", 0, NULL, 0), -1);
        assert_int_equal(metrics_serve(m, "nope", 0, err, 1), -1);
        assert_int_equal(err[0], '\0');
        assert_int_equal(metrics_port(m), 0);

        assert_int_equal(metrics_serve(m, "127.0.0.1", 0, err, sizeof(err)), 0);
        err[0] = '\0';
        assert_int_equal(metrics_serve(m, "127.0.0.1", 0, err, sizeof(err)),
                         -1);
        assert_non_null(strstr(err, "already"));
        /* The port is taken. */
        err[0] = '\0';
        assert_int_equal(metrics_serve(other, "127.0.0.1", metrics_port(m), err,
                                       sizeof(err)),
                         -1);
        assert_true(err[0] != '\0');
        assert_int_equal(metrics_port(other), 0);
        metrics_free(other);
        metrics_free(m);
}

static void test_free_stops_server(void **state)
{
        struct metrics *m = metrics_new();
        char err[256] = "";
        struct fetch f;
        int port;

        (void)state;
        assert_int_equal(metrics_serve(m, "127.0.0.1", 0, err, sizeof(err)), 0);
        port = metrics_port(m);
        assert_get(port, "/healthz", 200, "ok\n");
        metrics_free(m);
        assert_int_equal(http_fetch("127.0.0.1", port, "/healthz", NULL, &f),
                         CURLE_COULDNT_CONNECT);
}

/* ---- limits against slow clients ---- */

/* A TCP connection to 127.0.0.1:port from source (another loopback
 * address stands for another client). */
static int connect_from(const char *source, int port)
{
        struct sockaddr_in a = {.sin_family = AF_INET};
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        assert_true(fd >= 0);
        assert_int_equal(inet_pton(AF_INET, source, &a.sin_addr), 1);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        a.sin_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &a.sin_addr), 1);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        return fd;
}

/* Milliseconds until the server closed each of fds[0..n) (EOF or reset),
 * watched together for up to limit_ms; -1 for one still open. While open,
 * fds[i] with trickle[i] set sends one byte of a never-ending header every
 * 100 ms. */
static void ms_until_closed(const int *fds, const int *trickle, size_t n,
                            int64_t limit_ms, int64_t *out)
{
        int64_t t0 = now_ms();
        struct pollfd p[4];
        char buf[256];
        size_t i, open = n;

        assert_true(n <= 4);
        for (i = 0; i < n; i++) {
                out[i] = -1;
                p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        }
        while (open > 0 && now_ms() - t0 < limit_ms) {
                poll(p, n, 100);
                for (i = 0; i < n; i++) {
                        int gone;

                        if (out[i] >= 0)
                                continue;
                        gone = (p[i].revents &&
                                recv(fds[i], buf, sizeof(buf), 0) <= 0) ||
                               (trickle[i] &&
                                send(fds[i], "a", 1, MSG_NOSIGNAL) < 0);
                        if (gone) {
                                out[i] = now_ms() - t0;
                                p[i].fd = -1;
                                open--;
                        }
                }
        }
}

static struct metrics *serve_limited(const struct metrics_limits *l)
{
        struct metrics *m = metrics_new();
        char err[256] = "";

        metrics_set_limits(m, l);
        assert_int_equal(metrics_serve(m, "127.0.0.1", 0, err, sizeof(err)), 0);
        metrics_loop_heartbeat(m, now_ms());
        return m;
}

static void test_per_ip_limit_leaves_room_for_others(void **state)
{
        const struct metrics_limits l = {.per_ip = 2};
        struct metrics *m = serve_limited(&l);
        int port = metrics_port(m);
        int a = connect_from("127.0.0.2", port);
        int b = connect_from("127.0.0.2", port);
        int c;

        (void)state;
        /* Once both are surely accepted, a third from the same address is
         * refused (closed at once) while another address is served. */
        assert_get(port, "/healthz", 200, "ok\n");
        c = connect_from("127.0.0.2", port);
        {
                const int fds[] = {a, c}, trickle[] = {0, 0};
                int64_t t[2];

                ms_until_closed(fds, trickle, 2, 1000, t);
                assert_int_equal(t[0], -1);
                assert_in_range(t[1], 0, 999);
        }
        assert_get(port, "/healthz", 200, "ok\n");
        close(a);
        close(b);
        close(c);
        metrics_free(m);
}

static void test_idle_timeout_and_deadline(void **state)
{
        const struct metrics_limits l = {.idle_timeout_ms = 1000,
                                         .deadline_ms = 2500};
        struct metrics *m = serve_limited(&l);
        int port = metrics_port(m);
        const int fds[] = {connect_from("127.0.0.1", port),
                           connect_from("127.0.0.1", port)};
        const int trickle[] = {0, 1};
        int64_t t[2];

        (void)state;
        assert_int_equal(
            send(fds[1], "GET /healthz HTTP/1.1\r\nX: ", 26, MSG_NOSIGNAL), 26);
        ms_until_closed(fds, trickle, 2, 6000, t);
        /* MHD counts idle time in whole seconds, give or take one. */
        assert_in_range(t[0], 500, 2200);
        /* The trickle keeps the idle timer from firing; the deadline, from
         * the connection's start, does not care. */
        assert_in_range(t[1], 2300, 3300);
        close(fds[0]);
        close(fds[1]);
        metrics_free(m);
}

struct hammer {
        struct metrics *m;
        int rounds;
};

static void *hammer_updates(void *arg)
{
        struct hammer *h = arg;
        int i;

        for (i = 0; i < h->rounds; i++) {
                metrics_request_consumed(h->m);
                metrics_call_finished(h->m, "vectara", "delete_session",
                                      "deleted", 0.01);
                metrics_loop_heartbeat(h->m, now_ms());
        }
        return NULL;
}

/* Updates from one thread while the server renders from its own: run
 * under a sanitizer this catches unlocked access; plainly it checks that
 * no update is lost. */
static void test_concurrent_updates_and_scrapes(void **state)
{
        struct metrics *m = metrics_new();
        struct hammer h = {m, 20000};
        char err[256] = "";
        pthread_t t;
        char *doc;
        int i;

        (void)state;
        assert_int_equal(metrics_serve(m, "127.0.0.1", 0, err, sizeof(err)), 0);
        assert_int_equal(pthread_create(&t, NULL, hammer_updates, &h), 0);
        for (i = 0; i < 20; i++)
                assert_get(metrics_port(m), "/metrics", 200, NULL);
        assert_int_equal(pthread_join(t, NULL), 0);
        doc = metrics_render(m);
        assert_non_null(doc);
        assert_line(doc, "erasure_requests_consumed_total 20000");
        assert_line(doc, "erasure_call_duration_seconds_count"
                         "{provider=\"vectara\"} 20000");
        free(doc);
        metrics_free(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_null_is_harmless),
            cmocka_unit_test(test_fresh_document),
            cmocka_unit_test(test_token_metrics),
            cmocka_unit_test(test_consumed),
            cmocka_unit_test(test_rejected_and_dead_lettered),
            cmocka_unit_test(test_families_stay_apart),
            cmocka_unit_test(test_finished),
            cmocka_unit_test(test_calls_and_retries),
            cmocka_unit_test(test_histogram_buckets),
            cmocka_unit_test(test_histogram_bad_latency),
            cmocka_unit_test(test_gauges),
            cmocka_unit_test(test_heartbeat_age_gauge),
            cmocka_unit_test(test_loops_aggregate),
            cmocka_unit_test(test_label_escaping),
            cmocka_unit_test(test_label_bounds),
            cmocka_unit_test(test_overflow),
            cmocka_unit_test(test_no_overflow_below_cap),
            cmocka_unit_test(test_render_cap),
            cmocka_unit_test(test_healthz_stall),
            cmocka_unit_test(test_healthz_without_heartbeat),
            cmocka_unit_test(test_readyz),
            cmocka_unit_test(test_http_round_trip),
            cmocka_unit_test(test_http_render_too_large),
            cmocka_unit_test(test_http_ipv6),
            cmocka_unit_test(test_serve_errors),
            cmocka_unit_test(test_free_stops_server),
            cmocka_unit_test(test_per_ip_limit_leaves_room_for_others),
            cmocka_unit_test(test_idle_timeout_and_deadline),
            cmocka_unit_test(test_concurrent_updates_and_scrapes),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
