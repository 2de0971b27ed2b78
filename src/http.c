/* http — libcurl multi interface behind a small API. */
#include "http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "provider.h"

struct http_transfer {
        CURL *easy;
        struct curl_slist *headers;
        void *opaque;
        char *body;
        size_t body_len;
        char retry_after[64];
        int has_retry_after;
        char errbuf[CURL_ERROR_SIZE];
        struct http_transfer *prev, *next; /* all live transfers */
};

struct http {
        CURLM *multi;
        size_t running;
        struct http_transfer *live;
        uint64_t connections;
};

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
        h->multi = curl_multi_init();
        if (!h->multi) {
                free(h);
                snprintf(errstr, errstr_size, "curl_multi_init failed");
                return NULL;
        }
        curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS,
                          (long)(max_connections ? max_connections : 64));
        curl_multi_setopt(h->multi, CURLMOPT_PIPELINING,
                          (long)CURLPIPE_MULTIPLEX);
        return h;
}

static void transfer_free(struct http *h, struct http_transfer *t)
{
        if (t->prev)
                t->prev->next = t->next;
        else
                h->live = t->next;
        if (t->next)
                t->next->prev = t->prev;
        curl_multi_remove_handle(h->multi, t->easy);
        curl_easy_cleanup(t->easy);
        curl_slist_free_all(t->headers);
        free(t->body);
        free(t);
}

void http_free(struct http *h)
{
        if (!h)
                return;
        while (h->live)
                transfer_free(h, h->live);
        curl_multi_cleanup(h->multi);
        free(h);
}

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

static int build_headers(struct http_transfer *t,
                         const struct provider_call *call)
{
        char line[8192];
        for (size_t i = 0; i < call->nheaders; i++) {
                const struct provider_header *hd = &call->headers[i];
                int n =
                    snprintf(line, sizeof(line), "%s: %s", hd->name, hd->value);
                if (n < 0 || (size_t)n >= sizeof(line))
                        return -1;
                struct curl_slist *nl = curl_slist_append(t->headers, line);
                if (!nl)
                        return -1;
                t->headers = nl;
        }
        /* curl would otherwise add "Expect: 100-continue" to large POSTs,
         * costing a round trip per call. */
        struct curl_slist *nl = curl_slist_append(t->headers, "Expect:");
        if (!nl)
                return -1;
        t->headers = nl;
        return 0;
}

static void set_options(struct http_transfer *t,
                        const struct provider_call *call,
                        const struct provider_limits *lim)
{
        CURL *e = t->easy;
        curl_easy_setopt(e, CURLOPT_URL, call->url);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, call->method);
        if (call->body) {
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body);
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
                                 (long)strlen(call->body));
        } else if (strcmp(call->method, "GET") != 0) {
                /* No body, but not a GET: keep curl from waiting for one. */
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        }
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)lim->timeout_ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)lim->connect_timeout_ms);
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
}

struct http_transfer *http_start(struct http *h,
                                 const struct provider_call *call,
                                 const struct provider_limits *limits,
                                 void *opaque, char *errstr, size_t errstr_size)
{
        struct http_transfer *t = calloc(1, sizeof(*t));
        if (!t) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        t->opaque = opaque;
        t->easy = curl_easy_init();
        if (!t->easy || build_headers(t, call) != 0) {
                snprintf(errstr, errstr_size, "cannot prepare transfer");
                curl_slist_free_all(t->headers);
                curl_easy_cleanup(t->easy);
                free(t);
                return NULL;
        }
        set_options(t, call, limits);
        if (curl_multi_add_handle(h->multi, t->easy) != CURLM_OK) {
                snprintf(errstr, errstr_size, "curl_multi_add_handle failed");
                curl_slist_free_all(t->headers);
                curl_easy_cleanup(t->easy);
                free(t);
                return NULL;
        }
        t->next = h->live;
        if (h->live)
                h->live->prev = t;
        h->live = t;
        h->running++;
        return t;
}

void http_cancel(struct http *h, struct http_transfer *t)
{
        if (!t)
                return;
        h->running--;
        transfer_free(h, t);
}

int http_wait(struct http *h, const int *fds, size_t nfds, int timeout_ms)
{
        struct curl_waitfd extra[8];
        if (nfds > 8)
                nfds = 8;
        for (size_t i = 0; i < nfds; i++) {
                extra[i].fd = fds[i];
                extra[i].events = CURL_WAIT_POLLIN;
                extra[i].revents = 0;
        }
        int numfds = 0;
        CURLMcode rc = curl_multi_poll(h->multi, extra, (unsigned)nfds,
                                       timeout_ms, &numfds);
        return rc == CURLM_OK ? 0 : -1;
}

void http_wakeup(struct http *h)
{
        curl_multi_wakeup(h->multi);
}

static void report(struct http *h, CURLMsg *msg,
                   void (*done)(void *, void *, const struct http_result *),
                   void *arg)
{
        struct http_transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        struct http_result res = {0};
        long conns = 0;
        curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &conns);
        h->connections += (uint64_t)conns;
        res.curl_code = msg->data.result;
        if (msg->data.result == CURLE_OK)
                curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &res.status);
        res.error =
            t->errbuf[0] ? t->errbuf : curl_easy_strerror(msg->data.result);
        if (msg->data.result == CURLE_OK)
                res.error = "";
        res.body = t->body ? t->body : "";
        res.body_len = t->body_len;
        res.retry_after = t->has_retry_after ? t->retry_after : NULL;
        curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &res.total_s);
        /* The result points into t: report first, free after. */
        h->running--;
        done(arg, t->opaque, &res);
        transfer_free(h, t);
}

void http_collect(struct http *h,
                  void (*done)(void *arg, void *opaque,
                               const struct http_result *res),
                  void *arg)
{
        int still = 0;
        curl_multi_perform(h->multi, &still);
        CURLMsg *msg;
        int left = 0;
        for (;;) {
                msg = curl_multi_info_read(h->multi, &left);
                if (!msg)
                        break;
                if (msg->msg == CURLMSG_DONE)
                        report(h, msg, done, arg);
        }
}

size_t http_in_flight(const struct http *h)
{
        return h->running;
}

uint64_t http_connections_opened(const struct http *h)
{
        return h->connections;
}
