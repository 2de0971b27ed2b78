/* report_render — a settled report_book as text, CSV, JSON or HTML.
 *
 * Text is for a terminal; CSV and JSON have one row per request with
 * every column, for a spreadsheet or a script; HTML is one self-contained
 * file (inline style and SVG, nothing fetched) for a reader: totals, a
 * per-day chart of requests by outcome, and the overdue, failed and
 * unverified requests (each table cut at REPORT_HTML_ROWS_MAX rows, the
 * rest counted; the CSV has them all). */
#ifndef ERASURE_REPORT_RENDER_H
#define ERASURE_REPORT_RENDER_H

#include <stdint.h>
#include <stdio.h>

#include "report_book.h"

#define REPORT_HTML_ROWS_MAX 5000

enum report_format { REPORT_TEXT, REPORT_CSV, REPORT_JSON, REPORT_HTML };

/* "text", "csv", "json", "html". 0 or -1. */
int report_format_parse(const char *name, enum report_format *out);

struct report_meta {
        int64_t since_ms, until_ms; /* the period, by arrival of requests */
        int64_t generated_ms;
        int deadline_days;
};

/* Writes the report to out. 0, or -1 when writing failed. */
int report_render(const struct report_book *b, const struct report_meta *m,
                  enum report_format format, FILE *out);
int report_render_html(const struct report_book *b, const struct report_meta *m,
                       FILE *out);

/* Shared by the renderers. "" for a negative time. */
void report_time_text(int64_t ms, char out[32]);
/* "not verified" (no verification reported), "verified" or
 * "unverified". */
const char *report_verification_text(const struct report_entry *e);

#endif
