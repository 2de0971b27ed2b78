/* report_html — the report as one self-contained HTML page. */
#include "report_render.h"

#include <stdlib.h>
#include <string.h>

#define DAY_MS      86400000LL
#define CHART_DAYS  400 /* longer periods show their last 400 days */
#define CHART_H     160
#define CHART_LEFT  40
#define CHART_BAR_W 14

/* Bar colours per status, in stacking order (report_status). */
static const char *const status_colours[REPORT_NSTATUS] = {
    "#4a7fc1", "#3c9a5f", "#e3a33b", "#c8453c", "#8c8c8c"};

static void esc(FILE *out, const char *s)
{
        for (; s && *s; s++) {
                switch (*s) {
                case '&':
                        fputs("&amp;", out);
                        break;
                case '<':
                        fputs("&lt;", out);
                        break;
                case '>':
                        fputs("&gt;", out);
                        break;
                case '"':
                        fputs("&quot;", out);
                        break;
                case '\'':
                        fputs("&#39;", out);
                        break;
                default:
                        fputc(*s, out);
                }
        }
}

static const char style[] =
    "body{font:14px/1.4 sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:0 0 2em}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;"
    "vertical-align:top}"
    "th{background:#f0f0f0}td.n{text-align:right}"
    ".overdue{color:#c8453c;font-weight:bold}"
    "svg text{font:11px sans-serif}";

static void head(FILE *out, const struct report_meta *m)
{
        char since[32], until[32], gen[32];
        report_time_text(m->since_ms, since);
        report_time_text(m->until_ms, until);
        report_time_text(m->generated_ms, gen);
        fprintf(out,
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
                "charset=\"utf-8\"><title>Erasure report %s to %s</title>"
                "<style>%s</style></head><body>\n"
                "<h1>Erasure requests</h1>\n<p>Requests that arrived from "
                "<b>%s</b> to <b>%s</b>; deadline %d days after "
                "<code>requested_at</code>. Generated %s from the request, "
                "outcome and dead-letter topics.</p>\n",
                since, until, style, since, until, m->deadline_days, gen);
}

static void totals_row(FILE *out, const char *name, size_t n)
{
        fprintf(out, "<tr><th>%s</th><td class=\"n\">%zu</td></tr>\n", name, n);
}

static void totals(FILE *out, const struct report_totals *t)
{
        fputs("<h2>Totals</h2>\n<table id=\"totals\">\n", out);
        totals_row(out, "requests", t->requests);
        for (int i = REPORT_COMPLETED; i < REPORT_NSTATUS; i++)
                totals_row(out, report_status_name((enum report_status)i),
                           t->by_status[i]);
        totals_row(out, "open", t->by_status[REPORT_OPEN]);
        totals_row(out, "overdue", t->overdue);
        totals_row(out, "not verified", t->unverified);
        totals_row(out, "calls deleted", t->calls[REPORT_CALL_DELETED]);
        totals_row(out, "calls already absent",
                   t->calls[REPORT_CALL_ALREADY_ABSENT]);
        totals_row(out, "calls failed", t->calls[REPORT_CALL_FAILED]);
        fputs("</table>\n", out);
}

/* ---- the per-day chart ---- */

struct chart {
        int64_t day0; /* first day shown, ms at 00:00 UTC */
        int ndays;
        size_t (*counts)[REPORT_NSTATUS];
        size_t max; /* tallest bar */
};

static int64_t floor_day(int64_t ms)
{
        return ms >= 0 ? ms - ms % DAY_MS : 0;
}

static int chart_fill(struct chart *c, const struct report_book *b,
                      const struct report_meta *m)
{
        int64_t last = floor_day(m->until_ms > m->since_ms ? m->until_ms - 1
                                                           : m->since_ms);
        c->day0 = floor_day(m->since_ms);
        c->ndays = (int)((last - c->day0) / DAY_MS) + 1;
        if (c->ndays > CHART_DAYS) {
                c->day0 = last - (CHART_DAYS - 1) * DAY_MS;
                c->ndays = CHART_DAYS;
        }
        c->counts = calloc((size_t)c->ndays, sizeof(*c->counts));
        if (!c->counts)
                return -1;
        c->max = 0;
        for (size_t i = 0; i < report_book_count(b); i++) {
                const struct report_entry *e = report_book_at(b, i);
                int64_t d = (floor_day(e->first_seen_ms) - c->day0) / DAY_MS;
                if (e->first_seen_ms < c->day0 || d >= c->ndays)
                        continue;
                c->counts[d][e->status]++;
        }
        for (int d = 0; d < c->ndays; d++) {
                size_t sum = 0;
                for (int s = 0; s < REPORT_NSTATUS; s++)
                        sum += c->counts[d][s];
                if (sum > c->max)
                        c->max = sum;
        }
        return 0;
}

static void chart_bar(FILE *out, const struct chart *c, int d)
{
        double y = CHART_H;
        int x = CHART_LEFT + d * (CHART_BAR_W + 2);
        char day[32];
        report_time_text(c->day0 + d * DAY_MS, day);
        day[10] = '\0';
        for (int s = 0; s < REPORT_NSTATUS; s++) {
                size_t n = c->counts[d][s];
                if (!n)
                        continue;
                double h = (double)n * CHART_H / (double)c->max;
                y -= h;
                fprintf(out,
                        "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" "
                        "height=\"%.1f\" fill=\"%s\"><title>%s %s: %zu"
                        "</title></rect>\n",
                        x, y, CHART_BAR_W, h, status_colours[s], day,
                        report_status_name((enum report_status)s), n);
        }
        /* A date under every seventh bar keeps the labels legible. */
        if (d % 7 == 0)
                fprintf(out,
                        "<text x=\"%d\" y=\"%d\" transform=\"rotate(45 %d "
                        "%d)\">%s</text>\n",
                        x, CHART_H + 14, x, CHART_H + 14, day);
}

static void chart_legend(FILE *out, int y)
{
        for (int s = 0; s < REPORT_NSTATUS; s++) {
                int x = CHART_LEFT + s * 130;
                fprintf(out,
                        "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" "
                        "fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n",
                        x, y, status_colours[s], x + 16, y + 11,
                        report_status_name((enum report_status)s));
        }
}

static int chart(FILE *out, const struct report_book *b,
                 const struct report_meta *m)
{
        struct chart c;
        if (chart_fill(&c, b, m))
                return -1;
        int width = CHART_LEFT + c.ndays * (CHART_BAR_W + 2) + 80;
        if (width < CHART_LEFT + REPORT_NSTATUS * 130)
                width = CHART_LEFT + REPORT_NSTATUS * 130;
        fprintf(out,
                "<h2>Requests per day, by outcome</h2>\n<svg id=\"chart\" "
                "xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                "height=\"%d\" role=\"img\" aria-label=\"requests per day\">\n"
                "<line x1=\"%d\" y1=\"0\" x2=\"%d\" y2=\"%d\" "
                "stroke=\"#888\"/>\n<text x=\"0\" y=\"10\">%zu</text>"
                "<text x=\"0\" y=\"%d\">0</text>\n",
                width, CHART_H + 110, CHART_LEFT - 2, CHART_LEFT - 2, CHART_H,
                c.max, CHART_H);
        for (int d = 0; c.max && d < c.ndays; d++)
                chart_bar(out, &c, d);
        chart_legend(out, CHART_H + 80);
        fputs("</svg>\n", out);
        free(c.counts);
        return 0;
}

/* ---- the tables ---- */

enum table_kind { TABLE_OVERDUE, TABLE_FAILED, TABLE_UNVERIFIED };

static int in_table(const struct report_entry *e, enum table_kind k)
{
        switch (k) {
        case TABLE_OVERDUE:
                return e->overdue;
        case TABLE_FAILED:
                return e->status == REPORT_FAILED ||
                       e->status == REPORT_PARTIALLY_FAILED ||
                       e->status == REPORT_REJECTED;
        case TABLE_UNVERIFIED:
                return report_entry_unverified(e);
        }
        return 0;
}

static void details(FILE *out, const struct report_entry *e)
{
        if (e->error_code) {
                esc(out, e->error_code);
                fputs(": ", out);
                esc(out, e->error);
        }
        for (size_t i = 0; i < e->nfailures; i++) {
                const struct report_failure *f = &e->failures[i];
                fputs(i || e->error_code ? "<br>" : "", out);
                esc(out, f->provider);
                fputs("/", out);
                esc(out, f->action);
                fputs(" ", out);
                esc(out, f->resource);
                fputs(": ", out);
                esc(out, f->error ? f->error : "failed");
                if (f->http_status)
                        fprintf(out, " (HTTP %ld)", f->http_status);
        }
        if (e->failures_dropped)
                fprintf(out, "<br>and %zu more", e->failures_dropped);
}

static void table_row(FILE *out, const struct report_entry *e)
{
        char req[32], fin[32], dl[32];
        report_time_text(e->requested_at_ms, req);
        report_time_text(e->finished_at_ms, fin);
        report_time_text(e->deadline_ms, dl);
        fputs("<tr data-request-id=\"", out);
        esc(out, e->request_id ? e->request_id : e->source);
        fputs("\"><td>", out);
        esc(out, e->request_id ? e->request_id : "(none)");
        fprintf(out, "</td><td>%s</td><td>%s</td><td>%s</td><td%s>%s</td>",
                e->source, req, fin, e->overdue ? " class=\"overdue\"" : "",
                dl);
        fprintf(out,
                "<td>%s</td><td class=\"n\">%zu</td><td class=\"n\">%zu</td>"
                "<td class=\"n\">%zu</td><td>%s</td><td>",
                report_status_name(e->status), e->calls[REPORT_CALL_DELETED],
                e->calls[REPORT_CALL_ALREADY_ABSENT],
                e->calls[REPORT_CALL_FAILED], report_verification_text(e));
        details(out, e);
        fputs("</td></tr>\n", out);
}

static void table(FILE *out, const struct report_book *b, enum table_kind k)
{
        static const char *const ids[] = {"overdue", "failed", "unverified"};
        static const char *const titles[] = {
            "Overdue requests", "Failed, partially failed and rejected",
            "Not verified"};
        fprintf(out,
                "<h2>%s</h2>\n<table id=\"%s\"><thead><tr><th>request</th>"
                "<th>source</th><th>requested at</th><th>finished at</th>"
                "<th>deadline</th><th>status</th><th>deleted</th>"
                "<th>already absent</th><th>failed</th><th>verification</th>"
                "<th>reasons</th></tr></thead><tbody>\n",
                titles[k], ids[k]);
        size_t shown = 0, more = 0;
        for (size_t i = 0; i < report_book_count(b); i++) {
                const struct report_entry *e = report_book_at(b, i);
                if (!in_table(e, k))
                        continue;
                if (shown < REPORT_HTML_ROWS_MAX) {
                        table_row(out, e);
                        shown++;
                } else {
                        more++;
                }
        }
        fputs("</tbody></table>\n", out);
        if (more)
                fprintf(out, "<p>and %zu more (see the CSV report)</p>\n",
                        more);
}

int report_render_html(const struct report_book *b, const struct report_meta *m,
                       FILE *out)
{
        head(out, m);
        totals(out, report_book_totals(b));
        if (chart(out, b, m))
                return -1;
        table(out, b, TABLE_OVERDUE);
        table(out, b, TABLE_FAILED);
        table(out, b, TABLE_UNVERIFIED);
        fputs("<p>Verification (read-back of deleted data) is shown as "
              "&ldquo;not verified&rdquo; until the worker reports it."
              "</p>\n</body></html>\n",
              out);
        return 0;
}
