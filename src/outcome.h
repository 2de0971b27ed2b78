/* outcome — outcome events and their idempotency keys (DESIGN §4). */
#ifndef ERASURE_OUTCOME_H
#define ERASURE_OUTCOME_H

#include <stddef.h>
#include <stdint.h>

#define OUTCOME_KEY_LEN 64 /* hex characters, plus NUL in buffers */

#define OUTCOME_CE_TYPE_CALL    "erasure.call.completed.v1"
#define OUTCOME_CE_TYPE_SUMMARY "erasure.request.completed.v1"

enum outcome_status {
        OUTCOME_DELETED,
        OUTCOME_ALREADY_ABSENT,
        OUTCOME_FAILED,
        OUTCOME_REJECTED,
        OUTCOME_NSTATUS
};

const char *outcome_status_name(enum outcome_status s);

/* sha256(request_id NUL provider NUL account NUL action NUL resource) in
 * lowercase hex. The same call has the same key on every delivery and on
 * every worker. The summary uses action "summary" and empty provider,
 * account and resource. */
void outcome_key(const char *request_id, const char *provider,
                 const char *account, const char *action, const char *resource,
                 char out[OUTCOME_KEY_LEN + 1]);

struct outcome_call {
        const char *request_id;
        const char *provider;
        const char *account;
        const char *action;
        const char *resource;
        enum outcome_status status;
        int retryable;
        long http_status; /* 0: no HTTP response (transport error) */
        int attempts;
        const char *error;     /* NULL on success */
        int64_t started_at_ms; /* wall clock */
        int64_t finished_at_ms;
};

/* Returns a malloc'd JSON document (caller frees) and the key in key_out. */
char *outcome_call_json(const struct outcome_call *c,
                        char key_out[OUTCOME_KEY_LEN + 1]);

struct outcome_summary {
        const char *request_id;
        size_t counts[OUTCOME_NSTATUS];
        const char *error;      /* rejection reason, NULL otherwise */
        const char *error_code; /* request_error_name(), NULL otherwise */
        int64_t finished_at_ms;
};

/* "completed" (all deleted/already_absent), "partially_failed", "failed"
 * (no call succeeded) or "rejected". */
const char *outcome_overall(const struct outcome_summary *s);

char *outcome_summary_json(const struct outcome_summary *s,
                           char key_out[OUTCOME_KEY_LEN + 1]);

#endif
