/* acctlimit — account limits shared by the worker loops. */
#include "acctlimit.h"

#include <pthread.h>
#include <stdlib.h>

#include "ratelimit.h"

struct acct_slot {
        pthread_mutex_t lock;
        struct ratelimit rl;
        int concurrency;
        int in_flight;
        size_t nwaiting;        /* loops flagged in waiting[] */
        unsigned char *waiting; /* per loop: refused a slot, not woken */
};

struct loop_waker {
        void (*wake)(void *arg);
        void *arg;
};

struct acctlimit {
        size_t naccounts, nloops;
        struct acct_slot *accts;
        struct loop_waker *wakers;
        unsigned char *flags; /* (naccounts + 1) * nloops: waiting[] */
        /* The calls of every account at once (acctlimit_set_total()):
         * its own lock, taken inside an account's, never around one. */
        struct acct_slot total;
};

/* Loops to wake once the locks are released. */
struct wake_list {
        size_t n;
        unsigned short loop[2 * ACCTLIMIT_MAX_LOOPS];
};

struct acctlimit *acctlimit_new(size_t naccounts, size_t nloops)
{
        if (nloops > ACCTLIMIT_MAX_LOOPS)
                return NULL;
        struct acctlimit *al = calloc(1, sizeof(*al));
        if (!al)
                return NULL;
        al->naccounts = naccounts;
        al->nloops = nloops ? nloops : 1;
        al->accts = calloc(naccounts ? naccounts : 1, sizeof(*al->accts));
        al->wakers = calloc(al->nloops, sizeof(*al->wakers));
        al->flags = calloc((naccounts + 1) * al->nloops, 1);
        if (!al->accts || !al->wakers || !al->flags) {
                free(al->accts);
                al->accts = NULL;
                al->naccounts = 0;
                acctlimit_free(al);
                return NULL;
        }
        for (size_t i = 0; i < naccounts; i++) {
                struct acct_slot *a = &al->accts[i];
                pthread_mutex_init(&a->lock, NULL);
                a->waiting = al->flags + i * al->nloops;
                a->concurrency = 1;
                ratelimit_init(&a->rl, 0, 1, 0);
        }
        pthread_mutex_init(&al->total.lock, NULL);
        al->total.waiting = al->flags + naccounts * al->nloops;
        al->total.concurrency = 0; /* unlimited until set */
        return al;
}

void acctlimit_free(struct acctlimit *al)
{
        if (!al)
                return;
        for (size_t i = 0; i < al->naccounts; i++)
                pthread_mutex_destroy(&al->accts[i].lock);
        if (al->accts)
                pthread_mutex_destroy(&al->total.lock);
        free(al->accts);
        free(al->wakers);
        free(al->flags);
        free(al);
}

void acctlimit_set(struct acctlimit *al, size_t i, int concurrency,
                   double rate_per_s, double burst, int64_t now_ms)
{
        struct acct_slot *a = &al->accts[i];
        pthread_mutex_lock(&a->lock);
        a->concurrency = concurrency > 0 ? concurrency : 1;
        ratelimit_init(&a->rl, rate_per_s, burst, now_ms);
        pthread_mutex_unlock(&a->lock);
}

void acctlimit_set_total(struct acctlimit *al, size_t max_calls)
{
        pthread_mutex_lock(&al->total.lock);
        al->total.concurrency =
            max_calls > INT32_MAX ? INT32_MAX : (int)max_calls;
        pthread_mutex_unlock(&al->total.lock);
}

void acctlimit_set_waker(struct acctlimit *al, size_t loop,
                         void (*wake)(void *arg), void *arg)
{
        if (loop >= al->nloops)
                return;
        al->wakers[loop].wake = wake;
        al->wakers[loop].arg = arg;
}

/* Flags loop as waiting for a slot of a (its lock held). */
static void flag_waiting(struct acctlimit *al, struct acct_slot *a, size_t loop)
{
        /* Flagged under the lock that release takes: a slot freed after
         * this refusal always sees the flag. */
        if (loop < al->nloops && !a->waiting[loop]) {
                a->waiting[loop] = 1;
                a->nwaiting++;
        }
}

/* Gives a slot of a back (its lock held) and lists the loops that were
 * refused one, but for the releaser, which dispatches again anyway. */
static void put_slot(struct acctlimit *al, struct acct_slot *a, size_t loop,
                     struct wake_list *wl)
{
        if (a->in_flight > 0)
                a->in_flight--;
        for (size_t l = 0; a->nwaiting > 0 && l < al->nloops; l++) {
                if (!a->waiting[l])
                        continue;
                a->waiting[l] = 0;
                a->nwaiting--;
                if (l != loop)
                        wl->loop[wl->n++] = (unsigned short)l;
        }
}

/* One slot of the process-wide total, unless it is full (0 = none). */
static int take_total(struct acctlimit *al, size_t loop)
{
        struct acct_slot *t = &al->total;
        int ok;
        pthread_mutex_lock(&t->lock);
        ok = t->concurrency == 0 || t->in_flight < t->concurrency;
        if (ok)
                t->in_flight++;
        else
                flag_waiting(al, t, loop);
        pthread_mutex_unlock(&t->lock);
        return ok;
}

static void put_total(struct acctlimit *al, size_t loop, struct wake_list *wl)
{
        pthread_mutex_lock(&al->total.lock);
        put_slot(al, &al->total, loop, wl);
        pthread_mutex_unlock(&al->total.lock);
}

static void wake_all(struct acctlimit *al, const struct wake_list *wl)
{
        for (size_t k = 0; k < wl->n; k++)
                if (al->wakers[wl->loop[k]].wake)
                        al->wakers[wl->loop[k]].wake(
                            al->wakers[wl->loop[k]].arg);
}

int64_t acctlimit_acquire(struct acctlimit *al, size_t i, size_t loop,
                          int64_t now_ms)
{
        struct acct_slot *a = &al->accts[i];
        struct wake_list wl;
        int64_t wait = ACCTLIMIT_FULL;
        wl.n = 0; /* the list itself is not cleared: it is on every call */
        pthread_mutex_lock(&a->lock);
        if (a->in_flight >= a->concurrency) {
                flag_waiting(al, a, loop);
        } else if (take_total(al, loop)) {
                /* A slot is only kept with a token, so a loop told to
                 * wait for the bucket holds none meanwhile. */
                wait = ratelimit_take(&a->rl, now_ms);
                if (wait == 0)
                        a->in_flight++;
                else
                        put_total(al, loop, &wl);
        }
        pthread_mutex_unlock(&a->lock);
        wake_all(al, &wl);
        return wait;
}

void acctlimit_release(struct acctlimit *al, size_t i, size_t loop)
{
        struct acct_slot *a = &al->accts[i];
        struct wake_list wl;
        wl.n = 0;
        pthread_mutex_lock(&a->lock);
        put_slot(al, a, loop, &wl);
        pthread_mutex_unlock(&a->lock);
        put_total(al, loop, &wl);
        wake_all(al, &wl);
}

void acctlimit_cooldown(struct acctlimit *al, size_t i, int64_t until_ms)
{
        struct acct_slot *a = &al->accts[i];
        pthread_mutex_lock(&a->lock);
        ratelimit_cooldown(&a->rl, until_ms);
        pthread_mutex_unlock(&a->lock);
}

int acctlimit_in_flight(struct acctlimit *al, size_t i)
{
        struct acct_slot *a = &al->accts[i];
        pthread_mutex_lock(&a->lock);
        int n = a->in_flight;
        pthread_mutex_unlock(&a->lock);
        return n;
}

int acctlimit_total_in_flight(struct acctlimit *al)
{
        pthread_mutex_lock(&al->total.lock);
        int n = al->total.in_flight;
        pthread_mutex_unlock(&al->total.lock);
        return n;
}
