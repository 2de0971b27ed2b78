/* jsonptr — JSON Pointer (RFC 6901) over jansson values. jansson has no
 * pointer support, and discovered or read-back items are picked out of
 * vendors' responses with pointers written in providers.conf. */
#ifndef ERASURE_JSONPTR_H
#define ERASURE_JSONPTR_H

#include <jansson.h>

/* 1 if ptr is a pointer: "" (the whole document) or "/"-led reference
 * tokens where "~" is only followed by "0" or "1". */
int jsonptr_valid(const char *ptr);

/* The value ptr names in doc (borrowed), or NULL when it names nothing
 * or is not valid. Array indices are decimal without leading zeros; "-"
 * (one past the end) names nothing. */
json_t *jsonptr_get(json_t *doc, const char *ptr);

#endif
