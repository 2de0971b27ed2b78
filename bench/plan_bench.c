/* plan_bench — parse+plan micro-benchmark: how many erasure requests one
 * core turns into HTTP calls per second, without any network.
 *
 * Each round runs exactly what the worker runs for a consumed message
 * before any I/O: request_parse() (JSON, envelope validation) and
 * provider_plan() (field validation, URL/header/body templates), then
 * frees both. A second phase adds what the worker does per finished
 * call and request: outcome_call_json() (SHA-256 idempotency key, JSON)
 * and outcome_summary_json(), so the CPU left for the event loop can be
 * read off too.
 *
 *   plan_bench [-c CONFIG] [-r REQUESTS.jsonl] [-t SECONDS] [-p CPU] [-j]
 *
 * -c  worker config (default: $ERASURE_SOURCE_DIR/config/erasure-worker.conf
 *     or the source tree this was built from); secrets are not needed.
 * -r  requests, one JSON document per line. Default: two built-in sets,
 *     "mix" (one target per endpoint, all five endpoints, eight calls: the
 *     shape bench/bench.py sends by default) and "single" (one Vectara
 *     session, one call: the smallest useful request).
 * -t  seconds per phase (default 2).
 * -p  pin the thread to this CPU (default: not pinned).
 * -j  print one JSON object instead of the table.
 *
 * Rates are given per wall second and per CPU second of this thread (the
 * latter is what "per core" means on a machine shared with other work). */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "outcome.h"
#include "provider.h"
#include "request.h"
#include "settings.h"

#ifndef ERASURE_SOURCE_DIR
#define ERASURE_SOURCE_DIR "."
#endif

#define MAX_REQUESTS 4096

struct sample {
        char *text;
        size_t len;
};

struct phase_result {
        uint64_t requests;
        uint64_t calls;
        double wall_s;
        double cpu_s;
};

/* The per-user part of bench.py's default mix: Vectara with four sessions
 * (four calls), Convai with four sessions (one chunked call) and an
 * Algolia user (its discover read). The agent-wide targets (Algolia by
 * date, Avaamo) need an account that opts in, which the shipped config
 * this program loads does not. %d makes every request id distinct. */
static const char default_request[] =
    "{\"version\":1,\"request_id\":\"req_bench_%06d\","
    "\"requested_at\":\"2026-11-22T10:00:00Z\",\"targets\":["
    "{\"provider\":\"vectara\",\"agent_id\":\"agt_bench\",\"session_ids\":"
    "[\"ase_%06d_0\",\"ase_%06d_1\",\"ase_%06d_2\",\"ase_%06d_3\"]},"
    "{\"provider\":\"convai\",\"character_id\":\"char_bench\",\"session_ids\":"
    "[\"s-%06d-0\",\"s-%06d-1\",\"s-%06d-2\",\"s-%06d-3\"]},"
    "{\"provider\":\"algolia\",\"agent_id\":"
    "\"76710f1b-8231-42e5-b0d1-f43aac618e15\",\"user_token\":\"user-%06d\"}"
    "]}";

static double now_s(clockid_t id)
{
        struct timespec ts;
        clock_gettime(id, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char single_request[] =
    "{\"version\":1,\"request_id\":\"req_bench_%06d\",\"targets\":["
    "{\"provider\":\"vectara\",\"agent_id\":\"agt_bench\",\"session_ids\":"
    "[\"ase_%06d\"]}]}";

/* 256 distinct requests of one built-in shape (mix: 1, single: 0). */
static size_t builtin_samples(int mix, struct sample *out, size_t max)
{
        size_t n = max < 256 ? max : 256;
        for (size_t i = 0; i < n; i++) {
                int k = (int)i;
                char buf[2048];
                int len =
                    mix ? snprintf(buf, sizeof(buf), default_request, k, k, k,
                                   k, k, k, k, k, k, k)
                        : snprintf(buf, sizeof(buf), single_request, k, k);
                if (len < 0 || (size_t)len >= sizeof(buf))
                        return i;
                out[i].text = strdup(buf);
                out[i].len = (size_t)len;
                if (!out[i].text)
                        return i;
        }
        return n;
}

static size_t file_samples(const char *path, struct sample *out, size_t max)
{
        FILE *f = fopen(path, "r");
        if (!f) {
                perror(path);
                return 0;
        }
        size_t n = 0;
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (n < max && (len = getline(&line, &cap, f)) > 0) {
                while (len > 0 &&
                       (line[len - 1] == '\n' || line[len - 1] == '\r'))
                        line[--len] = '\0';
                if (len == 0)
                        continue;
                out[n].text = strdup(line);
                out[n].len = (size_t)len;
                if (!out[n].text)
                        break;
                n++;
        }
        free(line);
        fclose(f);
        return n;
}

/* Runs parse+plan (and with outcomes, the outcome events) over the samples
 * round-robin for about `seconds`. Returns -1 if a sample is rejected: the
 * benchmark measures the accepting path only. */
static int run_phase(const struct settings *s, const struct sample *samples,
                     size_t nsamples, double seconds, int outcomes,
                     struct phase_result *res)
{
        memset(res, 0, sizeof(*res));
        double w0 = now_s(CLOCK_MONOTONIC);
        double c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
        double deadline = w0 + seconds;
        size_t i = 0;
        for (;;) {
                /* Check the clock every 64 requests only. */
                for (int k = 0; k < 64; k++, i = (i + 1) % nsamples) {
                        char err[512];
                        enum request_error code = REQUEST_OK;
                        char *rid = NULL;
                        struct request *req = request_parse(
                            samples[i].text, samples[i].len, &s->request_limits,
                            &code, &rid, err, sizeof(err));
                        if (!req) {
                                fprintf(stderr,
                                        "plan_bench: sample %zu rejected "
                                        "(%s): %s\n",
                                        i, request_error_name(code), err);
                                free(rid);
                                return -1;
                        }
                        struct provider_plan plan = {0};
                        code = provider_plan(s->providers, req,
                                             s->max_calls_per_request, &plan,
                                             err, sizeof(err));
                        if (code != REQUEST_OK) {
                                fprintf(stderr,
                                        "plan_bench: sample %zu not planned "
                                        "(%s): %s\n",
                                        i, request_error_name(code), err);
                                request_free(req);
                                free(rid);
                                return -1;
                        }
                        if (outcomes) {
                                struct outcome_summary sum = {0};
                                sum.request_id = rid;
                                for (size_t c = 0; c < plan.ncalls; c++) {
                                        const struct provider_call *pc =
                                            &plan.calls[c];
                                        struct outcome_call oc = {
                                            .request_id = rid,
                                            .provider = pc->provider,
                                            .account = pc->account_name,
                                            .action = pc->action_name,
                                            .resource = pc->resource,
                                            .status = OUTCOME_DELETED,
                                            .http_status = 204,
                                            .attempts = 1,
                                            .started_at_ms = 1790000000000,
                                            .finished_at_ms = 1790000000100,
                                        };
                                        char key[OUTCOME_KEY_LEN + 1];
                                        free(outcome_call_json(&oc, key));
                                        sum.counts[OUTCOME_DELETED]++;
                                }
                                char key[OUTCOME_KEY_LEN + 1];
                                sum.finished_at_ms = 1790000000200;
                                free(outcome_summary_json(&sum, key));
                        }
                        res->requests++;
                        res->calls += plan.ncalls;
                        provider_plan_clear(&plan);
                        request_free(req);
                        free(rid);
                }
                if (now_s(CLOCK_MONOTONIC) >= deadline)
                        break;
        }
        res->wall_s = now_s(CLOCK_MONOTONIC) - w0;
        res->cpu_s = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        return 0;
}

/* Runs both phases over one set of samples and prints a row each (or one
 * JSON object). */
static int bench_set(const struct settings *s, const char *name,
                     const struct sample *samples, size_t n, double seconds,
                     int json, int comma)
{
        size_t bytes = 0;
        for (size_t i = 0; i < n; i++)
                bytes += samples[i].len;
        struct phase_result warm, plan, full;
        if (run_phase(s, samples, n, seconds / 10, 0, &warm) ||
            run_phase(s, samples, n, seconds, 0, &plan) ||
            run_phase(s, samples, n, seconds, 1, &full))
                return 1;
        double cpr = (double)plan.calls / (double)plan.requests;
        if (json) {
                printf("%s{\"name\":\"%s\",\"samples\":%zu,"
                       "\"avg_bytes\":%.0f,\"calls_per_request\":%.2f,"
                       "\"plan_req_per_wall_s\":%.0f,"
                       "\"plan_req_per_cpu_s\":%.0f,"
                       "\"full_req_per_wall_s\":%.0f,"
                       "\"full_req_per_cpu_s\":%.0f}",
                       comma ? "," : "", name, n, (double)bytes / (double)n,
                       cpr, (double)plan.requests / plan.wall_s,
                       (double)plan.requests / plan.cpu_s,
                       (double)full.requests / full.wall_s,
                       (double)full.requests / full.cpu_s);
                return 0;
        }
        char label[64];
        snprintf(label, sizeof(label), "%s (%.0f B, %.2f calls)", name,
                 (double)bytes / (double)n, cpr);
        printf("  %-34s\n", label);
        printf("  %-34s %12.0f %12.0f %10.2f\n", "  parse+plan",
               (double)plan.requests / plan.wall_s,
               (double)plan.requests / plan.cpu_s,
               plan.cpu_s * 1e6 / (double)plan.requests);
        printf("  %-34s %12.0f %12.0f %10.2f\n", "  parse+plan+outcome events",
               (double)full.requests / full.wall_s,
               (double)full.requests / full.cpu_s,
               full.cpu_s * 1e6 / (double)full.requests);
        return 0;
}

static void usage(void)
{
        fputs("usage: plan_bench [-c CONFIG] [-r REQUESTS.jsonl] [-t SECONDS] "
              "[-p CPU] [-j]\n",
              stderr);
}

static void set_fake_secrets(void)
{
        /* Planning puts secrets into headers; their values do not matter,
         * but their length does a little, so use realistic ones. */
        static const char *const vars[] = {"VECTARA_API_KEY", "CONVAI_API_KEY",
                                           "ALGOLIA_API_KEY",
                                           "AVAAMO_ACCESS_TOKEN", NULL};
        for (const char *const *v = vars; *v; v++)
                setenv(*v, "bench-secret-0123456789abcdef0123456789", 0);
}

int main(int argc, char **argv)
{
        const char *config = NULL;
        const char *requests = NULL;
        double seconds = 2.0;
        int cpu = -1;
        int json = 0;
        int ch;
        while ((ch = getopt(argc, argv, "c:r:t:p:jh")) != -1) {
                switch (ch) {
                case 'c':
                        config = optarg;
                        break;
                case 'r':
                        requests = optarg;
                        break;
                case 't':
                        seconds = atof(optarg);
                        break;
                case 'p':
                        cpu = atoi(optarg);
                        break;
                case 'j':
                        json = 1;
                        break;
                default:
                        usage();
                        return 2;
                }
        }
        if (seconds <= 0) {
                usage();
                return 2;
        }
        char default_config[4096];
        if (!config) {
                const char *src = getenv("ERASURE_SOURCE_DIR");
                snprintf(default_config, sizeof(default_config),
                         "%s/config/erasure-worker.conf",
                         src && *src ? src : ERASURE_SOURCE_DIR);
                config = default_config;
        }
        if (cpu >= 0) {
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(cpu, &set);
                if (sched_setaffinity(0, sizeof(set), &set) != 0)
                        perror("plan_bench: sched_setaffinity");
        }
        set_fake_secrets();
        log_set_level(LOG_ERROR);
        char err[1024];
        struct settings *s = settings_load(config, 1, err, sizeof(err));
        if (!s) {
                fprintf(stderr, "plan_bench: %s\n", err);
                return 3;
        }
        static struct sample samples[MAX_REQUESTS];
        const char *names[2] = {"file", NULL};
        size_t nsets = 1;
        if (!requests) {
                names[0] = "mix";
                names[1] = "single";
                nsets = 2;
        }
        int rc = 0;
        if (json)
                printf("{\"cpu_pinned\":%d,\"sets\":[", cpu);
        else
                printf("  %-34s %12s %12s %10s\n", "requests: phase", "req/s",
                       "req/cpu-s", "us/req");
        for (size_t set = 0; set < nsets && rc == 0; set++) {
                size_t n =
                    requests ? file_samples(requests, samples, MAX_REQUESTS)
                             : builtin_samples(set == 0, samples, MAX_REQUESTS);
                if (n == 0) {
                        fprintf(stderr, "plan_bench: no requests to plan\n");
                        rc = 2;
                        break;
                }
                rc = bench_set(s, names[set], samples, n, seconds, json,
                               set > 0);
                for (size_t i = 0; i < n; i++)
                        free(samples[i].text);
        }
        if (json)
                printf("]}\n");
        settings_free(s);
        return rc ? 1 : 0;
}
