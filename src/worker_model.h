/* worker_model — the worker's private structures, shared by worker.c (the
 * loop: consume, parse, plan, execute, classify) and worker_outcome.c
 * (publishing a job's messages and committing it). Not an interface: no
 * other module includes it. */
#ifndef ERASURE_WORKER_MODEL_H
#define ERASURE_WORKER_MODEL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <librdkafka/rdkafka.h>

#include "outcome.h"
#include "provider.h"
#include "ratelimit.h"
#include "request.h"
#include "worker.h"

struct job;
struct acctlimit;

struct call {
        struct job *job;
        const struct provider_call *pc;
        struct account_state *acct;
        struct http_transfer *xfer;
        TAILQ_ENTRY(call) qlink; /* account queue */
        int queued;
        size_t heap_idx;
        int attempts;
        int final;
        int64_t first_mono;
        int64_t started_wall;
        int64_t attempt_mono;
        int64_t due_mono;
        char *last_error;
        uint64_t auth_gen; /* OAuth token generation it was sent with */
        int auth_retried;  /* retried once after a 401 already */
        /* The read-back after a successful deletion (pc->verify). */
        int verifying;
        enum outcome_status deleted_as; /* what the deletion answered */
        long deleted_http;
        struct outcome_verification check;
        int held;     /* waits for the action named by pc->after */
        size_t found; /* a discover's item count */
};

/* The calls a discover read found, added to the job while it runs. */
struct call_block {
        struct call_block *next;
        struct provider_plan plan;
        struct call *calls;
};

TAILQ_HEAD(call_queue, call);

/* What a produced message is, so a refused one can be handled. */
enum delivery_kind { DELIVERY_EVENT, DELIVERY_DEAD_LETTER, DELIVERY_STUB };

/* One message for Kafka, from kafka_produce() to its delivery report.
 * While the local queue is full it waits in the outbox and owns value
 * and headers; afterwards librdkafka does. */
struct delivery {
        TAILQ_ENTRY(delivery) link; /* outbox */
        struct job *job;
        enum delivery_kind kind;
        const char *topic;
        const void *key; /* the job's */
        size_t key_len;
        void *value;
        size_t value_len;
        rd_kafka_headers_t *headers;
};

TAILQ_HEAD(outbox, delivery);

struct job {
        LIST_ENTRY(job) link;          /* jobs, once started */
        TAILQ_ENTRY(job) backlog_link; /* backlog, until started */
        int32_t partition;
        int64_t offset;
        int tracked;   /* offset is in the offsets tracker */
        int abandoned; /* partition revoked or worker stopped: no commit */
        char *request_id;
        struct provider_plan plan;
        struct call *calls;
        struct call_block *blocks; /* discovered, newest first */
        size_t nheld;              /* calls waiting for an `after` */
        size_t calls_open;
        size_t deliveries_pending; /* produced or in the outbox */
        size_t counts[OUTCOME_NSTATUS];
        size_t verify_counts[OUTCOME_NVERIFY];
        int summary_sent;
        int exhausted; /* a call ran out of retries: copy to the DLQ */
        size_t bytes;  /* counted in worker.bytes_in_flight */
        int64_t started_mono;
        int64_t requested_at_ms; /* wall clock; -1: absent or unreadable */
        void *key;
        size_t key_len;
        void *value;
        size_t value_len;
        rd_kafka_headers_t *headers; /* the request's, for the DLQ copy */
        char *traceparent;
        char *dlq_code; /* why it was dead-lettered, for a stub */
        char *dlq_reason;
        size_t failed_total;
};

LIST_HEAD(job_list, job);
TAILQ_HEAD(job_backlog, job);

struct account_state {
        const struct provider_account *acct;
        const struct provider_limits *lim;
        int in_flight; /* this loop's calls; the account's: w->limits */
        struct call_queue queue;
        struct oauth *oauth; /* NULL unless the scheme fetches tokens */
        struct http_transfer *auth_xfer;
};

struct worker {
        const struct settings *s;
        struct metrics *m;
        struct kafka *kafka;
        struct http *http;
        struct offsets *offsets;
        struct account_state *accounts;
        size_t naccounts;
        size_t rr; /* round-robin start among accounts */
        struct job_list jobs;
        size_t njobs; /* not abandoned */
        /* Consumed, not started: a copy of the message only, in consume
         * order (so per partition in offset order), not in the offsets
         * tracker, so never committed. Its bytes count in bytes_in_flight
         * too. */
        struct job_backlog backlog;
        size_t backlog_len;
        size_t backlog_bytes;
        size_t calls_running;
        size_t calls_planned;   /* of jobs not abandoned, not final yet */
        size_t bytes_in_flight; /* of every job still held */
        struct outbox outbox;
        size_t outbox_len;
        struct call **heap;
        size_t heap_len, heap_cap;
        /* Account limits shared with the process's other loops (or the
         * loop's own, own_limits), and this loop's index in them. */
        struct acctlimit *limits;
        int own_limits;
        unsigned loop_index;
        struct worker_loop loop; /* zero: the only loop */
        int stop_pipe[2];        /* stop requests and wake-ups */
        atomic_int stop_flag;    /* worker_request_stop() was called */
        int stopping;
        int64_t stop_deadline; /* mono ms: SIGTERM + drain_timeout_ms */
        int closing;           /* worker_free(): delivery reports only free */
        int fatal;
        char fatal_err[512];
        int more_messages;
        int64_t account_wake; /* earliest time a blocked account may go */
        uint64_t rng;
};

/* worker.c */

/* Records the first fatal error (logged); the loop then stops and nothing
 * past the last finished request is committed. */
__attribute__((format(printf, 2, 3))) void worker_fatal(struct worker *w,
                                                        const char *fmt, ...);
/* Queues c (planned or discovered, of j) in its account, or holds it
 * while an action it must run `after` is unfinished. */
void worker_call_enqueue(struct worker *w, struct job *j, struct call *c,
                         const struct provider_call *pc);
/* Every call of j is final: the summary (and the dead-letter copy when a
 * call ran out of retries). */
void worker_job_calls_finished(struct worker *w, struct job *j);
/* Pauses or resumes intake against the caps (with hysteresis). */
void worker_flow_control(struct worker *w);

/* worker_intake.c: the consume, parse and plan steps */

/* Takes up to a batch of messages into the backlog, then starts what
 * the caps allow; sets w->more_messages if more wait. */
void worker_consume_some(struct worker *w);
/* Starts backlog requests, oldest first, while the caps allow. */
void worker_backlog_start(struct worker *w);
/* Drops the backlog of the partitions in p (all if p is NULL): not
 * committed, so their next owner, or the next assignment, repeats them.
 * Returns how many were dropped. */
size_t worker_backlog_drop(struct worker *w,
                           const rd_kafka_topic_partition_list_t *p);

/* worker_auth.c: OAuth tokens */

struct http_result;
int worker_auth_init(struct worker *w, struct account_state *a);
void worker_auth_free(struct account_state *a);
/* 1: a's calls may start; 0: they wait (w->account_wake lowered); -1:
 * they must fail now, retryable, with *why. Starts token fetches. */
int worker_auth_gate(struct worker *w, struct account_state *a, int64_t now,
                     const char **why);
/* Fills hd with the token header for a call; 0 if a uses no token. */
int worker_auth_header(const struct account_state *a,
                       struct provider_header *hd, uint64_t *gen);
/* 1 if the finished transfer was a token fetch (then handled). */
int worker_auth_done(struct worker *w, void *opaque,
                     const struct http_result *res);
/* 1 if c, answered 401, is to be retried once with a new token. */
int worker_auth_on_401(struct worker *w, struct call *c);

/* worker_outcome.c: the outcome and commit steps */

void worker_job_free(struct job *j);
/* Calls fn on every call of j, planned and discovered. */
void worker_job_each_call(struct job *j, void (*fn)(struct call *c, void *arg),
                          void *arg);
/* Finishes j (stores its offset, frees it) once nothing of it is pending;
 * j may be gone on return. */
void worker_job_maybe_done(struct worker *w, struct job *j);
/* Each takes what it is given (json freed on any failure). */
void worker_produce_event(struct worker *w, struct job *j, char *json,
                          const char *key, const char *type, int64_t wall);
/* Sets summary_sent; j may be gone on return. */
void worker_produce_summary(struct worker *w, struct job *j,
                            enum request_error code, const char *reason);
void worker_produce_dead_letter(struct worker *w, struct job *j,
                                const char *code, const char *reason);
/* Hands over what waits for room in the producer's queue, in order. */
void worker_flush_outbox(struct worker *w);
void worker_delivery_free(struct delivery *d);
/* The kafka module's delivery callback (arg is the worker). */
void worker_on_delivered(void *arg, void *opaque, rd_kafka_resp_err_t err);

#endif
