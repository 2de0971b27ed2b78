/* ratelimit — token bucket refilled lazily, plus a 429 cool-down. */
#include "ratelimit.h"

#include <math.h>

/* Token arithmetic is in doubles, and rates like 3/s are not exact in
 * binary: without this slack a bucket due to hold exactly one token could
 * hold 0.9999999 and make a caller wait one extra millisecond. */
#define RATELIMIT_EPSILON 1e-9
/* Waits beyond this are reported as this: a rate so small that its wait
 * does not fit an int64 is a configuration error, not a schedule. */
#define RATELIMIT_MAX_WAIT_MS 1e15

void ratelimit_init(struct ratelimit *rl, double rate_per_s, double burst,
                    int64_t now_ms)
{
        /* A negative, NaN or infinite rate cannot be a limit; like 0 it
         * means unlimited rather than "never". */
        if (!(rate_per_s > 0) || isinf(rate_per_s))
                rate_per_s = 0;
        if (!(burst >= 1))
                burst = 1;
        rl->rate_per_ms = rate_per_s / 1000.0;
        rl->burst = burst;
        rl->tokens = burst; /* a fresh bucket allows a full burst */
        rl->last_ms = now_ms;
        rl->cooldown_until_ms = INT64_MIN;
}

static void ratelimit_refill(struct ratelimit *rl, int64_t now_ms)
{
        /* A clock that seems to go backwards mints no tokens. */
        if (now_ms <= rl->last_ms)
                return;
        double elapsed = (double)now_ms - (double)rl->last_ms;
        rl->tokens += elapsed * rl->rate_per_ms;
        if (rl->tokens > rl->burst)
                rl->tokens = rl->burst;
        rl->last_ms = now_ms;
}

/* Whole milliseconds until the bucket holds one token, at least 1. */
static int64_t ratelimit_wait(const struct ratelimit *rl)
{
        double ms = (1.0 - rl->tokens) / rl->rate_per_ms - RATELIMIT_EPSILON;
        if (!(ms < RATELIMIT_MAX_WAIT_MS))
                return (int64_t)RATELIMIT_MAX_WAIT_MS;
        int64_t whole = (int64_t)ms;
        if ((double)whole < ms)
                whole++;
        return whole > 0 ? whole : 1;
}

int64_t ratelimit_take(struct ratelimit *rl, int64_t now_ms)
{
        if (now_ms < rl->cooldown_until_ms) {
                /* Both are monotonic ms from the same origin; the check
                 * only guards against a wild until_ms. */
                if (now_ms < 0 && rl->cooldown_until_ms > INT64_MAX + now_ms)
                        return INT64_MAX;
                return rl->cooldown_until_ms - now_ms;
        }
        if (rl->rate_per_ms <= 0)
                return 0;
        ratelimit_refill(rl, now_ms);
        if (rl->tokens + RATELIMIT_EPSILON >= 1.0) {
                rl->tokens -= 1.0;
                if (rl->tokens < 0)
                        rl->tokens = 0;
                return 0;
        }
        return ratelimit_wait(rl);
}

void ratelimit_cooldown(struct ratelimit *rl, int64_t until_ms)
{
        if (until_ms > rl->cooldown_until_ms)
                rl->cooldown_until_ms = until_ms;
}
