/* acctlimit — the call limits every loop of the process shares: per
 * account the concurrency cap, the token bucket and the 429 cool-down
 * (DESIGN §3), and the process's total of calls at once
 * (worker.max_calls_in_flight), so they hold for the account and the
 * process as a whole however many worker loops call (docs/design.md
 * §1.6).
 *
 * One mutex per account; the bucket arithmetic is ratelimit.c's. A loop
 * refused because the account's every slot is taken is told so, and its
 * waker is called once a slot frees in another loop, so it need neither
 * poll nor spin. Wakers run outside the lock and must be quick and
 * non-blocking (a write to a pipe). */
#ifndef ERASURE_ACCTLIMIT_H
#define ERASURE_ACCTLIMIT_H

#include <stddef.h>
#include <stdint.h>

/* acctlimit_acquire(): every slot of the account is taken. */
#define ACCTLIMIT_FULL (-1)
/* The most loops one acctlimit serves (worker.threads' bound). */
#define ACCTLIMIT_MAX_LOOPS 256

struct acctlimit;

/* naccounts accounts (index as provider_account_index()), shared by
 * nloops loops (0 .. nloops-1, at most ACCTLIMIT_MAX_LOOPS). NULL if
 * out of memory or too many loops. */
struct acctlimit *acctlimit_new(size_t naccounts, size_t nloops);
void acctlimit_free(struct acctlimit *al);

/* Before the loops start: account i allows `concurrency` calls at once
 * (at least 1) and rate_per_s with `burst` (ratelimit_init()). */
void acctlimit_set(struct acctlimit *al, size_t i, int concurrency,
                   double rate_per_s, double burst, int64_t now_ms);
/* Before the loops start: at most max_calls calls of all accounts at
 * once (0, the default: no total). */
void acctlimit_set_total(struct acctlimit *al, size_t max_calls);
/* Before the loops start: how loop `loop` is woken. */
void acctlimit_set_waker(struct acctlimit *al, size_t loop,
                         void (*wake)(void *arg), void *arg);

/* Takes a slot of account i, one of the total and a token for a call of
 * loop `loop`: 0 if taken; > 0 the ms to wait for a token or the
 * cool-down's end (nothing taken); ACCTLIMIT_FULL if every slot of the
 * account or of the total is taken (nothing taken; the loop's waker
 * runs when one frees in another loop). */
int64_t acctlimit_acquire(struct acctlimit *al, size_t i, size_t loop,
                          int64_t now_ms);
/* Gives back the slot a call of `loop` held, and wakes the loops that
 * were refused one. */
void acctlimit_release(struct acctlimit *al, size_t i, size_t loop);
/* A 429: no call of account i from any loop before until_ms (never
 * shortens a cool-down). */
void acctlimit_cooldown(struct acctlimit *al, size_t i, int64_t until_ms);
/* Calls of account i, and of all accounts, holding a slot now (tests). */
int acctlimit_in_flight(struct acctlimit *al, size_t i);
int acctlimit_total_in_flight(struct acctlimit *al);

#endif
