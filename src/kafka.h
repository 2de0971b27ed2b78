/* kafka — the worker's two librdkafka clients: a group consumer for
 * requests (offsets stored by hand, committed by librdkafka's auto-commit
 * of stored offsets) and an idempotent producer for outcomes and the
 * dead-letter topic.
 *
 * Both clients' queues are forwarded to pipes, so the worker's event loop
 * can sleep on Kafka and curl at once. */
#ifndef ERASURE_KAFKA_H
#define ERASURE_KAFKA_H

#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

struct settings;
struct settings_props;
struct kafka;

struct kafka_callbacks {
        void *arg;
        /* Partitions just assigned. */
        void (*assigned)(void *arg,
                         const rd_kafka_topic_partition_list_t *parts);
        /* Partitions about to be taken away. Returns once their in-flight
         * work is finished or abandoned, and their offsets stored; the
         * kafka module then commits (unless lost) and releases them. */
        void (*revoking)(void *arg,
                         const rd_kafka_topic_partition_list_t *parts,
                         int lost);
        /* Delivery report of a kafka_produce() message. */
        void (*delivered)(void *arg, void *opaque, rd_kafka_resp_err_t err);
};

/* Creates both clients from the settings' pass-through properties.
 * instance_id, when not NULL, becomes group.instance.id. */
/* Sets every "name=value" of p on conf (the pass-through lists of
 * settings); fills errstr naming the property on the first refusal. The
 * replay and report clients build their own configurations with it. */
int kafka_conf_set_props(rd_kafka_conf_t *conf, const struct settings_props *p,
                         char *errstr, size_t errstr_size);

struct kafka *kafka_new(const struct settings *s, const char *instance_id,
                        const struct kafka_callbacks *cb, char *errstr,
                        size_t errstr_size);
/* Builds (and drops) both clients' librdkafka configurations from s
 * without creating a client: 0, or -1 with the property librdkafka
 * refuses (check-config, and run before it connects: a bad property is a
 * configuration error, not a runtime failure). */
int kafka_check_conf(const struct settings *s, char *errstr,
                     size_t errstr_size);
/* Destroys without closing (use kafka_close first for a clean exit). A
 * consumer whose close kafka_close() gave up on, or that has subscribed
 * and not yet had an assignment, is not destroyed but left to the process
 * exit, which must follow (kafka.c says why). */
void kafka_free(struct kafka *k);

int kafka_subscribe(struct kafka *k, char *errstr, size_t errstr_size);

/* Readable when the consumer / producer queue has something to serve. */
int kafka_consumer_fd(const struct kafka *k);
int kafka_producer_fd(const struct kafka *k);

/* Next request message, NULL if none now. May run the rebalance callbacks.
 * The caller destroys the message with rd_kafka_message_destroy(). Errors
 * that are not messages (partition EOF, transient broker errors) are
 * logged and skipped here. */
rd_kafka_message_t *kafka_consume(struct kafka *k);
/* Serves delivery reports and producer errors. */
void kafka_poll_producer(struct kafka *k);

/* Produces to topic without waiting. On success value ownership passes
 * to librdkafka (freed with free()), headers' too, and the delivery report
 * follows. On error both stay the caller's: RD_KAFKA_RESP_ERR__QUEUE_FULL
 * means try again once deliveries were served; kafka_err_permanent()
 * tells errors of this one message from the producer's. */
rd_kafka_resp_err_t kafka_produce(struct kafka *k, const char *topic,
                                  const void *key, size_t key_len, void *value,
                                  size_t value_len, rd_kafka_headers_t *headers,
                                  void *opaque);
/* 1 if err (from kafka_produce or a delivery report) concerns only that
 * message (too large, invalid): retrying cannot help, other messages are
 * not affected. */
int kafka_err_permanent(rd_kafka_resp_err_t err);
/* Serves delivery reports for at most timeout_ms. */
void kafka_wait_producer(struct kafka *k, int timeout_ms);

/* Stores next_offset as the partition's commit point (of the request
 * topic); auto-commit sends it. */
void kafka_store_offset(struct kafka *k, int32_t partition,
                        int64_t next_offset);
/* Starts committing the stored offsets without waiting (a commit made
 * while the group rebalances is held by librdkafka until the rejoin, for
 * as long as that takes). An error now ends it; else kafka_commit_done()
 * tells when it is over. Nothing to commit counts as success. */
rd_kafka_resp_err_t kafka_commit_start(struct kafka *k);
/* 1 with *err once the commit kafka_commit_start() began is over (or none
 * is pending), 0 while it is. */
int kafka_commit_done(struct kafka *k, rd_kafka_resp_err_t *err);
/* Pauses or resumes every assigned partition. */
void kafka_set_paused(struct kafka *k, int paused);
int kafka_paused(const struct kafka *k);
size_t kafka_assigned_count(const struct kafka *k);
/* 1 once the consumer has joined the group (its first assignment came,
 * maybe empty). librdkafka 2.0's cooperative-sticky assignor aborts when
 * a consumer that never got one is destroyed (librdkafka #4312, fixed in
 * 2.3), which a loop stopped while the group still forms would hit. */
int kafka_joined(const struct kafka *k);
/* 0 if the producer has not hit a fatal error. */
int kafka_producer_fatal(struct kafka *k, char *errstr, size_t errstr_size);

/* Leaves the group and flushes the producer, both by deadline
 * (clock_mono_ms()). A leave held past it by a rebalance is given up
 * (kafka.c says why that is safe). 0 if every message was delivered. */
int kafka_close(struct kafka *k, int64_t deadline);

#endif
