/* The /_control API that tests use to inspect and steer the server. */
#ifndef PS_CONTROL_H
#define PS_CONTROL_H

#include <stddef.h>

#include "util.h"

#define CONTROL_PREFIX "/_control"

/* path is what follows CONTROL_PREFIX; query is raw or NULL. */
void control_handle(const char *method, const char *path, const char *query,
                    const char *body, size_t body_len, struct reply *out);

#endif
