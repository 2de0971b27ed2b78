/*
 * Delayed answers without a thread per request: a handler suspends its
 * connection and this module's one thread resumes it when it is due.
 */
#ifndef PS_TIMER_H
#define PS_TIMER_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int timer_start(void);

/*
 * Suspends conn (call from the access handler) and resumes it at due_ms
 * (mono_ms() clock). Returns false, without suspending, once the server
 * is stopping: the caller must then answer at once.
 */
bool timer_suspend(struct MHD_Connection *conn, uint64_t due_ms);

/* Resumes every waiting connection and joins the thread; afterwards
 * timer_suspend refuses. */
void timer_stop(void);

size_t timer_waiting(void);

#endif
