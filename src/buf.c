/* buf — bounded growable strings. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_FIRST_CAP 64

void buf_init(struct buf *b, size_t max)
{
        memset(b, 0, sizeof(*b));
        b->max = max;
}

static int buf_grow(struct buf *b, size_t need)
{
        size_t cap = b->cap ? b->cap : BUF_FIRST_CAP;
        /* need <= max + 1, so doubling stops before it could overflow. */
        while (cap < need)
                cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
                b->state = BUF_NOMEM;
                return -1;
        }
        b->data = p;
        b->cap = cap;
        return 0;
}

void buf_add(struct buf *b, const char *s, size_t n)
{
        if (b->state != BUF_OK)
                return;
        if (n > b->max - b->len) {
                b->state = BUF_TOO_LONG;
                return;
        }
        if (b->len + n + 1 > b->cap && buf_grow(b, b->len + n + 1) != 0)
                return;
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
        buf_add(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
        char tmp[256];
        va_list ap;

        va_start(ap, fmt);
        int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n < 0) {
                b->state = BUF_NOMEM;
                return;
        }
        if ((size_t)n < sizeof(tmp)) {
                buf_add(b, tmp, (size_t)n);
                return;
        }
        char *big = malloc((size_t)n + 1);
        if (!big) {
                b->state = BUF_NOMEM;
                return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        buf_add(b, big, (size_t)n);
        free(big);
}

char *buf_take(struct buf *b)
{
        if (b->state != BUF_OK) {
                buf_free(b);
                return NULL;
        }
        char *p = b->data ? b->data : strdup("");
        size_t max = b->max;
        buf_init(b, max);
        return p;
}

void buf_free(struct buf *b)
{
        if (!b)
                return;
        free(b->data);
        buf_init(b, b->max);
}
