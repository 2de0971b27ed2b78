/* worker_outcome — the outcome and commit steps of the loop (see the map
 * in worker.c): every message a job publishes goes through produce(), and
 * waits in the outbox while the producer's queue is full; a message Kafka
 * refuses for itself becomes a dead-letter stub or is let go; when every
 * delivery of a job is back, its offset is stored for commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"
#include "settings.h"
#include "worker_model.h"

/* ---- jobs ---- */

void worker_job_each_call(struct job *j, void (*fn)(struct call *c, void *arg),
                          void *arg)
{
        for (size_t i = 0; j->calls && i < j->plan.ncalls; i++)
                fn(&j->calls[i], arg);
        for (struct call_block *b = j->blocks; b; b = b->next) {
                for (size_t i = 0; i < b->plan.ncalls; i++)
                        fn(&b->calls[i], arg);
        }
}

static void call_free_error(struct call *c, void *arg)
{
        (void)arg;
        free(c->last_error);
        c->last_error = NULL;
}

void worker_job_free(struct job *j)
{
        if (!j)
                return;
        worker_job_each_call(j, call_free_error, NULL);
        while (j->blocks) {
                struct call_block *b = j->blocks;
                j->blocks = b->next;
                free(b->calls);
                provider_plan_clear(&b->plan);
                free(b);
        }
        free(j->calls);
        provider_plan_clear(&j->plan);
        free(j->request_id);
        free(j->key);
        free(j->value);
        free(j->traceparent);
        free(j->dlq_code);
        free(j->dlq_reason);
        if (j->headers)
                rd_kafka_headers_destroy(j->headers);
        free(j);
}

static void job_unlink(struct worker *w, struct job *j)
{
        LIST_REMOVE(j, link);
        w->bytes_in_flight -= j->bytes;
        if (!j->abandoned)
                w->njobs--;
}

/* Everything about the job reached Kafka: its offset may be committed. */
static void job_done(struct worker *w, struct job *j)
{
        if (j->tracked && !j->abandoned) {
                int64_t next =
                    offsets_finish(w->offsets, j->partition, j->offset);
                if (next >= 0) {
                        kafka_store_offset(w->kafka, j->partition, next);
                        metrics_offset_committed(w->m, j->partition, next);
                }
        }
        job_unlink(w, j);
        worker_job_free(j);
}

void worker_job_maybe_done(struct worker *w, struct job *j)
{
        if (j->deliveries_pending == 0 && (j->summary_sent || j->abandoned))
                job_done(w, j);
}

/* ---- producing ---- */

void worker_delivery_free(struct delivery *d)
{
        if (!d)
                return;
        free(d->value);
        if (d->headers)
                rd_kafka_headers_destroy(d->headers);
        free(d);
}

/* The delivery is over (acknowledged or given up): its job may finish. */
static void delivery_finish(struct worker *w, struct delivery *d)
{
        struct job *j = d->job;
        d->value = NULL; /* librdkafka's, or already freed */
        d->headers = NULL;
        worker_delivery_free(d);
        j->deliveries_pending--;
        worker_job_maybe_done(w, j);
}

static void unproducible(struct worker *w, struct delivery *d,
                         rd_kafka_resp_err_t err);

/* Hands d to librdkafka. 1 if it must wait for room in the local queue. */
static int try_produce(struct worker *w, struct delivery *d)
{
        rd_kafka_resp_err_t err =
            kafka_produce(w->kafka, d->topic, d->key, d->key_len, d->value,
                          d->value_len, d->headers, d);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                return 1;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                d->value = NULL; /* librdkafka's now */
                d->headers = NULL;
        } else if (kafka_err_permanent(err)) {
                unproducible(w, d, err);
        } else {
                worker_fatal(w, "cannot publish to %s: %s", d->topic,
                             rd_kafka_err2str(err));
                worker_delivery_free(d); /* the job stays open: no commit */
        }
        return 0;
}

/* Takes value and headers (freed on any failure). */
static void produce(struct worker *w, struct job *j, enum delivery_kind kind,
                    const char *topic, const void *key, size_t key_len,
                    char *value, size_t value_len, rd_kafka_headers_t *h)
{
        struct delivery *d = calloc(1, sizeof(*d));
        if (!d || !h) {
                free(d);
                free(value);
                if (h)
                        rd_kafka_headers_destroy(h);
                worker_fatal(w, "%s", "out of memory producing");
                return;
        }
        *d = (struct delivery){.job = j,
                               .kind = kind,
                               .topic = topic,
                               .key = key,
                               .key_len = key_len,
                               .value = value,
                               .value_len = value_len,
                               .headers = h};
        j->deliveries_pending++;
        /* Behind a waiting message, wait too: outcomes keep their order. */
        if (!TAILQ_EMPTY(&w->outbox) || try_produce(w, d)) {
                TAILQ_INSERT_TAIL(&w->outbox, d, link);
                w->outbox_len++;
        }
}

/* Retries what waited for room, in order, until the queue is full again. */
void worker_flush_outbox(struct worker *w)
{
        struct delivery *d;
        while ((d = TAILQ_FIRST(&w->outbox)) != NULL && !w->fatal) {
                TAILQ_REMOVE(&w->outbox, d, link);
                w->outbox_len--;
                if (try_produce(w, d)) {
                        TAILQ_INSERT_HEAD(&w->outbox, d, link);
                        w->outbox_len++;
                        return;
                }
        }
}

void worker_produce_event(struct worker *w, struct job *j, char *json,
                          const char *key, const char *type, int64_t wall)
{
        if (!json) {
                worker_fatal(w, "%s", "out of memory building an outcome");
                return;
        }
        struct outcome_ce ce = {w->s->ce_source, type, key, j->request_id,
                                j->traceparent,  wall, json};
        produce(w, j, DELIVERY_EVENT, w->s->topic_outcomes, j->request_id,
                strlen(j->request_id), json, strlen(json),
                outcome_ce_headers(&ce));
}

void worker_produce_summary(struct worker *w, struct job *j,
                            enum request_error code, const char *reason)
{
        struct outcome_summary sum = {0};
        sum.request_id = j->request_id;
        memcpy(sum.counts, j->counts, sizeof(sum.counts));
        memcpy(sum.verify_counts, j->verify_counts, sizeof(sum.verify_counts));
        sum.error = reason;
        sum.error_code = code ? request_error_name(code) : NULL;
        sum.finished_at_ms = clock_wall_ms();
        char key[OUTCOME_KEY_LEN + 1];
        char *json = outcome_summary_json(&sum, key);
        const char *overall = outcome_overall(&sum);
        worker_produce_event(w, j, json, key, OUTCOME_CE_TYPE_SUMMARY,
                             sum.finished_at_ms);
        j->summary_sent = 1;
        metrics_request_finished(w->m, overall);
        log_info(j->request_id, NULL,
                 "request finished: %s (%zu deleted, %zu already_absent, "
                 "%zu failed) in %lld ms",
                 overall, j->counts[OUTCOME_DELETED],
                 j->counts[OUTCOME_ALREADY_ABSENT], j->counts[OUTCOME_FAILED],
                 (long long)(clock_mono_ms() - j->started_mono));
        /* Last: a refused event may have been the last delivery. */
        worker_job_maybe_done(w, j);
}

static struct outcome_dead_letter dead_letter_of(const struct worker *w,
                                                 const struct job *j)
{
        return (struct outcome_dead_letter){
            .code = j->dlq_code,
            .reason = j->dlq_reason,
            .source_topic = w->s->topic_requests,
            .source_partition = j->partition,
            .source_offset = j->offset,
            .request_id = j->request_id,
            .total_failed = j->failed_total,
        };
}

struct failed_list {
        const struct worker *w;
        struct job *j;
        struct outcome_failed_call *out;
        size_t n;
};

static void collect_one(struct call *c, void *arg)
{
        struct failed_list *f = arg;
        if (!c->final || !c->last_error || !c->pc)
                return;
        f->j->failed_total++;
        if (f->n < f->w->s->max_failed_calls_header)
                f->out[f->n++] = (struct outcome_failed_call){
                    c->pc->provider, c->pc->account_name, c->pc->action_name,
                    c->pc->resource, c->last_error};
}

/* The first max_failed_calls_header calls that ran out of retries. */
static size_t collect_failed(const struct worker *w, struct job *j,
                             struct outcome_failed_call *out)
{
        struct failed_list f = {w, j, out, 0};
        j->failed_total = 0;
        worker_job_each_call(j, collect_one, &f);
        return f.n;
}

/* The original message, byte for byte, with why it is here. */
void worker_produce_dead_letter(struct worker *w, struct job *j,
                                const char *code, const char *reason)
{
        j->dlq_code = strdup(code);
        j->dlq_reason = strdup(reason);
        struct outcome_failed_call *failed =
            calloc(w->s->max_failed_calls_header + 1, sizeof(*failed));
        char *copy = j->value_len ? malloc(j->value_len) : NULL;
        if (!j->dlq_code || !j->dlq_reason || !failed ||
            (j->value_len && !copy)) {
                free(failed);
                free(copy);
                worker_fatal(w, "%s", "out of memory dead-lettering");
                return;
        }
        if (copy)
                memcpy(copy, j->value, j->value_len);
        size_t nfailed = collect_failed(w, j, failed);
        struct outcome_dead_letter d = dead_letter_of(w, j);
        d.failed = failed;
        d.nfailed = nfailed;
        rd_kafka_headers_t *h = outcome_dead_letter_headers(&d, j->headers);
        free(failed);
        produce(w, j, DELIVERY_DEAD_LETTER, w->s->topic_dead_letter, j->key,
                j->key_len, copy, j->value_len, h);
        metrics_request_dead_lettered(w->m, code);
}

/* Kafka refused the message itself (too large, invalid). A dead-letter
 * copy becomes a stub; anything else is logged and let go, so that one
 * message cannot stop the partition. */
static void unproducible(struct worker *w, struct delivery *d,
                         rd_kafka_resp_err_t err)
{
        struct job *j = d->job;
        log_error(j->request_id, NULL,
                  "Kafka refused a %s for %d@%lld on %s: %s",
                  d->kind == DELIVERY_EVENT  ? "outcome event"
                  : d->kind == DELIVERY_STUB ? "dead-letter stub"
                                             : "dead-letter copy",
                  j->partition, (long long)j->offset, d->topic,
                  rd_kafka_err2str(err));
        if (d->kind == DELIVERY_DEAD_LETTER) {
                struct outcome_dead_letter dl = dead_letter_of(w, j);
                size_t len = 0;
                rd_kafka_headers_t *h = NULL;
                char *stub = outcome_dead_letter_stub(&dl, j->value,
                                                      j->value_len, &len, &h);
                produce(w, j, DELIVERY_STUB, w->s->topic_dead_letter, j->key,
                        j->key_len, stub, len, h);
                metrics_request_dead_lettered(w->m,
                                              OUTCOME_CODE_TOO_LARGE_FOR_DLQ);
        }
        worker_delivery_free(d);
        j->deliveries_pending--;
        worker_job_maybe_done(w, j);
}

/* ---- delivery reports ---- */

void worker_on_delivered(void *arg, void *opaque, rd_kafka_resp_err_t err)
{
        struct worker *w = arg;
        struct delivery *d = opaque;
        d->value = NULL; /* librdkafka frees them after this callback */
        d->headers = NULL;
        if (w->closing || err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
            err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
                free(d); /* kafka_free(): nothing more is committed */
                return;
        }
        if (err && kafka_err_permanent(err)) {
                unproducible(w, d, err);
                return;
        }
        if (err) {
                /* The producer already retried within message.timeout.ms.
                 * The job stays open, so its offset is never committed and
                 * a restart repeats it. */
                worker_fatal(w, "publish failed: %s", rd_kafka_err2str(err));
                free(d);
                return;
        }
        delivery_finish(w, d);
}
