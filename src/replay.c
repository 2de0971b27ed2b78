/* replay — dead-letter topic back to the request topic. */
#include "replay.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "outcome.h"
#include "settings.h"

#define REPLAY_DEFAULT_CODE "retries_exhausted"

/* Errors of one message alone: retrying cannot help, the others go on. */
static int permanent(rd_kafka_resp_err_t err)
{
        return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
               err == RD_KAFKA_RESP_ERR_INVALID_MSG ||
               err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE ||
               err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
               err == RD_KAFKA_RESP_ERR_INVALID_RECORD ||
               err == RD_KAFKA_RESP_ERR__BAD_MSG;
}

/* Delivery reports: a message Kafka refused is reported and counted; any
 * other failure stops the replay before it commits. */
struct replay_dr {
        size_t refused;
        rd_kafka_resp_err_t fatal;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *arg)
{
        (void)rk;
        struct replay_dr *dr = arg;
        if (m->err && permanent(m->err)) {
                dr->refused++;
                log_warn(NULL, NULL, "replay: Kafka refused the copy of %s: %s",
                         (const char *)m->_private, rd_kafka_err2str(m->err));
        } else if (m->err && !dr->fatal) {
                dr->fatal = m->err;
        }
        free(m->_private); /* the "P@O" name of the copy */
}

static rd_kafka_t *make_client(const struct settings *s, int consumer,
                               struct replay_dr *dr, char *errstr,
                               size_t errstr_size)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char group[512];
        snprintf(group, sizeof(group), "%s.replay", s->group_id);
        int rc = kafka_conf_set_props(conf, &s->kafka, errstr, errstr_size);
        if (!rc && consumer)
                rc = kafka_conf_set_props(conf, &s->consumer, errstr,
                                          errstr_size) ||
                     rd_kafka_conf_set(conf, "group.id", group, errstr,
                                       errstr_size) ||
                     rd_kafka_conf_set(conf, "enable.auto.commit", "false",
                                       errstr, errstr_size) ||
                     rd_kafka_conf_set(conf, "auto.offset.reset", "earliest",
                                       errstr, errstr_size) ||
                     rd_kafka_conf_set(conf, "enable.partition.eof", "true",
                                       errstr, errstr_size);
        if (!rc && !consumer)
                rc = kafka_conf_set_props(conf, &s->producer, errstr,
                                          errstr_size) ||
                     rd_kafka_conf_set(conf, "enable.idempotence", "true",
                                       errstr, errstr_size);
        if (rc) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        if (!consumer) {
                rd_kafka_conf_set_opaque(conf, dr);
                rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        }
        rd_kafka_t *rk =
            rd_kafka_new(consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf,
                         errstr, errstr_size);
        if (!rk)
                rd_kafka_conf_destroy(conf);
        else if (consumer)
                rd_kafka_poll_set_consumer(rk);
        return rk;
}

static int wanted(const struct replay_options *o, const char *code)
{
        if (o->all)
                return 1;
        if (!code)
                return 0;
        if (!o->codes || o->ncodes == 0)
                return strcmp(code, REPLAY_DEFAULT_CODE) == 0;
        for (size_t i = 0; i < o->ncodes; i++)
                if (strcmp(code, o->codes[i]) == 0)
                        return 1;
        return 0;
}

/* The original headers, without the ones the worker added. */
static rd_kafka_headers_t *original_headers(const rd_kafka_message_t *m)
{
        rd_kafka_headers_t *in = NULL, *out = rd_kafka_headers_new(8);
        if (rd_kafka_message_headers(m, &in) != 0 || !in)
                return out;
        const char *name;
        const void *val;
        size_t len;
        for (size_t i = 0; !rd_kafka_header_get_all(in, i, &name, &val, &len);
             i++)
                if (strncmp(name, OUTCOME_HEADER_PREFIX,
                            strlen(OUTCOME_HEADER_PREFIX)) != 0)
                        rd_kafka_header_add(out, name, -1, val, (ssize_t)len);
        return out;
}

static char *header_copy(const rd_kafka_message_t *m, const char *name)
{
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t len;
        if (rd_kafka_message_headers(m, &h) != 0 || !h ||
            rd_kafka_header_get_last(h, name, &v, &len) != 0 || !v)
                return NULL;
        return strndup(v, len);
}

/* 0 copied (or handed to the producer), 1 refused for itself and
 * skipped, -1 on an error that must stop the replay. */
static int copy_one(rd_kafka_t *producer, const struct settings *s,
                    const rd_kafka_message_t *m, char *errstr,
                    size_t errstr_size)
{
        rd_kafka_headers_t *h = original_headers(m);
        char from[64];
        snprintf(from, sizeof(from), "%d@%lld", m->partition,
                 (long long)m->offset);
        rd_kafka_header_add(h, OUTCOME_H_REPLAYED_FROM, -1, from, -1);
        char *opaque = strdup(from);
        rd_kafka_resp_err_t err;
        do {
                err = rd_kafka_producev(
                    producer, RD_KAFKA_V_TOPIC(s->topic_requests),
                    RD_KAFKA_V_KEY(m->key, m->key_len),
                    RD_KAFKA_V_VALUE(m->payload, m->len),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(opaque),
                    RD_KAFKA_V_END);
                /* A one-shot command may wait for room: nothing else runs. */
                if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(producer, 100);
        } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        if (!err)
                return 0;
        rd_kafka_headers_destroy(h);
        free(opaque);
        if (permanent(err)) {
                log_warn(NULL, NULL, "replay: skipped %s: %s", from,
                         rd_kafka_err2str(err));
                return 1;
        }
        snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(err));
        return -1;
}

#define REPLAY_MAX_PARTITIONS 4096

/* 1 once the group gave us partitions and each has reported its end. */
static int all_at_end(rd_kafka_t *c, const unsigned char *eof)
{
        rd_kafka_topic_partition_list_t *a = NULL;
        int done = 0;
        if (rd_kafka_assignment(c, &a) == 0 && a && a->cnt > 0) {
                done = 1;
                for (int i = 0; i < a->cnt; i++) {
                        int32_t part = a->elems[i].partition;
                        if (part < 0 || part >= REPLAY_MAX_PARTITIONS ||
                            !eof[part])
                                done = 0;
                }
        }
        if (a)
                rd_kafka_topic_partition_list_destroy(a);
        return done;
}

/* Consumes until every assigned partition reported its end, or nothing
 * new came for idle_ms (e.g. the group never assigned us anything). */
static int consume_all(rd_kafka_t *c, rd_kafka_t *p, const struct settings *s,
                       const struct replay_options *o,
                       struct replay_result *res, char *errstr,
                       size_t errstr_size)
{
        unsigned char eof[REPLAY_MAX_PARTITIONS] = {0};
        int64_t idle_until = clock_mono_ms() + o->idle_ms;
        while (clock_mono_ms() < idle_until && !all_at_end(c, eof)) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
                if (!m)
                        continue;
                int in_range =
                    m->partition >= 0 && m->partition < REPLAY_MAX_PARTITIONS;
                if (in_range)
                        eof[m->partition] =
                            m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
                if (m->err) {
                        int eof_err =
                            m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
                        if (!eof_err)
                                log_warn(NULL, NULL, "replay: %s",
                                         rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        continue;
                }
                idle_until = clock_mono_ms() + o->idle_ms;
                char *code = header_copy(m, OUTCOME_H_ERROR_CODE);
                int rc = 0;
                if (!wanted(o, code))
                        res->skipped++;
                else if (!o->dry_run)
                        rc = copy_one(p, s, m, errstr, errstr_size);
                if (rc == 0 && wanted(o, code))
                        res->copied++;
                if (rc == 1)
                        res->unproducible++;
                free(code);
                rd_kafka_message_destroy(m);
                if (rc < 0)
                        return -1;
                rd_kafka_poll(p, 0);
        }
        return 0;
}

int replay_run(const struct settings *s, const struct replay_options *o,
               struct replay_result *res, char *errstr, size_t errstr_size)
{
        memset(res, 0, sizeof(*res));
        struct replay_dr dr = {0, RD_KAFKA_RESP_ERR_NO_ERROR};
        rd_kafka_t *c = make_client(s, 1, NULL, errstr, errstr_size);
        rd_kafka_t *p = c ? make_client(s, 0, &dr, errstr, errstr_size) : NULL;
        int rc = -1;
        if (!p)
                goto out;
        rd_kafka_topic_partition_list_t *t =
            rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(t, s->topic_dead_letter,
                                          RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(c, t);
        rd_kafka_topic_partition_list_destroy(t);
        if (err) {
                snprintf(errstr, errstr_size, "subscribe: %s",
                         rd_kafka_err2str(err));
                goto out;
        }
        if (consume_all(c, p, s, o, res, errstr, errstr_size))
                goto out;
        /* Copies first, commit after: a failure in between copies again
         * next time, which is harmless; the reverse could lose requests. */
        err = rd_kafka_flush(p, 30000);
        if (!err)
                err = dr.fatal;
        if (err) {
                snprintf(errstr, errstr_size, "flush: %s",
                         rd_kafka_err2str(err));
                goto out;
        }
        /* Refused on delivery: not copied after all, but reported. */
        res->copied -= dr.refused < res->copied ? dr.refused : res->copied;
        res->unproducible += dr.refused;
        if (res->unproducible)
                log_warn(NULL, NULL,
                         "replay: %zu message(s) could not be copied back "
                         "(see above); they stay in the dead-letter topic",
                         res->unproducible);
        err = o->dry_run ? RD_KAFKA_RESP_ERR_NO_ERROR
                         : rd_kafka_commit(c, NULL, 0);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
                snprintf(errstr, errstr_size, "commit: %s",
                         rd_kafka_err2str(err));
                goto out;
        }
        rc = 0;
out:
        if (c) {
                rd_kafka_consumer_close(c);
                rd_kafka_destroy(c);
        }
        if (p) {
                /* Reports of what never went out free their opaques. */
                rd_kafka_purge(p, RD_KAFKA_PURGE_F_QUEUE |
                                      RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_poll(p, 0);
                rd_kafka_destroy(p);
        }
        return rc;
}
