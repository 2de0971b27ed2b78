/* worker_intake — the consume, parse and plan steps of the loop (see the
 * map in worker.c): a message becomes a job, its request is parsed and
 * planned into calls that join their accounts' queues, or it is rejected
 * and dead-lettered with the reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"
#include "outcome.h"
#include "provider.h"
#include "request.h"
#include "settings.h"
#include "text.h"
#include "worker_model.h"

#define CONSUME_BATCH 64 /* messages taken per loop turn */

static char *header_string(rd_kafka_headers_t *h, const char *name)
{
        const void *v = NULL;
        size_t len = 0;
        if (!h || rd_kafka_header_get_last(h, name, &v, &len) || !v ||
            len == 0 || len > 512)
                return NULL;
        /* Only printable ASCII travels on into our own headers. */
        if (!text_is_printable_ascii(v, len))
                return NULL;
        return strndup(v, len);
}

static void *dup_bytes(const void *p, size_t n)
{
        if (!p || n == 0)
                return NULL;
        void *d = malloc(n);
        if (d)
                memcpy(d, p, n);
        return d;
}

/* What a job holds of its message: its copy, and the dead-letter copy
 * it may hand the producer. */
static size_t job_message_bytes(const struct job *j)
{
        return sizeof(*j) + 2 * j->value_len + j->key_len;
}

/* What the planned calls hold: each its URL, headers, body, resource. */
static size_t plan_bytes(const struct provider_plan *plan)
{
        size_t n = plan->ncalls * (sizeof(struct call) + sizeof(*plan->calls));
        for (size_t i = 0; i < plan->ncalls; i++) {
                const struct provider_call *c = &plan->calls[i];
                n += strlen(c->url) + 1 + (c->body ? strlen(c->body) + 1 : 0) +
                     strlen(c->resource) + 1;
                for (size_t h = 0; h < c->nheaders; h++)
                        n += sizeof(*c->headers) + strlen(c->headers[h].name) +
                             strlen(c->headers[h].value) + 2;
        }
        return n;
}

/* A copy of the message joins the backlog; nothing else happens until it
 * starts (job_begin()). */
static struct job *job_from_message(struct worker *w,
                                    const rd_kafka_message_t *m)
{
        struct job *j = calloc(1, sizeof(*j));
        if (!j)
                return NULL;
        j->partition = m->partition;
        j->offset = m->offset;
        j->requested_at_ms = -1;
        j->key = dup_bytes(m->key, m->key_len);
        j->key_len = j->key ? m->key_len : 0;
        j->value = dup_bytes(m->payload, m->len);
        j->value_len = j->value ? m->len : 0;
        rd_kafka_headers_t *h = NULL;
        if (rd_kafka_message_headers(m, &h) == 0 && h)
                j->headers = rd_kafka_headers_copy(h);
        j->traceparent = header_string(j->headers, "traceparent");
        if ((m->len && !j->value) || (m->key_len && !j->key)) {
                worker_job_free(j);
                return NULL;
        }
        j->bytes = job_message_bytes(j);
        TAILQ_INSERT_TAIL(&w->backlog, j, backlog_link);
        w->backlog_len++;
        w->backlog_bytes += j->bytes;
        w->bytes_in_flight += j->bytes;
        return j;
}

static void backlog_unlink(struct worker *w, struct job *j)
{
        TAILQ_REMOVE(&w->backlog, j, backlog_link);
        w->backlog_len--;
        w->backlog_bytes -= j->bytes;
}

/* The backlog's oldest becomes a job in flight; the backlog is in
 * offset order per partition, so the tracker sees offsets in order. */
static void job_begin(struct worker *w, struct job *j)
{
        backlog_unlink(w, j);
        j->started_mono = clock_mono_ms();
        LIST_INSERT_HEAD(&w->jobs, j, link);
        w->njobs++;
        j->tracked = offsets_begin(w->offsets, j->partition, j->offset) == 0;
        if (!j->tracked)
                log_warn(NULL, NULL,
                         "offset %d@%lld arrived out of order; it will be "
                         "processed but not committed",
                         j->partition, (long long)j->offset);
}

static void reject(struct worker *w, struct job *j, enum request_error code,
                   const char *reason)
{
        const char *name = request_error_name(code);
        log_warn(j->request_id, NULL, "request at %d@%lld rejected (%s): %s",
                 j->partition, (long long)j->offset, name, reason);
        metrics_request_rejected(w->m, name);
        worker_produce_dead_letter(w, j, name, reason);
        if (j->request_id) {
                j->counts[OUTCOME_REJECTED] = 1;
                worker_produce_summary(w, j, code, reason);
        } else {
                j->summary_sent = 1; /* nothing to summarise */
                worker_job_maybe_done(w, j);
        }
}

static int plan_calls(struct worker *w, struct job *j)
{
        j->calls =
            calloc(j->plan.ncalls ? j->plan.ncalls : 1, sizeof(*j->calls));
        if (!j->calls)
                return -1;
        j->calls_open = j->plan.ncalls;
        w->calls_planned += j->plan.ncalls;
        /* Set before any is queued: held calls look at all of them. */
        for (size_t i = 0; i < j->plan.ncalls; i++)
                j->calls[i].pc = &j->plan.calls[i];
        for (size_t i = 0; i < j->plan.ncalls; i++)
                worker_call_enqueue(w, j, &j->calls[i], &j->plan.calls[i]);
        return 0;
}

/* Out of memory is the worker's trouble, not the message's: it is
 * neither dead-lettered nor committed, and a restart tries again. */
static void internal_error(struct worker *w, const struct job *j,
                           const char *err)
{
        worker_fatal(
            w,
            "internal error on the request at %d@%lld: %s; not "
            "dead-lettered, not committed: it is retried after restart",
            j->partition, (long long)j->offset, err);
}

/* Parses and plans; the parsed tree is freed before the calls start, so
 * only the plan stays (the tree can be many times the message). */
static enum request_error parse_and_plan(struct worker *w, struct job *j,
                                         char *err, size_t err_size)
{
        enum request_error code = REQUEST_OK;
        struct request *req =
            request_parse(j->value, j->value_len, &w->s->request_limits, &code,
                          &j->request_id, err, err_size);
        if (!req)
                return code;
        if (!req->requested_at ||
            clock_parse_rfc3339(req->requested_at, &j->requested_at_ms))
                j->requested_at_ms = -1;
        code = provider_plan(w->s->providers, req, w->s->max_calls_per_request,
                             &j->plan, err, err_size);
        request_free(req);
        return code;
}

static void job_start(struct worker *w, struct job *j)
{
        job_begin(w, j);
        char err[512];
        enum request_error code = parse_and_plan(w, j, err, sizeof(err));
        if (code == REQUEST_ERR_INTERNAL) {
                internal_error(w, j, err);
                return;
        }
        if (code != REQUEST_OK) {
                reject(w, j, code, err);
                return;
        }
        log_debug(j->request_id, NULL, "request at %d@%lld: %zu call(s)",
                  j->partition, (long long)j->offset, j->plan.ncalls);
        size_t pb = plan_bytes(&j->plan);
        j->bytes += pb;
        w->bytes_in_flight += pb;
        if (plan_calls(w, j) != 0) {
                internal_error(w, j, "out of memory planning a request");
                return;
        }
        if (j->plan.ncalls == 0)
                worker_job_calls_finished(w, j);
}

/* Whether a backlog request may start: below every cap of work in
 * flight (the backlog's own bytes are counted already), or nothing is in
 * flight, so one request larger than a cap still goes. Not while
 * messages wait for room in the producer's queue: a new request would
 * only add to them. */
static int may_start(const struct worker *w)
{
        const struct settings *s = w->s;
        if (w->stopping || w->fatal || w->outbox_len > 0)
                return 0;
        return w->njobs == 0 ||
               (w->njobs < s->max_requests_in_flight &&
                w->calls_planned < s->max_calls_planned &&
                w->bytes_in_flight - w->backlog_bytes < s->max_bytes_in_flight);
}

void worker_backlog_start(struct worker *w)
{
        struct job *j;
        while ((j = TAILQ_FIRST(&w->backlog)) != NULL && may_start(w))
                job_start(w, j);
}

static int in_parts(const rd_kafka_topic_partition_list_t *p, int32_t part)
{
        for (int i = 0; i < p->cnt; i++)
                if (p->elems[i].partition == part)
                        return 1;
        return 0;
}

size_t worker_backlog_drop(struct worker *w,
                           const rd_kafka_topic_partition_list_t *p)
{
        size_t n = 0;
        struct job *j, *next;
        for (j = TAILQ_FIRST(&w->backlog); j; j = next) {
                next = TAILQ_NEXT(j, backlog_link);
                if (p && !in_parts(p, j->partition))
                        continue;
                backlog_unlink(w, j);
                w->bytes_in_flight -= j->bytes;
                worker_job_free(j);
                n++;
        }
        return n;
}

void worker_consume_some(struct worker *w)
{
        w->more_messages = 0;
        worker_backlog_start(w);
        for (int i = 0; i < CONSUME_BATCH && !w->fatal; i++) {
                rd_kafka_message_t *m = kafka_consume(w->kafka);
                if (!m)
                        break;
                /* After a stop request nothing new is taken; the message
                 * stays uncommitted and goes to the next owner. */
                if (!w->stopping) {
                        metrics_request_consumed(w->m);
                        if (!job_from_message(w, m))
                                worker_fatal(w, "%s",
                                             "out of memory taking a request");
                }
                rd_kafka_message_destroy(m);
                /* Pausing bumps librdkafka's version barrier: messages of
                 * the paused partitions already fetched are not returned
                 * by the next poll, so the backlog's bound holds within
                 * this batch. */
                worker_flow_control(w);
                if (i == CONSUME_BATCH - 1)
                        w->more_messages = 1;
        }
        worker_backlog_start(w);
        worker_flow_control(w);
}
