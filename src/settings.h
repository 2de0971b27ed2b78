/* settings — the worker's configuration file (libconfig), validated.
 *
 * Named "settings" rather than "config" because libconfig already owns the
 * config_ prefix (config_init, config_lookup, …). */
#ifndef ERASURE_SETTINGS_H
#define ERASURE_SETTINGS_H

#include <stddef.h>
#include <stdint.h>
#include "log.h"
#include "metrics.h"
#include "request.h"

struct provider_registry;

/* librdkafka properties, "name=value", passed through verbatim. */
struct settings_props {
        char **items;
        size_t n;
};

struct settings {
        char *path;                  /* the file loaded */
        struct settings_props kafka; /* both clients */
        /* kafka.properties_from_env as written, "name=ENV_VAR": which
         * properties hold secrets whatever their name. */
        struct settings_props kafka_from_env;
        struct settings_props consumer;
        struct settings_props producer;
        char *group_id;
        char *static_membership_env; /* env var naming group.instance.id */
        char *topic_requests;
        char *topic_outcomes;
        char *topic_dead_letter;
        char *ce_source;
        /* Worker loops (threads), each with its own Kafka clients and curl
         * multi, resolved at load: worker.threads, or when that is 0 (the
         * default) the CPUs this process may use (cpus_usable()). The
         * caps below are the process's: max_calls_in_flight shared by the
         * loops, the intake caps divided among them (pool.h). */
        unsigned threads;
        int threads_auto;              /* worker.threads was 0 */
        size_t max_requests_in_flight; /* started, not finished */
        /* Consumed requests waiting to start; partitions pause when this
         * many (or a quarter of max_bytes_in_flight) wait. */
        size_t max_backlog_requests;
        size_t max_calls_in_flight; /* HTTP transfers at once */
        size_t max_calls_per_request;
        /* Pause partitions when this many planned calls are unfinished:
         * each holds its URL, headers and body, so requests in flight
         * alone do not bound memory when requests are large. */
        size_t max_calls_planned;
        /* Pause partitions at this many bytes held by requests in flight
         * (their message, planned calls and DLQ copy). */
        size_t max_bytes_in_flight;
        size_t max_failed_calls_header; /* entries in erasure-failed-calls */
        /* Container memory the caps must fit in (checked at load); 0:
         * the cgroup's memory.max if there is one, else unchecked. */
        size_t memory_limit_bytes;
        struct request_limits request_limits;
        int64_t drain_timeout_ms;   /* SIGTERM: finish in-flight work */
        int64_t rebalance_grace_ms; /* revoke: finish in-flight work */
        int64_t commit_interval_ms;
        /* Erasure deadline after requested_at (GDPR Art. 12(3): one
         * month): report and metrics call a request overdue past it. */
        int deadline_days;
        char *metrics_bind; /* NULL: no metrics server */
        int metrics_port;
        struct metrics_limits metrics_limits; /* 0: metrics.c's default */
        enum log_level log_level;
        struct provider_registry *providers;
};

/* Loads and validates path (and the files it @includes, relative to its
 * directory). Returns NULL with errstr "FILE:LINE: SETTING: reason". */
struct settings *settings_load(const char *path, int allow_missing_secrets,
                               char *errstr, size_t errstr_size);
void settings_free(struct settings *s);

/* The producer's message.max.bytes: max_message_bytes plus the
 * dead-letter header budget, and at least librdkafka's default. */
size_t settings_producer_message_bytes(const struct settings *s);
/* Memory the configured caps add up to (docs/operations.md, Sizing). */
size_t settings_memory_needed(const struct settings *s);

/* 1 if librdkafka property `name` (n bytes) may hold a credential, so its
 * value is masked wherever settings are shown: every property read from
 * the environment, *password*, *secret*, sasl.oauthbearer.*, ssl.key.pem
 * and names ending in "key". */
int settings_prop_is_secret(const struct settings *s, const char *name,
                            size_t n);

/* The resolved settings as indented JSON text (check-config --json), with
 * secrets masked as "****"; the caller frees it. NULL if out of memory. */
char *settings_to_json(const struct settings *s);

/* Appends "name=value" to props (command-line -X). 0 or -1 with errstr. */
int settings_props_add(struct settings_props *props, const char *kv,
                       char *errstr, size_t errstr_size);

/* 0 if librdkafka accepts "name=value" (rd_kafka_conf_set on a scratch
 * configuration), else -1 with librdkafka's reason in errstr. */
int settings_check_property(const char *kv, char *errstr, size_t errstr_size);

#endif
