/* worker — the event loop: consume requests, plan, execute, classify,
 * retry, publish outcomes, commit (DESIGN §1).
 *
 * One thread per loop. A process runs worker.threads loops (pool.h), each
 * a struct worker in a thread of its own with its own Kafka consumer (the
 * same group, so the partitions spread over the loops), producer, curl
 * multi and timers. A partition therefore belongs to exactly one loop,
 * and each loop commits, as before, only the contiguous finished requests
 * of its partitions: the commit logic needs no locking at all. Shared
 * across the loops are only what must hold for the process or the
 * account as a whole: the per-account concurrency, token bucket and 429
 * cool-down (acctlimit.h: a loop refused a slot sleeps until another
 * loop frees one and wakes it through its stop pipe), the metrics
 * (aggregated, metrics.h) and the log's secret registry (log.h).
 * max_calls_in_flight is a process-wide total kept by acctlimit too; the
 * intake caps (max_requests_in_flight, max_calls_planned,
 * max_bytes_in_flight) are divided among the loops (pool.h). OAuth tokens
 * are fetched per loop. Why loops and not one consumer feeding N HTTP loops:
 * hand-offs between threads would need locks on every job and delivery,
 * while independent loops keep the single-threaded code unchanged and
 * scale with the partitions (docs/design.md, "Threads").
 *
 * Each turn it sleeps in http_wait() on curl's sockets, the
 * Kafka queues' pipes and its stop pipe, then serves whatever is ready:
 * finished transfers, delivery reports, due retries, new messages.
 *
 * Re-entry rules (as redis states them for ae.c). Callbacks run only
 * from inside these calls, and never turn the loop themselves:
 *   - http_collect() runs on_http_done() for each finished transfer;
 *   - kafka_poll_producer(), kafka_wait_producer() and kafka_close() run
 *     worker_on_delivered() for each delivery report;
 *   - kafka_consume() may run on_assigned() and on_revoking() (librdkafka
 *     serves the rebalance inside its consumer poll, and the cooperative
 *     protocol needs incremental_unassign() before the callback returns).
 * on_revoking() is the one that waits: for at most rebalance_grace_ms it
 * serves delivery reports only (kafka_wait_producer()), so the outcomes of
 * the revoked partitions' finished requests are acknowledged and their
 * offsets committed; curl and the consumer are not served meanwhile, and
 * every other job of those partitions is abandoned at once (its transfers
 * cancelled; the next owner repeats it). worker_on_delivered() may
 * produce (a dead-letter stub) and may free the job it completes, so no
 * caller holds a job across these calls. Nothing in the loop blocks: a
 * message that finds the producer's queue full waits in the worker's
 * outbox, and intake pauses until it is handed over. */
#ifndef ERASURE_WORKER_H
#define ERASURE_WORKER_H

#include <stddef.h>
#include <stdint.h>

struct settings;
struct metrics;
struct worker;
struct acctlimit;

/* Where a loop stands among the loops of its process (pool.c). */
struct worker_loop {
        struct acctlimit *limits; /* shared by the loops; it has an
                                   * account per provider account and a
                                   * loop for each index */
        unsigned index;           /* 0 .. count - 1 */
        unsigned count;           /* loops in the process */
        /* On a stop each loop calls drained(arg) once its drain and final
         * commit are over, then keeps serving its consumer until
         * all_drained(arg) (it is woken then) or the drain deadline: a
         * loop leaving the group first would rebalance the group under
         * the others' final commits. NULL: leave at once. */
        void (*drained)(void *arg);
        int (*all_drained)(void *arg);
        void *arg;
};

/* settings and metrics (may be NULL), and loop's limits, stay the
 * caller's and must outlive the worker. loop NULL: the only loop, with
 * account limits of its own. With static membership and count > 1 the
 * consumer's group.instance.id is "<id>-<index>". */
struct worker *worker_new(const struct settings *s, struct metrics *m,
                          const struct worker_loop *loop, char *errstr,
                          size_t errstr_size);
void worker_free(struct worker *w);

/* Runs until a stop is requested, then drains in-flight work within the
 * settings' drain deadline, commits and leaves the group.
 * Returns 0 on a clean stop, -1 on a fatal error (errstr filled): then
 * nothing past the last finished request is committed. */
int worker_run(struct worker *w, char *errstr, size_t errstr_size);

/* Makes the loop turn now (from any thread; async-signal-safe). */
void worker_wake(struct worker *w);

/* Asks worker_run() to stop. Async-signal-safe (sets an atomic flag and
 * writes to a pipe), and callable from any thread. */
void worker_request_stop(struct worker *w);

#endif
