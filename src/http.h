/* http — many HTTP calls at once over libcurl's multi interface.
 *
 * The caller owns the event loop: it asks http_wait() to block on curl's
 * sockets plus its own file descriptors, then http_collect() to move
 * transfers forward and pick up finished ones. Connections are kept and
 * reused across calls to the same host; TLS is 1.2 or later. */
#ifndef ERASURE_HTTP_H
#define ERASURE_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct provider_call;
struct provider_limits;

/* Response bytes kept. A longer body is not read further: the transfer
 * ends there and is reported as the response, body_truncated set. */
#define HTTP_MAX_BODY (64 * 1024)

struct http;
struct http_transfer;

struct http_result {
        long status;       /* 0: no HTTP response */
        int curl_code;     /* CURLE_OK or the transport error */
        const char *error; /* transport error text, "" if none */
        const char *body;  /* NUL-terminated, at most HTTP_MAX_BODY */
        size_t body_len;
        int body_truncated;      /* the response went on past HTTP_MAX_BODY */
        const char *retry_after; /* header value or NULL */
        double total_s;
};

/* max_connections bounds curl's connection cache. */
struct http *http_new(size_t max_connections, char *errstr, size_t errstr_size);
void http_free(struct http *h); /* aborts unfinished transfers */

/* Starts call; opaque comes back with the result. NULL on error. */
struct http_transfer *http_start(struct http *h,
                                 const struct provider_call *call,
                                 const struct provider_limits *limits,
                                 void *opaque, char *errstr,
                                 size_t errstr_size);
/* Any request: a provider call with headers added at send time (an OAuth
 * token), or a call that is not a provider's action (a token fetch). The
 * strings need only live until http_start_request() returns. */
struct http_request {
        const char *method;
        const char *url;
        const struct provider_header *headers;
        size_t nheaders;
        const struct provider_header *extra; /* sent after headers */
        size_t nextra;
        const char *body; /* NULL: none */
        size_t body_len;
};

struct http_transfer *http_start_request(struct http *h,
                                         const struct http_request *rq,
                                         const struct provider_limits *limits,
                                         void *opaque, char *errstr,
                                         size_t errstr_size);
/* Aborts a transfer; its result is never reported. */
void http_cancel(struct http *h, struct http_transfer *t);

/* Blocks until curl or one of fds (readable) has work, or timeout_ms
 * (negative: no limit but curl's own timers). Not thread-safe: the loop
 * that calls it owns h. */
int http_wait(struct http *h, const int *fds, size_t nfds, int timeout_ms);
/* Drives transfers; then calls done() once per finished transfer. The
 * result is only valid during the callback. */
void http_collect(struct http *h,
                  void (*done)(void *arg, void *opaque,
                               const struct http_result *res),
                  void *arg);

#endif
