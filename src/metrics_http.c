/* metrics_http — the probe server: /metrics, /healthz and /readyz over
 * libmicrohttpd's own thread, bounded against slow or hostile clients.
 * It only reads the counters through metrics.h. */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "httpd_deadline.h"

/* A probe must find a free slot while slow clients hold theirs: one
 * address gets a small share of the connections (the kubelet probes from
 * the node's address, Prometheus from its own), an idle one is dropped
 * within a probe period, and a trickling one within a few seconds. */
#define HTTP_CONN_LIMIT      128u
#define HTTP_PER_IP_LIMIT    16u
#define HTTP_IDLE_TIMEOUT_MS 3000u
#define HTTP_DEADLINE_MS     5000u

struct metrics_http {
        struct MHD_Daemon *daemon;
        struct httpd_deadline *deadline;
        int port;
};

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned int status,
                             const char *content_type, char *body,
                             enum MHD_ResponseMemoryMode mode)
{
        struct MHD_Response *resp;
        enum MHD_Result ret;

        resp = MHD_create_response_from_buffer(strlen(body), body, mode);
        if (!resp) {
                if (mode == MHD_RESPMEM_MUST_FREE)
                        free(body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                content_type);
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET");
        ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result queue_text(struct MHD_Connection *conn,
                                  unsigned int status, const char *body)
{
        /* PERSISTENT: MHD neither copies nor frees these literals. */
        return queue(conn, status, "text/plain; charset=utf-8", (char *)body,
                     MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result serve_metrics(struct metrics *m,
                                     struct MHD_Connection *conn)
{
        char *doc = metrics_render(m);

        if (!doc)
                return queue_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                  "metrics unavailable\n");
        return queue(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", doc,
                     MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result serve_healthz(struct metrics *m,
                                     struct MHD_Connection *conn)
{
        if (metrics_healthy(m, clock_mono_ms()))
                return queue_text(conn, MHD_HTTP_OK, "ok\n");
        return queue_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "stalled\n");
}

static enum MHD_Result serve_readyz(struct metrics *m,
                                    struct MHD_Connection *conn)
{
        const char *reason = metrics_unready_reason(m);

        if (!reason)
                return queue_text(conn, MHD_HTTP_OK, "ready\n");
        return queue_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, reason);
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn,
                                      const char *url, const char *method,
                                      const char *version,
                                      const char *upload_data,
                                      size_t *upload_data_size, void **con_cls)
{
        struct metrics *m = cls;

        (void)version;
        (void)upload_data;
        (void)upload_data_size;
        (void)con_cls;
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
                return queue_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                  "method not allowed\n");
        if (strcmp(url, "/metrics") == 0)
                return serve_metrics(m, conn);
        if (strcmp(url, "/healthz") == 0)
                return serve_healthz(m, conn);
        if (strcmp(url, "/readyz") == 0)
                return serve_readyz(m, conn);
        return queue_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* Fills addr from a numeric IPv4 or IPv6 address; returns its length and
 * sets *ipv6, or 0 if bind is not an address. */
static socklen_t parse_bind(const char *bind, int port,
                            struct sockaddr_storage *addr, int *ipv6)
{
        struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;

        memset(addr, 0, sizeof(*addr));
        if (inet_pton(AF_INET, bind, &v4->sin_addr) == 1) {
                v4->sin_family = AF_INET;
                v4->sin_port = htons((uint16_t)port);
                *ipv6 = 0;
                return sizeof(*v4);
        }
        if (inet_pton(AF_INET6, bind, &v6->sin6_addr) == 1) {
                v6->sin6_family = AF_INET6;
                v6->sin6_port = htons((uint16_t)port);
                *ipv6 = 1;
                return sizeof(*v6);
        }
        return 0;
}

void metrics_http_limits_default(struct metrics_limits *out,
                                 const struct metrics_limits *l)
{
        static const struct metrics_limits none;

        if (!l)
                l = &none;
        out->connections = l->connections ? l->connections : HTTP_CONN_LIMIT;
        out->per_ip = l->per_ip ? l->per_ip : HTTP_PER_IP_LIMIT;
        out->idle_timeout_ms =
            l->idle_timeout_ms ? l->idle_timeout_ms : HTTP_IDLE_TIMEOUT_MS;
        out->deadline_ms = l->deadline_ms ? l->deadline_ms : HTTP_DEADLINE_MS;
}

static struct MHD_Daemon *start_daemon(struct metrics *m,
                                       struct metrics_http *h,
                                       const struct metrics_limits *l,
                                       unsigned int flags, int port,
                                       const struct sockaddr_storage *addr)
{
        /* MHD counts its idle timeout in whole seconds. */
        unsigned int idle_s = (l->idle_timeout_ms + 999u) / 1000u;

        return MHD_start_daemon(
            flags, (uint16_t)port, NULL, NULL, handle_request, m,
            MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr,
            MHD_OPTION_CONNECTION_LIMIT, l->connections,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT, l->per_ip,
            MHD_OPTION_CONNECTION_TIMEOUT, idle_s, MHD_OPTION_NOTIFY_CONNECTION,
            httpd_deadline_notify, h->deadline, MHD_OPTION_END);
}

struct metrics_http *metrics_http_start(struct metrics *m, const char *bind,
                                        int port,
                                        const struct metrics_limits *l,
                                        char *errstr, size_t errstr_size)
{
        struct sockaddr_storage addr;
        const union MHD_DaemonInfo *info;
        /* MHD_USE_AUTO: epoll (or poll), not select(). The worker holds one
         * socket per HTTP call in flight, so past ~1000 of them the probes'
         * sockets get numbers >= FD_SETSIZE, which select() cannot watch:
         * /healthz, /readyz and /metrics then stopped answering under load
         * (found by bench/: no sample at caps >= 2048). */
        unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
        int ipv6;
        char err[128];

        if (!bind) {
                snprintf(errstr, errstr_size, "metrics: no bind address");
                return NULL;
        }
        if (port < 0 || port > 65535) {
                snprintf(errstr, errstr_size, "metrics: port %d out of range",
                         port);
                return NULL;
        }
        if (parse_bind(bind, port, &addr, &ipv6) == 0) {
                snprintf(errstr, errstr_size,
                         "metrics: bind address \"%s\" is not an IPv4 or "
                         "IPv6 address",
                         bind);
                return NULL;
        }
        /* Dual stack so that "::" also answers IPv4 probes, as a Linux
         * socket would by default. MHD_USE_ERROR_LOG stays off: this
         * module never prints. */
        if (ipv6)
                flags |= MHD_USE_DUAL_STACK;
        struct metrics_http *h = calloc(1, sizeof(*h));
        if (!h) {
                snprintf(errstr, errstr_size, "metrics: out of memory");
                return NULL;
        }
        h->deadline = httpd_deadline_new(l->deadline_ms, err, sizeof(err));
        if (!h->deadline) {
                snprintf(errstr, errstr_size, "metrics: %s", err);
                free(h);
                return NULL;
        }
        errno = 0;
        h->daemon = start_daemon(m, h, l, flags, port, &addr);
        if (!h->daemon) {
                snprintf(errstr, errstr_size,
                         "metrics: cannot listen on %s port %d: %s", bind, port,
                         errno ? strerror(errno) : "unknown error");
                metrics_http_free(h);
                return NULL;
        }
        info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
        h->port = info ? info->port : port;
        return h;
}

int metrics_http_port(const struct metrics_http *h)
{
        return h ? h->port : 0;
}

void metrics_http_free(struct metrics_http *h)
{
        if (!h)
                return;
        if (h->daemon)
                MHD_stop_daemon(h->daemon);
        httpd_deadline_free(h->deadline);
        free(h);
}
