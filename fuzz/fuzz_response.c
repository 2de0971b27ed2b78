/* libFuzzer harness for what vendors send back and what the worker writes
 * about it: response bodies through provider_classify() for every action
 * of the shipped config/providers.conf, Retry-After values through
 * retry_after_ms(), and hostile text through the log encoder (log_emit()).
 *
 * The first input byte picks the target, the rest is its input:
 *   classify  byte 1: action, bytes 2-3: HTTP status, rest: the body
 *             (NUL-terminated as src/http.c hands it over);
 *   retry     bytes 1-8: the wall clock, rest: the header value;
 *   log       fields split at NUL bytes: msg, request_id, provider.
 * Checks: a verdict is one of the four kinds, success carries no error,
 * the error is printable ASCII within its buffer, classifying is
 * deterministic and a NULL body equals an empty one; a Retry-After wait is
 * -1 or 0..1 h, delta-seconds exact; every log line is one valid JSON
 * object with its fields, and no registered secret appears in it. */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "log.h"
#include "provider.h"
#include "request.h"
#include "retry.h"
#include "settings.h"

#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ACTIONS      64
#define RETRY_AFTER_MAX  3600000 /* retry.h: waits capped at 1 hour */
#define MAX_RETRY_DIGITS 9       /* exact below the cap, no overflow */

/* One account per provider, each with a target that fires every action
 * the provider has: the actions are learnt by planning these, so a new
 * action in providers.conf is fuzzed without touching this file. */
static const char *const accounts[][3] = {
    {"vectara", "secrets = { api_key = \"FUZZ_RESP_KEY\"; };",
     "\"agent_id\":\"agt_p\",\"session_ids\":[\"ase_p\"]"},
    {"convai", "secrets = { api_key = \"FUZZ_RESP_KEY\"; };",
     "\"character_id\":\"p\",\"session_ids\":[\"p\"]"},
    {"algolia",
     "vars = { application_id = \"FUZZAPP\"; }; allow_agent_wide = true; "
     "secrets = { api_key = \"FUZZ_RESP_KEY\"; };",
     "\"scope\":\"agent\",\"agent_id\":\"p\",\"user_token\":\"p\","
     "\"conversations\":{"
     "\"start_date\":\"2026-01-01\",\"end_date\":\"2026-11-01\"}"},
    {"avaamo",
     "allow_agent_wide = true; "
     "secrets = { access_token = \"FUZZ_RESP_KEY\"; };",
     "\"scope\":\"agent\",\"agent_id\":1,\"data_types\":[\"storage\"]"},
};
#define NACCOUNTS (sizeof(accounts) / sizeof(accounts[0]))

/* Registered with log_add_secret(). The second starts with a letter that
 * is also a JSON escape ("\n"), the case a redaction of the encoded line
 * can get wrong. */
static const char *const log_secrets[] = {"fzsecretLOGkey42", "nfzSECRET9x",
                                          "u00fzsecret7"};
#define NLOGSECRETS (sizeof(log_secrets) / sizeof(log_secrets[0]))

static struct settings *settings;
static const struct provider_action *actions[MAX_ACTIONS];
static size_t nactions;

/* ---- start-up ---------------------------------------------------------- */

static void load_settings(void)
{
        char text[2048];
        size_t n = 0;
        for (size_t i = 0; i < NACCOUNTS; i++) {
                n += (size_t)snprintf(
                    text + n, sizeof(text) - n,
                    "  { provider = \"%s\"; name = \"default\"; %s }%s\n",
                    accounts[i][0], accounts[i][1],
                    i + 1 < NACCOUNTS ? "," : "");
                if (n >= sizeof(text))
                        fuzz_die("accounts do not fit");
        }
        setenv("FUZZ_RESP_KEY", "fzsecret-response-key-Q4", 1);
        settings = fuzz_load_settings(text);
}

static void add_action(const struct provider_action *a)
{
        for (size_t i = 0; i < nactions; i++)
                if (actions[i] == a)
                        return;
        if (nactions == MAX_ACTIONS)
                fuzz_die("more than %d actions", MAX_ACTIONS);
        actions[nactions++] = a;
}

static void learn_actions(const char *provider, const char *fields)
{
        char json[1024], err[512];
        enum request_error rc;
        struct provider_plan plan;

        snprintf(json, sizeof(json),
                 "{\"version\":1,\"request_id\":\"probe\",\"targets\":[{"
                 "\"provider\":\"%s\",%s}]}",
                 provider, fields);
        struct request *req = request_parse(json, strlen(json), NULL, &rc, NULL,
                                            err, sizeof(err));
        if (!req)
                fuzz_die("probe request does not parse: %s", err);
        rc =
            provider_plan(settings->providers, req, 0, &plan, err, sizeof(err));
        if (rc != REQUEST_OK)
                fuzz_die(
                    "probe does not plan (update fuzz/fuzz_response.c along "
                    "with config/providers.conf): %s: %s",
                    provider, err);
        /* Actions belong to the registry: they outlive the plan. */
        for (size_t i = 0; i < plan.ncalls; i++)
                add_action(plan.calls[i].action);
        provider_plan_clear(&plan);
        request_free(req);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        load_settings();
        for (size_t i = 0; i < NACCOUNTS; i++)
                learn_actions(accounts[i][0], accounts[i][2]);
        fprintf(stderr, "fuzz_response: %zu actions to classify for\n",
                nactions);
        log_set_level(LOG_DEBUG);
        for (size_t i = 0; i < NLOGSECRETS; i++)
                log_add_secret(log_secrets[i]);
        return 0;
}

/* ---- classify ---------------------------------------------------------- */

static void check_verdict(const struct provider_verdict *v)
{
        const char *end = memchr(v->error, '\0', sizeof(v->error));

        CHECK(v->kind == PROVIDER_DELETED ||
              v->kind == PROVIDER_ALREADY_ABSENT ||
              v->kind == PROVIDER_FAILED || v->kind == PROVIDER_RETRY);
        CHECK(v->retryable == 0 || v->retryable == 1);
        CHECK(v->kind == PROVIDER_FAILED || v->retryable == 0);
        CHECK(end != NULL);
        if (v->kind == PROVIDER_DELETED || v->kind == PROVIDER_ALREADY_ABSENT)
                CHECK(v->error[0] == '\0');
        else
                CHECK(strncmp(v->error, "HTTP ", 5) == 0);
        /* It goes into outcomes, headers and logs as it is. */
        for (const char *p = v->error; p < end; p++)
                CHECK(*p >= 0x20 && *p < 0x7f);
}

static void fuzz_classify(const uint8_t *data, size_t size)
{
        struct provider_verdict v1, v2;
        const struct provider_action *a;
        long status;
        char *body;

        if (size < 3)
                return;
        a = actions[data[0] % nactions];
        /* Mostly 0..599, now and then anything up to 65535. */
        status = data[1] | data[2] << 8;
        if (status < 0xF000)
                status %= 600;
        data += 3;
        size -= 3;
        body = malloc(size + 1);
        if (!body)
                return;
        memcpy(body, data, size);
        body[size] = '\0';
        provider_classify(a, status, body, size, &v1);
        check_verdict(&v1);
        provider_classify(a, status, body, size, &v2);
        CHECK(memcmp(&v1, &v2, sizeof(v1)) == 0);
        if (size == 0) {
                provider_classify(a, status, NULL, 0, &v2);
                CHECK(memcmp(&v1, &v2, sizeof(v1)) == 0);
        }
        free(body);
}

/* ---- Retry-After ------------------------------------------------------- */

/* OWS is space and tab (RFC 7230). */
static int all_digits_in_ows(const char *s, long long *value)
{
        size_t n = 0;

        while (*s == ' ' || *s == '\t')
                s++;
        *value = 0;
        for (; *s >= '0' && *s <= '9'; s++, n++)
                if (n < MAX_RETRY_DIGITS)
                        *value = *value * 10 + (*s - '0');
        while (*s == ' ' || *s == '\t')
                s++;
        return n > 0 && n <= MAX_RETRY_DIGITS && *s == '\0';
}

static void fuzz_retry_after(const uint8_t *data, size_t size)
{
        int64_t now = 0, w1, w2;
        long long secs;
        char *value;

        if (size < 8)
                return;
        memcpy(&now, data, sizeof(now));
        value = malloc(size - 8 + 1);
        if (!value)
                return;
        memcpy(value, data + 8, size - 8);
        value[size - 8] = '\0';
        w1 = retry_after_ms(value, now);
        w2 = retry_after_ms(value, now);
        CHECK(w1 == w2);
        CHECK(w1 == -1 || (w1 >= 0 && w1 <= RETRY_AFTER_MAX));
        if (all_digits_in_ows(value, &secs)) {
                long long want = secs * 1000;
                CHECK(w1 == (want < RETRY_AFTER_MAX ? want : RETRY_AFTER_MAX));
        }
        free(value);
}

/* ---- log encoder ------------------------------------------------------- */

static int contains(const char *hay, size_t n, const char *needle)
{
        size_t k = strlen(needle);

        for (size_t i = 0; k <= n && i <= n - k; i++)
                if (memcmp(hay + i, needle, k) == 0)
                        return 1;
        return 0;
}

static void check_line(const char *line, size_t len, const char *const *fields)
{
        static const char *const keys[] = {"msg", "request_id", "provider"};
        json_error_t jerr;
        json_t *doc = json_loadb(line, len, 0, &jerr);

        if (!doc)
                fprintf(stderr, "log line is not JSON (%s): %.*s\n", jerr.text,
                        (int)len, line);
        CHECK(doc != NULL);
        CHECK(json_is_object(doc));
        CHECK(json_is_string(json_object_get(doc, "ts")));
        CHECK(json_is_string(json_object_get(doc, "level")));
        for (size_t i = 0; i < 3; i++) {
                json_t *v = json_object_get(doc, keys[i]);
                CHECK(fields[i] ? json_is_string(v) : v == NULL);
        }
        json_decref(doc);
        for (size_t i = 0; i < NLOGSECRETS; i++)
                CHECK(!contains(line, len, log_secrets[i]));
}

static void fuzz_log(const uint8_t *data, size_t size)
{
        char *copy = malloc(size + 1);
        const char *fields[3] = {NULL, NULL, NULL};
        char *out = NULL, *p;
        size_t out_len = 0, nf = 0;
        FILE *fp;

        if (!copy)
                return;
        memcpy(copy, data, size);
        copy[size] = '\0';
        /* msg, then request_id and provider if the input has them. */
        for (p = copy; nf < 3 && p <= copy + size; p += strlen(p) + 1)
                fields[nf++] = p;
        fp = open_memstream(&out, &out_len);
        if (!fp) {
                free(copy);
                return;
        }
        log_set_output(fp);
        log_emit(LOG_WARN, fields[1], fields[2], "%s", fields[0]);
        log_set_output(NULL);
        fclose(fp);
        /* Exactly one line; an empty output means the encoder gave up,
         * which it may do only when out of memory. */
        CHECK(out_len > 0 && out[out_len - 1] == '\n');
        CHECK(memchr(out, '\n', out_len - 1) == NULL);
        check_line(out, out_len - 1, fields);
        free(out);
        free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        switch (data[0] % 3) {
        case 0:
                fuzz_classify(data + 1, size - 1);
                break;
        case 1:
                fuzz_retry_after(data + 1, size - 1);
                break;
        default:
                fuzz_log(data + 1, size - 1);
                break;
        }
        return 0;
}
