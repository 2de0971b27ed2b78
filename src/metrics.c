/* metrics — Prometheus counters and the health the probes report (the
 * server that answers them is metrics_http.c).
 *
 * Series are bounded: at most METRICS_MAX_SERIES label combinations across
 * all labelled families. Once that many exist, a sample for a combination
 * not yet seen is counted under one overflow series of its family, whose
 * every label value is "_overflow" (for example
 * erasure_calls_total{provider="_overflow",action="_overflow",
 * status="_overflow"}). Combinations that already exist keep counting on
 * their own series. The overflow series of erasure_committed_offset holds
 * whichever overflowing partition committed last, so it only says that the
 * cap was hit. An overflow series appears only once it is used.
 *
 * Label values longer than METRICS_MAX_LABEL_LEN bytes are cut at a UTF-8
 * character boundary, so a runaway value costs bounded memory.
 *
 * A document that would exceed METRICS_MAX_RENDER bytes is not rendered at
 * all: /metrics then answers 500 rather than a silently truncated scrape.
 *
 * If memory runs out while adding a series, the sample is dropped; the
 * worker must not fail because of its metrics. */
#include "metrics.h"
#include "buf.h"
#include "clock.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_http.h"

#define METRICS_MAX_SERIES    4096
#define METRICS_MAX_LABEL_LEN 128
#define METRICS_MAX_RENDER    (4u * 1024u * 1024u)
#define METRICS_OVERFLOW      "_overflow"
#define MAX_LABELS            3
#define NBUCKETS              13 /* 12 finite bounds and +Inf */
#define DEFAULT_STALL_MS      30000

enum family {
        FAM_REJECTED,
        FAM_FINISHED,
        FAM_DEAD_LETTERED,
        FAM_CALLS,
        FAM_RETRIES,
        FAM_DURATION,
        FAM_COMMITTED,
        FAM_TOKEN_FETCHES,
        FAM_TOKEN_AGE,
        FAM_COUNT
};

/* Every family may add one overflow series beyond the cap. The index has
 * about twice as many slots as series, so linear probing stays short and
 * always finds an empty slot. */
#define MAX_SERIES_TOTAL (METRICS_MAX_SERIES + FAM_COUNT)
#define INDEX_SLOTS      8192u
_Static_assert(INDEX_SLOTS >= 2 * METRICS_MAX_SERIES, "index too small");
_Static_assert((INDEX_SLOTS & (INDEX_SLOTS - 1)) == 0, "not a power of 2");

#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME  1099511628211ULL

enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

struct family_desc {
        const char *name;
        const char *help;
        enum kind kind;
        size_t nlabels;
        const char *labels[MAX_LABELS];
};

static const struct family_desc families[FAM_COUNT] = {
    [FAM_REJECTED] = {"erasure_requests_rejected_total",
                      "Requests rejected as invalid, by reason.",
                      KIND_COUNTER,
                      1,
                      {"reason"}},
    [FAM_FINISHED] = {"erasure_requests_finished_total",
                      "Requests finished, by overall status.",
                      KIND_COUNTER,
                      1,
                      {"status"}},
    [FAM_DEAD_LETTERED] = {"erasure_requests_dead_lettered_total",
                           "Requests sent to the dead-letter topic, by "
                           "reason.",
                           KIND_COUNTER,
                           1,
                           {"reason"}},
    [FAM_CALLS] = {"erasure_calls_total",
                   "Provider deletion calls finished, by outcome status.",
                   KIND_COUNTER,
                   3,
                   {"provider", "action", "status"}},
    [FAM_RETRIES] = {"erasure_call_retries_total",
                     "Provider deletion calls retried.",
                     KIND_COUNTER,
                     2,
                     {"provider", "action"}},
    [FAM_DURATION] = {"erasure_call_duration_seconds",
                      "Duration of provider deletion calls.",
                      KIND_HISTOGRAM,
                      1,
                      {"provider"}},
    [FAM_COMMITTED] = {"erasure_committed_offset",
                       "Last offset committed, by partition.",
                       KIND_GAUGE,
                       1,
                       {"partition"}},
    [FAM_TOKEN_FETCHES] = {"erasure_oauth_token_fetches_total",
                           "OAuth token requests, by account and result "
                           "(ok, rejected, error).",
                           KIND_COUNTER,
                           3,
                           {"provider", "account", "result"}},
    /* gauge holds when the token was requested (mono ms); rendered as
     * an age so that it grows between fetches. */
    [FAM_TOKEN_AGE] = {"erasure_oauth_token_age_seconds",
                       "Age of the OAuth token in use, by account.",
                       KIND_GAUGE,
                       2,
                       {"provider", "account"}},
};

static const double bucket_bounds[NBUCKETS - 1] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
static const char *const bucket_le[NBUCKETS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    "1",     "2.5",  "5",     "10",   "30",  "+Inf"};

/* The finished statuses are a fixed vocabulary; exporting them at 0 from
 * the start lets rate() and ratios work before the first failure. */
static const char *const finished_statuses[] = {"completed", "partially_failed",
                                                "failed", "rejected"};

struct series {
        enum family family;
        int next; /* next series of the same family, -1 at the end */
        char *labels[MAX_LABELS];
        uint64_t count; /* counter value, or histogram observations */
        int64_t gauge;  /* committed offset: int64 keeps every digit */
        double sum;     /* histogram sum */
        uint64_t buckets[NBUCKETS]; /* per bucket, made cumulative on output */
};

/* What one worker loop reports about itself; the process's value is
 * aggregated over the loops at render (loop_totals_locked()). */
struct loop_gauges {
        int used; /* its handle is alive */
        size_t requests_in_flight;
        size_t calls_in_flight;
        size_t paused_partitions;
        size_t backlog_requests;
        size_t backlog_bytes;
        size_t assigned_partitions;
        int64_t oldest_open_requested_ms; /* wall; -1: none */
        size_t past_deadline;
        int64_t open_scan_due_ms; /* mono */
        int producer_healthy;
        int64_t last_heartbeat_ms;
};

/* The root (metrics_new()) holds everything; a loop's handle
 * (metrics_loop_new()) only names its slot and uses the root's lock. */
struct metrics {
        struct metrics *root; /* NULL in the root itself */
        size_t slot;          /* in root->loops; the root's own is 0 */

        pthread_mutex_t lock;
        struct metrics_http *http; /* the probe server, once serving */
        struct metrics_limits limits;

        uint64_t consumed;
        struct loop_gauges *loops;
        size_t nloops;
        int64_t stall_ms;

        struct series *series;
        size_t nseries;
        size_t series_cap;
        size_t nlabelled;    /* series counted against the cap */
        int head[FAM_COUNT]; /* render in insertion order */
        int tail[FAM_COUNT];
        int32_t index[INDEX_SLOTS]; /* series position, -1 if empty */
};

static struct metrics *root_of(struct metrics *m)
{
        return m->root ? m->root : m;
}

/* m's slot, with the root's lock held. */
static struct loop_gauges *gauges_locked(struct metrics *m)
{
        return &root_of(m)->loops[m->slot];
}

/* Locks the root and returns m's slot; unlock with gauges_unlock(). */
static struct loop_gauges *gauges_lock(struct metrics *m)
{
        pthread_mutex_lock(&root_of(m)->lock);
        return gauges_locked(m);
}

static void gauges_unlock(struct metrics *m)
{
        pthread_mutex_unlock(&root_of(m)->lock);
}

static void gauges_init(struct loop_gauges *g)
{
        memset(g, 0, sizeof(*g));
        g->used = 1;
        /* Until someone reports otherwise the producer is assumed fine;
         * readiness is held back by the partition count anyway. */
        g->producer_healthy = 1;
        g->oldest_open_requested_ms = -1;
        /* A loop that never beats at all must also count as stalled. */
        g->last_heartbeat_ms = clock_mono_ms();
}

/* The process: in-flight and partition counts summed, the producer
 * healthy only if every loop's is, the oldest heartbeat and the oldest
 * open request of any loop. */
static void loop_totals_locked(const struct metrics *r, struct loop_gauges *t)
{
        memset(t, 0, sizeof(*t));
        t->producer_healthy = 1;
        t->oldest_open_requested_ms = -1;
        t->last_heartbeat_ms = INT64_MAX;
        for (size_t i = 0; i < r->nloops; i++) {
                const struct loop_gauges *g = &r->loops[i];
                if (!g->used)
                        continue;
                t->requests_in_flight += g->requests_in_flight;
                t->calls_in_flight += g->calls_in_flight;
                t->paused_partitions += g->paused_partitions;
                t->backlog_requests += g->backlog_requests;
                t->backlog_bytes += g->backlog_bytes;
                t->assigned_partitions += g->assigned_partitions;
                t->past_deadline += g->past_deadline;
                t->producer_healthy &= g->producer_healthy;
                if (g->last_heartbeat_ms < t->last_heartbeat_ms)
                        t->last_heartbeat_ms = g->last_heartbeat_ms;
                if (g->oldest_open_requested_ms >= 0 &&
                    (t->oldest_open_requested_ms < 0 ||
                     g->oldest_open_requested_ms < t->oldest_open_requested_ms))
                        t->oldest_open_requested_ms =
                            g->oldest_open_requested_ms;
        }
        if (t->last_heartbeat_ms == INT64_MAX)
                t->last_heartbeat_ms = clock_mono_ms();
}

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
{
        va_list ap;

        if (!errstr || errstr_size == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
}

/* ---- series store ---- */

static void copy_label(char out[METRICS_MAX_LABEL_LEN + 1], const char *v)
{
        size_t n;

        if (!v)
                v = "";
        n = strnlen(v, METRICS_MAX_LABEL_LEN + 1);
        if (n > METRICS_MAX_LABEL_LEN) {
                n = METRICS_MAX_LABEL_LEN;
                /* Never split a multi-byte character: the exposition
                 * format requires label values to be valid UTF-8. */
                while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
                        n--;
        }
        memcpy(out, v, n);
        out[n] = '\0';
}

static uint64_t series_hash(enum family fam,
                            char vals[][METRICS_MAX_LABEL_LEN + 1],
                            size_t nlabels)
{
        uint64_t h = (FNV_OFFSET ^ (uint64_t)fam) * FNV_PRIME;
        size_t i, j, len;

        for (i = 0; i < nlabels; i++) {
                /* Hashing the NUL too keeps ("ab","c") apart from
                 * ("a","bc"). */
                len = strlen(vals[i]) + 1;
                for (j = 0; j < len; j++)
                        h = (h ^ (unsigned char)vals[i][j]) * FNV_PRIME;
        }
        return h;
}

static int series_equal(const struct series *s, enum family fam,
                        char vals[][METRICS_MAX_LABEL_LEN + 1], size_t nlabels)
{
        size_t i;

        if (s->family != fam)
                return 0;
        for (i = 0; i < nlabels; i++) {
                if (strcmp(s->labels[i], vals[i]) != 0)
                        return 0;
        }
        return 1;
}

/* Returns the index slot holding the series, or the empty slot where it
 * would go. */
static size_t index_probe(const struct metrics *m, enum family fam,
                          char vals[][METRICS_MAX_LABEL_LEN + 1])
{
        size_t nlabels = families[fam].nlabels;
        size_t slot = series_hash(fam, vals, nlabels) & (INDEX_SLOTS - 1);
        int32_t at;

        for (;;) {
                at = m->index[slot];
                if (at < 0 || series_equal(&m->series[at], fam, vals, nlabels))
                        return slot;
                slot = (slot + 1) & (INDEX_SLOTS - 1);
        }
}

static int series_reserve(struct metrics *m)
{
        size_t cap;
        struct series *grown;

        if (m->nseries < m->series_cap)
                return 0;
        cap = m->series_cap ? m->series_cap * 2 : 64;
        if (cap > MAX_SERIES_TOTAL)
                cap = MAX_SERIES_TOTAL;
        if (cap <= m->nseries)
                return -1;
        grown = realloc(m->series, cap * sizeof(*grown));
        if (!grown)
                return -1;
        m->series = grown;
        m->series_cap = cap;
        return 0;
}

static void series_clear_labels(struct series *s)
{
        size_t i;

        for (i = 0; i < MAX_LABELS; i++) {
                free(s->labels[i]);
                s->labels[i] = NULL;
        }
}

static struct series *series_add(struct metrics *m, size_t slot,
                                 enum family fam,
                                 char vals[][METRICS_MAX_LABEL_LEN + 1])
{
        struct series *s;
        size_t i;
        int at;

        if (series_reserve(m) != 0)
                return NULL;
        s = &m->series[m->nseries];
        memset(s, 0, sizeof(*s));
        s->family = fam;
        s->next = -1;
        for (i = 0; i < families[fam].nlabels; i++) {
                s->labels[i] = strdup(vals[i]);
                if (!s->labels[i]) {
                        series_clear_labels(s);
                        return NULL;
                }
        }
        at = (int)m->nseries++;
        m->index[slot] = at;
        if (m->tail[fam] >= 0)
                m->series[m->tail[fam]].next = at;
        else
                m->head[fam] = at;
        m->tail[fam] = at;
        return s;
}

/* The series for these label values, created if the cap allows, else the
 * family's overflow series. NULL only when memory runs out. */
static struct series *series_get(struct metrics *m, enum family fam,
                                 const char *const *values)
{
        char vals[MAX_LABELS][METRICS_MAX_LABEL_LEN + 1];
        size_t i, slot, n = families[fam].nlabels;
        struct series *s;

        for (i = 0; i < n; i++)
                copy_label(vals[i], values[i]);
        slot = index_probe(m, fam, vals);
        if (m->index[slot] >= 0)
                return &m->series[m->index[slot]];
        if (m->nlabelled < METRICS_MAX_SERIES) {
                s = series_add(m, slot, fam, vals);
                if (s)
                        m->nlabelled++;
                return s;
        }
        for (i = 0; i < n; i++)
                copy_label(vals[i], METRICS_OVERFLOW);
        slot = index_probe(m, fam, vals);
        if (m->index[slot] >= 0)
                return &m->series[m->index[slot]];
        return series_add(m, slot, fam, vals);
}

static void count_locked(struct metrics *m, enum family fam,
                         const char *const *values)
{
        struct series *s = series_get(m, fam, values);

        if (s)
                s->count++;
}

static void count_sample(struct metrics *m, enum family fam,
                         const char *const *values)
{
        if (!m)
                return;
        m = root_of(m);
        pthread_mutex_lock(&m->lock);
        count_locked(m, fam, values);
        pthread_mutex_unlock(&m->lock);
}

static size_t bucket_of(double v)
{
        size_t i;

        for (i = 0; i < NBUCKETS - 1; i++) {
                if (v <= bucket_bounds[i])
                        return i;
        }
        return NBUCKETS - 1;
}

static void observe_locked(struct metrics *m, const char *provider,
                           double latency_s)
{
        const char *values[1] = {provider};
        struct series *s = series_get(m, FAM_DURATION, values);

        if (!s)
                return;
        /* One NaN or infinity would poison _sum for the life of the
         * process; a clock glitch is better recorded as zero. */
        if (!isfinite(latency_s) || latency_s < 0)
                latency_s = 0;
        s->buckets[bucket_of(latency_s)]++;
        s->count++;
        s->sum += latency_s;
}

/* ---- lifecycle ---- */

struct metrics *metrics_new(void)
{
        struct metrics *m = calloc(1, sizeof(*m));
        size_t i;

        if (!m)
                return NULL;
        m->loops = calloc(1, sizeof(*m->loops));
        if (!m->loops || pthread_mutex_init(&m->lock, NULL) != 0) {
                free(m->loops);
                free(m);
                return NULL;
        }
        m->nloops = 1;
        gauges_init(&m->loops[0]);
        for (i = 0; i < INDEX_SLOTS; i++)
                m->index[i] = -1;
        for (i = 0; i < FAM_COUNT; i++) {
                m->head[i] = -1;
                m->tail[i] = -1;
        }
        m->stall_ms = DEFAULT_STALL_MS;
        metrics_set_limits(m, NULL);
        for (i = 0; i < sizeof(finished_statuses) / sizeof(*finished_statuses);
             i++) {
                const char *values[1] = {finished_statuses[i]};
                series_get(m, FAM_FINISHED, values);
        }
        return m;
}

struct metrics *metrics_loop_new(struct metrics *root)
{
        struct loop_gauges *grown;
        struct metrics *h;

        if (!root || root->root)
                return NULL;
        h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        pthread_mutex_lock(&root->lock);
        grown = realloc(root->loops, (root->nloops + 1) * sizeof(*grown));
        if (grown) {
                root->loops = grown;
                gauges_init(&grown[root->nloops]);
                h->slot = root->nloops++;
        }
        pthread_mutex_unlock(&root->lock);
        if (!grown) {
                free(h);
                return NULL;
        }
        h->root = root;
        return h;
}

void metrics_free(struct metrics *m)
{
        size_t i;

        if (!m)
                return;
        if (m->root) {
                /* A loop gone no longer holds /healthz back. */
                gauges_lock(m)->used = 0;
                gauges_unlock(m);
                free(m);
                return;
        }
        /* Stop the server first: its thread may be rendering right now. */
        metrics_http_free(m->http);
        for (i = 0; i < m->nseries; i++)
                series_clear_labels(&m->series[i]);
        free(m->series);
        free(m->loops);
        pthread_mutex_destroy(&m->lock);
        free(m);
}

/* ---- updates ---- */

void metrics_request_consumed(struct metrics *m)
{
        if (!m)
                return;
        m = root_of(m);
        pthread_mutex_lock(&m->lock);
        m->consumed++;
        pthread_mutex_unlock(&m->lock);
}

void metrics_request_rejected(struct metrics *m, const char *reason)
{
        const char *values[1] = {reason};

        count_sample(m, FAM_REJECTED, values);
}

void metrics_request_finished(struct metrics *m, const char *overall)
{
        const char *values[1] = {overall};

        count_sample(m, FAM_FINISHED, values);
}

void metrics_request_dead_lettered(struct metrics *m, const char *reason)
{
        const char *values[1] = {reason};

        count_sample(m, FAM_DEAD_LETTERED, values);
}

void metrics_call_finished(struct metrics *m, const char *provider,
                           const char *action, const char *status,
                           double latency_s)
{
        const char *values[3] = {provider, action, status};

        if (!m)
                return;
        m = root_of(m);
        pthread_mutex_lock(&m->lock);
        count_locked(m, FAM_CALLS, values);
        observe_locked(m, provider, latency_s);
        pthread_mutex_unlock(&m->lock);
}

void metrics_call_retried(struct metrics *m, const char *provider,
                          const char *action)
{
        const char *values[2] = {provider, action};

        count_sample(m, FAM_RETRIES, values);
}

void metrics_set_in_flight(struct metrics *m, size_t requests, size_t calls)
{
        struct loop_gauges *g;

        if (!m)
                return;
        g = gauges_lock(m);
        g->requests_in_flight = requests;
        g->calls_in_flight = calls;
        gauges_unlock(m);
}

void metrics_set_paused_partitions(struct metrics *m, size_t n)
{
        if (!m)
                return;
        gauges_lock(m)->paused_partitions = n;
        gauges_unlock(m);
}

void metrics_set_backlog(struct metrics *m, size_t requests, size_t bytes)
{
        struct loop_gauges *g;

        if (!m)
                return;
        g = gauges_lock(m);
        g->backlog_requests = requests;
        g->backlog_bytes = bytes;
        gauges_unlock(m);
}

void metrics_set_assigned_partitions(struct metrics *m, size_t n)
{
        if (!m)
                return;
        gauges_lock(m)->assigned_partitions = n;
        gauges_unlock(m);
}

void metrics_offset_committed(struct metrics *m, int32_t partition,
                              int64_t offset)
{
        char label[16];
        const char *values[1] = {label};
        struct series *s;

        if (!m)
                return;
        snprintf(label, sizeof(label), "%" PRId32, partition);
        m = root_of(m);
        pthread_mutex_lock(&m->lock);
        s = series_get(m, FAM_COMMITTED, values);
        if (s)
                s->gauge = offset;
        pthread_mutex_unlock(&m->lock);
}

void metrics_token_fetched(struct metrics *m, const char *provider,
                           const char *account, const char *result,
                           int64_t fetched_mono_ms)
{
        const char *values[3] = {provider, account, result};
        struct series *s;

        if (!m)
                return;
        m = root_of(m);
        pthread_mutex_lock(&m->lock);
        count_locked(m, FAM_TOKEN_FETCHES, values);
        s = fetched_mono_ms >= 0 ? series_get(m, FAM_TOKEN_AGE, values) : NULL;
        if (s)
                s->gauge = fetched_mono_ms;
        pthread_mutex_unlock(&m->lock);
}

void metrics_set_producer_healthy(struct metrics *m, int healthy)
{
        if (!m)
                return;
        gauges_lock(m)->producer_healthy = healthy ? 1 : 0;
        gauges_unlock(m);
}

void metrics_loop_heartbeat(struct metrics *m, int64_t mono_ms)
{
        if (!m)
                return;
        gauges_lock(m)->last_heartbeat_ms = mono_ms;
        gauges_unlock(m);
}

void metrics_set_stall_limit(struct metrics *m, int64_t stall_ms)
{
        /* A limit of zero or less would report every loop as stalled;
         * keep the previous limit instead. */
        if (!m || stall_ms <= 0)
                return;
        m = root_of(m);
        pthread_mutex_lock(&m->lock);
        m->stall_ms = stall_ms;
        pthread_mutex_unlock(&m->lock);
}

void metrics_set_open_requests(struct metrics *m, int64_t oldest_requested_ms,
                               size_t past_deadline)
{
        struct loop_gauges *g;

        if (!m)
                return;
        g = gauges_lock(m);
        g->oldest_open_requested_ms = oldest_requested_ms;
        g->past_deadline = past_deadline;
        gauges_unlock(m);
}

int metrics_open_requests_due(struct metrics *m, int64_t mono_ms)
{
        struct loop_gauges *g;
        int due;

        if (!m)
                return 0;
        g = gauges_lock(m);
        due = mono_ms >= g->open_scan_due_ms;
        if (due)
                g->open_scan_due_ms = mono_ms + 1000;
        gauges_unlock(m);
        return due;
}

/* ---- health ---- */

static int64_t heartbeat_age(const struct loop_gauges *t, int64_t mono_ms)
{
        int64_t age = mono_ms - t->last_heartbeat_ms;

        return age > 0 ? age : 0;
}

/* Healthy while every loop turns: one stalled loop holds its partitions
 * idle however busy the others are. */
int metrics_healthy(struct metrics *m, int64_t mono_ms)
{
        struct loop_gauges t;
        int healthy;

        if (!m)
                return 0;
        m = root_of(m);
        pthread_mutex_lock(&m->lock);
        loop_totals_locked(m, &t);
        healthy = heartbeat_age(&t, mono_ms) < m->stall_ms;
        pthread_mutex_unlock(&m->lock);
        return healthy;
}

/* NULL when ready, else the reason /readyz reports.
 *
 * A worker holding no partitions, for example because the group has more
 * members than the topic has partitions, is alive but not ready, and that
 * is the signal we want: readiness only takes a pod out of Service
 * endpoints, it never restarts it (that is liveness, /healthz). The pod
 * stays in the group as a standby, takes partitions on the next rebalance
 * and turns ready then, while dashboards and rollouts see honestly that it
 * is doing no work. Nothing is routed to a consumer through its Service, so
 * being unready costs it nothing. With several loops the process is ready
 * when any of them holds a partition (a loop without one is a standby of
 * its own) and every loop's producer is healthy. */
const char *metrics_unready_reason(struct metrics *m)
{
        struct loop_gauges t;
        const char *reason = NULL;

        m = root_of(m);
        pthread_mutex_lock(&m->lock);
        loop_totals_locked(m, &t);
        if (t.assigned_partitions == 0)
                reason = "no partitions assigned\n";
        else if (!t.producer_healthy)
                reason = "producer unhealthy\n";
        pthread_mutex_unlock(&m->lock);
        return reason;
}

int metrics_ready(struct metrics *m)
{
        if (!m)
                return 0;
        return metrics_unready_reason(m) == NULL;
}

/* ---- rendering ---- */

/* Label values: Prometheus escapes only these three. */
static void put_escaped(struct buf *b, const char *s)
{
        const char *run = s;

        for (; *s; s++) {
                const char *esc = NULL;

                if (*s == '\\')
                        esc = "\\\\";
                else if (*s == '"')
                        esc = "\\\"";
                else if (*s == '\n')
                        esc = "\\n";
                if (!esc)
                        continue;
                buf_add(b, run, (size_t)(s - run));
                buf_adds(b, esc);
                run = s + 1;
        }
        buf_add(b, run, (size_t)(s - run));
}

/* Shortest of %.15g..%.17g that reads back as the same double. */
static void format_double(char out[32], double v)
{
        int prec;

        for (prec = 15; prec <= 17; prec++) {
                snprintf(out, 32, "%.*g", prec, v);
                if (strtod(out, NULL) == v)
                        return;
        }
}

static void render_header(struct buf *b, const char *name, const char *help,
                          const char *type)
{
        buf_printf(b, "# HELP %s %s\n", name, help);
        buf_printf(b, "# TYPE %s %s\n", name, type);
}

static void render_labels(struct buf *b, const struct series *s, const char *le)
{
        const struct family_desc *f = &families[s->family];
        size_t i;

        buf_adds(b, "{");
        for (i = 0; i < f->nlabels; i++) {
                buf_printf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
                put_escaped(b, s->labels[i]);
                buf_adds(b, "\"");
        }
        if (le)
                buf_printf(b, ",le=\"%s\"", le);
        buf_adds(b, "}");
}

static void render_histogram(struct buf *b, const struct series *s)
{
        const char *name = families[s->family].name;
        uint64_t cumulative = 0;
        char sum[32];
        size_t i;

        for (i = 0; i < NBUCKETS; i++) {
                cumulative += s->buckets[i];
                buf_printf(b, "%s_bucket", name);
                render_labels(b, s, bucket_le[i]);
                buf_printf(b, " %" PRIu64 "\n", cumulative);
        }
        format_double(sum, s->sum);
        buf_printf(b, "%s_sum", name);
        render_labels(b, s, NULL);
        buf_printf(b, " %s\n", sum);
        buf_printf(b, "%s_count", name);
        render_labels(b, s, NULL);
        buf_printf(b, " %" PRIu64 "\n", s->count);
}

static void render_sample(struct buf *b, const struct series *s)
{
        const struct family_desc *f = &families[s->family];

        buf_adds(b, f->name);
        render_labels(b, s, NULL);
        if (f->kind == KIND_GAUGE)
                buf_printf(b, " %" PRId64 "\n", s->gauge);
        else
                buf_printf(b, " %" PRIu64 "\n", s->count);
}

static void render_family(struct buf *b, const struct metrics *m,
                          enum family fam)
{
        static const char *const type_names[] = {[KIND_COUNTER] = "counter",
                                                 [KIND_GAUGE] = "gauge",
                                                 [KIND_HISTOGRAM] =
                                                     "histogram"};
        const struct family_desc *f = &families[fam];
        int at;

        render_header(b, f->name, f->help, type_names[f->kind]);
        for (at = m->head[fam]; at >= 0; at = m->series[at].next) {
                if (f->kind == KIND_HISTOGRAM)
                        render_histogram(b, &m->series[at]);
                else
                        render_sample(b, &m->series[at]);
        }
}

static void render_size_gauge(struct buf *b, const char *name, const char *help,
                              size_t v)
{
        render_header(b, name, help, "gauge");
        buf_printf(b, "%s %zu\n", name, v);
}

static void render_requests(struct buf *b, const struct metrics *m)
{
        render_header(b, "erasure_requests_consumed_total",
                      "Requests consumed from the request topic.", "counter");
        buf_printf(b, "erasure_requests_consumed_total %" PRIu64 "\n",
                   m->consumed);
        render_family(b, m, FAM_REJECTED);
        render_family(b, m, FAM_FINISHED);
        render_family(b, m, FAM_DEAD_LETTERED);
}

static void render_token_ages(struct buf *b, const struct metrics *m,
                              int64_t now_ms)
{
        const struct family_desc *f = &families[FAM_TOKEN_AGE];
        render_header(b, f->name, f->help, "gauge");
        for (int at = m->head[FAM_TOKEN_AGE]; at >= 0;
             at = m->series[at].next) {
                int64_t age = now_ms - m->series[at].gauge;
                if (age < 0)
                        age = 0;
                buf_adds(b, f->name);
                render_labels(b, &m->series[at], NULL);
                buf_printf(b, " %" PRId64 ".%03" PRId64 "\n", age / 1000,
                           age % 1000);
        }
}

static void render_calls(struct buf *b, const struct metrics *m, int64_t now_ms)
{
        render_family(b, m, FAM_CALLS);
        render_family(b, m, FAM_RETRIES);
        render_family(b, m, FAM_DURATION);
        render_family(b, m, FAM_TOKEN_FETCHES);
        render_token_ages(b, m, now_ms);
}

/* Issue 15: GDPR gives a month; these show it running out. */
static void render_deadlines(struct buf *b, const struct loop_gauges *t)
{
        int64_t age = 0;
        if (t->oldest_open_requested_ms >= 0)
                age = clock_wall_ms() - t->oldest_open_requested_ms;
        render_header(b, "erasure_oldest_open_request_age_seconds",
                      "Seconds since requested_at of the oldest request this "
                      "worker holds unfinished (0: none).",
                      "gauge");
        buf_printf(b, "erasure_oldest_open_request_age_seconds %" PRId64 "\n",
                   age > 0 ? age / 1000 : 0);
        render_size_gauge(b, "erasure_open_requests_past_deadline",
                          "Unfinished requests held past requested_at + "
                          "worker.deadline_days.",
                          t->past_deadline);
}

static void render_state(struct buf *b, const struct metrics *m, int64_t now_ms)
{
        struct loop_gauges t;
        loop_totals_locked(m, &t);
        int64_t age = heartbeat_age(&t, now_ms);

        render_size_gauge(b, "erasure_requests_in_flight",
                          "Requests being worked on.", t.requests_in_flight);
        render_size_gauge(b, "erasure_calls_in_flight",
                          "Provider calls in flight.", t.calls_in_flight);
        render_size_gauge(b, "erasure_paused_partitions",
                          "Partitions paused for backpressure.",
                          t.paused_partitions);
        render_size_gauge(b, "erasure_backlog_requests",
                          "Requests consumed, waiting for room to start.",
                          t.backlog_requests);
        render_size_gauge(b, "erasure_backlog_bytes",
                          "Bytes the waiting requests hold.", t.backlog_bytes);
        render_size_gauge(b, "erasure_assigned_partitions",
                          "Partitions assigned to this worker.",
                          t.assigned_partitions);
        render_family(b, m, FAM_COMMITTED);
        render_size_gauge(b, "erasure_producer_healthy",
                          "1 if the outcome producer is healthy, else 0.",
                          (size_t)t.producer_healthy);
        render_header(b, "erasure_loop_last_heartbeat_age_seconds",
                      "Seconds since the event loop last turned.", "gauge");
        buf_printf(b,
                   "erasure_loop_last_heartbeat_age_seconds %" PRId64
                   ".%03" PRId64 "\n",
                   age / 1000, age % 1000);
        render_deadlines(b, &t);
}

char *metrics_render(struct metrics *m)
{
        struct buf b;
        int64_t now_ms = clock_mono_ms();

        if (!m)
                return NULL;
        m = root_of(m);
        buf_init(&b, METRICS_MAX_RENDER);
        pthread_mutex_lock(&m->lock);
        render_requests(&b, m);
        render_calls(&b, m, now_ms);
        render_state(&b, m, now_ms);
        pthread_mutex_unlock(&m->lock);
        return buf_take(&b);
}

/* ---- the probe server (metrics_http.c) ---- */

void metrics_set_limits(struct metrics *m, const struct metrics_limits *l)
{
        if (m)
                metrics_http_limits_default(&m->limits, l);
}

int metrics_serve(struct metrics *m, const char *bind, int port, char *errstr,
                  size_t errstr_size)
{
        if (!m || m->root) {
                set_err(errstr, errstr_size, "metrics: no metrics");
                return -1;
        }
        if (m->http) {
                set_err(errstr, errstr_size, "metrics: already serving");
                return -1;
        }
        m->http =
            metrics_http_start(m, bind, port, &m->limits, errstr, errstr_size);
        return m->http ? 0 : -1;
}

int metrics_port(const struct metrics *m)
{
        return m ? metrics_http_port(m->http) : 0;
}
