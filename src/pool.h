/* pool — the worker loops of one process: worker.threads of them, each a
 * struct worker in a thread of its own (worker.h says why), sharing the
 * account limits (acctlimit.h) and the metrics (a slot each).
 *
 * worker.max_calls_in_flight is exact for the process: a total that
 * acctlimit keeps beside the accounts' slots, so one vendor's calls
 * cannot hold a whole loop's share of it while other vendors wait. The
 * intake caps max_requests_in_flight, max_backlog_requests,
 * max_calls_planned and max_bytes_in_flight are divided among the loops,
 * rounded up (pool_share()): each loop pauses its own partitions against
 * its share, so intake shares no counter and the process never holds more
 * than the caps (up to threads - 1 of rounding). A loop with few
 * partitions cannot lend its share to a busy one; more partitions than
 * loops spread the load.
 */
#ifndef ERASURE_POOL_H
#define ERASURE_POOL_H

#include <stddef.h>

struct settings;
struct metrics;
struct pool;

/* s->threads loops. s and m (may be NULL) stay the caller's and must
 * outlive the pool. NULL with errstr filled if any loop cannot start. */
struct pool *pool_new(const struct settings *s, struct metrics *m, char *errstr,
                      size_t errstr_size);
void pool_free(struct pool *p);

/* Runs every loop (the first in the calling thread) until a stop is
 * requested or one loop fails; a failure stops the others, which drain
 * as on a stop. 0 when all stopped cleanly, else -1 with the first
 * failure in errstr. */
int pool_run(struct pool *p, char *errstr, size_t errstr_size);

/* Stops every loop (worker_request_stop()). Async-signal-safe. */
void pool_request_stop(struct pool *p);

/* One loop's share of a process-wide cap: cap / n rounded up, at least
 * 1. */
size_t pool_share(size_t cap, unsigned n);

#endif
