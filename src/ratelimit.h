/* ratelimit — a token bucket plus a cool-down, per provider account. */
#ifndef ERASURE_RATELIMIT_H
#define ERASURE_RATELIMIT_H

#include <stdint.h>

struct ratelimit {
        double rate_per_ms;        /* 0 = unlimited */
        double burst;              /* bucket capacity, >= 1 */
        double tokens;             /* current fill */
        int64_t last_ms;           /* when tokens was last refilled */
        int64_t cooldown_until_ms; /* no call before this (429) */
};

/* rate_per_s 0 means unlimited; burst < 1 is taken as 1. */
void ratelimit_init(struct ratelimit *rl, double rate_per_s, double burst,
                    int64_t now_ms);
/* Takes a token: returns 0, or the ms to wait (token not taken). */
int64_t ratelimit_take(struct ratelimit *rl, int64_t now_ms);
/* Extends the cool-down to until_ms (never shortens it). */
void ratelimit_cooldown(struct ratelimit *rl, int64_t until_ms);

#endif
