/* worker — the event loop: consume requests, plan, execute, classify,
 * retry, publish outcomes, commit (DESIGN §1).
 *
 * One thread. Each turn it sleeps in http_wait() on curl's sockets, the
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

/* settings and metrics (may be NULL) stay the caller's and must outlive
 * the worker. */
struct worker *worker_new(const struct settings *s, struct metrics *m,
                          char *errstr, size_t errstr_size);
void worker_free(struct worker *w);

/* Runs until a stop is requested, then drains in-flight work within the
 * settings' drain deadline, commits and leaves the group.
 * Returns 0 on a clean stop, -1 on a fatal error (errstr filled): then
 * nothing past the last finished request is committed. */
int worker_run(struct worker *w, char *errstr, size_t errstr_size);

/* Asks worker_run() to stop. Async-signal-safe (writes to a pipe). */
void worker_request_stop(struct worker *w);

#endif
