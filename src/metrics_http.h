/* metrics_http — the HTTP server behind metrics_serve(): /metrics,
 * /healthz and /readyz on libmicrohttpd's own thread, with the limits of
 * struct metrics_limits against slow clients. metrics.c owns one. */
#ifndef ERASURE_METRICS_HTTP_H
#define ERASURE_METRICS_HTTP_H

#include <stddef.h>

#include "metrics.h"

struct metrics_http;

/* out = l with every 0 replaced by the default (l may be NULL). */
void metrics_http_limits_default(struct metrics_limits *out,
                                 const struct metrics_limits *l);

/* Serves m on bind:port (0 = ephemeral) until metrics_http_free(). */
struct metrics_http *metrics_http_start(struct metrics *m, const char *bind,
                                        int port,
                                        const struct metrics_limits *l,
                                        char *errstr, size_t errstr_size);
int metrics_http_port(const struct metrics_http *h); /* 0 for NULL */
void metrics_http_free(struct metrics_http *h);      /* accepts NULL */

#endif
