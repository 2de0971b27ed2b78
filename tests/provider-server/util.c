#include "util.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void reply_json(struct reply *r, unsigned int status, json_t *body)
{
        free(r->body);
        r->status = status;
        r->body = NULL;
        r->body_len = 0;
        r->content_type = NULL;
        if (body == NULL)
                return;
        r->body = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
        json_decref(body);
        if (r->body == NULL)
                abort();
        r->body_len = strlen(r->body);
        r->content_type = "application/json";
}

void reply_error(struct reply *r, unsigned int status, const char *msg)
{
        reply_json(r, status, json_pack("{s:s}", "error", msg));
}

void reply_raw(struct reply *r, unsigned int status, const char *body)
{
        json_t *parsed = json_loads(body, JSON_DECODE_ANY, NULL);

        free(r->body);
        r->status = status;
        r->body = xstrdup(body);
        r->body_len = strlen(body);
        /* Label a canned body as JSON only when it is JSON, as a vendor
         * gateway returning an HTML error page would not be. */
        r->content_type = parsed != NULL ? "application/json" : "text/plain";
        json_decref(parsed);
}

void reply_free(struct reply *r)
{
        free(r->body);
        r->body = NULL;
        r->body_len = 0;
}

static void out_of_memory(void)
{
        fputs("provider-server: out of memory\n", stderr);
        abort();
}

void *xmalloc(size_t n)
{
        void *p = malloc(n != 0 ? n : 1);

        if (p == NULL)
                out_of_memory();
        return p;
}

void *xrealloc(void *p, size_t n)
{
        void *q = realloc(p, n != 0 ? n : 1);

        if (q == NULL)
                out_of_memory();
        return q;
}

char *xstrdup(const char *s)
{
        return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
        char *p = xmalloc(n + 1);

        memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

static uint64_t clock_ms(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t mono_ms(void)
{
        return clock_ms(CLOCK_MONOTONIC);
}

uint64_t wall_ms(void)
{
        return clock_ms(CLOCK_REALTIME);
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

char *percent_decode(const char *s, size_t len, bool plus_is_space,
                     size_t *out_len)
{
        char *out = xmalloc(len + 1);
        size_t o = 0;

        for (size_t i = 0; i < len; i++) {
                if (s[i] == '%') {
                        int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
                        int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;

                        if (hi < 0 || lo < 0) {
                                free(out);
                                return NULL;
                        }
                        out[o++] = (char)(hi * 16 + lo);
                        i += 2;
                } else if (s[i] == '+' && plus_is_space) {
                        out[o++] = ' ';
                } else {
                        out[o++] = s[i];
                }
        }
        out[o] = '\0';
        if (out_len != NULL)
                *out_len = o;
        return out;
}

bool query_param(const char *query, const char *name, char **value)
{
        bool found = false;
        const char *p = query;

        *value = NULL;
        while (p != NULL && *p != '\0') {
                const char *end = strchr(p, '&');
                size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
                const char *eq = memchr(p, '=', len);
                size_t name_len = eq != NULL ? (size_t)(eq - p) : len;
                char *key = percent_decode(p, name_len, true, NULL);

                if (key != NULL && strcmp(key, name) == 0) {
                        const char *v = eq != NULL ? eq + 1 : p + len;
                        size_t vlen = (size_t)(p + len - v);
                        char *decoded = percent_decode(v, vlen, true, NULL);

                        /* A malformed escape is kept raw so that the
                         * caller's validation rejects it. */
                        free(*value);
                        *value = decoded != NULL ? decoded : xstrndup(v, vlen);
                        found = true;
                }
                free(key);
                p = end != NULL ? end + 1 : NULL;
        }
        return found;
}

int path_split(const char *path, const char **seg, size_t *seg_len, int max)
{
        int n = 0;
        const char *p = path;

        if (*p != '/')
                return -1;
        while (*p == '/') {
                const char *start = p + 1;
                const char *end = strchr(start, '/');
                size_t len =
                    end != NULL ? (size_t)(end - start) : strlen(start);

                if (n == max)
                        return -1;
                seg[n] = start;
                seg_len[n] = len;
                n++;
                p = start + len;
        }
        return n;
}

bool seg_is(const char *seg, size_t len, const char *literal)
{
        return strlen(literal) == len && memcmp(seg, literal, len) == 0;
}

json_t *json_lossy_string(const char *s, size_t len)
{
        json_t *j = json_stringn(s, len);
        char *copy;

        if (j != NULL)
                return j;
        copy = xstrndup(s, len);
        for (size_t i = 0; i < len; i++) {
                if ((unsigned char)copy[i] >= 0x80)
                        copy[i] = '?';
        }
        j = json_stringn(copy, len);
        free(copy);
        return j;
}

bool sockaddr_is_loopback(const struct sockaddr *sa)
{
        if (sa == NULL)
                return false;
        if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *in = (const void *)sa;

                return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
        }
        if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const void *)sa;
                const uint8_t *b = in6->sin6_addr.s6_addr;

                if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
                        return true;
                /* ::ffff:127.x.y.z, an IPv4 loopback client on a
                 * dual-stack socket. */
                return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127;
        }
        return false;
}
