#include "server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "control.h"
#include "faults.h"
#include "providers.h"
#include "state.h"
#include "timer.h"
#include "util.h"

#define MAX_BODY       (1024 * 1024)
#define IDLE_TIMEOUT_S 300
#define LISTEN_BACKLOG 4096

/* One HTTP request, from its URI line to its completion. */
struct request {
        char *path;       /* raw, still %-encoded, without the query */
        char *query;      /* raw, or NULL when the URI has no '?' */
        const char *rest; /* path after the provider or control prefix */
        bool control;
        enum provider provider;
        char *method;
        json_t *headers;
        char *body;
        size_t body_len;
        size_t body_cap;
        uint64_t connection_id;
        uint64_t received_ms;
        struct fault_outcome fault;
        bool started;
        bool too_large;
        bool suspended;
        bool counted;
        bool recorded;
};

static unsigned int hang_ms;

static bool has_prefix(const char *s, const char *prefix)
{
        size_t n = strlen(prefix);

        return strncmp(s, prefix, n) == 0 && (s[n] == '/' || s[n] == '\0');
}

static struct request *request_new(const char *uri)
{
        struct request *rq = xmalloc(sizeof(*rq));
        const char *q = strchr(uri, '?');

        memset(rq, 0, sizeof(*rq));
        rq->path = q != NULL ? xstrndup(uri, (size_t)(q - uri)) : xstrdup(uri);
        rq->query = q != NULL ? xstrdup(q + 1) : NULL;
        rq->control = has_prefix(rq->path, CONTROL_PREFIX);
        if (rq->control) {
                rq->provider = PROVIDER_NONE;
                rq->rest = rq->path + strlen(CONTROL_PREFIX);
        } else {
                rq->provider = provider_route(rq->path, &rq->rest);
        }
        return rq;
}

static void request_free(struct request *rq)
{
        free(rq->path);
        free(rq->query);
        free(rq->method);
        json_decref(rq->headers);
        free(rq->body);
        fault_outcome_free(&rq->fault);
        free(rq);
}

/* MHD hands this callback the URI exactly as sent, before it decodes the
 * path; that raw form is what routing and the call record need. */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
        (void)cls;
        (void)conn;
        return request_new(uri);
}

static void connection_notify(void *cls, struct MHD_Connection *conn,
                              void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
        (void)cls;
        (void)conn;
        /* The id lives in the pointer itself: nothing to free. */
        if (code == MHD_CONNECTION_NOTIFY_STARTED)
                *socket_context = (void *)(uintptr_t)calls_connection_opened();
        else
                calls_connection_closed();
}

static uint64_t connection_id(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

        return ci != NULL ? (uint64_t)(uintptr_t)ci->socket_context : 0;
}

static bool client_is_loopback(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

        return ci != NULL && sockaddr_is_loopback(ci->client_addr);
}

/* Header names are lower-cased (and anything but ASCII replaced) so the
 * record and the auth checks need not care how a client spelled them. */
static char *header_name(const char *key)
{
        char *name = xstrdup(key);

        for (char *p = name; *p != '\0'; p++) {
                unsigned char c = (unsigned char)*p;

                *p = c >= 0x80 ? '?' : (char)tolower(c);
        }
        return name;
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *value)
{
        json_t *headers = cls;
        char *name = header_name(key);
        const char *old = json_string_value(json_object_get(headers, name));
        const char *v = value != NULL ? value : "";
        char *joined;

        (void)kind;
        if (old == NULL) {
                json_object_set_new(headers, name,
                                    json_lossy_string(v, strlen(v)));
        } else {
                /* A repeated header is folded the way HTTP allows. */
                size_t n = strlen(old) + 2 + strlen(v);

                joined = xmalloc(n + 1);
                snprintf(joined, n + 1, "%s, %s", old, v);
                json_object_set_new(headers, name,
                                    json_lossy_string(joined, n));
                free(joined);
        }
        free(name);
        return MHD_YES;
}

static json_t *collect_headers(struct MHD_Connection *conn)
{
        json_t *headers = json_object();

        MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header, headers);
        return headers;
}

static bool declared_too_large(const struct request *rq)
{
        const char *cl =
            json_string_value(json_object_get(rq->headers, "content-length"));

        return cl != NULL && strtoull(cl, NULL, 10) > MAX_BODY;
}

/* Bodies are capped: past MAX_BODY the rest is read and thrown away and
 * the request is answered 413. */
static void take_body(struct request *rq, const char *data, size_t len)
{
        if (rq->too_large || len > MAX_BODY - rq->body_len) {
                /* Neither kept nor recorded: a partial body would mislead. */
                rq->too_large = true;
                free(rq->body);
                rq->body = NULL;
                rq->body_len = rq->body_cap = 0;
                return;
        }
        if (rq->body_len + len + 1 > rq->body_cap) {
                size_t cap = rq->body_cap != 0 ? rq->body_cap : 1024;

                while (cap < rq->body_len + len + 1)
                        cap *= 2;
                rq->body = xrealloc(rq->body, cap);
                rq->body_cap = cap;
        }
        memcpy(rq->body + rq->body_len, data, len);
        rq->body_len += len;
        rq->body[rq->body_len] = '\0';
}

static void arrived(struct request *rq)
{
        if (rq->counted)
                return;
        rq->counted = true;
        rq->received_ms = wall_ms();
        calls_arrived(rq->provider);
}

static json_t *string_or_null(const char *s)
{
        return s != NULL ? json_lossy_string(s, strlen(s)) : json_null();
}

/* status 0 means no HTTP answer was sent (reset, hang). */
static void record(struct request *rq, unsigned int status)
{
        json_t *rec = json_object();

        rq->recorded = true;
        if (rq->counted)
                calls_answered(rq->provider);

        json_object_set_new(rec, "provider",
                            string_or_null(provider_name(rq->provider)));
        json_object_set_new(rec, "method", string_or_null(rq->method));
        json_object_set_new(rec, "path", string_or_null(rq->rest));
        json_object_set_new(rec, "query", string_or_null(rq->query));
        json_object_set(rec, "headers", rq->headers);
        json_object_set_new(rec, "body",
                            rq->body != NULL
                                ? json_lossy_string(rq->body, rq->body_len)
                                : json_null());
        json_object_set_new(rec, "status", json_integer(status));
        json_object_set_new(rec, "connection",
                            json_integer((json_int_t)rq->connection_id));
        json_object_set_new(rec, "ts_ms", json_integer((json_int_t)wall_ms()));
        json_object_set_new(rec, "received_ms",
                            json_integer((json_int_t)rq->received_ms));
        json_object_set_new(
            rec, "fault", string_or_null(fault_action_name(rq->fault.action)));
        json_object_set_new(rec, "latency_ms",
                            json_integer(rq->fault.latency_ms));
        calls_record(rec, status);
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
        struct request *rq = *req_cls;

        (void)cls;
        (void)conn;
        (void)toe;
        if (rq == NULL)
                return;
        /* A request that arrived but got no answer (its client left while
         * it was delayed) is still a call the vendor would have seen. */
        if (rq->counted && !rq->recorded)
                record(rq, 0);
        request_free(rq);
        *req_cls = NULL;
}

static bool status_has_no_body(unsigned int status)
{
        return status < 200 || status == 204 || status == 304;
}

/* A body followed by pad spaces (fault pad_bytes), generated as it is
 * sent: a body of many GiB costs no memory. */
struct padded {
        char *head;
        size_t head_len;
};

static ssize_t padded_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        const struct padded *p = cls;
        size_t n = 0;

        if (pos < p->head_len) {
                n = p->head_len - (size_t)pos;
                n = n < max ? n : max;
                memcpy(buf, p->head + pos, n);
        }
        memset(buf + n, ' ', max - n);
        return (ssize_t)max;
}

static void padded_free(void *cls)
{
        struct padded *p = cls;

        free(p->head);
        free(p);
}

static struct MHD_Response *padded_response(struct reply *r,
                                            unsigned long long pad)
{
        struct padded *p = xmalloc(sizeof(*p));
        struct MHD_Response *resp;

        p->head = r->body; /* now p's */
        p->head_len = r->body ? r->body_len : 0;
        r->body = NULL;
        resp = MHD_create_response_from_callback(p->head_len + pad, 16384,
                                                 padded_read, p, padded_free);
        if (resp == NULL)
                padded_free(p);
        return resp;
}

static enum MHD_Result queue_padded(struct MHD_Connection *conn,
                                    struct reply *r, const char *retry_after,
                                    unsigned long long pad)
{
        struct MHD_Response *resp;
        enum MHD_Result ret;

        if (pad > 0 && !status_has_no_body(r->status))
                resp = padded_response(r, pad);
        else if (r->body != NULL && !status_has_no_body(r->status))
                resp = MHD_create_response_from_buffer(r->body_len, r->body,
                                                       MHD_RESPMEM_MUST_FREE);
        else
                resp = MHD_create_response_from_buffer(0, (void *)"",
                                                       MHD_RESPMEM_PERSISTENT);
        if (resp == NULL) {
                reply_free(r);
                return MHD_NO;
        }
        if (r->body != NULL && !status_has_no_body(r->status))
                r->body = NULL; /* now the response's */
        reply_free(r);
        if (r->content_type != NULL && !status_has_no_body(r->status))
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                        r->content_type);
        if (r->allow != NULL)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
        if (retry_after != NULL)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
                                        retry_after);
        ret = MHD_queue_response(conn, r->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result queue(struct MHD_Connection *conn, struct reply *r,
                             const char *retry_after)
{
        return queue_padded(conn, r, retry_after, 0);
}

static enum MHD_Result answer_too_large(struct request *rq,
                                        struct MHD_Connection *conn)
{
        struct reply r = {0};

        reply_error(&r, MHD_HTTP_CONTENT_TOO_LARGE,
                    "request body exceeds 1 MiB");
        if (!rq->control) {
                arrived(rq);
                record(rq, r.status);
        }
        return queue(conn, &r, NULL);
}

static enum MHD_Result answer_control(struct request *rq,
                                      struct MHD_Connection *conn)
{
        struct reply r = {0};

        /* The server refuses non-loopback binds by default; this covers
         * --allow-non-loopback, where only the vendor routes are meant to
         * be reachable from elsewhere. */
        if (!client_is_loopback(conn))
                reply_error(&r, MHD_HTTP_FORBIDDEN,
                            "the control API is loopback-only");
        else
                control_handle(rq->method, rq->rest, rq->query, rq->body,
                               rq->body_len, &r);
        return queue(conn, &r, NULL);
}

/* SO_LINGER 0 makes close() send RST, a harsher failure than a FIN. */
static void reset_connection(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct linger lg = {.l_onoff = 1, .l_linger = 0};

        if (ci != NULL)
                setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg,
                           sizeof(lg));
}

static void echo_reply(struct request *rq, struct reply *r)
{
        char *text =
            echo_credentials(rq->headers, rq->fault.echo, rq->fault.echo_pad);

        provider_fault_reply_text(rq->provider, rq->fault.status, text, r);
        free(text);
}

static void build_reply(struct request *rq, struct reply *r)
{
        struct provider_request prq = {
            .method = rq->method,
            .path = rq->rest,
            .query = rq->query,
            .headers = rq->headers,
            .body = rq->body,
            .body_len = rq->body_len,
        };

        if (rq->fault.action != FAULT_STATUS)
                provider_handle(rq->provider, &prq, r);
        else if (rq->fault.echo != ECHO_NONE)
                echo_reply(rq, r);
        else if (rq->fault.body != NULL)
                reply_raw(r, rq->fault.status, rq->fault.body);
        else
                provider_fault_reply(rq->provider, rq->fault.status, r);
}

/* The answer itself, once any delay is over. */
static enum MHD_Result execute(struct request *rq, struct MHD_Connection *conn)
{
        struct reply r = {0};

        if (rq->fault.action == FAULT_HANG)
                return MHD_NO;
        if (rq->fault.action == FAULT_RESET) {
                record(rq, 0);
                reset_connection(conn);
                return MHD_NO;
        }
        build_reply(rq, &r);
        record(rq, r.status);
        if (rq->fault.action != FAULT_STATUS)
                return queue(conn, &r, NULL);
        return queue_padded(conn, &r, rq->fault.retry_after,
                            rq->fault.pad_bytes);
}

/* Parks the connection until due; false if the server is stopping. */
static bool delay(struct request *rq, struct MHD_Connection *conn,
                  unsigned int ms)
{
        rq->suspended = true;
        if (timer_suspend(conn, mono_ms() + ms))
                return true;
        rq->suspended = false;
        return false;
}

static enum MHD_Result complete(struct request *rq, struct MHD_Connection *conn)
{
        if (rq->too_large)
                return answer_too_large(rq, conn);
        if (rq->control)
                return answer_control(rq, conn);
        arrived(rq);
        if (rq->provider != PROVIDER_NONE)
                faults_pick(rq->provider, &rq->fault);
        if (rq->fault.action == FAULT_HANG) {
                /* Recorded now: there will be no answer to record. A hung
                 * connection is still dropped after hang_ms so that
                 * clients that gave up do not pile up forever. */
                record(rq, 0);
                return delay(rq, conn, hang_ms) ? MHD_YES : MHD_NO;
        }
        if (rq->fault.latency_ms > 0 && delay(rq, conn, rq->fault.latency_ms))
                return MHD_YES;
        return execute(rq, conn);
}

static enum MHD_Result begin(struct request *rq, struct MHD_Connection *conn,
                             const char *method)
{
        rq->started = true;
        rq->method = xstrdup(method);
        rq->headers = collect_headers(conn);
        rq->connection_id = connection_id(conn);
        if (declared_too_large(rq)) {
                rq->too_large = true;
                return answer_too_large(rq, conn);
        }
        return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload_data,
                               size_t *upload_data_size, void **req_cls)
{
        struct request *rq = *req_cls;

        (void)cls;
        (void)version;
        if (rq == NULL) {
                rq = request_new(url);
                *req_cls = rq;
        }
        if (!rq->started)
                return begin(rq, conn, method);
        if (*upload_data_size != 0) {
                take_body(rq, upload_data, *upload_data_size);
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (rq->suspended) {
                rq->suspended = false;
                return execute(rq, conn);
        }
        return complete(rq, conn);
}

int server_parse_addr(const char *host, unsigned int port,
                      struct sockaddr_storage *ss, socklen_t *len)
{
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

        memset(ss, 0, sizeof(*ss));
        if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
                in->sin_family = AF_INET;
                in->sin_port = htons((uint16_t)port);
                *len = sizeof(*in);
                return 0;
        }
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t)port);
                *len = sizeof(*in6);
                return 0;
        }
        return -1;
}

struct MHD_Daemon *server_start(const struct server_config *cfg,
                                unsigned int *bound_port)
{
        struct sockaddr_storage ss;
        socklen_t len;
        /* TURBO also stops MHD from shutdown()ing a socket before close,
         * which would turn an injected reset into a plain FIN. */
        unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                             MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
        struct MHD_Daemon *d;
        const union MHD_DaemonInfo *info;

        if (server_parse_addr(cfg->bind, cfg->port, &ss, &len) != 0)
                return NULL;
        if (ss.ss_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        if (cfg->verbose)
                flags |= MHD_USE_ERROR_LOG;
        hang_ms = cfg->hang_ms;
        d = MHD_start_daemon(
            flags, 0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR,
            (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, cfg->threads,
            MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)IDLE_TIMEOUT_S,
            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)LISTEN_BACKLOG,
            MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
            MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
            MHD_OPTION_NOTIFY_CONNECTION, connection_notify, NULL,
            MHD_OPTION_END);
        if (d == NULL)
                return NULL;
        info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        *bound_port = info != NULL ? info->port : cfg->port;
        return d;
}

void server_stop(struct MHD_Daemon *daemon)
{
        /* MHD must not be stopped with suspended connections: the timer
         * resumes them all first, and a resumed hang closes. */
        timer_stop();
        MHD_stop_daemon(daemon);
}
