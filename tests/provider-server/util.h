/* Small helpers shared by the provider test server's modules. */
#ifndef PS_UTIL_H
#define PS_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A response before it is handed to libmicrohttpd. */
struct reply {
        unsigned int status;
        char *body; /* malloc'd; NULL means an empty body */
        size_t body_len;
        const char *content_type; /* static string or NULL */
        const char *allow;        /* Allow header for 405, else NULL */
};

/* Sets status and a JSON body; takes the reference to body (may be NULL). */
void reply_json(struct reply *r, unsigned int status, json_t *body);
/* {"error": msg}, the format of the server's own (non-vendor) errors. */
void reply_error(struct reply *r, unsigned int status, const char *msg);
void reply_raw(struct reply *r, unsigned int status, const char *body);
void reply_free(struct reply *r);

void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

uint64_t mono_ms(void);
uint64_t wall_ms(void);

/*
 * Decodes %XX escapes (and '+' as space when plus_is_space). Returns a
 * malloc'd NUL-terminated string, or NULL when an escape is malformed.
 * *out_len (if not NULL) gets the decoded length, which may include NULs.
 */
char *percent_decode(const char *s, size_t len, bool plus_is_space,
                     size_t *out_len);

/*
 * Looks up name in a raw query string. Returns true if present and sets
 * *value to the malloc'd decoded value of the last occurrence.
 */
bool query_param(const char *query, const char *name, char **value);

/* Splits "/a/b/c" into segments; returns the count or -1 if > max. */
int path_split(const char *path, const char **seg, size_t *seg_len, int max);
bool seg_is(const char *seg, size_t len, const char *literal);

/* A JSON string even for bytes that are not UTF-8 (replaced by '?'). */
json_t *json_lossy_string(const char *s, size_t len);

bool sockaddr_is_loopback(const struct sockaddr *sa);

#endif
