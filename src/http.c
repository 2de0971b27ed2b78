/* http — libcurl multi interface behind a small API.
 *
 * Driven by curl_multi_socket_action() over one epoll set rather than by
 * curl_multi_poll() + curl_multi_perform(), which look at every transfer in
 * flight on every loop turn; the socket interface also lets several multi
 * handles share the one wait.
 *
 * Transfers are spread over several multi handles ("shards") of at most
 * HTTP_SHARD_CALLS transfers each. libcurl 7.88 (Debian 12) walks its whole
 * connection cache whenever a transfer is removed, and a host's
 * connections to find a free one for each new transfer; each multi handle
 * has its own cache. With one multi and 8192 calls in flight to one host,
 * those walks made a call cost about twice the CPU it costs at 512
 * (bench/README.md); later libcurl no longer walks the cache on removal. At
 * caps up to HTTP_SHARD_CALLS there is a single shard, as before. */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <unistd.h>

#include "clock.h"
#include "provider.h"

#define HTTP_MAX_EXTRA   8          /* caller's fds in http_wait() */
#define HTTP_MAX_EVENTS  1024       /* epoll events taken per wait */
#define HTTP_SHARD_CALLS 256        /* transfers per multi handle, see above */
#define HTTP_EXTRA_TAG   UINT32_MAX /* epoll tag of the caller's fds */
#define HTTP_IDLE_MAX    1024       /* idle easy handles kept for reuse */
/* Download buffer per transfer (CURLOPT_BUFFERSIZE). Deletion responses
 * are a status line, a few headers and a small JSON body, and curl's 16 KiB
 * default per transfer dominated the worker's memory at thousands of calls
 * in flight; a longer response is simply read in more pieces. */
#define HTTP_BUFFER_SIZE 1024L

struct http_transfer {
        CURL *easy;
        struct curl_slist *headers;
        void *opaque;
        char *body;
        size_t body_len;
        int body_capped; /* stopped reading at HTTP_MAX_BODY */
        char retry_after[64];
        int has_retry_after;
        char errbuf[CURL_ERROR_SIZE];
        struct shard *shard;
        LIST_ENTRY(http_transfer) link; /* all live transfers */
};

/* One multi handle, its connection cache and its timer. */
struct shard {
        struct http *h;
        CURLM *multi;
        uint32_t index;    /* in h->shards; tags its sockets in epfd */
        int64_t timer_due; /* curl's timer, monotonic ms; -1: none */
        size_t running;    /* transfers added */
};

struct http {
        struct shard *shards;
        size_t nshards;
        LIST_HEAD(, http_transfer) live;
        int epfd;                  /* every shard's sockets, caller's fds */
        int extra[HTTP_MAX_EXTRA]; /* caller's fds registered in epfd */
        size_t nextra;
        struct epoll_event events[HTTP_MAX_EVENTS]; /* of the last wait */
        int nevents;
        /* Easy handles of finished transfers, reset and kept for the next
         * ones: creating and destroying one per call cost ~15 % of the
         * worker's CPU per call (bench/). At most HTTP_IDLE_MAX are kept
         * (~5 KiB each), enough for the calls one loop turn finishes. */
        CURL **idle;
        size_t nidle, idle_cap;
};

/* epoll data of a socket: its shard's index and the descriptor. */
static uint64_t tag(uint32_t shard, int fd)
{
        return (uint64_t)shard << 32 | (uint32_t)fd;
}

/* curl tells which events it wants on a socket: mirror that in epfd. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp,
                     void *socketp)
{
        struct shard *sh = userp;
        struct http *h = sh->h;
        (void)easy;
        if (what == CURL_POLL_REMOVE) {
                /* Fails harmlessly if curl closed the socket already. */
                epoll_ctl(h->epfd, EPOLL_CTL_DEL, s, NULL);
                return 0;
        }
        struct epoll_event ev = {0};
        ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) |
                    ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
        ev.data.u64 = tag(sh->index, s);
        /* socketp marks sockets already added; a closed socket leaves the
         * set by itself, and its number may come back as a new socket. */
        int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (epoll_ctl(h->epfd, op, s, &ev) != 0) {
                op = errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
                if (epoll_ctl(h->epfd, op, s, &ev) != 0)
                        return -1;
        }
        if (!socketp)
                curl_multi_assign(sh->multi, s, sh);
        return 0;
}

/* curl's single timer: -1 deletes it, 0 means "call me now". */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
        struct shard *sh = userp;
        (void)multi;
        sh->timer_due = timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms;
        return 0;
}

static int shard_init(struct http *h, uint32_t index, long max_connections)
{
        struct shard *sh = &h->shards[index];
        sh->h = h;
        sh->index = index;
        sh->timer_due = -1;
        sh->multi = curl_multi_init();
        if (!sh->multi)
                return -1;
        curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, max_connections);
        curl_multi_setopt(sh->multi, CURLMOPT_PIPELINING,
                          (long)CURLPIPE_MULTIPLEX);
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
        return 0;
}

struct http *http_new(size_t max_connections, char *errstr, size_t errstr_size)
{
        static int global_done;
        if (!global_done) {
                if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                        snprintf(errstr, errstr_size,
                                 "curl_global_init failed");
                        return NULL;
                }
                global_done = 1;
        }
        struct http *h = calloc(1, sizeof(*h));
        if (!h) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (!max_connections)
                max_connections = 64;
        h->nshards =
            (max_connections + HTTP_SHARD_CALLS - 1) / HTTP_SHARD_CALLS;
        h->shards = calloc(h->nshards, sizeof(*h->shards));
        h->idle_cap =
            max_connections < HTTP_IDLE_MAX ? max_connections : HTTP_IDLE_MAX;
        h->idle = calloc(h->idle_cap, sizeof(*h->idle));
        h->epfd = epoll_create1(EPOLL_CLOEXEC);
        int ok = h->shards && h->idle && h->epfd >= 0;
        /* Each shard caches about its share of the connections, with some
         * room for the transfers not spreading perfectly evenly. */
        long per_shard =
            (long)((max_connections + h->nshards - 1) / h->nshards) + 16;
        for (size_t i = 0; ok && i < h->nshards; i++)
                ok = shard_init(h, (uint32_t)i, per_shard) == 0;
        if (!ok) {
                http_free(h);
                snprintf(errstr, errstr_size, "curl_multi_init failed");
                return NULL;
        }
        return h;
}

/* Finished transfers leave their easy handle for the next one. */
static void easy_put_back(struct http *h, CURL *e)
{
        if (!e)
                return;
        if (h->nidle < h->idle_cap) {
                /* Back to the state of curl_easy_init(); connections stay
                 * in the multi's cache either way. */
                curl_easy_reset(e);
                h->idle[h->nidle++] = e;
        } else {
                curl_easy_cleanup(e);
        }
}

static CURL *easy_get(struct http *h)
{
        return h->nidle > 0 ? h->idle[--h->nidle] : curl_easy_init();
}

/* The shard with the fewest transfers: the most likely to have a free
 * connection, and the shortest walks. */
static struct shard *shard_pick(struct http *h)
{
        struct shard *best = &h->shards[0];
        for (size_t i = 1; i < h->nshards && best->running > 0; i++)
                if (h->shards[i].running < best->running)
                        best = &h->shards[i];
        return best;
}

static void transfer_free(struct http *h, struct http_transfer *t)
{
        LIST_REMOVE(t, link);
        curl_multi_remove_handle(t->shard->multi, t->easy);
        t->shard->running--;
        easy_put_back(h, t->easy);
        curl_slist_free_all(t->headers);
        free(t->body);
        free(t);
}

void http_free(struct http *h)
{
        if (!h)
                return;
        while (!LIST_EMPTY(&h->live))
                transfer_free(h, LIST_FIRST(&h->live));
        while (h->nidle > 0)
                curl_easy_cleanup(h->idle[--h->nidle]);
        free(h->idle);
        for (size_t i = 0; h->shards && i < h->nshards; i++)
                if (h->shards[i].multi)
                        curl_multi_cleanup(h->shards[i].multi);
        free(h->shards);
        if (h->epfd >= 0)
                close(h->epfd);
        free(h);
}

/* Past HTTP_MAX_BODY the transfer is aborted rather than drained: a
 * hostile or broken endpoint could otherwise stream for the whole
 * timeout. The status and headers are in by then, so report() turns the
 * abort back into a response with the kept prefix. */
static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
        struct http_transfer *t = arg;
        size_t len = size * n;
        size_t room = HTTP_MAX_BODY - t->body_len;
        size_t keep = len < room ? len : room;
        if (keep > 0) {
                char *nb = realloc(t->body, t->body_len + keep + 1);
                if (!nb)
                        return 0; /* aborts the transfer: a retryable error */
                memcpy(nb + t->body_len, data, keep);
                t->body = nb;
                t->body_len += keep;
                t->body[t->body_len] = '\0';
        }
        if (keep < len) {
                t->body_capped = 1;
                return 0; /* CURLE_WRITE_ERROR, undone in report() */
        }
        return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
        struct http_transfer *t = arg;
        size_t len = size * n;
        static const char name[] = "retry-after:";
        size_t nl = sizeof(name) - 1;
        if (len > nl && strncasecmp(data, name, nl) == 0) {
                const char *v = data + nl;
                size_t vl = len - nl;
                while (vl > 0 && (*v == ' ' || *v == '\t')) {
                        v++;
                        vl--;
                }
                while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
                                  v[vl - 1] == ' '))
                        vl--;
                if (vl >= sizeof(t->retry_after))
                        vl = sizeof(t->retry_after) - 1;
                memcpy(t->retry_after, v, vl);
                t->retry_after[vl] = '\0';
                t->has_retry_after = 1;
        }
        /* A new response (after a 100-continue) starts over. */
        if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
                t->has_retry_after = 0;
        return len;
}

static int add_header_line(struct http_transfer *t,
                           const struct provider_header *hd)
{
        char line[8192];
        int n = snprintf(line, sizeof(line), "%s: %s", hd->name, hd->value);
        if (n < 0 || (size_t)n >= sizeof(line))
                return -1;
        struct curl_slist *nl = curl_slist_append(t->headers, line);
        if (!nl)
                return -1;
        t->headers = nl;
        return 0;
}

static int build_headers(struct http_transfer *t, const struct http_request *rq)
{
        for (size_t i = 0; i < rq->nheaders; i++) {
                if (add_header_line(t, &rq->headers[i]) != 0)
                        return -1;
        }
        for (size_t i = 0; i < rq->nextra; i++) {
                if (add_header_line(t, &rq->extra[i]) != 0)
                        return -1;
        }
        /* curl would otherwise add "Expect: 100-continue" to large POSTs,
         * costing a round trip per call. */
        struct curl_slist *nl = curl_slist_append(t->headers, "Expect:");
        if (!nl)
                return -1;
        t->headers = nl;
        return 0;
}

static void set_options(struct http_transfer *t, const struct http_request *rq,
                        const struct provider_limits *lim)
{
        CURL *e = t->easy;
        curl_easy_setopt(e, CURLOPT_URL, rq->url);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
        if (rq->body) {
                /* Copied: the request's strings may go once started. */
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)rq->body_len);
                curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, rq->body);
        } else if (strcmp(rq->method, "GET") != 0) {
                /* No body, but not a GET: keep curl from waiting for one. */
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        }
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)lim->timeout_ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)lim->connect_timeout_ms);
        /* Every vendor speaks TLS 1.2 or later; nothing older is offered
         * to a man in the middle. */
        curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, lim->tls_verify ? 1L : 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, lim->tls_verify ? 2L : 0L);
        if (lim->ca_file)
                curl_easy_setopt(e, CURLOPT_CAINFO, lim->ca_file);
        /* A deletion call is never redirected: a 3xx is reported as is, so
         * a compromised endpoint cannot bounce the API key elsewhere. */
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "erasure-worker/0.1");
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
        curl_easy_setopt(e, CURLOPT_PRIVATE, t);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, HTTP_BUFFER_SIZE);
}

struct http_transfer *http_start(struct http *h,
                                 const struct provider_call *call,
                                 const struct provider_limits *limits,
                                 void *opaque, char *errstr, size_t errstr_size)
{
        struct http_request rq = {
            .method = call->method,
            .url = call->url,
            .headers = call->headers,
            .nheaders = call->nheaders,
            .body = call->body,
            .body_len = call->body ? strlen(call->body) : 0,
        };
        return http_start_request(h, &rq, limits, opaque, errstr, errstr_size);
}

struct http_transfer *http_start_request(struct http *h,
                                         const struct http_request *rq,
                                         const struct provider_limits *limits,
                                         void *opaque, char *errstr,
                                         size_t errstr_size)
{
        struct http_transfer *t = calloc(1, sizeof(*t));
        if (!t) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        t->opaque = opaque;
        t->easy = easy_get(h);
        if (!t->easy || build_headers(t, rq) != 0) {
                snprintf(errstr, errstr_size, "cannot prepare transfer");
                curl_slist_free_all(t->headers);
                easy_put_back(h, t->easy);
                free(t);
                return NULL;
        }
        set_options(t, rq, limits);
        t->shard = shard_pick(h);
        if (curl_multi_add_handle(t->shard->multi, t->easy) != CURLM_OK) {
                snprintf(errstr, errstr_size, "curl_multi_add_handle failed");
                curl_slist_free_all(t->headers);
                easy_put_back(h, t->easy);
                free(t);
                return NULL;
        }
        LIST_INSERT_HEAD(&h->live, t, link);
        t->shard->running++;
        return t;
}

void http_cancel(struct http *h, struct http_transfer *t)
{
        if (!t)
                return;
        transfer_free(h, t);
}

static int is_extra(const struct http *h, int fd)
{
        for (size_t i = 0; i < h->nextra; i++)
                if (h->extra[i] == fd)
                        return 1;
        return 0;
}

int http_wait(struct http *h, const int *fds, size_t nfds, int timeout_ms)
{
        /* The caller's fds (the same few on every call) join the set once,
         * level-triggered: the caller drains them after each wait. */
        for (size_t i = 0; i < nfds; i++) {
                if (fds[i] < 0 || is_extra(h, fds[i]) ||
                    h->nextra == HTTP_MAX_EXTRA)
                        continue;
                struct epoll_event ev = {0};
                ev.events = EPOLLIN;
                ev.data.u64 = tag(HTTP_EXTRA_TAG, fds[i]);
                if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fds[i], &ev) == 0 ||
                    errno == EEXIST)
                        h->extra[h->nextra++] = fds[i];
        }
        int64_t now = clock_mono_ms();
        for (size_t i = 0; i < h->nshards; i++) {
                if (h->shards[i].timer_due < 0)
                        continue;
                int64_t left = h->shards[i].timer_due - now;
                if (timeout_ms < 0 || left < timeout_ms)
                        timeout_ms = left > 0 ? (int)left : 0;
        }
        int n;
        do {
                n = epoll_wait(h->epfd, h->events, HTTP_MAX_EVENTS, timeout_ms);
        } while (n < 0 && errno == EINTR && (timeout_ms = 0, 1));
        h->nevents = n > 0 ? n : 0;
        return n < 0 ? -1 : 0;
}

static void report(struct http *h, CURLMsg *msg,
                   void (*done)(void *, void *, const struct http_result *),
                   void *arg)
{
        struct http_transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        struct http_result res = {0};
        CURLcode rc = msg->data.result;
        if (rc == CURLE_WRITE_ERROR && t->body_capped)
                rc = CURLE_OK; /* aborted by on_body at the cap */
        res.curl_code = rc;
        if (rc == CURLE_OK)
                curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &res.status);
        res.error = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
        if (rc == CURLE_OK)
                res.error = "";
        res.body = t->body ? t->body : "";
        res.body_len = t->body_len;
        res.body_truncated = t->body_capped;
        res.retry_after = t->has_retry_after ? t->retry_after : NULL;
        curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &res.total_s);
        /* The result points into t: report first, free after. */
        done(arg, t->opaque, &res);
        transfer_free(h, t);
}

static void shard_collect(struct shard *sh,
                          void (*done)(void *, void *,
                                       const struct http_result *),
                          void *arg)
{
        CURLMsg *msg;
        int left = 0;
        for (;;) {
                msg = curl_multi_info_read(sh->multi, &left);
                if (!msg)
                        break;
                if (msg->msg == CURLMSG_DONE)
                        report(sh->h, msg, done, arg);
        }
}

void http_collect(struct http *h,
                  void (*done)(void *arg, void *opaque,
                               const struct http_result *res),
                  void *arg)
{
        int still = 0;
        for (int i = 0; i < h->nevents; i++) {
                const struct epoll_event *ev = &h->events[i];
                uint32_t shard = (uint32_t)(ev->data.u64 >> 32);
                if (shard == HTTP_EXTRA_TAG || shard >= h->nshards)
                        continue;
                int mask =
                    ((ev->events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                    ((ev->events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                    ((ev->events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR
                                                          : 0);
                curl_multi_socket_action(h->shards[shard].multi,
                                         (int)(uint32_t)ev->data.u64, mask,
                                         &still);
        }
        h->nevents = 0;
        int64_t now = clock_mono_ms();
        for (size_t i = 0; i < h->nshards; i++) {
                struct shard *sh = &h->shards[i];
                /* Timeouts, and transfers just added (a 0 ms timer). */
                if (sh->timer_due >= 0 && now >= sh->timer_due) {
                        sh->timer_due = -1;
                        curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT,
                                                 0, &still);
                }
                shard_collect(sh, done, arg);
        }
}
