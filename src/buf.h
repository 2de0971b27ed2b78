/* buf — a string that grows up to a bound and then refuses, remembering
 * why. Appends after a failure do nothing, so a caller builds the whole
 * string and checks once at the end. */
#ifndef ERASURE_BUF_H
#define ERASURE_BUF_H

#include <stddef.h>

enum buf_state { BUF_OK, BUF_TOO_LONG, BUF_NOMEM };

struct buf {
        char *data; /* NUL-terminated once anything was added; else NULL */
        size_t len, cap, max;
        enum buf_state state;
};

/* An empty buffer that will hold at most max bytes (plus the NUL). */
void buf_init(struct buf *b, size_t max);
void buf_add(struct buf *b, const char *s, size_t n);
void buf_adds(struct buf *b, const char *s);
__attribute__((format(printf, 2, 3))) void buf_printf(struct buf *b,
                                                      const char *fmt, ...);
/* The string (caller frees; "" if nothing was added), or NULL when it
 * overflowed or ran out of memory. The buffer is empty afterwards. */
char *buf_take(struct buf *b);
/* Frees the contents; b may be NULL. */
void buf_free(struct buf *b);

#endif
