/* The four vendor APIs (five endpoints), as their documents describe them. */
#ifndef PS_PROVIDERS_H
#define PS_PROVIDERS_H

#include <jansson.h>
#include <stddef.h>

#include "util.h"

enum provider {
        PROVIDER_NONE = -1,
        PROVIDER_VECTARA = 0,
        PROVIDER_CONVAI,
        PROVIDER_ALGOLIA,
        PROVIDER_AVAAMO,
        PROVIDER_VECTARA_AUTH, /* Vectara's OAuth token endpoint */
        PROVIDER_COUNT
};

struct provider_request {
        const char *method;
        const char *path;  /* raw (still %-encoded), after the prefix */
        const char *query; /* raw query string or NULL */
        json_t *headers;   /* lower-cased name -> value */
        const char *body;  /* NULL when there was none */
        size_t body_len;
};

const char *provider_name(enum provider p);
enum provider provider_by_name(const char *name);

/* Picks the provider whose URL prefix starts raw_path; *rest gets the
 * remainder (starting with '/' or empty). */
enum provider provider_route(const char *raw_path, const char **rest);

void provider_handle(enum provider p, const struct provider_request *rq,
                     struct reply *out);

/* The body a vendor would plausibly send with an injected status. */
void provider_fault_reply(enum provider p, unsigned int status,
                          struct reply *out);
/* The same vendor-shaped error body, with text as its message. */
void provider_fault_reply_text(enum provider p, unsigned int status,
                               const char *text, struct reply *out);

#endif
