/* retry — when to try a failed call again (DESIGN §3). */
#ifndef ERASURE_RETRY_H
#define ERASURE_RETRY_H

#include <stdint.h>

struct retry_policy {
        int max_attempts;  /* including the first */
        int64_t budget_ms; /* no attempt starts later than first + budget */
        int64_t base_ms;
        int64_t max_ms;
};

/* Full jitter: uniform in [0, min(max_ms, base_ms * 2^(attempt-1))].
 * attempt is the number of attempts already made (>= 1). rng is a
 * caller-owned xorshift state (never 0). */
int64_t retry_backoff_ms(const struct retry_policy *p, int attempt,
                         uint64_t *rng);

/* Parses a Retry-After value: delta-seconds or an HTTP-date (IMF-fixdate,
 * RFC 850 and asctime forms). Returns the wait in ms from now_wall_ms
 * (0 when the date is past), or -1 if the value is unusable. Waits are
 * capped at 1 hour so a hostile header cannot park a call forever. */
int64_t retry_after_ms(const char *value, int64_t now_wall_ms);

/* The delay before the next attempt, or -1 when the call must give up:
 * attempts used up, or the next attempt would start after the budget.
 * retry_after_ms < 0 means the response had none; otherwise the delay is
 * at least that. first_ms and now_ms are monotonic. */
int64_t retry_next_delay(const struct retry_policy *p, int attempts_done,
                         int64_t first_ms, int64_t now_ms, int64_t retry_after,
                         uint64_t *rng);

#endif
