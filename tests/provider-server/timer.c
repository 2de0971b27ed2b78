#include "timer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define BATCH 64

struct entry {
        uint64_t due;
        struct MHD_Connection *conn;
};

/* A binary min-heap on due time. */
static struct {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        struct entry *heap;
        size_t n;
        size_t cap;
        bool stopping;
        bool running;
        pthread_t thread;
} tm = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void swap(size_t a, size_t b)
{
        struct entry t = tm.heap[a];

        tm.heap[a] = tm.heap[b];
        tm.heap[b] = t;
}

static void sift_up(size_t i)
{
        while (i > 0 && tm.heap[(i - 1) / 2].due > tm.heap[i].due) {
                swap(i, (i - 1) / 2);
                i = (i - 1) / 2;
        }
}

static void sift_down(size_t i)
{
        for (;;) {
                size_t l = 2 * i + 1;
                size_t r = l + 1;
                size_t m = i;

                if (l < tm.n && tm.heap[l].due < tm.heap[m].due)
                        m = l;
                if (r < tm.n && tm.heap[r].due < tm.heap[m].due)
                        m = r;
                if (m == i)
                        return;
                swap(i, m);
                i = m;
        }
}

static void push(struct entry e)
{
        if (tm.n == tm.cap) {
                tm.cap = tm.cap != 0 ? tm.cap * 2 : 256;
                tm.heap = xrealloc(tm.heap, tm.cap * sizeof(*tm.heap));
        }
        tm.heap[tm.n] = e;
        sift_up(tm.n);
        tm.n++;
}

static struct entry pop(void)
{
        struct entry top = tm.heap[0];

        tm.heap[0] = tm.heap[--tm.n];
        sift_down(0);
        return top;
}

bool timer_suspend(struct MHD_Connection *conn, uint64_t due_ms)
{
        bool earliest;

        pthread_mutex_lock(&tm.mu);
        if (tm.stopping || !tm.running) {
                pthread_mutex_unlock(&tm.mu);
                return false;
        }
        /* Suspend before the entry becomes visible, so the timer can never
         * resume a connection that is not suspended yet. */
        MHD_suspend_connection(conn);
        push((struct entry){.due = due_ms, .conn = conn});
        earliest = tm.heap[0].conn == conn;
        pthread_mutex_unlock(&tm.mu);
        if (earliest)
                pthread_cond_signal(&tm.cv);
        return true;
}

static void wait_until(uint64_t due)
{
        struct timespec ts;

        ts.tv_sec = (time_t)(due / 1000);
        ts.tv_nsec = (long)(due % 1000) * 1000000L;
        pthread_cond_timedwait(&tm.cv, &tm.mu, &ts);
}

/* Takes due entries (all when stopping) off the heap; called locked. */
static size_t take_due(struct MHD_Connection **out, uint64_t now)
{
        size_t k = 0;

        while (k < BATCH && tm.n > 0 && (tm.stopping || tm.heap[0].due <= now))
                out[k++] = pop().conn;
        return k;
}

static void *timer_main(void *arg)
{
        struct MHD_Connection *batch[BATCH];

        (void)arg;
        pthread_mutex_lock(&tm.mu);
        while (!tm.stopping || tm.n > 0) {
                size_t k = take_due(batch, mono_ms());

                if (k > 0) {
                        /* Resume outside the lock: MHD takes its own. */
                        pthread_mutex_unlock(&tm.mu);
                        for (size_t i = 0; i < k; i++)
                                MHD_resume_connection(batch[i]);
                        pthread_mutex_lock(&tm.mu);
                } else if (tm.n > 0) {
                        wait_until(tm.heap[0].due);
                } else {
                        pthread_cond_wait(&tm.cv, &tm.mu);
                }
        }
        pthread_mutex_unlock(&tm.mu);
        return NULL;
}

int timer_start(void)
{
        pthread_condattr_t attr;
        int rc;

        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&tm.cv, &attr);
        pthread_condattr_destroy(&attr);
        rc = pthread_create(&tm.thread, NULL, timer_main, NULL);
        if (rc != 0) {
                fprintf(stderr, "provider-server: timer thread: %s\n",
                        strerror(rc));
                return -1;
        }
        pthread_mutex_lock(&tm.mu);
        tm.running = true;
        pthread_mutex_unlock(&tm.mu);
        return 0;
}

void timer_stop(void)
{
        pthread_mutex_lock(&tm.mu);
        if (!tm.running || tm.stopping) {
                pthread_mutex_unlock(&tm.mu);
                return;
        }
        tm.stopping = true;
        pthread_mutex_unlock(&tm.mu);
        pthread_cond_signal(&tm.cv);
        pthread_join(tm.thread, NULL);
        /* The thread drained the heap; stopping stays set, so nothing
         * can be pushed any more. */
        pthread_mutex_lock(&tm.mu);
        free(tm.heap);
        tm.heap = NULL;
        tm.cap = 0;
        pthread_mutex_unlock(&tm.mu);
}

size_t timer_waiting(void)
{
        size_t n;

        pthread_mutex_lock(&tm.mu);
        n = tm.n;
        pthread_mutex_unlock(&tm.mu);
        return n;
}
