/* httpd_deadline — an absolute time limit per request on a libmicrohttpd
 * daemon.
 *
 * libmicrohttpd's own MHD_OPTION_CONNECTION_TIMEOUT is an idle timeout: a
 * client that sends one byte a second keeps its connection forever. This
 * module remembers when each connection began, and a thread of its own
 * shuts down the socket of any that is older than the deadline; the daemon
 * then sees the end of the stream and closes the connection itself.
 *
 * The deadline runs per connection. That is per request for the metrics
 * server, whose handler answers before the request is fully read, so
 * libmicrohttpd closes every connection after its one response.
 *
 * Give httpd_deadline_notify as MHD_OPTION_NOTIFY_CONNECTION with the
 * struct as its closure. Stop the daemon before httpd_deadline_free(). */
#ifndef ERASURE_HTTPD_DEADLINE_H
#define ERASURE_HTTPD_DEADLINE_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

struct httpd_deadline;

/* Starts the reaper thread; deadline_ms > 0. */
struct httpd_deadline *httpd_deadline_new(int64_t deadline_ms, char *errstr,
                                          size_t errstr_size);
void httpd_deadline_free(struct httpd_deadline *d);

/* MHD_NotifyConnectionCallback: tracks connections opened and closed. */
void httpd_deadline_notify(void *cls, struct MHD_Connection *conn,
                           void **socket_context,
                           enum MHD_ConnectionNotificationCode toe);

#endif
