/* pool — N worker loops in N threads. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acctlimit.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "provider.h"
#include "settings.h"
#include "worker.h"

struct pool_loop {
        struct pool *pool;
        struct settings share; /* s with the caps divided; pointers s's */
        struct worker_loop where;
        struct metrics *m; /* the root for loop 0, else a handle */
        struct worker *w;
        pthread_t thread;
        int started;
        int drained; /* counted off pool.draining */
        int rc;
        char err[512];
};

struct pool {
        const struct settings *s;
        struct acctlimit *limits;
        unsigned n;
        struct pool_loop *loops;
        atomic_uint draining; /* loops not yet drained on a stop */
};

/* Once per loop: from its worker_run(), or when that ended (or never
 * started) without getting so far. Only the loop's own thread calls it. */
static void loop_drained(void *arg)
{
        struct pool_loop *l = arg;
        struct pool *p = l->pool;
        if (l->drained)
                return;
        l->drained = 1;
        if (atomic_fetch_sub(&p->draining, 1) != 1)
                return;
        for (unsigned i = 0; i < p->n; i++)
                worker_wake(p->loops[i].w);
}

static int loops_drained(void *arg)
{
        struct pool_loop *l = arg;
        return atomic_load(&l->pool->draining) == 0;
}

size_t pool_share(size_t cap, unsigned n)
{
        if (n <= 1)
                return cap;
        size_t share = cap / n + (cap % n != 0);
        return share > 0 ? share : 1;
}

/* The loop's copy of the settings: a shallow one, never freed as such.
 * max_calls_in_flight is the one cap not divided: acctlimit keeps it for
 * the process, exact, so a vendor that hangs cannot hold a whole loop's
 * share of it. */
static void divide_caps(struct settings *share, const struct settings *s)
{
        *share = *s;
        share->max_requests_in_flight =
            pool_share(s->max_requests_in_flight, s->threads);
        share->max_backlog_requests =
            pool_share(s->max_backlog_requests, s->threads);
        share->max_calls_planned = pool_share(s->max_calls_planned, s->threads);
        share->max_bytes_in_flight =
            pool_share(s->max_bytes_in_flight, s->threads);
}

static int init_limits(struct pool *p)
{
        const struct provider_registry *reg = p->s->providers;
        size_t n = provider_account_count(reg);
        p->limits = acctlimit_new(n, p->n);
        if (!p->limits)
                return -1;
        acctlimit_set_total(p->limits, p->s->max_calls_in_flight);
        int64_t now = clock_mono_ms();
        for (size_t i = 0; i < n; i++) {
                const struct provider_limits *l =
                    provider_account_limits(provider_account_at(reg, i));
                acctlimit_set(p->limits, i, l->concurrency, l->rate_per_s,
                              l->burst, now);
        }
        return 0;
}

static int init_loop(struct pool *p, unsigned i, struct metrics *m,
                     char *errstr, size_t errstr_size)
{
        struct pool_loop *l = &p->loops[i];
        l->pool = p;
        divide_caps(&l->share, p->s);
        l->where = (struct worker_loop){.limits = p->limits,
                                        .index = i,
                                        .count = p->n,
                                        .drained = loop_drained,
                                        .all_drained = loops_drained,
                                        .arg = l};
        l->m = i == 0 || !m ? m : metrics_loop_new(m);
        if (m && !l->m) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        l->w = worker_new(&l->share, l->m, &l->where, errstr, errstr_size);
        return l->w ? 0 : -1;
}

struct pool *pool_new(const struct settings *s, struct metrics *m, char *errstr,
                      size_t errstr_size)
{
        struct pool *p = calloc(1, sizeof(*p));
        if (!p) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        p->s = s;
        p->n = s->threads > 0 ? s->threads : 1;
        atomic_init(&p->draining, p->n);
        p->loops = calloc(p->n, sizeof(*p->loops));
        if (!p->loops || init_limits(p) != 0) {
                snprintf(errstr, errstr_size, "out of memory");
                pool_free(p);
                return NULL;
        }
        for (unsigned i = 0; i < p->n; i++) {
                if (init_loop(p, i, m, errstr, errstr_size) != 0) {
                        pool_free(p);
                        return NULL;
                }
        }
        log_info(NULL, NULL,
                 "%u worker loop(s)%s; per loop: %zu requests, %zu bytes "
                 "in flight; %zu calls at once in all",
                 p->n,
                 s->threads_auto ? " (worker.threads = 0: the CPUs this "
                                   "process may use)"
                                 : "",
                 p->loops[0].share.max_requests_in_flight,
                 p->loops[0].share.max_bytes_in_flight, s->max_calls_in_flight);
        return p;
}

void pool_free(struct pool *p)
{
        if (!p)
                return;
        for (unsigned i = 0; p->loops && i < p->n; i++) {
                worker_free(p->loops[i].w);
                if (i > 0)
                        metrics_free(p->loops[i].m);
        }
        free(p->loops);
        acctlimit_free(p->limits);
        free(p);
}

void pool_request_stop(struct pool *p)
{
        for (unsigned i = 0; i < p->n; i++)
                if (p->loops[i].w)
                        worker_request_stop(p->loops[i].w);
}

/* A loop that fails stops the process: the others drain and commit what
 * they finished, as on SIGTERM. */
static void *run_loop(void *arg)
{
        struct pool_loop *l = arg;
        l->rc = worker_run(l->w, l->err, sizeof(l->err));
        loop_drained(l);
        if (l->rc != 0)
                pool_request_stop(l->pool);
        return NULL;
}

int pool_run(struct pool *p, char *errstr, size_t errstr_size)
{
        for (unsigned i = 1; i < p->n; i++) {
                struct pool_loop *l = &p->loops[i];
                l->started = pthread_create(&l->thread, NULL, run_loop, l) == 0;
                if (!l->started) {
                        loop_drained(l);
                        l->rc = -1;
                        snprintf(l->err, sizeof(l->err),
                                 "cannot start a thread");
                        pool_request_stop(p);
                }
        }
        run_loop(&p->loops[0]);
        int rc = 0;
        for (unsigned i = 0; i < p->n; i++) {
                struct pool_loop *l = &p->loops[i];
                if (i > 0 && l->started)
                        pthread_join(l->thread, NULL);
                if (l->rc == 0 || rc != 0)
                        continue;
                rc = -1;
                if (p->n > 1)
                        snprintf(errstr, errstr_size, "loop %u: %s", i, l->err);
                else
                        snprintf(errstr, errstr_size, "%s", l->err);
        }
        return rc;
}
