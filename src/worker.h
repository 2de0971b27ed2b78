/* worker — the event loop: consume requests, plan, execute, classify,
 * retry, publish outcomes, commit (DESIGN §1).
 *
 * One thread. Each turn it sleeps in http_wait() on curl's sockets, the
 * Kafka queues' pipes and its stop pipe, then serves whatever is ready:
 * finished transfers, delivery reports, due retries, new messages. */
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
