/* httpd_deadline — see httpd_deadline.h.
 *
 * Why shutdown() from another thread is safe: an entry leaves the list in
 * the daemon's MHD_CONNECTION_NOTIFY_CLOSED callback, which libmicrohttpd
 * calls before it closes the socket, and both that removal and the reaper's
 * shutdown() hold the same mutex. So a descriptor found in the list is
 * still the connection's own and cannot have been reused. */
#include "httpd_deadline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define SWEEP_MAX_MS 250 /* how late a deadline may be noticed, at most */

struct tracked {
        int fd;
        int64_t since_ms; /* accepted at */
        int shut;         /* shutdown() already sent */
        struct tracked *prev, *next;
};

struct httpd_deadline {
        pthread_mutex_t lock;
        pthread_cond_t wake; /* signalled to stop the reaper */
        pthread_t reaper;
        int stop;
        int64_t deadline_ms;
        struct tracked *live;
};

static int64_t mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sweep_locked(struct httpd_deadline *d, int64_t now)
{
        struct tracked *t;

        for (t = d->live; t; t = t->next) {
                if (t->shut || now - t->since_ms < d->deadline_ms)
                        continue;
                shutdown(t->fd, SHUT_RDWR);
                t->shut = 1;
        }
}

static struct timespec wake_at(int64_t interval_ms)
{
        struct timespec ts;

        /* The condition variable uses CLOCK_MONOTONIC (see _new). */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += interval_ms / 1000;
        ts.tv_nsec += (interval_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
        }
        return ts;
}

static void *reap(void *arg)
{
        struct httpd_deadline *d = arg;
        int64_t interval = d->deadline_ms / 4;
        struct timespec ts;

        if (interval > SWEEP_MAX_MS)
                interval = SWEEP_MAX_MS;
        if (interval < 1)
                interval = 1;
        pthread_mutex_lock(&d->lock);
        while (!d->stop) {
                ts = wake_at(interval);
                pthread_cond_timedwait(&d->wake, &d->lock, &ts);
                sweep_locked(d, mono_ms());
        }
        pthread_mutex_unlock(&d->lock);
        return NULL;
}

static int init_sync(struct httpd_deadline *d)
{
        pthread_condattr_t ca;
        int rc;

        if (pthread_mutex_init(&d->lock, NULL) != 0)
                return -1;
        if (pthread_condattr_init(&ca) != 0)
                goto fail_mutex;
        rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        if (rc == 0)
                rc = pthread_cond_init(&d->wake, &ca);
        pthread_condattr_destroy(&ca);
        if (rc == 0)
                return 0;
fail_mutex:
        pthread_mutex_destroy(&d->lock);
        return -1;
}

struct httpd_deadline *httpd_deadline_new(int64_t deadline_ms, char *errstr,
                                          size_t errstr_size)
{
        struct httpd_deadline *d;
        int rc;

        if (deadline_ms <= 0) {
                snprintf(errstr, errstr_size, "deadline must be positive");
                return NULL;
        }
        d = calloc(1, sizeof(*d));
        if (!d || init_sync(d) != 0) {
                free(d);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        d->deadline_ms = deadline_ms;
        rc = pthread_create(&d->reaper, NULL, reap, d);
        if (rc != 0) {
                pthread_cond_destroy(&d->wake);
                pthread_mutex_destroy(&d->lock);
                free(d);
                snprintf(errstr, errstr_size, "cannot start thread: %s",
                         strerror(rc));
                return NULL;
        }
        return d;
}

void httpd_deadline_free(struct httpd_deadline *d)
{
        struct tracked *t;

        if (!d)
                return;
        pthread_mutex_lock(&d->lock);
        d->stop = 1;
        pthread_cond_signal(&d->wake);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->reaper, NULL);
        /* Only left if the daemon was not stopped first. */
        while (d->live) {
                t = d->live;
                d->live = t->next;
                free(t);
        }
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->lock);
        free(d);
}

static void track(struct httpd_deadline *d, struct MHD_Connection *conn,
                  void **socket_context)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct tracked *t;

        /* Without memory or a descriptor the connection is left to the
         * idle timeout alone: better than refusing a probe. */
        if (!ci)
                return;
        t = calloc(1, sizeof(*t));
        if (!t)
                return;
        t->fd = ci->connect_fd;
        t->since_ms = mono_ms();
        pthread_mutex_lock(&d->lock);
        t->next = d->live;
        if (d->live)
                d->live->prev = t;
        d->live = t;
        pthread_mutex_unlock(&d->lock);
        *socket_context = t;
}

static void untrack(struct httpd_deadline *d, struct tracked *t)
{
        pthread_mutex_lock(&d->lock);
        if (t->prev)
                t->prev->next = t->next;
        else
                d->live = t->next;
        if (t->next)
                t->next->prev = t->prev;
        pthread_mutex_unlock(&d->lock);
        free(t);
}

void httpd_deadline_notify(void *cls, struct MHD_Connection *conn,
                           void **socket_context,
                           enum MHD_ConnectionNotificationCode toe)
{
        struct httpd_deadline *d = cls;

        if (toe == MHD_CONNECTION_NOTIFY_STARTED)
                track(d, conn, socket_context);
        else if (*socket_context)
                untrack(d, *socket_context);
}
