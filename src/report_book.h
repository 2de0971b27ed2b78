/* report_book — the join behind `erasure-worker report`: requests of a
 * period, folded together with their outcome events and dead letters.
 *
 * Memory is bounded by the requests of the period, not by the events:
 * each request keeps one fixed entry (ids, times, counters) plus at most
 * REPORT_BOOK_FAILURES_MAX failed calls with their reasons; outcome
 * bodies are parsed, counted and dropped. Events of requests outside the
 * period are counted and ignored. Order of events does not matter except
 * that requests must be added before their outcomes. */
#ifndef ERASURE_REPORT_BOOK_H
#define ERASURE_REPORT_BOOK_H

#include <stddef.h>
#include <stdint.h>

#define REPORT_BOOK_FAILURES_MAX 20

enum report_status {
        REPORT_OPEN, /* no summary yet */
        REPORT_COMPLETED,
        REPORT_PARTIALLY_FAILED,
        REPORT_FAILED,
        REPORT_REJECTED,
        REPORT_NSTATUS
};

/* Verification of successful calls (DESIGN §4, `verification`). */
enum report_verif {
        REPORT_VERIFIED, /* read back absent */
        REPORT_PRESENT,  /* read back present: the call is failed */
        REPORT_UNVERIFIED,
        REPORT_NOT_SUPPORTED,
        REPORT_NVERIF
};

/* Call counts, by the outcome statuses of outcome.h. */
enum report_calls {
        REPORT_CALL_DELETED,
        REPORT_CALL_ALREADY_ABSENT,
        REPORT_CALL_FAILED,
        REPORT_CALL_REJECTED,
        REPORT_NCALLS
};

struct report_failure {
        char *key; /* idempotency key: a later success of it clears it */
        char *provider;
        char *action;
        char *resource;
        char *error;
        long http_status; /* 0: none */
        int retryable;
};

struct report_entry {
        char *request_id;        /* NULL when the message had none readable */
        char source[32];         /* "PARTITION@OFFSET" on the request topic */
        int64_t requested_at_ms; /* -1: not given or not readable */
        int64_t first_seen_ms;   /* request message's Kafka timestamp */
        int64_t finished_at_ms;  /* latest summary's; -1: none */
        int64_t deadline_ms;     /* from requested_at, else first seen */
        enum report_status status;
        int overdue;
        size_t calls[REPORT_NCALLS];
        size_t verif[REPORT_NVERIF];
        int verif_known;  /* any verification field was seen */
        char *error_code; /* rejected: why */
        char *error;
        char *dead_letter_code;          /* copied to the DLQ (any reason) */
        struct report_failure *failures; /* grown up to the cap */
        size_t nfailures;
        size_t failures_dropped; /* failed calls beyond the cap */
        /* Folding state, not shown. */
        int has_summary;
        size_t seen_calls[REPORT_NCALLS];
        size_t seen_verif[REPORT_NVERIF];
        int summary_verif;
};

struct report_totals {
        size_t requests;
        size_t by_status[REPORT_NSTATUS];
        size_t overdue;
        size_t unverified; /* requests with a successful call not verified */
        size_t calls[REPORT_NCALLS];
        size_t events;         /* outcome events read */
        size_t events_ignored; /* of requests outside the period */
        size_t events_bad;     /* not JSON or no request_id */
        size_t dead_letters;   /* DLQ messages matched */
};

struct report_book;

/* only_id: keep just this request (NULL: all); copied. */
struct report_book *report_book_new(const char *only_id);
void report_book_free(struct report_book *b);

/* A message of the request topic at partition@offset, Kafka timestamp
 * ts_ms. Unparsable messages are kept too (no id; the dead letter of
 * their position names the reason). 0, or -1 out of memory. */
int report_book_add_request(struct report_book *b, int32_t partition,
                            int64_t offset, int64_t ts_ms, const void *value,
                            size_t len);
/* An outcome event (call or summary, told apart by ce_type, NULL to tell
 * by the body). 0, or -1 out of memory. */
int report_book_add_outcome(struct report_book *b, const char *ce_type,
                            const void *value, size_t len);
/* A dead-letter message's headers (any may be NULL). 0 or -1. */
int report_book_add_dead_letter(struct report_book *b, const char *request_id,
                                const char *source_partition,
                                const char *source_offset, const char *code,
                                const char *reason);

/* Settles statuses and deadlines as of now_ms and sorts the entries by
 * requested_at (first seen when unknown), then request id. Nothing may
 * be added afterwards. */
void report_book_finish(struct report_book *b, int64_t now_ms,
                        int deadline_days);

size_t report_book_count(const struct report_book *b);
const struct report_entry *report_book_at(const struct report_book *b,
                                          size_t i);
const struct report_totals *report_book_totals(const struct report_book *b);

const char *report_status_name(enum report_status s);
/* A successful call of e is unverified or not supported. */
int report_entry_unverified(const struct report_entry *e);

#endif
