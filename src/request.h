/* request — parse and validate an erasure request (DESIGN §2, version 1).
 *
 * Only the envelope is checked here (JSON, version, request_id, targets'
 * provider/account); the provider-specific fields of a target are checked
 * against the provider's definitions by provider_plan(). */
#ifndef ERASURE_REQUEST_H
#define ERASURE_REQUEST_H

#include <stddef.h>
#include <jansson.h>

/* Why a message is rejected. The name (request_error_name) goes into the
 * dead-letter headers and the rejected outcome, so never renumber/rename. */
enum request_error {
        REQUEST_OK = 0,
        REQUEST_ERR_OVERSIZE,   /* "oversize" */
        REQUEST_ERR_NOT_JSON,   /* "not_json" (also bad UTF-8, dup keys) */
        REQUEST_ERR_NOT_OBJECT, /* "not_object" */
        REQUEST_ERR_VERSION,    /* "bad_version" */
        REQUEST_ERR_REQUEST_ID, /* "bad_request_id" */
        REQUEST_ERR_TARGETS,    /* "bad_targets" */
        REQUEST_ERR_UNKNOWN_PROVIDER, /* "unknown_provider" */
        REQUEST_ERR_UNKNOWN_ACCOUNT,  /* "unknown_account" */
        REQUEST_ERR_BAD_FIELD,        /* "bad_field" (identifier, type, …) */
        REQUEST_ERR_NO_ACTION,        /* "no_action" (target triggers none) */
        REQUEST_ERR_TOO_MANY_CALLS,   /* "too_many_calls" */
        /* "internal_error": out of memory, not the message's fault; the
         * message must be retried, never dead-lettered. */
        REQUEST_ERR_INTERNAL,
        /* "agent_wide_not_allowed": the target would run an action that
         * erases every user of an agent without saying "scope": "agent",
         * or its account does not set allow_agent_wide. */
        REQUEST_ERR_AGENT_WIDE,
};

const char *request_error_name(enum request_error err);

struct request_limits {
        size_t max_bytes;   /* message value size limit (default 1 MiB) */
        size_t max_targets; /* default 100 */
};

/* The parser may allocate at most this many times max_bytes for one
 * message, so a small message cannot become a huge tree (`[{},{},…]`);
 * over it the message is "oversize". */
#define REQUEST_PARSE_FACTOR 16

struct request_target {
        const char *provider; /* borrowed from the request's JSON */
        const char *account;  /* "default" when absent */
        json_t *json;         /* the target object, borrowed */
};

struct request {
        json_t *root;             /* owned */
        const char *request_id;   /* borrowed from root */
        const char *requested_at; /* borrowed, may be NULL */
        struct request_target *targets;
        size_t ntargets;
};

/* Sets defaults (1 MiB, 100 targets). */
void request_limits_default(struct request_limits *lim);

/* Parses a message value. On success returns a request the caller frees
 * with request_free(). On failure returns NULL, sets *err and errstr; in
 * both cases *request_id_out (if not NULL) receives a malloc'd copy of the
 * request_id when one could be read and is valid, else NULL; the caller
 * frees it. */
struct request *request_parse(const void *buf, size_t len,
                              const struct request_limits *lim,
                              enum request_error *err, char **request_id_out,
                              char *errstr, size_t errstr_size);
void request_free(struct request *req);

/* Bytes one parse may allocate: REQUEST_PARSE_FACTOR × max_bytes. */
size_t request_parse_budget(const struct request_limits *lim);

/* request_id syntax: [A-Za-z0-9][A-Za-z0-9._:-]{0,127}. 1 if valid. */
int request_id_valid(const char *id);

#endif
