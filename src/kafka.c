/* kafka — consumer and idempotent producer around librdkafka. */
#include "kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "settings.h"

struct kafka {
        rd_kafka_t *consumer;
        rd_kafka_t *producer;
        rd_kafka_queue_t *consumer_q;
        rd_kafka_queue_t *producer_q;
        int consumer_pipe[2];
        int producer_pipe[2];
        const struct settings *settings;
        struct kafka_callbacks cb;
        int paused;
        size_t assigned;
        int subscribed;
        int joined; /* an assignment (maybe empty) has come at least once */
        rd_kafka_queue_t *commit_q; /* kafka_commit_start()'s, pending */
        int64_t close_deadline;     /* while kafka_close() runs, else 0 */
        int close_given_up;         /* the consumer's close outlived it */
};

/* Properties the worker's guarantees rest on: they are applied after the
 * pass-through ones so a config file cannot turn them off by accident. */
static const char *const consumer_forced[] = {
    "enable.auto.offset.store=false", /* we store when a request is done */
    "enable.auto.commit=true",        /* …and librdkafka commits the store */
    "log.queue=true", NULL};
static const char *const producer_forced[] = {
    "enable.idempotence=true", "acks=all", "log.queue=true", NULL};
/* Defaults a config file may override.
 *
 * fetch.error.backoff.ms: librdkafka 2.0.2 stops fetching a partition for
 * this long after any fetch error of that partition, and a whole broker
 * connection after a failed Fetch request (rdkafka_fetcher.c,
 * rd_kafka_toppar_fetch_backoff and rd_kafka_broker_fetch_backoff); only
 * reaching the end of a partition is exempt. With the default 500 ms, a
 * consumer fed at a steady rate that meets such errors serves its
 * partitions in bursts twice a second and idles in between while requests
 * wait in Kafka. 50 ms keeps recovery fast and costs nothing while idle:
 * an idle consumer's fetches are paced by fetch.wait.max.ms (the broker
 * holds an empty Fetch that long), not by this backoff. */
static const char *const consumer_defaults[] = {
    "partition.assignment.strategy=cooperative-sticky",
    "auto.offset.reset=earliest", "enable.partition.eof=false",
    "fetch.error.backoff.ms=50", NULL};
static const char *const producer_defaults[] = {
    "linger.ms=5", "compression.type=lz4", "message.timeout.ms=300000",
    /* Counted in the memory arithmetic (settings, docs/operations.md);
     * librdkafka's own default is 1 GiB. */
    "queue.buffering.max.kbytes=65536", NULL};

static int conf_set_kv(rd_kafka_conf_t *conf, const char *kv, char *errstr,
                       size_t errstr_size)
{
        char name[256];
        const char *eq = strchr(kv, '=');
        if (!eq || (size_t)(eq - kv) >= sizeof(name)) {
                snprintf(errstr, errstr_size, "bad property \"%.64s\"", kv);
                return -1;
        }
        memcpy(name, kv, (size_t)(eq - kv));
        name[eq - kv] = '\0';
        char err[256];
        if (rd_kafka_conf_set(conf, name, eq + 1, err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "kafka property %s: %s", name,
                         err);
                return -1;
        }
        return 0;
}

static int conf_set_all(rd_kafka_conf_t *conf, const char *const *kvs,
                        char *errstr, size_t errstr_size)
{
        for (; *kvs; kvs++)
                if (conf_set_kv(conf, *kvs, errstr, errstr_size))
                        return -1;
        return 0;
}

int kafka_conf_set_props(rd_kafka_conf_t *conf, const struct settings_props *p,
                         char *errstr, size_t errstr_size)
{
        for (size_t i = 0; i < p->n; i++)
                if (conf_set_kv(conf, p->items[i], errstr, errstr_size))
                        return -1;
        return 0;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
        (void)rk;
        enum log_level l = level <= 3   ? LOG_ERROR
                           : level <= 4 ? LOG_WARN
                           : level <= 6 ? LOG_INFO
                                        : LOG_DEBUG;
        log_emit(l, NULL, NULL, "librdkafka %s: %s", fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *arg)
{
        (void)arg;
        /* Transient broker errors are retried by librdkafka itself. */
        log_emit(err == RD_KAFKA_RESP_ERR__FATAL ? LOG_ERROR : LOG_WARN, NULL,
                 NULL, "kafka %s: %s: %s", rd_kafka_name(rk),
                 rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *arg)
{
        (void)rk;
        struct kafka *k = arg;
        k->cb.delivered(k->cb.arg, m->_private, m->err);
}

static void take(struct kafka *k, rd_kafka_topic_partition_list_t *parts)
{
        rd_kafka_t *rk = k->consumer;
        rd_kafka_error_t *e = NULL;
        k->cb.assigned(k->cb.arg, parts);
        if (strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0)
                e = rd_kafka_incremental_assign(rk, parts);
        else
                rd_kafka_assign(rk, parts);
        if (e) {
                log_error(NULL, NULL, "incremental assign: %s",
                          rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
        }
        k->assigned += (size_t)parts->cnt;
        k->joined = 1;
        if (k->paused)
                rd_kafka_pause_partitions(rk, parts);
        log_info(NULL, NULL, "assigned %d partition(s), %zu in total",
                 parts->cnt, k->assigned);
}

static int ms_until(int64_t deadline, int cap)
{
        int64_t left = deadline - clock_mono_ms();
        return left <= 0 ? 0 : left < cap ? (int)left : cap;
}

static rd_kafka_resp_err_t no_offset_ok(rd_kafka_resp_err_t err)
{
        return err == RD_KAFKA_RESP_ERR__NO_OFFSET ? RD_KAFKA_RESP_ERR_NO_ERROR
                                                   : err;
}

static void commit_forget(struct kafka *k)
{
        if (k->commit_q)
                rd_kafka_queue_destroy(k->commit_q);
        k->commit_q = NULL;
}

/* A synchronous rd_kafka_commit() has no timeout: while the group
 * rebalances librdkafka holds the commit until the rejoin, which the
 * coordinator may delay by a departed static member's whole session
 * timeout (27 s seen). This one gives up at deadline. */
static rd_kafka_resp_err_t commit_by(struct kafka *k, int64_t deadline)
{
        rd_kafka_queue_t *q = rd_kafka_queue_new(k->consumer);
        rd_kafka_resp_err_t err =
            rd_kafka_commit_queue(k->consumer, NULL, q, NULL, NULL);
        if (!err) {
                rd_kafka_event_t *ev =
                    rd_kafka_queue_poll(q, ms_until(deadline, INT32_MAX));
                err = ev ? rd_kafka_event_error(ev)
                         : RD_KAFKA_RESP_ERR__TIMED_OUT;
                if (ev)
                        rd_kafka_event_destroy(ev);
        }
        rd_kafka_queue_destroy(q);
        return no_offset_ok(err);
}

static void release(struct kafka *k, rd_kafka_topic_partition_list_t *parts)
{
        rd_kafka_t *rk = k->consumer;
        int lost = rd_kafka_assignment_lost(rk);
        k->cb.revoking(k->cb.arg, parts, lost);
        if (!lost) {
                /* Waited for: the next owner must see our final offsets.
                 * Bounded: by the close's deadline, else the grace a
                 * revocation has. */
                rd_kafka_resp_err_t err = commit_by(
                    k, k->close_deadline
                           ? k->close_deadline
                           : clock_mono_ms() + k->settings->rebalance_grace_ms);
                if (err)
                        log_warn(NULL, NULL, "commit on revoke: %s",
                                 rd_kafka_err2str(err));
        }
        if (strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0) {
                rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
                if (e)
                        rd_kafka_error_destroy(e);
        } else {
                rd_kafka_assign(rk, NULL);
        }
        k->assigned = k->assigned >= (size_t)parts->cnt
                          ? k->assigned - (size_t)parts->cnt
                          : 0;
        log_info(NULL, NULL, "%s %d partition(s), %zu left",
                 lost ? "lost" : "revoked", parts->cnt, k->assigned);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *arg)
{
        (void)rk;
        struct kafka *k = arg;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
                take(k, parts);
        else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
                release(k, parts);
        else
                log_error(NULL, NULL, "rebalance: %s", rd_kafka_err2str(err));
}

static rd_kafka_conf_t *consumer_conf(struct kafka *k, const char *instance,
                                      char *errstr, size_t errstr_size)
{
        const struct settings *s = k->settings;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char gid[512];
        snprintf(gid, sizeof(gid), "group.id=%s", s->group_id);
        if (conf_set_all(conf, consumer_defaults, errstr, errstr_size) ||
            conf_set_kv(conf, gid, errstr, errstr_size) ||
            kafka_conf_set_props(conf, &s->kafka, errstr, errstr_size) ||
            kafka_conf_set_props(conf, &s->consumer, errstr, errstr_size) ||
            conf_set_all(conf, consumer_forced, errstr, errstr_size))
                goto err;
        char v[64];
        snprintf(v, sizeof(v), "auto.commit.interval.ms=%lld",
                 (long long)s->commit_interval_ms);
        if (conf_set_kv(conf, v, errstr, errstr_size))
                goto err;
        if (instance && *instance) {
                char iid[512];
                snprintf(iid, sizeof(iid), "group.instance.id=%s", instance);
                if (conf_set_kv(conf, iid, errstr, errstr_size))
                        goto err;
        }
        rd_kafka_conf_set_opaque(conf, k);
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
        rd_kafka_conf_set_log_cb(conf, on_log);
        rd_kafka_conf_set_error_cb(conf, on_error);
        return conf;
err:
        rd_kafka_conf_destroy(conf);
        return NULL;
}

static rd_kafka_conf_t *producer_conf(struct kafka *k, char *errstr,
                                      size_t errstr_size)
{
        const struct settings *s = k->settings;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        /* A dead-letter copy is the original plus our headers; settings
         * refuse a configured limit below this. */
        char mmb[64];
        snprintf(mmb, sizeof(mmb), "message.max.bytes=%zu",
                 settings_producer_message_bytes(s));
        if (conf_set_all(conf, producer_defaults, errstr, errstr_size) ||
            conf_set_kv(conf, mmb, errstr, errstr_size) ||
            kafka_conf_set_props(conf, &s->kafka, errstr, errstr_size) ||
            kafka_conf_set_props(conf, &s->producer, errstr, errstr_size) ||
            conf_set_all(conf, producer_forced, errstr, errstr_size)) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_conf_set_opaque(conf, k);
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_log_cb(conf, on_log);
        rd_kafka_conf_set_error_cb(conf, on_error);
        return conf;
}

int kafka_check_conf(const struct settings *s, char *errstr, size_t errstr_size)
{
        /* The very confs kafka_new() would build, so defaults, forced
         * properties and the file's all meet as they will at run time. */
        struct kafka k = {.settings = s};
        rd_kafka_conf_t *c = consumer_conf(&k, NULL, errstr, errstr_size);
        if (!c)
                return -1;
        rd_kafka_conf_destroy(c);
        rd_kafka_conf_t *p = producer_conf(&k, errstr, errstr_size);
        if (!p)
                return -1;
        rd_kafka_conf_destroy(p);
        return 0;
}

static int make_pipe(int p[2])
{
        if (pipe(p) != 0)
                return -1;
        for (int i = 0; i < 2; i++) {
                int fl = fcntl(p[i], F_GETFL);
                fcntl(p[i], F_SETFL, fl | O_NONBLOCK);
                fcntl(p[i], F_SETFD, FD_CLOEXEC);
        }
        return 0;
}

static int create_clients(struct kafka *k, const char *instance, char *errstr,
                          size_t errstr_size)
{
        rd_kafka_conf_t *cc = consumer_conf(k, instance, errstr, errstr_size);
        if (!cc)
                return -1;
        k->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, errstr_size);
        if (!k->consumer) {
                rd_kafka_conf_destroy(cc);
                return -1;
        }
        rd_kafka_conf_t *pc = producer_conf(k, errstr, errstr_size);
        if (!pc)
                return -1;
        k->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, errstr_size);
        if (!k->producer) {
                rd_kafka_conf_destroy(pc);
                return -1;
        }
        /* Logs and errors are served by our own polls, on our thread. */
        rd_kafka_set_log_queue(k->consumer, NULL);
        rd_kafka_set_log_queue(k->producer, NULL);
        rd_kafka_poll_set_consumer(k->consumer);
        return 0;
}

struct kafka *kafka_new(const struct settings *s, const char *instance_id,
                        const struct kafka_callbacks *cb, char *errstr,
                        size_t errstr_size)
{
        struct kafka *k = calloc(1, sizeof(*k));
        if (!k) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        k->consumer_pipe[0] = k->consumer_pipe[1] = -1;
        k->producer_pipe[0] = k->producer_pipe[1] = -1;
        k->settings = s;
        k->cb = *cb;
        if (create_clients(k, instance_id, errstr, errstr_size))
                goto err;
        if (make_pipe(k->consumer_pipe) || make_pipe(k->producer_pipe)) {
                snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
                goto err;
        }
        k->consumer_q = rd_kafka_queue_get_consumer(k->consumer);
        k->producer_q = rd_kafka_queue_get_main(k->producer);
        rd_kafka_queue_io_event_enable(k->consumer_q, k->consumer_pipe[1], "c",
                                       1);
        rd_kafka_queue_io_event_enable(k->producer_q, k->producer_pipe[1], "p",
                                       1);
        return k;
err:
        kafka_free(k);
        return NULL;
}

/* Consumers left to the process exit (kafka_free()). Listed so that they
 * stay reachable, on purpose, for LeakSanitizer and valgrind. */
struct abandoned {
        struct abandoned *next;
        rd_kafka_t *consumer;
        rd_kafka_queue_t *queue;
};
static struct abandoned *abandoned_consumers;
static pthread_mutex_t abandoned_lock = PTHREAD_MUTEX_INITIALIZER;

static void abandon_consumer(struct kafka *k)
{
        struct abandoned *a = malloc(sizeof(*a));
        if (a) {
                a->consumer = k->consumer;
                a->queue = k->consumer_q;
                pthread_mutex_lock(&abandoned_lock);
                a->next = abandoned_consumers;
                abandoned_consumers = a;
                pthread_mutex_unlock(&abandoned_lock);
        }
        k->consumer = NULL;
        k->consumer_q = NULL;
        k->consumer_pipe[0] = k->consumer_pipe[1] = -1;
}

void kafka_free(struct kafka *k)
{
        if (!k)
                return;
        commit_forget(k);
        /* Two consumers are not destroyed but left to the exit of the
         * process, which follows kafka_free(): one whose close was given
         * up, because rd_kafka_destroy() would wait for the very JoinGroup
         * answer we gave up on; and one that joined the group without an
         * assignment yet, because librdkafka 2.0 asserts when destroying
         * a group with an assignor chosen and no assignment yet
         * (librdkafka #4312, fixed in 2.3). */
        if (k->consumer && (k->close_given_up || (k->subscribed && !k->joined)))
                abandon_consumer(k);
        if (k->consumer_q)
                rd_kafka_queue_destroy(k->consumer_q);
        if (k->producer_q)
                rd_kafka_queue_destroy(k->producer_q);
        if (k->consumer)
                rd_kafka_destroy_flags(k->consumer,
                                       RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        if (k->producer) {
                /* Undelivered messages get their reports (purged) now, so
                 * the caller can free what their opaques point to. */
                rd_kafka_purge(k->producer, RD_KAFKA_PURGE_F_QUEUE |
                                                RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_poll(k->producer, 0);
                rd_kafka_destroy(k->producer);
        }
        for (int i = 0; i < 2; i++) {
                if (k->consumer_pipe[i] >= 0)
                        close(k->consumer_pipe[i]);
                if (k->producer_pipe[i] >= 0)
                        close(k->producer_pipe[i]);
        }
        free(k);
}

int kafka_subscribe(struct kafka *k, char *errstr, size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *t =
            rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(t, k->settings->topic_requests,
                                          RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(k->consumer, t);
        rd_kafka_topic_partition_list_destroy(t);
        if (err) {
                snprintf(errstr, errstr_size, "subscribe: %s",
                         rd_kafka_err2str(err));
                return -1;
        }
        k->subscribed = 1;
        return 0;
}

int kafka_consumer_fd(const struct kafka *k)
{
        return k->consumer_pipe[0];
}

int kafka_producer_fd(const struct kafka *k)
{
        return k->producer_pipe[0];
}

static void drain_pipe(int fd)
{
        char buf[256];
        while (read(fd, buf, sizeof(buf)) > 0)
                ;
}

rd_kafka_message_t *kafka_consume(struct kafka *k)
{
        drain_pipe(k->consumer_pipe[0]);
        for (;;) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(k->consumer, 0);
                if (!m)
                        return NULL;
                if (!m->err)
                        return m;
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        log_warn(NULL, NULL, "consumer: %s",
                                 rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
        }
}

void kafka_poll_producer(struct kafka *k)
{
        drain_pipe(k->producer_pipe[0]);
        rd_kafka_poll(k->producer, 0);
}

rd_kafka_resp_err_t kafka_produce(struct kafka *k, const char *topic,
                                  const void *key, size_t key_len, void *value,
                                  size_t value_len, rd_kafka_headers_t *headers,
                                  void *opaque)
{
        /* Never waits here: a full local queue is the caller's to hold,
         * so curl and the consumer's heartbeat keep being served. */
        return rd_kafka_producev(k->producer, RD_KAFKA_V_TOPIC(topic),
                                 RD_KAFKA_V_KEY(key, key_len),
                                 RD_KAFKA_V_VALUE(value, value_len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                 RD_KAFKA_V_HEADERS(headers),
                                 RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}

int kafka_err_permanent(rd_kafka_resp_err_t err)
{
        switch (err) {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_INVALID_MSG:
        case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
        case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        case RD_KAFKA_RESP_ERR__BAD_MSG:
                return 1;
        default:
                return 0;
        }
}

void kafka_wait_producer(struct kafka *k, int timeout_ms)
{
        drain_pipe(k->producer_pipe[0]);
        rd_kafka_poll(k->producer, timeout_ms);
}

void kafka_store_offset(struct kafka *k, int32_t partition, int64_t next_offset)
{
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, k->settings->topic_requests,
                                          partition)
            ->offset = next_offset;
        rd_kafka_resp_err_t err = rd_kafka_offsets_store(k->consumer, l);
        if (err)
                log_warn(NULL, NULL, "store offset %d@%lld: %s", partition,
                         (long long)next_offset, rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(l);
}

rd_kafka_resp_err_t kafka_commit_start(struct kafka *k)
{
        commit_forget(k);
        k->commit_q = rd_kafka_queue_new(k->consumer);
        rd_kafka_resp_err_t err =
            rd_kafka_commit_queue(k->consumer, NULL, k->commit_q, NULL, NULL);
        if (err)
                commit_forget(k);
        return no_offset_ok(err);
}

int kafka_commit_done(struct kafka *k, rd_kafka_resp_err_t *err)
{
        *err = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (!k->commit_q)
                return 1;
        rd_kafka_event_t *ev = rd_kafka_queue_poll(k->commit_q, 0);
        if (!ev)
                return 0;
        *err = no_offset_ok(rd_kafka_event_error(ev));
        rd_kafka_event_destroy(ev);
        commit_forget(k);
        return 1;
}

void kafka_set_paused(struct kafka *k, int paused)
{
        if (k->paused == paused)
                return;
        rd_kafka_topic_partition_list_t *parts = NULL;
        if (rd_kafka_assignment(k->consumer, &parts) == 0 && parts) {
                if (paused)
                        rd_kafka_pause_partitions(k->consumer, parts);
                else
                        rd_kafka_resume_partitions(k->consumer, parts);
                rd_kafka_topic_partition_list_destroy(parts);
        }
        k->paused = paused;
        /* Each pause discards what librdkafka prefetched: worth seeing. */
        log_debug(NULL, NULL, "intake %s (%zu partition(s))",
                  paused ? "paused" : "resumed", k->assigned);
}

int kafka_paused(const struct kafka *k)
{
        return k->paused;
}

size_t kafka_assigned_count(const struct kafka *k)
{
        return k->assigned;
}

int kafka_joined(const struct kafka *k)
{
        return k->joined;
}

int kafka_producer_fatal(struct kafka *k, char *errstr, size_t errstr_size)
{
        return rd_kafka_fatal_error(k->producer, errstr, errstr_size) !=
               RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Leaving the group waits for the coordinator, and while the group is
 * rebalancing around a member that died, the JoinGroup we must answer
 * first is held until that member's session times out (tens of seconds).
 * Past the deadline the kubelet SIGKILLs the pod anyway, so the wait stops
 * there: the consumer is then destroyed without a LeaveGroup, which for
 * the group is the same as that SIGKILL (the member is dropped when its
 * session times out) but keeps the exit on time. Nothing is lost by it:
 * the final commit happened before the close (worker.c), and a revocation
 * served here still commits. So rd_kafka_consumer_close_queue() and not
 * the blocking rd_kafka_consumer_close(): its rebalance callbacks are
 * served here until the consumer reports itself closed or time is up. */
static void close_consumer(struct kafka *k, int64_t deadline)
{
        int64_t t0 = clock_mono_ms();
        rd_kafka_queue_t *q = rd_kafka_queue_new(k->consumer);
        rd_kafka_error_t *e = rd_kafka_consumer_close_queue(k->consumer, q);
        if (e) {
                log_warn(NULL, NULL, "consumer close: %s",
                         rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
        } else {
                int ms;
                while (!rd_kafka_consumer_closed(k->consumer) &&
                       (ms = ms_until(deadline, 100)) > 0)
                        rd_kafka_queue_poll_callback(q, ms);
        }
        int closed = rd_kafka_consumer_closed(k->consumer);
        k->close_given_up = !closed;
        rd_kafka_queue_destroy(q);
        if (closed)
                log_info(NULL, NULL, "consumer closed in %lld ms",
                         (long long)(clock_mono_ms() - t0));
        else
                log_warn(NULL, NULL,
                         "leaving the group did not finish within the drain "
                         "deadline (%lld ms; the group is rebalancing): "
                         "leaving without it, the coordinator drops this "
                         "member when its session times out",
                         (long long)(clock_mono_ms() - t0));
}

/* Of what is left when the close starts, the share the producer's flush
 * keeps: normally it has next to nothing left to send (a job ends when its
 * outcomes are acknowledged), so a fifth, 100 ms to 1 s. */
static int64_t flush_reserve_ms(int64_t deadline)
{
        int64_t r = (deadline - clock_mono_ms()) / 5;
        return r < 100 ? 100 : r > 1000 ? 1000 : r;
}

int kafka_close(struct kafka *k, int64_t deadline)
{
        commit_forget(k);
        k->close_deadline = deadline - flush_reserve_ms(deadline);
        close_consumer(k, k->close_deadline);
        rd_kafka_resp_err_t err =
            rd_kafka_flush(k->producer, ms_until(deadline, INT32_MAX));
        if (err) {
                log_error(
                    NULL, NULL, "producer flush: %s, %d message(s) undelivered",
                    rd_kafka_err2str(err), rd_kafka_outq_len(k->producer));
                return -1;
        }
        return 0;
}
