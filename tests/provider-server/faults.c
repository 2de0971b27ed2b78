#include "faults.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define PROVIDER_ANY   (-2)
#define MAX_LATENCY_MS 3600000
#define MAX_PAD_BYTES  (1LL << 40)
#define MAX_ECHO_PAD   65536

struct fault_rule {
        long id;
        int provider;        /* enum provider or PROVIDER_ANY */
        long latency_ms;     /* -1: not set */
        unsigned int status; /* 0: not set */
        char *retry_after;
        char *body;
        long long pad_bytes; /* 0: none */
        double rate;
        long times; /* -1: unlimited */
        bool hang;
        bool reset;
        enum echo_mode echo;
        long echo_pad; /* -1: not set */
        long applied;
};

static struct {
        pthread_mutex_t mu;
        struct fault_rule *rules;
        size_t n;
        size_t cap;
        long next_id;
        unsigned long long rng;
        unsigned int base_latency_ms;
} fl = {.mu = PTHREAD_MUTEX_INITIALIZER, .next_id = 1};

void faults_init(unsigned long long seed, unsigned int base_latency_ms)
{
        /* A fixed default seed keeps "rate" runs reproducible. */
        fl.rng = seed != 0 ? seed : 0x9E3779B97F4A7C15ull;
        fl.base_latency_ms = base_latency_ms;
}

static void rule_free(struct fault_rule *r)
{
        free(r->retry_after);
        free(r->body);
}

void faults_free(void)
{
        for (size_t i = 0; i < fl.n; i++)
                rule_free(&fl.rules[i]);
        free(fl.rules);
        fl.rules = NULL;
        fl.n = fl.cap = 0;
}

/* xorshift64*: good enough for "apply to about 30% of requests". */
static double next_unit(void)
{
        fl.rng ^= fl.rng >> 12;
        fl.rng ^= fl.rng << 25;
        fl.rng ^= fl.rng >> 27;
        return (double)((fl.rng * 0x2545F4914F6CDD1Dull) >> 11) /
               (double)(1ull << 53);
}

static bool parse_provider(json_t *v, struct fault_rule *r)
{
        const char *name;

        if (v == NULL) {
                r->provider = PROVIDER_ANY;
                return true;
        }
        if (!json_is_string(v))
                return false;
        name = json_string_value(v);
        if (strcmp(name, "*") == 0) {
                r->provider = PROVIDER_ANY;
                return true;
        }
        r->provider = (int)provider_by_name(name);
        return r->provider != PROVIDER_NONE;
}

static bool parse_int(json_t *v, long min, long max, long *out)
{
        if (v == NULL)
                return true;
        if (!json_is_integer(v) || json_integer_value(v) < min ||
            json_integer_value(v) > max)
                return false;
        *out = (long)json_integer_value(v);
        return true;
}

static bool parse_string(json_t *v, char **out)
{
        if (v == NULL)
                return true;
        if (!json_is_string(v))
                return false;
        *out = xstrdup(json_string_value(v));
        return true;
}

static bool parse_bool(json_t *v, bool *out)
{
        if (v == NULL)
                return true;
        if (!json_is_boolean(v))
                return false;
        *out = json_is_true(v);
        return true;
}

static bool parse_pad(json_t *v, long long *out)
{
        if (v == NULL)
                return true;
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > MAX_PAD_BYTES)
                return false;
        *out = (long long)json_integer_value(v);
        return true;
}

static bool parse_rate(json_t *v, double *out)
{
        if (v == NULL)
                return true;
        if (!json_is_number(v) || json_number_value(v) < 0 ||
            json_number_value(v) > 1)
                return false;
        *out = json_number_value(v);
        return true;
}

/* Unknown keys are refused so that a typo ("latency") fails loudly
 * instead of silently injecting nothing. */
static const char *unknown_key(json_t *rule)
{
        static const char *const known[] = {
            "provider", "latency_ms", "status", "retry_after",
            "body",     "pad_bytes",  "rate",   "times",
            "hang",     "reset",      "echo",   "echo_pad",
        };
        const char *key;
        json_t *v;

        json_object_foreach(rule, key, v)
        {
                bool ok = false;

                for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
                        ok = ok || strcmp(key, known[i]) == 0;
                if (!ok)
                        return key;
        }
        return NULL;
}

static bool parse_echo(json_t *v, enum echo_mode *out)
{
        if (v == NULL)
                return true;
        return json_is_string(v) && echo_mode_parse(json_string_value(v), out);
}

static const char *parse_fields(json_t *j, struct fault_rule *r)
{
        long status = 0;

        if (!parse_provider(json_object_get(j, "provider"), r))
                return "provider must be vectara, convai, algolia, avaamo, "
                       "vectara-auth "
                       "or *";
        if (!parse_int(json_object_get(j, "latency_ms"), 0, MAX_LATENCY_MS,
                       &r->latency_ms))
                return "latency_ms must be an integer 0..3600000";
        if (!parse_int(json_object_get(j, "status"), 100, 599, &status))
                return "status must be an integer 100..599";
        r->status = (unsigned int)status;
        if (!parse_string(json_object_get(j, "retry_after"), &r->retry_after))
                return "retry_after must be a string";
        if (!parse_string(json_object_get(j, "body"), &r->body))
                return "body must be a string";
        if (!parse_pad(json_object_get(j, "pad_bytes"), &r->pad_bytes))
                return "pad_bytes must be an integer 1..2^40";
        if (!parse_rate(json_object_get(j, "rate"), &r->rate))
                return "rate must be a number 0..1";
        if (!parse_int(json_object_get(j, "times"), -1, 1000000000L,
                       &r->times) ||
            r->times == 0)
                return "times must be a positive integer or -1";
        if (!parse_bool(json_object_get(j, "hang"), &r->hang))
                return "hang must be a boolean";
        if (!parse_bool(json_object_get(j, "reset"), &r->reset))
                return "reset must be a boolean";
        if (!parse_echo(json_object_get(j, "echo"), &r->echo))
                return "echo must be raw, percent or base64";
        if (!parse_int(json_object_get(j, "echo_pad"), 0, MAX_ECHO_PAD,
                       &r->echo_pad))
                return "echo_pad must be an integer 0..65536";
        return NULL;
}

static const char *check_combination(const struct fault_rule *r)
{
        if (r->hang && r->reset)
                return "hang and reset exclude each other";
        if ((r->hang || r->reset) && r->status != 0)
                return "hang/reset send no status";
        if ((r->body != NULL || r->retry_after != NULL || r->pad_bytes) &&
            r->status == 0)
                return "body, pad_bytes and retry_after need a status";
        if (r->echo != ECHO_NONE && (r->status == 0 || r->body != NULL))
                return "echo needs a status and no body";
        if (r->echo_pad >= 0 && r->echo == ECHO_NONE)
                return "echo_pad needs echo";
        if (r->latency_ms < 0 && r->status == 0 && !r->hang && !r->reset)
                return "a rule needs latency_ms, status, hang or reset";
        return NULL;
}

static void append_rule(const struct fault_rule *r)
{
        if (fl.n == fl.cap) {
                fl.cap = fl.cap != 0 ? fl.cap * 2 : 8;
                fl.rules = xrealloc(fl.rules, fl.cap * sizeof(*fl.rules));
        }
        fl.rules[fl.n++] = *r;
}

long faults_add(json_t *rule, char *err, size_t err_len)
{
        struct fault_rule r = {
            .latency_ms = -1, .rate = 1.0, .times = -1, .echo_pad = -1};
        const char *problem = NULL;
        const char *bad_key;
        long id;

        if (!json_is_object(rule)) {
                snprintf(err, err_len, "a fault rule is a JSON object");
                return -1;
        }
        bad_key = unknown_key(rule);
        if (bad_key != NULL) {
                snprintf(err, err_len, "unknown key: %s", bad_key);
                return -1;
        }
        problem = parse_fields(rule, &r);
        if (problem == NULL)
                problem = check_combination(&r);
        if (problem != NULL) {
                snprintf(err, err_len, "%s", problem);
                rule_free(&r);
                return -1;
        }
        pthread_mutex_lock(&fl.mu);
        id = fl.next_id++;
        r.id = id;
        append_rule(&r);
        pthread_mutex_unlock(&fl.mu);
        return id;
}

void faults_clear(void)
{
        pthread_mutex_lock(&fl.mu);
        faults_free();
        pthread_mutex_unlock(&fl.mu);
}

static json_t *rule_json(const struct fault_rule *r)
{
        json_t *j = json_pack(
            "{s:I, s:s, s:f, s:I, s:I, s:b, s:b}", "id", (json_int_t)r->id,
            "provider",
            r->provider == PROVIDER_ANY
                ? "*"
                : provider_name((enum provider)r->provider),
            "rate", r->rate, "times_left", (json_int_t)r->times, "applied",
            (json_int_t)r->applied, "hang", r->hang, "reset", r->reset);

        if (r->latency_ms >= 0)
                json_object_set_new(j, "latency_ms",
                                    json_integer(r->latency_ms));
        if (r->status != 0)
                json_object_set_new(j, "status", json_integer(r->status));
        if (r->retry_after != NULL)
                json_object_set_new(j, "retry_after",
                                    json_string(r->retry_after));
        if (r->body != NULL)
                json_object_set_new(
                    j, "body", json_lossy_string(r->body, strlen(r->body)));
        if (r->pad_bytes)
                json_object_set_new(j, "pad_bytes", json_integer(r->pad_bytes));
        if (r->echo != ECHO_NONE)
                json_object_set_new(j, "echo",
                                    json_string(echo_mode_name(r->echo)));
        if (r->echo_pad >= 0)
                json_object_set_new(j, "echo_pad", json_integer(r->echo_pad));
        return j;
}

json_t *faults_list(void)
{
        json_t *rules = json_array();
        json_t *out;

        pthread_mutex_lock(&fl.mu);
        for (size_t i = 0; i < fl.n; i++)
                json_array_append_new(rules, rule_json(&fl.rules[i]));
        out = json_pack("{s:o, s:i}", "rules", rules, "base_latency_ms",
                        (int)fl.base_latency_ms);
        pthread_mutex_unlock(&fl.mu);
        return out;
}

static bool rule_fires(struct fault_rule *r, enum provider p)
{
        if (r->provider != PROVIDER_ANY && r->provider != (int)p)
                return false;
        if (r->times == 0)
                return false;
        /* A rule that loses its roll lets later rules have a go. */
        if (r->rate < 1.0 && next_unit() >= r->rate)
                return false;
        return true;
}

static void apply_rule(struct fault_rule *r, struct fault_outcome *out)
{
        if (r->times > 0)
                r->times--;
        r->applied++;
        if (r->latency_ms >= 0)
                out->latency_ms = (unsigned int)r->latency_ms;
        if (r->hang)
                out->action = FAULT_HANG;
        else if (r->reset)
                out->action = FAULT_RESET;
        else if (r->status != 0)
                out->action = FAULT_STATUS;
        out->status = r->status;
        out->retry_after = r->retry_after ? xstrdup(r->retry_after) : NULL;
        out->body = r->body ? xstrdup(r->body) : NULL;
        out->pad_bytes = (unsigned long long)r->pad_bytes;
        out->echo = r->echo;
        out->echo_pad = r->echo_pad > 0 ? (unsigned int)r->echo_pad : 0;
}

void faults_pick(enum provider p, struct fault_outcome *out)
{
        memset(out, 0, sizeof(*out));
        pthread_mutex_lock(&fl.mu);
        /* --latency-ms is the floor under every provider request; a rule
         * that sets its own latency_ms replaces it. */
        out->latency_ms = fl.base_latency_ms;
        for (size_t i = 0; i < fl.n; i++) {
                if (rule_fires(&fl.rules[i], p)) {
                        apply_rule(&fl.rules[i], out);
                        break;
                }
        }
        pthread_mutex_unlock(&fl.mu);
}

void fault_outcome_free(struct fault_outcome *out)
{
        free(out->retry_after);
        free(out->body);
        out->retry_after = NULL;
        out->body = NULL;
}

const char *fault_action_name(enum fault_action a)
{
        switch (a) {
        case FAULT_STATUS:
                return "status";
        case FAULT_HANG:
                return "hang";
        case FAULT_RESET:
                return "reset";
        case FAULT_NONE:
                break;
        }
        return NULL;
}
