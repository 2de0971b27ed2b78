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
        unsigned char *flags; /* naccounts * nloops, for waiting[] */
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
        al->flags = calloc((naccounts ? naccounts : 1) * al->nloops, 1);
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
        return al;
}

void acctlimit_free(struct acctlimit *al)
{
        if (!al)
                return;
        for (size_t i = 0; i < al->naccounts; i++)
                pthread_mutex_destroy(&al->accts[i].lock);
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

void acctlimit_set_waker(struct acctlimit *al, size_t loop,
                         void (*wake)(void *arg), void *arg)
{
        if (loop >= al->nloops)
                return;
        al->wakers[loop].wake = wake;
        al->wakers[loop].arg = arg;
}

int64_t acctlimit_acquire(struct acctlimit *al, size_t i, size_t loop,
                          int64_t now_ms)
{
        struct acct_slot *a = &al->accts[i];
        int64_t wait;
        pthread_mutex_lock(&a->lock);
        if (a->in_flight >= a->concurrency) {
                /* Flagged under the lock that release() takes: a slot
                 * freed after this refusal always sees the flag. */
                if (loop < al->nloops && !a->waiting[loop]) {
                        a->waiting[loop] = 1;
                        a->nwaiting++;
                }
                wait = ACCTLIMIT_FULL;
        } else {
                /* A slot is only taken with a token, so a loop told to
                 * wait for the bucket holds no slot meanwhile. */
                wait = ratelimit_take(&a->rl, now_ms);
                if (wait == 0)
                        a->in_flight++;
        }
        pthread_mutex_unlock(&a->lock);
        return wait;
}

void acctlimit_release(struct acctlimit *al, size_t i, size_t loop)
{
        struct acct_slot *a = &al->accts[i];
        size_t n = 0;
        unsigned short wake[ACCTLIMIT_MAX_LOOPS];
        pthread_mutex_lock(&a->lock);
        if (a->in_flight > 0)
                a->in_flight--;
        for (size_t l = 0; a->nwaiting > 0 && l < al->nloops; l++) {
                if (!a->waiting[l])
                        continue;
                a->waiting[l] = 0;
                a->nwaiting--;
                /* The releasing loop dispatches again on its own. */
                if (l != loop)
                        wake[n++] = (unsigned short)l;
        }
        pthread_mutex_unlock(&a->lock);
        for (size_t k = 0; k < n; k++)
                if (al->wakers[wake[k]].wake)
                        al->wakers[wake[k]].wake(al->wakers[wake[k]].arg);
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
