/* report — `erasure-worker report`: what became of the erasure requests of
 * a period, from Kafka alone.
 *
 * Reads the request topic for the period (by message timestamp: when a
 * request arrived), then the outcome and dead-letter topics from the
 * period's start to their current end, joins them by request id in a
 * report_book and renders it. Its own consumer, with partitions assigned
 * by hand (offsets found with offsets_for_times) and no offset commits:
 * the workers' group never notices it. Progress goes to the log. */
#ifndef ERASURE_REPORT_H
#define ERASURE_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report_render.h"

struct settings;

struct report_options {
        int64_t since_ms, until_ms; /* request arrival, [since, until) */
        enum report_format format;
        const char *request_id; /* only this request; NULL: all */
        int64_t now_ms;         /* deadlines are judged at this time */
        int64_t timeout_ms;     /* give up when the broker says nothing */
        int64_t progress_ms;    /* a progress line this often */
};

struct report_result {
        size_t requests;
        size_t overdue;
        size_t open;
};

/* Writes the report to out. 0 on success, -1 with errstr. */
int report_run(const struct settings *s, const struct report_options *o,
               FILE *out, struct report_result *res, char *errstr,
               size_t errstr_size);

#endif
