/* outcome — every byte the worker publishes (DESIGN §4): outcome events,
 * their idempotency keys and CloudEvents headers, and the dead-letter
 * envelope (headers, and the stub sent when a copy cannot be). */
#ifndef ERASURE_OUTCOME_H
#define ERASURE_OUTCOME_H

#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

#define OUTCOME_KEY_LEN 64 /* hex characters, plus NUL in buffers */

#define OUTCOME_CE_TYPE_CALL    "erasure.call.completed.v1"
#define OUTCOME_CE_TYPE_SUMMARY "erasure.request.completed.v1"
/* The CloudEvents header that carries one of the two (report reads it). */
#define OUTCOME_H_CE_TYPE "ce_type"

/* Dead-letter headers. Names are part of the wire format: never rename.
 * Every header the worker adds starts with OUTCOME_HEADER_PREFIX, so
 * replay can take them off again. */
#define OUTCOME_HEADER_PREFIX      "erasure-"
#define OUTCOME_H_ERROR_CODE       "erasure-error-code"
#define OUTCOME_H_ERROR_REASON     "erasure-error-reason"
#define OUTCOME_H_SOURCE_TOPIC     "erasure-source-topic"
#define OUTCOME_H_SOURCE_PARTITION "erasure-source-partition"
#define OUTCOME_H_SOURCE_OFFSET    "erasure-source-offset"
#define OUTCOME_H_REQUEST_ID       "erasure-request-id"
#define OUTCOME_H_FAILED_CALLS     "erasure-failed-calls"
#define OUTCOME_H_FAILED_CALLS_N   "erasure-failed-calls-total"
#define OUTCOME_H_ORIGINAL_CODE    "erasure-original-error-code"
#define OUTCOME_H_REPLAYED_FROM    "erasure-replayed-from"

/* The stub's error code: the original could not be dead-lettered whole. */
#define OUTCOME_CODE_TOO_LARGE_FOR_DLQ "too_large_for_dlq"

/* Bytes a dead-letter copy may carry beyond the original value: our
 * headers (failed calls bounded by worker.max_failed_calls_header) and the
 * original's own. The producer's message.max.bytes is max_message_bytes
 * plus this; a copy that still does not fit becomes a stub. */
#define OUTCOME_HEADER_BUDGET (64 * 1024)

enum outcome_status {
        OUTCOME_DELETED,
        OUTCOME_ALREADY_ABSENT,
        OUTCOME_FAILED,
        OUTCOME_REJECTED,
        /* A discover read: it found `items` things to delete (zero is
         * evidence too). Not in the summary's counts, which count
         * deletions; in its "discovered". */
        OUTCOME_DISCOVERED,
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

/* What a read-back after the deletion showed (docs/design.md §4). */
enum outcome_verify {
        OUTCOME_VERIFY_NONE,   /* the deletion failed: nothing to check */
        OUTCOME_VERIFY_ABSENT, /* read back: gone */
        OUTCOME_VERIFY_PRESENT,
        OUTCOME_VERIFY_UNVERIFIED,    /* the read-back itself kept failing */
        OUTCOME_VERIFY_NOT_SUPPORTED, /* the vendor offers no read */
        OUTCOME_NVERIFY
};

const char *outcome_verify_name(enum outcome_verify v);

struct outcome_verification {
        enum outcome_verify status;
        long http_status; /* of the last read-back; 0: none */
        int attempts;     /* read-backs made */
        int64_t checked_at_ms;
};

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
        int agent_scope; /* "scope": "agent" rather than "user" */
        long items;      /* OUTCOME_DISCOVERED: what the read found */
        struct outcome_verification verification;
};

/* Returns a malloc'd JSON document (caller frees) and the key in key_out. */
char *outcome_call_json(const struct outcome_call *c,
                        char key_out[OUTCOME_KEY_LEN + 1]);

struct outcome_summary {
        const char *request_id;
        size_t counts[OUTCOME_NSTATUS];
        size_t verify_counts[OUTCOME_NVERIFY]; /* of the calls above */
        const char *error;      /* rejection reason, NULL otherwise */
        const char *error_code; /* request_error_name(), NULL otherwise */
        int64_t finished_at_ms;
};

/* "completed" (all deleted/already_absent), "partially_failed", "failed"
 * (no call succeeded) or "rejected". */
const char *outcome_overall(const struct outcome_summary *s);
/* 1 if the request completed and a read-back showed every call's data
 * absent (nothing unverified, nothing without a read). */
int outcome_fully_verified(const struct outcome_summary *s);

char *outcome_summary_json(const struct outcome_summary *s,
                           char key_out[OUTCOME_KEY_LEN + 1]);

/* The CloudEvents attributes of one outcome event (binary content mode). */
struct outcome_ce {
        const char *source;      /* worker.ce_source */
        const char *type;        /* OUTCOME_CE_TYPE_* */
        const char *id;          /* the idempotency key (call's or summary's) */
        const char *subject;     /* the request_id */
        const char *traceparent; /* the request's, NULL if none */
        int64_t time_ms;         /* wall clock */
        const char *body;        /* the event's JSON, for ce_id */
};

/* The CloudEvents id of the event with this body, sha256(key NUL body) in
 * lowercase hex: unique per distinct event (CloudEvents: source + id),
 * repeated only when the very same event is sent again. The call stays
 * identified by the idempotency-key header. "" on allocation failure. */
void outcome_event_id(const char *key, const char *body,
                      char out[OUTCOME_KEY_LEN + 1]);

/* ce_* headers (ce_id from outcome_event_id), content-type,
 * idempotency-key (ce->id) and traceparent. NULL on allocation failure. */
rd_kafka_headers_t *outcome_ce_headers(const struct outcome_ce *ce);

/* A call that ran out of retries, for the erasure-failed-calls header. */
struct outcome_failed_call {
        const char *provider;
        const char *account;
        const char *action;
        const char *resource;
        const char *error;
};

/* Why a request is in the dead-letter topic, and where it came from. */
struct outcome_dead_letter {
        const char *code;   /* request_error_name() or "retries_exhausted" */
        const char *reason; /* human text */
        const char *source_topic;
        int32_t source_partition;
        int64_t source_offset;
        const char *request_id; /* NULL if none could be read */
        /* The first nfailed of total_failed calls that ran out of retries:
         * the header carries at most this many (the outcome events carry
         * them all). */
        const struct outcome_failed_call *failed;
        size_t nfailed;
        size_t total_failed;
};

/* The dead-letter copy's headers: the original's (may be NULL) followed
 * by ours. NULL on allocation failure. */
rd_kafka_headers_t *
outcome_dead_letter_headers(const struct outcome_dead_letter *d,
                            const rd_kafka_headers_t *original);

/* The stub sent instead of a copy Kafka refused (too large, invalid): a
 * JSON body naming the source, the original's size and sha256 (so it can
 * be found and checked in the request topic), with code
 * OUTCOME_CODE_TOO_LARGE_FOR_DLQ and the original code in
 * OUTCOME_H_ORIGINAL_CODE. None of the original's headers travel: they
 * may be why it did not fit. Returns the malloc'd body (its length in
 * *len_out) and the headers in *headers_out, or NULL. */
char *outcome_dead_letter_stub(const struct outcome_dead_letter *d,
                               const void *original, size_t original_len,
                               size_t *len_out,
                               rd_kafka_headers_t **headers_out);

#endif
