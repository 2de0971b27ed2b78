/* settings — what check-config shows: secrets masked, as text or JSON. */
#include "settings.h"

#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "provider.h"

#define MASK "****"

static int has_prefix(const char *name, size_t n, const char *prefix)
{
        size_t p = strlen(prefix);
        return n >= p && memcmp(name, prefix, p) == 0;
}

static int contains(const char *name, size_t n, const char *word)
{
        size_t w = strlen(word);
        for (size_t i = 0; i + w <= n; i++) {
                if (memcmp(name + i, word, w) == 0)
                        return 1;
        }
        return 0;
}

static int from_env(const struct settings *s, const char *name, size_t n)
{
        for (size_t i = 0; i < s->kafka_from_env.n; i++) {
                const char *kv = s->kafka_from_env.items[i];
                if (strncmp(kv, name, n) == 0 && kv[n] == '=')
                        return 1;
        }
        return 0;
}

int settings_prop_is_secret(const struct settings *s, const char *name,
                            size_t n)
{
        /* Any name the operator chose to keep out of the file is secret;
         * the rest are librdkafka's credential properties (ssl.key.pem,
         * ssl.key.password, ssl.keystore.password, sasl.password,
         * sasl.oauthbearer.client.secret, sasl.oauthbearer.config, ...). */
        return from_env(s, name, n) || contains(name, n, "password") ||
               contains(name, n, "secret") ||
               has_prefix(name, n, "sasl.oauthbearer.") ||
               (n == 11 && memcmp(name, "ssl.key.pem", 11) == 0) ||
               (n >= 3 && memcmp(name + n - 3, "key", 3) == 0);
}

/* Sets key to a new value; a NULL value (out of memory) fails the whole. */
static int put(json_t *obj, const char *key, json_t *v)
{
        return v ? json_object_set_new(obj, key, v) : -1;
}

static json_t *string_or_null(const char *v)
{
        return v ? json_string(v) : json_null();
}

/* "name=value" items as an object; later items win, as in librdkafka. */
static json_t *props_json(const struct settings *s,
                          const struct settings_props *p)
{
        json_t *obj = json_object();
        for (size_t i = 0; obj && i < p->n; i++) {
                const char *kv = p->items[i];
                const char *eq = strchr(kv, '=');
                size_t n = (size_t)(eq - kv);
                json_t *v = json_string(
                    settings_prop_is_secret(s, kv, n) ? MASK : eq + 1);
                if (!v || json_object_setn_new(obj, kv, n, v) != 0) {
                        json_decref(obj);
                        return NULL;
                }
        }
        return obj;
}

/* The environment variable named for each property: names, not values. */
static json_t *env_props_json(const struct settings *s)
{
        json_t *obj = json_object();
        for (size_t i = 0; obj && i < s->kafka_from_env.n; i++) {
                const char *kv = s->kafka_from_env.items[i];
                const char *eq = strchr(kv, '=');
                if (json_object_setn_new(obj, kv, (size_t)(eq - kv),
                                         json_string(eq + 1)) != 0) {
                        json_decref(obj);
                        return NULL;
                }
        }
        return obj;
}

static json_t *kafka_json(const struct settings *s)
{
        json_t *k = json_object();
        if (!k || put(k, "group_id", json_string(s->group_id)) ||
            put(k, "static_membership_env",
                string_or_null(s->static_membership_env)) ||
            put(k, "properties", props_json(s, &s->kafka)) ||
            put(k, "properties_from_env", env_props_json(s)) ||
            put(k, "consumer", props_json(s, &s->consumer)) ||
            put(k, "producer", props_json(s, &s->producer))) {
                json_decref(k);
                return NULL;
        }
        return k;
}

static json_t *topics_json(const struct settings *s)
{
        return json_pack("{s:s, s:s, s:s}", "requests", s->topic_requests,
                         "outcomes", s->topic_outcomes, "dead_letter",
                         s->topic_dead_letter);
}

static json_t *worker_json(const struct settings *s)
{
        json_t *w = json_pack(
            "{s:i, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, "
            "s:s}",
            "threads", (int)s->threads, "threads_auto", s->threads_auto,
            "max_requests_in_flight", (json_int_t)s->max_requests_in_flight,
            "max_calls_in_flight", (json_int_t)s->max_calls_in_flight,
            "max_calls_per_request", (json_int_t)s->max_calls_per_request,
            "max_calls_planned", (json_int_t)s->max_calls_planned,
            "max_message_bytes", (json_int_t)s->request_limits.max_bytes,
            "max_targets", (json_int_t)s->request_limits.max_targets,
            "drain_timeout_ms", (json_int_t)s->drain_timeout_ms,
            "rebalance_grace_ms", (json_int_t)s->rebalance_grace_ms,
            "commit_interval_ms", (json_int_t)s->commit_interval_ms,
            "deadline_days", s->deadline_days, "ce_source", s->ce_source);
        /* The memory caps, and what they add up to (docs/operations.md). */
        json_t *mem = json_pack(
            "{s:I, s:I, s:I, s:I, s:I}", "max_bytes_in_flight",
            (json_int_t)s->max_bytes_in_flight, "max_failed_calls_header",
            (json_int_t)s->max_failed_calls_header, "memory_limit_bytes",
            (json_int_t)s->memory_limit_bytes, "memory_needed_bytes",
            (json_int_t)settings_memory_needed(s), "producer_message_max_bytes",
            (json_int_t)settings_producer_message_bytes(s));
        if (!w || !mem || json_object_update(w, mem) != 0) {
                json_decref(w);
                w = NULL;
        }
        json_decref(mem);
        return w;
}

static json_t *limits_json(const struct provider_limits *l)
{
        return json_pack("{s:f, s:f, s:i, s:I, s:I, s:i, s:I, s:I, s:I}",
                         "rate_per_s", l->rate_per_s, "burst", l->burst,
                         "concurrency", l->concurrency, "timeout_ms",
                         (json_int_t)l->timeout_ms, "connect_timeout_ms",
                         (json_int_t)l->connect_timeout_ms, "max_attempts",
                         l->max_attempts, "budget_ms", (json_int_t)l->budget_ms,
                         "backoff_base_ms", (json_int_t)l->backoff_base_ms,
                         "backoff_max_ms", (json_int_t)l->backoff_max_ms);
}

static json_t *secrets_json(const struct provider_account *a)
{
        json_t *obj = json_object();
        const char *slot, *env;
        for (size_t i = 0;
             obj && (slot = provider_account_secret_slot(a, i, &env)); i++) {
                if (put(obj, slot, json_string(env)) != 0) {
                        json_decref(obj);
                        return NULL;
                }
        }
        return obj;
}

static json_t *oauth_json(const struct provider_account *a)
{
        const struct provider_oauth *oa = provider_account_oauth(a);
        if (!oa)
                return json_null();
        /* Where and how the token is fetched; never the credentials. */
        return json_pack("{s:s, s:s, s:o, s:o, s:s}", "token_url",
                         oa->token_url, "client_auth",
                         oa->basic_auth ? "basic" : "form", "scope",
                         string_or_null(oa->scope), "audience",
                         string_or_null(oa->audience), "header", oa->header);
}

static json_t *account_json(const struct provider_account *a)
{
        const struct provider_limits *l = provider_account_limits(a);
        json_t *o = json_object();
        if (!o ||
            put(o, "provider", json_string(provider_account_provider(a))) ||
            put(o, "name", json_string(provider_account_name(a))) ||
            put(o, "base_url", json_string(provider_account_base_url(a))) ||
            put(o, "auth", string_or_null(provider_account_auth(a))) ||
            put(o, "secret_env", secrets_json(a)) ||
            put(o, "oauth", oauth_json(a)) ||
            put(o, "allow_plain_http",
                json_boolean(provider_account_plain_http(a))) ||
            put(o, "tls_verify", json_boolean(l->tls_verify)) ||
            put(o, "ca_file", string_or_null(l->ca_file)) ||
            put(o, "limits", limits_json(l))) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *accounts_json(const struct provider_registry *reg)
{
        json_t *arr = json_array();
        size_t n = reg ? provider_account_count(reg) : 0;
        for (size_t i = 0; arr && i < n; i++) {
                json_t *a = account_json(provider_account_at(reg, i));
                if (!a || json_array_append_new(arr, a) != 0) {
                        json_decref(arr);
                        return NULL;
                }
        }
        return arr;
}

static const char *level_name(enum log_level l)
{
        static const char *const names[] = {"debug", "info", "warn", "error"};
        return (unsigned)l < sizeof(names) / sizeof(names[0]) ? names[l] : "?";
}

char *settings_to_json(const struct settings *s)
{
        json_t *root = json_object();
        if (!root || put(root, "config", json_string(s->path)) ||
            put(root, "topics", topics_json(s)) ||
            put(root, "kafka", kafka_json(s)) ||
            put(root, "worker", worker_json(s)) ||
            put(root, "metrics",
                json_pack("{s:o, s:i, s:I, s:I, s:I, s:I}", "bind",
                          string_or_null(s->metrics_bind), "port",
                          s->metrics_port, "connection_limit",
                          (json_int_t)s->metrics_limits.connections,
                          "per_ip_limit", (json_int_t)s->metrics_limits.per_ip,
                          "idle_timeout_ms",
                          (json_int_t)s->metrics_limits.idle_timeout_ms,
                          "request_deadline_ms",
                          (json_int_t)s->metrics_limits.deadline_ms)) ||
            put(root, "log",
                json_pack("{s:s}", "level", level_name(s->log_level))) ||
            put(root, "accounts", accounts_json(s->providers))) {
                json_decref(root);
                return NULL;
        }
        char *text = json_dumps(root, JSON_INDENT(2));
        json_decref(root);
        return text;
}
