/* settings — load and validate the worker's libconfig file. */
#include "settings.h"

#include <libconfig.h>
#include <libgen.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acctlimit.h"
#include "confread.h"
#include "cpus.h"
#include "outcome.h"
#include "provider.h"

/* Top-level settings this module owns; `providers`, `accounts` and
 * `account_defaults` belong to the provider module. */
static const char *const top_keys[] = {
    "kafka",     "topics",   "worker",           "metrics", "log",
    "providers", "accounts", "account_defaults", NULL};
static const char *const kafka_keys[] = {
    "properties", "properties_from_env",   "consumer", "producer",
    "group_id",   "static_membership_env", NULL};
static const char *const topic_keys[] = {"requests", "outcomes", "dead_letter",
                                         NULL};
static const char *const worker_keys[] = {"max_requests_in_flight",
                                          "max_backlog_requests",
                                          "max_calls_in_flight",
                                          "max_calls_per_request",
                                          "max_calls_planned",
                                          "max_bytes_in_flight",
                                          "max_failed_calls_header",
                                          "memory_limit_bytes",
                                          "max_message_bytes",
                                          "max_targets",
                                          "drain_timeout_ms",
                                          "rebalance_grace_ms",
                                          "commit_interval_ms",
                                          "deadline_days",
                                          "ce_source",
                                          "threads",
                                          NULL};
static const char *const metrics_keys[] = {"bind",
                                           "port",
                                           "connection_limit",
                                           "per_ip_limit",
                                           "idle_timeout_ms",
                                           "request_deadline_ms",
                                           NULL};
static const char *const log_keys[] = {"level", NULL};

int settings_props_add(struct settings_props *props, const char *kv,
                       char *errstr, size_t errstr_size)
{
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
                snprintf(errstr, errstr_size, "\"%.64s\": expected name=value",
                         kv);
                return -1;
        }
        char **n = realloc(props->items, (props->n + 1) * sizeof(*n));
        if (!n) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        props->items = n;
        props->items[props->n] = strdup(kv);
        if (!props->items[props->n]) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        props->n++;
        return 0;
}

int settings_check_property(const char *kv, char *errstr, size_t errstr_size)
{
        char name[256];
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(name)) {
                snprintf(errstr, errstr_size, "\"%.64s\": expected name=value",
                         kv);
                return -1;
        }
        memcpy(name, kv, (size_t)(eq - kv));
        name[eq - kv] = '\0';
        /* librdkafka is the only authority on its properties: a scratch
         * conf refuses a misspelt name or a bad value exactly as the
         * clients would, but here, where the file and line are known. */
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char err[256];
        rd_kafka_conf_res_t res =
            rd_kafka_conf_set(conf, name, eq + 1, err, sizeof(err));
        rd_kafka_conf_destroy(conf);
        if (res == RD_KAFKA_CONF_OK)
                return 0;
        snprintf(errstr, errstr_size, "librdkafka property %s: %s", name, err);
        return -1;
}

static void props_clear(struct settings_props *p)
{
        for (size_t i = 0; i < p->n; i++)
                free(p->items[i]);
        free(p->items);
        p->items = NULL;
        p->n = 0;
}

/* check: validate each property with librdkafka (not for
 * properties_from_env, whose values are variable names). */
static int read_props(struct confread *cr, const config_setting_t *parent,
                      const char *name, struct settings_props *out, int check)
{
        const config_setting_t *arr = config_setting_get_member(parent, name);
        if (!arr)
                return 0;
        if (!config_setting_is_array(arr) && !config_setting_is_list(arr))
                return confread_fail(cr, arr, NULL,
                                     "must be an array of \"name=value\"");
        for (int i = 0; i < config_setting_length(arr); i++) {
                const config_setting_t *e = config_setting_get_elem(arr, i);
                const char *kv = config_setting_get_string(e);
                char err[256];
                if (!kv)
                        return confread_fail(cr, e, NULL, "must be a string");
                if (settings_props_add(out, kv, err, sizeof(err)) ||
                    (check && settings_check_property(kv, err, sizeof(err))))
                        return confread_fail(cr, e, NULL, "%s", err);
        }
        return 0;
}

/* "name=ENV_VAR": the property's value comes from the environment, so
 * Kafka passwords never sit in the config file. */
static int read_env_props(struct confread *cr, const config_setting_t *kafka,
                          struct settings *s, int allow_missing)
{
        struct settings_props tmp = {0};
        struct settings_props *out = &s->kafka;
        if (read_props(cr, kafka, "properties_from_env", &tmp, 0) ||
            read_props(cr, kafka, "properties_from_env", &s->kafka_from_env,
                       0)) {
                props_clear(&tmp);
                return -1;
        }
        const config_setting_t *arr =
            config_setting_get_member(kafka, "properties_from_env");
        int rc = 0;
        for (size_t i = 0; i < tmp.n && rc == 0; i++) {
                char *eq = strchr(tmp.items[i], '=');
                *eq = '\0';
                const char *val = getenv(eq + 1);
                /* plan and check-config run where no secret is present. */
                if ((!val || !*val) && allow_missing)
                        continue;
                if (!val || !*val) {
                        rc = confread_fail(
                            cr, config_setting_get_elem(arr, (int)i), NULL,
                            "environment variable %s is not set", eq + 1);
                        break;
                }
                log_add_secret(val);
                size_t n = strlen(tmp.items[i]) + strlen(val) + 2;
                char *kv = malloc(n);
                if (!kv) {
                        rc = confread_fail_nomem(cr, arr);
                        break;
                }
                snprintf(kv, n, "%s=%s", tmp.items[i], val);
                char err[256];
                /* The message names the property, never the value. */
                if (settings_props_add(out, kv, err, sizeof(err)) ||
                    settings_check_property(kv, err, sizeof(err)))
                        rc = confread_fail(
                            cr, config_setting_get_elem(arr, (int)i), NULL,
                            "librdkafka property %s: invalid value from %s",
                            tmp.items[i], eq + 1);
                free(kv);
        }
        props_clear(&tmp);
        return rc;
}

/* Absent keeps the default; present must be a non-empty string. */
static int read_string(struct confread *cr, const config_setting_t *parent,
                       const char *name, char **out)
{
        const char *v;
        int rc = confread_string(cr, parent, name, &v);
        if (rc <= 0)
                return rc;
        const config_setting_t *st = config_setting_get_member(parent, name);
        if (!*v)
                return confread_fail(cr, st, NULL, "must not be empty");
        free(*out);
        *out = NULL;
        return confread_strdup(cr, st, v, out);
}

static int read_int(struct confread *cr, const config_setting_t *parent,
                    const char *name, long long lo, long long hi,
                    long long *out)
{
        return confread_int64(cr, parent, name, lo, hi, out) < 0 ? -1 : 0;
}

static void set_defaults(struct settings *s)
{
        s->max_requests_in_flight = 1000;
        s->max_backlog_requests = 1000;
        s->max_calls_in_flight = 512;
        s->max_calls_per_request = 10000;
        s->max_calls_planned = 50000;
        s->max_bytes_in_flight = 128 * 1024 * 1024;
        s->max_failed_calls_header = 20;
        request_limits_default(&s->request_limits);
        s->drain_timeout_ms = 25000;
        s->rebalance_grace_ms = 10000;
        s->commit_interval_ms = 1000;
        s->deadline_days = 30;
        s->metrics_port = 9464;
        s->log_level = LOG_INFO;
}

static int strdup_defaults(struct settings *s)
{
        s->group_id = strdup("erasure-worker");
        s->topic_requests = strdup("erasure.requests");
        s->topic_outcomes = strdup("erasure.outcomes");
        s->topic_dead_letter = strdup("erasure.requests.dlq");
        s->ce_source = strdup("urn:erasure-worker");
        return s->group_id && s->topic_requests && s->topic_outcomes &&
                       s->topic_dead_letter && s->ce_source
                   ? 0
                   : -1;
}

static int load_kafka(struct confread *cr, struct settings *s,
                      const config_setting_t *root, int allow_missing)
{
        const config_setting_t *k = config_setting_get_member(root, "kafka");
        if (!k)
                return 0;
        if (confread_check_keys(cr, k, kafka_keys) ||
            read_props(cr, k, "properties", &s->kafka, 1) ||
            read_env_props(cr, k, s, allow_missing) ||
            read_props(cr, k, "consumer", &s->consumer, 1) ||
            read_props(cr, k, "producer", &s->producer, 1) ||
            read_string(cr, k, "group_id", &s->group_id) ||
            read_string(cr, k, "static_membership_env",
                        &s->static_membership_env))
                return -1;
        return 0;
}

static int load_topics(struct confread *cr, struct settings *s,
                       const config_setting_t *root)
{
        const config_setting_t *t = config_setting_get_member(root, "topics");
        if (!t)
                return 0;
        if (confread_check_keys(cr, t, topic_keys) ||
            read_string(cr, t, "requests", &s->topic_requests) ||
            read_string(cr, t, "outcomes", &s->topic_outcomes) ||
            read_string(cr, t, "dead_letter", &s->topic_dead_letter))
                return -1;
        if (strcmp(s->topic_requests, s->topic_outcomes) == 0 ||
            strcmp(s->topic_requests, s->topic_dead_letter) == 0) {
                const config_setting_t *r =
                    config_setting_get_member(t, "requests");
                return confread_fail(cr, r ? r : t, r ? NULL : "requests",
                                     "must differ from the outcome and "
                                     "dead-letter topics");
        }
        return 0;
}

static int load_worker(struct confread *cr, struct settings *s,
                       const config_setting_t *root)
{
        const config_setting_t *w = config_setting_get_member(root, "worker");
        if (!w)
                return 0;
        long long v;
        if (confread_check_keys(cr, w, worker_keys))
                return -1;
#define INT_FIELD(name, lo, hi, dst)                                           \
        do {                                                                   \
                v = (long long)(dst);                                          \
                if (read_int(cr, w, name, lo, hi, &v))                         \
                        return -1;                                             \
                dst = v;                                                       \
        } while (0)
        INT_FIELD("max_requests_in_flight", 1, 1000000,
                  s->max_requests_in_flight);
        INT_FIELD("max_backlog_requests", 1, 1000000, s->max_backlog_requests);
        INT_FIELD("max_calls_in_flight", 1, 100000, s->max_calls_in_flight);
        INT_FIELD("max_calls_per_request", 1, 1000000,
                  s->max_calls_per_request);
        INT_FIELD("max_calls_planned", 1, 10000000, s->max_calls_planned);
        INT_FIELD("max_bytes_in_flight", 1024 * 1024, 1LL << 40,
                  s->max_bytes_in_flight);
        INT_FIELD("max_failed_calls_header", 0, 1000,
                  s->max_failed_calls_header);
        INT_FIELD("memory_limit_bytes", 0, 1LL << 50, s->memory_limit_bytes);
        INT_FIELD("max_message_bytes", 64, 100 * 1024 * 1024,
                  s->request_limits.max_bytes);
        INT_FIELD("max_targets", 1, 10000, s->request_limits.max_targets);
        INT_FIELD("drain_timeout_ms", 0, 3600000, s->drain_timeout_ms);
        INT_FIELD("rebalance_grace_ms", 0, 3600000, s->rebalance_grace_ms);
        INT_FIELD("commit_interval_ms", 10, 600000, s->commit_interval_ms);
        INT_FIELD("deadline_days", 1, 3650, s->deadline_days);
        INT_FIELD("threads", 0, ACCTLIMIT_MAX_LOOPS, s->threads);
#undef INT_FIELD
        return read_string(cr, w, "ce_source", &s->ce_source);
}

/* ---- caps that must agree with Kafka's and with the container ---- */

#define SETTINGS_BASE_BYTES    (64LL << 20) /* code, libraries, buffers */
#define SETTINGS_QUEUE_KBYTES  65536LL      /* both clients' default */
#define SETTINGS_CGROUP_MEMORY "/sys/fs/cgroup/memory.max"

/* librdkafka's default message.max.bytes: never go below it, so an
 * oversize message that fits is still dead-lettered whole. */
#define SETTINGS_RDKAFKA_MESSAGE_BYTES 1000000

size_t settings_producer_message_bytes(const struct settings *s)
{
        size_t n = s->request_limits.max_bytes + OUTCOME_HEADER_BUDGET;
        return n > SETTINGS_RDKAFKA_MESSAGE_BYTES
                   ? n
                   : SETTINGS_RDKAFKA_MESSAGE_BYTES;
}

/* The value a client gets for property name (its own list wins), or
 * dflt. */
static long long client_prop(const struct settings *s,
                             const struct settings_props *own, const char *name,
                             long long dflt)
{
        const struct settings_props *lists[2] = {&s->kafka, own};
        size_t n = strlen(name);
        const char *v = NULL;
        for (int l = 0; l < 2; l++)
                for (size_t i = 0; i < lists[l]->n; i++)
                        if (strncmp(lists[l]->items[i], name, n) == 0 &&
                            lists[l]->items[i][n] == '=')
                                v = lists[l]->items[i] + n + 1;
        return v ? atoll(v) : dflt;
}

/* Reports at parent.name, or at parent when the setting is absent. */
__attribute__((format(printf, 4, 5))) static int
fail_at(struct confread *cr, const config_setting_t *parent, const char *name,
        const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        const config_setting_t *st = config_setting_get_member(parent, name);
        return confread_fail(cr, st ? st : parent, st ? NULL : name, "%s", msg);
}

static int check_producer_size(struct confread *cr, const struct settings *s,
                               const config_setting_t *root)
{
        long long need =
            (long long)(s->request_limits.max_bytes + OUTCOME_HEADER_BUDGET);
        long long have =
            client_prop(s, &s->producer, "message.max.bytes", need);
        if (have >= need)
                return 0;
        const config_setting_t *k = config_setting_get_member(root, "kafka");
        return fail_at(cr, k ? k : root, k ? "producer" : "kafka",
                       "message.max.bytes=%lld is below "
                       "worker.max_message_bytes (%zu) + %d bytes of "
                       "dead-letter headers",
                       have, s->request_limits.max_bytes,
                       OUTCOME_HEADER_BUDGET);
}

static size_t cgroup_memory_limit(void)
{
        unsigned long long v = 0;
        FILE *f = fopen(SETTINGS_CGROUP_MEMORY, "r");
        if (!f)
                return 0;
        if (fscanf(f, "%llu", &v) != 1) /* "max": no limit */
                v = 0;
        fclose(f);
        return (size_t)v;
}

size_t settings_memory_needed(const struct settings *s)
{
        long long pq =
            client_prop(s, &s->producer, "queue.buffering.max.kbytes",
                        SETTINGS_QUEUE_KBYTES);
        long long cq =
            client_prop(s, &s->consumer, "queued.max.messages.kbytes",
                        SETTINGS_QUEUE_KBYTES);
        /* Every loop has a consumer and a producer of its own. */
        return (size_t)(SETTINGS_BASE_BYTES + (pq + cq) * 1024 * s->threads) +
               s->max_bytes_in_flight +
               request_parse_budget(&s->request_limits);
}

static int check_memory(struct confread *cr, const struct settings *s,
                        const config_setting_t *root)
{
        size_t limit = s->memory_limit_bytes;
        const char *from = "";
        if (!limit) {
                limit = cgroup_memory_limit();
                from = " (the cgroup's memory.max)";
        }
        size_t need = settings_memory_needed(s);
        if (!limit || need <= limit)
                return 0;
        const config_setting_t *w = config_setting_get_member(root, "worker");
        return fail_at(cr, w ? w : root, w ? "memory_limit_bytes" : "worker",
                       "the caps need %zu bytes (base + max_bytes_in_flight "
                       "+ parse budget + both clients' queues, see "
                       "docs/operations.md), more than the limit of %zu%s",
                       need, limit, from);
}

/* The probe server's limits against slow clients (struct metrics_limits). */
static int load_metrics_limits(struct confread *cr, struct metrics_limits *l,
                               const config_setting_t *m)
{
        const struct {
                const char *name;
                unsigned int *field;
                long long hi;
        } t[] = {{"connection_limit", &l->connections, 65536},
                 {"per_ip_limit", &l->per_ip, 65536},
                 {"idle_timeout_ms", &l->idle_timeout_ms, 3600000},
                 {"request_deadline_ms", &l->deadline_ms, 3600000}};
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                long long v = *t[i].field;
                if (read_int(cr, m, t[i].name, 1, t[i].hi, &v))
                        return -1;
                *t[i].field = (unsigned int)v;
        }
        return 0;
}

static int load_metrics_log(struct confread *cr, struct settings *s,
                            const config_setting_t *root)
{
        const config_setting_t *m = config_setting_get_member(root, "metrics");
        if (m) {
                long long port = s->metrics_port;
                if (confread_check_keys(cr, m, metrics_keys) ||
                    read_string(cr, m, "bind", &s->metrics_bind) ||
                    read_int(cr, m, "port", 0, 65535, &port) ||
                    load_metrics_limits(cr, &s->metrics_limits, m))
                        return -1;
                s->metrics_port = (int)port;
        }
        const config_setting_t *l = config_setting_get_member(root, "log");
        if (l) {
                const char *name = NULL;
                if (confread_check_keys(cr, l, log_keys) ||
                    confread_string(cr, l, "level", &name) < 0)
                        return -1;
                if (name && log_level_parse(name, &s->log_level))
                        return confread_fail(
                            cr, config_setting_get_member(l, "level"), NULL,
                            "must be one of debug, info, warn, error");
        }
        return 0;
}

/* worker.threads = 0: one loop per CPU this process may use. */
static int resolve_threads(struct settings *s)
{
        s->threads_auto = s->threads == 0;
        if (s->threads_auto)
                s->threads = cpus_usable();
        if (s->threads > ACCTLIMIT_MAX_LOOPS)
                s->threads = ACCTLIMIT_MAX_LOOPS;
        return 0;
}

static int load_root(struct settings *s, config_t *cfg, int allow_missing,
                     char *errstr, size_t errstr_size)
{
        struct confread cr = {errstr, errstr_size};
        const config_setting_t *root = config_root_setting(cfg);
        if (confread_check_keys(&cr, root, top_keys) ||
            load_kafka(&cr, s, root, allow_missing) ||
            load_topics(&cr, s, root) || load_worker(&cr, s, root) ||
            resolve_threads(s) || load_metrics_log(&cr, s, root) ||
            check_producer_size(&cr, s, root) || check_memory(&cr, s, root))
                return -1;
        s->providers =
            provider_registry_load(cfg, allow_missing, errstr, errstr_size);
        return s->providers ? 0 : -1;
}

/* libconfig says only "cannot open include file": the operator needs the
 * name and where it was looked for, so the @include line is re-read.
 * Returns "" when line is no @include. */
static const char *include_named(const char *file, int line, const char *dir,
                                 char *buf, size_t size)
{
        char text[1024];
        FILE *fp = fopen(file, "r");
        buf[0] = '\0';
        if (!fp)
                return buf;
        for (int n = 1; fgets(text, sizeof(text), fp); n++) {
                if (n < line)
                        continue;
                const char *q = strstr(text, "@include");
                const char *open = q ? strchr(q, '"') : NULL;
                const char *close = open ? strchr(open + 1, '"') : NULL;
                if (close)
                        snprintf(buf, size, " \"%.*s\" (looked for in %s)",
                                 (int)(close - open - 1), open + 1, dir);
                break;
        }
        fclose(fp);
        return buf;
}

struct settings *settings_load(const char *path, int allow_missing_secrets,
                               char *errstr, size_t errstr_size)
{
        struct settings *s = calloc(1, sizeof(*s));
        char *dircopy = strdup(path);
        if (!s || !dircopy || !(s->path = strdup(path)) || strdup_defaults(s)) {
                snprintf(errstr, errstr_size, "out of memory");
                free(dircopy);
                settings_free(s);
                return NULL;
        }
        set_defaults(s);
        config_t cfg;
        config_init(&cfg);
        /* @include paths are relative to the main file's directory.
         * libconfig 1.5 joins this directory with every include path,
         * absolute ones too, so includes must be written relative. */
        const char *dir = dirname(dircopy);
        config_set_include_dir(&cfg, dir);
        int rc = -1;
        if (!config_read_file(&cfg, path)) {
                const char *f = config_error_file(&cfg);
                char inc[512];
                int line = config_error_line(&cfg);
                snprintf(
                    errstr, errstr_size, "%s:%d: %s%s", f ? f : path, line,
                    config_error_text(&cfg),
                    include_named(f ? f : path, line, dir, inc, sizeof(inc)));
        } else {
                rc = load_root(s, &cfg, allow_missing_secrets, errstr,
                               errstr_size);
        }
        config_destroy(&cfg);
        free(dircopy);
        if (rc != 0) {
                settings_free(s);
                return NULL;
        }
        return s;
}

void settings_free(struct settings *s)
{
        if (!s)
                return;
        props_clear(&s->kafka);
        props_clear(&s->kafka_from_env);
        props_clear(&s->consumer);
        props_clear(&s->producer);
        free(s->path);
        free(s->group_id);
        free(s->static_membership_env);
        free(s->topic_requests);
        free(s->topic_outcomes);
        free(s->topic_dead_letter);
        free(s->ce_source);
        free(s->metrics_bind);
        provider_registry_free(s->providers);
        free(s);
}
