/* report — read the topics for a period and render what became of it. */
#include "report.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "outcome.h"
#include "report_book.h"
#include "settings.h"

/* Outcomes are read from a little before the period: the clocks of the
 * upstream producer and of the workers need not agree. */
#define REPORT_SKEW_MS  (15 * 60 * 1000LL)
#define META_TIMEOUT_MS 10000

enum topic_kind { TOPIC_REQUESTS, TOPIC_OUTCOMES, TOPIC_DEAD_LETTER };

struct reader {
        rd_kafka_t *rk;
        const struct report_options *o;
        struct report_book *book;
        char *errstr;
        size_t errstr_size;
};

static void on_log(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
        (void)rk;
        if (level <= 4)
                log_warn(NULL, NULL, "report: kafka %s: %s", fac, buf);
}

/* The group id is only a label here: partitions are assigned by hand and
 * nothing is committed, so the workers' group is untouched. */
static rd_kafka_t *make_consumer(const struct settings *s, char *errstr,
                                 size_t errstr_size)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char group[512];
        snprintf(group, sizeof(group), "%s.report", s->group_id);
        rd_kafka_conf_set_log_cb(conf, on_log);
        /* librdkafka prefetches up to 64 MiB per partition by default: more
         * than the whole book of a large period. 4 MiB keeps the fetches
         * large; the file's consumer properties, set after, still win. */
        if (rd_kafka_conf_set(conf, "queued.max.messages.kbytes", "4096",
                              errstr, errstr_size) ||
            kafka_conf_set_props(conf, &s->kafka, errstr, errstr_size) ||
            kafka_conf_set_props(conf, &s->consumer, errstr, errstr_size) ||
            rd_kafka_conf_set(conf, "group.id", group, errstr, errstr_size) ||
            rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr,
                              errstr_size) ||
            rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr,
                              errstr_size) ||
            rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr,
                              errstr_size)) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_t *rk =
            rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
        if (!rk)
                rd_kafka_conf_destroy(conf);
        else
                rd_kafka_poll_set_consumer(rk);
        return rk;
}

static int fail_err(struct reader *r, const char *what, const char *topic,
                    rd_kafka_resp_err_t err)
{
        snprintf(r->errstr, r->errstr_size, "%s %s: %s", what, topic,
                 rd_kafka_err2str(err));
        return -1;
}

static int partition_count(struct reader *r, const char *topic, int *n)
{
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err =
            rkt ? rd_kafka_metadata(r->rk, 0, rkt, &md, META_TIMEOUT_MS)
                : RD_KAFKA_RESP_ERR__INVALID_ARG;
        if (!err && md->topic_cnt == 1)
                err = md->topics[0].err;
        if (!err)
                *n = md->topics[0].partition_cnt;
        if (md)
                rd_kafka_metadata_destroy(md);
        if (rkt)
                rd_kafka_topic_destroy(rkt);
        return err ? fail_err(r, "metadata of", topic, err) : 0;
}

/* Per partition, the first offset at or after ts_ms; the end of the
 * partition (high watermark) when no message is that late. */
static int offsets_at(struct reader *r, const char *topic, int n, int64_t ts,
                      int64_t *out)
{
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(n);
        for (int p = 0; p < n; p++)
                rd_kafka_topic_partition_list_add(l, topic, p)->offset = ts;
        rd_kafka_resp_err_t err =
            rd_kafka_offsets_for_times(r->rk, l, META_TIMEOUT_MS);
        for (int p = 0; !err && p < n; p++) {
                int64_t lo, hi;
                err = l->elems[p].err;
                out[p] = l->elems[p].offset;
                if (!err && out[p] < 0)
                        err = rd_kafka_query_watermark_offsets(
                            r->rk, topic, p, &lo, &hi, META_TIMEOUT_MS);
                if (!err && out[p] < 0)
                        out[p] = hi;
        }
        rd_kafka_topic_partition_list_destroy(l);
        return err ? fail_err(r, "offsets of", topic, err) : 0;
}

static const char *header(const rd_kafka_message_t *m, const char *name,
                          char *buf, size_t size)
{
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t len;
        if (rd_kafka_message_headers(m, &h) || !h ||
            rd_kafka_header_get_last(h, name, &v, &len) || !v)
                return NULL;
        if (len >= size)
                len = size - 1;
        memcpy(buf, v, len);
        buf[len] = '\0';
        return buf;
}

static int take_request(struct reader *r, const rd_kafka_message_t *m)
{
        int64_t ts = rd_kafka_message_timestamp(m, NULL);
        if (ts < r->o->since_ms || ts >= r->o->until_ms)
                return 0;
        return report_book_add_request(r->book, m->partition, m->offset, ts,
                                       m->payload, m->len);
}

static int take_dead_letter(struct reader *r, const rd_kafka_message_t *m)
{
        char id[256], part[32], off[32], code[128], reason[1024];
        return report_book_add_dead_letter(
            r->book, header(m, OUTCOME_H_REQUEST_ID, id, sizeof(id)),
            header(m, OUTCOME_H_SOURCE_PARTITION, part, sizeof(part)),
            header(m, OUTCOME_H_SOURCE_OFFSET, off, sizeof(off)),
            header(m, OUTCOME_H_ERROR_CODE, code, sizeof(code)),
            header(m, OUTCOME_H_ERROR_REASON, reason, sizeof(reason)));
}

static int take(struct reader *r, enum topic_kind k,
                const rd_kafka_message_t *m)
{
        char type[64];
        switch (k) {
        case TOPIC_REQUESTS:
                return take_request(r, m);
        case TOPIC_OUTCOMES:
                return report_book_add_outcome(
                    r->book, header(m, OUTCOME_H_CE_TYPE, type, sizeof(type)),
                    m->payload, m->len);
        case TOPIC_DEAD_LETTER:
                return take_dead_letter(r, m);
        }
        return 0;
}

struct span {
        const char *topic;
        enum topic_kind kind;
        int n;          /* partitions */
        int64_t *start; /* per partition */
        int64_t *stop;  /* exclusive */
        int left;       /* partitions not read to their stop yet */
        size_t total, done;
};

static void progress(const struct span *sp, int64_t *next, int64_t every)
{
        int64_t now = clock_mono_ms();
        if (now < *next)
                return;
        *next = now + every;
        log_info(NULL, NULL, "report: %s: %zu of %zu message(s) read",
                 sp->topic, sp->done, sp->total);
}

/* One message or event; 1 when its partition is now read to its stop. */
static int step(struct reader *r, struct span *sp, rd_kafka_message_t *m,
                int *rc)
{
        int32_t p = m->partition;
        if (p < 0 || p >= sp->n || sp->start[p] >= sp->stop[p])
                return 0;
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                log_warn(NULL, NULL, "report: %s: %s", sp->topic,
                         rd_kafka_message_errstr(m));
                return 0;
        }
        if (!m->err && m->offset < sp->stop[p]) {
                sp->done++;
                if (take(r, sp->kind, m)) {
                        snprintf(r->errstr, r->errstr_size, "out of memory");
                        *rc = -1;
                }
        }
        /* Done at the stop offset, or at the end if it shrank (deleted
         * segments) or a transaction marker sits at the last offset. */
        if (m->err || m->offset + 1 >= sp->stop[p]) {
                sp->start[p] = sp->stop[p];
                return 1;
        }
        return 0;
}

static int consume_span(struct reader *r, struct span *sp)
{
        int64_t next = 0, idle_until = clock_mono_ms() + r->o->timeout_ms;
        int rc = 0;
        while (sp->left > 0 && !rc) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 200);
                progress(sp, &next, r->o->progress_ms);
                if (!m) {
                        if (clock_mono_ms() < idle_until)
                                continue;
                        snprintf(r->errstr, r->errstr_size,
                                 "%s: nothing read for %lld ms", sp->topic,
                                 (long long)r->o->timeout_ms);
                        return -1;
                }
                idle_until = clock_mono_ms() + r->o->timeout_ms;
                sp->left -= step(r, sp, m, &rc);
                rd_kafka_message_destroy(m);
        }
        return rc;
}

static int assign_span(struct reader *r, struct span *sp)
{
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(sp->n);
        for (int p = 0; p < sp->n; p++) {
                if (sp->start[p] >= sp->stop[p])
                        continue;
                rd_kafka_topic_partition_list_add(l, sp->topic, p)->offset =
                    sp->start[p];
                sp->left++;
                sp->total += (size_t)(sp->stop[p] - sp->start[p]);
        }
        rd_kafka_resp_err_t err = rd_kafka_assign(r->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        return err ? fail_err(r, "assign", sp->topic, err) : 0;
}

/* Reads topic's messages with timestamps in [from_ms, until_ms) (until
 * -1: to the current end). */
static int read_topic(struct reader *r, const char *topic, enum topic_kind k,
                      int64_t from_ms, int64_t until_ms)
{
        struct span sp = {topic, k, 0, NULL, NULL, 0, 0, 0};
        int rc = partition_count(r, topic, &sp.n);
        if (!rc && sp.n > 0) {
                sp.start = calloc((size_t)sp.n, sizeof(int64_t));
                sp.stop = calloc((size_t)sp.n, sizeof(int64_t));
                rc = !sp.start || !sp.stop ||
                     offsets_at(r, topic, sp.n, from_ms, sp.start) ||
                     offsets_at(r, topic, sp.n, until_ms, sp.stop) ||
                     assign_span(r, &sp) || consume_span(r, &sp);
                rd_kafka_assign(r->rk, NULL);
        }
        if (!rc)
                log_info(NULL, NULL, "report: %s: %zu message(s) read", topic,
                         sp.done);
        free(sp.start);
        free(sp.stop);
        return rc ? -1 : 0;
}

static void log_overdue(const struct report_book *b)
{
        size_t logged = 0;
        for (size_t i = 0; i < report_book_count(b); i++) {
                const struct report_entry *e = report_book_at(b, i);
                if (!e->overdue || logged++ >= 20)
                        continue;
                char dl[32];
                report_time_text(e->deadline_ms, dl);
                log_warn(e->request_id, NULL,
                         "report: request at %s is overdue (%s, deadline %s)",
                         e->source, report_status_name(e->status), dl);
        }
        if (logged > 20)
                log_warn(NULL, NULL, "report: and %zu more overdue request(s)",
                         logged - 20);
}

static int read_all(struct reader *r, const struct settings *s)
{
        const struct report_options *o = r->o;
        int64_t from =
            o->since_ms > REPORT_SKEW_MS ? o->since_ms - REPORT_SKEW_MS : 0;
        /* offsets_for_times(-1) is the end: OFFSET_END's value. */
        return read_topic(r, s->topic_requests, TOPIC_REQUESTS, o->since_ms,
                          o->until_ms < o->now_ms ? o->until_ms : -1) ||
               read_topic(r, s->topic_outcomes, TOPIC_OUTCOMES, from, -1) ||
               read_topic(r, s->topic_dead_letter, TOPIC_DEAD_LETTER, from, -1);
}

int report_run(const struct settings *s, const struct report_options *o,
               FILE *out, struct report_result *res, char *errstr,
               size_t errstr_size)
{
        memset(res, 0, sizeof(*res));
        struct reader r = {NULL, o, report_book_new(o->request_id), errstr,
                           errstr_size};
        int rc = -1;
        if (!r.book) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        r.rk = make_consumer(s, errstr, errstr_size);
        if (!r.rk || read_all(&r, s))
                goto out;
        report_book_finish(r.book, o->now_ms, s->deadline_days);
        struct report_meta meta = {o->since_ms, o->until_ms, o->now_ms,
                                   s->deadline_days};
        if (report_render(r.book, &meta, o->format, out)) {
                snprintf(errstr, errstr_size, "cannot write the report");
                goto out;
        }
        const struct report_totals *t = report_book_totals(r.book);
        res->requests = t->requests;
        res->overdue = t->overdue;
        res->open = t->by_status[REPORT_OPEN];
        log_overdue(r.book);
        rc = 0;
out:
        if (r.rk) {
                rd_kafka_consumer_close(r.rk);
                rd_kafka_destroy(r.rk);
        }
        report_book_free(r.book);
        return rc;
}
