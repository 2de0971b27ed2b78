/* report_render — text, CSV and JSON (HTML is in report_html.c). */
#include "report_render.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

int report_format_parse(const char *name, enum report_format *out)
{
        static const char *const names[] = {"text", "csv", "json", "html"};
        for (int i = 0; name && i < 4; i++)
                if (strcmp(name, names[i]) == 0) {
                        *out = (enum report_format)i;
                        return 0;
                }
        return -1;
}

void report_time_text(int64_t ms, char out[32])
{
        if (ms < 0)
                out[0] = '\0';
        else
                clock_format_rfc3339(ms, out);
}

const char *report_verification_text(const struct report_entry *e)
{
        if (!e->verif_known)
                return "not verified";
        return report_entry_unverified(e) ? "unverified" : "verified";
}

static const char *id_text(const struct report_entry *e)
{
        return e->request_id ? e->request_id : "";
}

/* ---- CSV (RFC 4180) ---- */

static void csv_field(FILE *out, const char *s, int last)
{
        if (s && strpbrk(s, ",\"\r\n")) {
                fputc('"', out);
                for (; *s; s++) {
                        if (*s == '"')
                                fputc('"', out);
                        fputc(*s, out);
                }
                fputc('"', out);
        } else if (s) {
                fputs(s, out);
        }
        fputs(last ? "\r\n" : ",", out);
}

static void csv_num(FILE *out, size_t n)
{
        fprintf(out, "%zu,", n);
}

static void csv_time(FILE *out, int64_t ms)
{
        char ts[32];
        report_time_text(ms, ts);
        csv_field(out, ts, 0);
}

static void failure_text(FILE *out, const struct report_failure *f)
{
        fprintf(out, "%s/%s %s: %s", f->provider ? f->provider : "",
                f->action ? f->action : "", f->resource ? f->resource : "",
                f->error ? f->error : "failed");
        if (f->http_status)
                fprintf(out, " (HTTP %ld)", f->http_status);
}

/* The failed calls as one field: "p/action resource: error | …". */
static char *failures_joined(const struct report_entry *e)
{
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        if (!mem)
                return NULL;
        for (size_t i = 0; i < e->nfailures; i++) {
                if (i)
                        fputs(" | ", mem);
                failure_text(mem, &e->failures[i]);
        }
        if (e->failures_dropped)
                fprintf(mem, " | and %zu more", e->failures_dropped);
        fclose(mem);
        return text;
}

static const char *const csv_head =
    "request_id,source,requested_at,first_seen,finished_at,deadline,status,"
    "open,overdue,deleted,already_absent,failed,rejected,verified,"
    "unverified,not_supported,verification,error_code,error,dead_letter,"
    "failed_calls\r\n";

static void csv_row(FILE *out, const struct report_entry *e)
{
        csv_field(out, id_text(e), 0);
        csv_field(out, e->source, 0);
        csv_time(out, e->requested_at_ms);
        csv_time(out, e->first_seen_ms);
        csv_time(out, e->finished_at_ms);
        csv_time(out, e->deadline_ms);
        csv_field(out, report_status_name(e->status), 0);
        csv_field(out, e->status == REPORT_OPEN ? "yes" : "no", 0);
        csv_field(out, e->overdue ? "yes" : "no", 0);
        for (int i = 0; i < REPORT_NCALLS; i++)
                csv_num(out, e->calls[i]);
        csv_num(out, e->verif[REPORT_VERIFIED]);
        csv_num(out, e->verif[REPORT_UNVERIFIED]);
        csv_num(out, e->verif[REPORT_NOT_SUPPORTED]);
        csv_field(out, report_verification_text(e), 0);
        csv_field(out, e->error_code, 0);
        csv_field(out, e->error, 0);
        csv_field(out, e->dead_letter_code, 0);
        char *fails = failures_joined(e);
        csv_field(out, fails, 1);
        free(fails);
}

static void render_csv(const struct report_book *b, FILE *out)
{
        fputs(csv_head, out);
        for (size_t i = 0; i < report_book_count(b); i++)
                csv_row(out, report_book_at(b, i));
}

/* ---- JSON ---- */

static json_t *time_json(int64_t ms)
{
        char ts[32];
        report_time_text(ms, ts);
        return ms < 0 ? json_null() : json_string(ts);
}

static json_t *opt_string(const char *s)
{
        return s ? json_string(s) : json_null();
}

static json_t *calls_json(const size_t calls[REPORT_NCALLS])
{
        return json_pack("{s:I, s:I, s:I, s:I}", "deleted",
                         (json_int_t)calls[REPORT_CALL_DELETED],
                         "already_absent",
                         (json_int_t)calls[REPORT_CALL_ALREADY_ABSENT],
                         "failed", (json_int_t)calls[REPORT_CALL_FAILED],
                         "rejected", (json_int_t)calls[REPORT_CALL_REJECTED]);
}

static json_t *failures_json(const struct report_entry *e)
{
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < e->nfailures; i++) {
                const struct report_failure *f = &e->failures[i];
                json_array_append_new(
                    arr, json_pack("{s:o, s:o, s:o, s:o, s:o, s:b}", "provider",
                                   opt_string(f->provider), "action",
                                   opt_string(f->action), "resource",
                                   opt_string(f->resource), "error",
                                   opt_string(f->error), "http_status",
                                   f->http_status ? json_integer(f->http_status)
                                                  : json_null(),
                                   "retryable", f->retryable));
        }
        return arr;
}

static json_t *entry_json(const struct report_entry *e)
{
        json_t *verif = json_pack(
            "{s:s, s:I, s:I, s:I}", "state", report_verification_text(e),
            "verified", (json_int_t)e->verif[REPORT_VERIFIED], "unverified",
            (json_int_t)e->verif[REPORT_UNVERIFIED], "not_supported",
            (json_int_t)e->verif[REPORT_NOT_SUPPORTED]);
        return json_pack(
            "{s:o, s:s, s:o, s:o, s:o, s:o, s:s, s:b, s:b, s:o, s:o, s:o, "
            "s:o, s:o, s:o, s:I}",
            "request_id", opt_string(e->request_id), "source", e->source,
            "requested_at", time_json(e->requested_at_ms), "first_seen",
            time_json(e->first_seen_ms), "finished_at",
            time_json(e->finished_at_ms), "deadline", time_json(e->deadline_ms),
            "status", report_status_name(e->status), "open",
            e->status == REPORT_OPEN, "overdue", e->overdue, "calls",
            calls_json(e->calls), "verification", verif, "error_code",
            opt_string(e->error_code), "error", opt_string(e->error),
            "dead_letter", opt_string(e->dead_letter_code), "failed_calls",
            failures_json(e), "failed_calls_not_shown",
            (json_int_t)e->failures_dropped);
}

static json_t *totals_json(const struct report_totals *t)
{
        json_t *by = json_object();
        for (int i = 0; by && i < REPORT_NSTATUS; i++)
                json_object_set_new(by,
                                    report_status_name((enum report_status)i),
                                    json_integer((json_int_t)t->by_status[i]));
        return json_pack("{s:I, s:o, s:I, s:I, s:o, s:I, s:I, s:I, s:I}",
                         "requests", (json_int_t)t->requests, "by_status", by,
                         "overdue", (json_int_t)t->overdue, "unverified",
                         (json_int_t)t->unverified, "calls",
                         calls_json(t->calls), "outcome_events",
                         (json_int_t)t->events, "outcome_events_other_requests",
                         (json_int_t)t->events_ignored,
                         "outcome_events_unreadable", (json_int_t)t->events_bad,
                         "dead_letters", (json_int_t)t->dead_letters);
}

/* Streamed one request at a time: the document is never whole in
 * memory, however long the period. */
static int render_json(const struct report_book *b, const struct report_meta *m,
                       FILE *out)
{
        json_t *head = json_pack(
            "{s:{s:o, s:o}, s:o, s:i, s:o}", "period", "since",
            time_json(m->since_ms), "until", time_json(m->until_ms),
            "generated_at", time_json(m->generated_ms), "deadline_days",
            m->deadline_days, "totals", totals_json(report_book_totals(b)));
        char *text = head ? json_dumps(head, JSON_COMPACT) : NULL;
        json_decref(head);
        if (!text)
                return -1;
        /* The head is an object: reopen it to append "requests". */
        text[strlen(text) - 1] = '\0';
        fprintf(out, "%s,\"requests\":[\n", text);
        free(text);
        int rc = 0;
        for (size_t i = 0; !rc && i < report_book_count(b); i++) {
                json_t *row = entry_json(report_book_at(b, i));
                rc = !row || json_dumpf(row, out, JSON_COMPACT) != 0;
                json_decref(row);
                if (i + 1 < report_book_count(b))
                        fputs(",", out);
                fputs("\n", out);
        }
        fputs("]}\n", out);
        return rc ? -1 : 0;
}

/* ---- text ---- */

static void text_row(FILE *out, const struct report_entry *e)
{
        char req[32], fin[32], dl[32];
        report_time_text(e->requested_at_ms, req);
        report_time_text(e->finished_at_ms, fin);
        report_time_text(e->deadline_ms, dl);
        fprintf(out, "%-32s %-16s%s requested %s",
                e->request_id ? e->request_id : "(no request id)",
                report_status_name(e->status), e->overdue ? " OVERDUE" : "",
                *req ? req : "?");
        if (*fin)
                fprintf(out, ", finished %s", fin);
        fprintf(out, ", deadline %s\n", dl);
        fprintf(
            out, "    calls: %zu deleted, %zu already absent, %zu failed; %s\n",
            e->calls[REPORT_CALL_DELETED], e->calls[REPORT_CALL_ALREADY_ABSENT],
            e->calls[REPORT_CALL_FAILED], report_verification_text(e));
        if (e->error_code)
                fprintf(out, "    rejected: %s: %s (at %s)\n", e->error_code,
                        e->error ? e->error : "", e->source);
        for (size_t i = 0; i < e->nfailures; i++) {
                fputs("    failed: ", out);
                failure_text(out, &e->failures[i]);
                fputs("\n", out);
        }
        if (e->failures_dropped)
                fprintf(out, "    and %zu more failed call(s)\n",
                        e->failures_dropped);
}

static void render_text(const struct report_book *b,
                        const struct report_meta *m, FILE *out)
{
        const struct report_totals *t = report_book_totals(b);
        char since[32], until[32];
        report_time_text(m->since_ms, since);
        report_time_text(m->until_ms, until);
        fprintf(out, "Erasure requests from %s to %s (deadline %d days)\n",
                since, until, m->deadline_days);
        fprintf(out,
                "%zu request(s): %zu completed, %zu partially failed, "
                "%zu failed, %zu rejected, %zu open; %zu overdue; "
                "%zu not verified\n\n",
                t->requests, t->by_status[REPORT_COMPLETED],
                t->by_status[REPORT_PARTIALLY_FAILED],
                t->by_status[REPORT_FAILED], t->by_status[REPORT_REJECTED],
                t->by_status[REPORT_OPEN], t->overdue, t->unverified);
        for (size_t i = 0; i < report_book_count(b); i++)
                text_row(out, report_book_at(b, i));
}

int report_render(const struct report_book *b, const struct report_meta *m,
                  enum report_format format, FILE *out)
{
        int rc = 0;
        switch (format) {
        case REPORT_TEXT:
                render_text(b, m, out);
                break;
        case REPORT_CSV:
                render_csv(b, out);
                break;
        case REPORT_JSON:
                rc = render_json(b, m, out);
                break;
        case REPORT_HTML:
                rc = report_render_html(b, m, out);
                break;
        }
        return rc || fflush(out) || ferror(out) ? -1 : 0;
}
