/* outcome — outcome events, their headers and the dead-letter envelope
 * (DESIGN §4). */
#include "outcome.h"

#include "clock.h"
#include "log.h"
#include "text.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An error text quotes curl or a provider's response; it is cut so one
 * verbose vendor cannot make outcome events arbitrarily large. */
#define OUTCOME_ERROR_MAX 1024

static const char outcome_ellipsis[] = "\xe2\x80\xa6"; /* U+2026 */

const char *outcome_status_name(enum outcome_status s)
{
        switch (s) {
        case OUTCOME_DELETED:
                return "deleted";
        case OUTCOME_ALREADY_ABSENT:
                return "already_absent";
        case OUTCOME_FAILED:
                return "failed";
        case OUTCOME_DISCOVERED:
                return "discovered";
        case OUTCOME_REJECTED:
                return "rejected";
        case OUTCOME_NSTATUS:
                break;
        }
        return "unknown";
}

static const char *or_empty(const char *s)
{
        return s ? s : "";
}

static int key_digest(const char *const parts[], size_t nparts,
                      unsigned char md[EVP_MAX_MD_SIZE], unsigned int *mdlen)
{
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -1;
        int ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        for (size_t i = 0; ok && i < nparts; i++) {
                /* The NUL separator keeps ("ab","c") and ("a","bc") apart;
                 * the fields themselves cannot contain NUL. */
                if (i > 0)
                        ok = EVP_DigestUpdate(ctx, "", 1);
                ok = ok && EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
        }
        ok = ok && EVP_DigestFinal_ex(ctx, md, mdlen);
        EVP_MD_CTX_free(ctx);
        return ok ? 0 : -1;
}

static void to_hex(const unsigned char *md, unsigned int n, char *out)
{
        static const char hex[] = "0123456789abcdef";
        for (unsigned int i = 0; i < n; i++) {
                out[2 * i] = hex[md[i] >> 4];
                out[2 * i + 1] = hex[md[i] & 15];
        }
        out[2 * n] = '\0';
}

/* The event's whole body is what tells it from another event of the same
 * call: status, attempts, error, times (a re-execution finishes at another
 * instant) and whatever fields later versions add, with no list here to
 * keep in step. Only a re-send of the same bytes repeats the id. */
void outcome_event_id(const char *key, const char *body,
                      char out[OUTCOME_KEY_LEN + 1])
{
        const char *const parts[] = {or_empty(key), or_empty(body)};
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        out[0] = '\0';
        if (key_digest(parts, 2, md, &mdlen) == 0 &&
            mdlen * 2 == OUTCOME_KEY_LEN)
                to_hex(md, mdlen, out);
}

void outcome_key(const char *request_id, const char *provider,
                 const char *account, const char *action, const char *resource,
                 char out[OUTCOME_KEY_LEN + 1])
{
        static const char hex[] = "0123456789abcdef";
        const char *const parts[] = {or_empty(request_id), or_empty(provider),
                                     or_empty(account), or_empty(action),
                                     or_empty(resource)};
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;

        /* An empty key (only on allocation failure) is refused by the JSON
         * builders below, so no event goes out under a wrong key. */
        out[0] = '\0';
        if (key_digest(parts, 5, md, &mdlen) != 0 ||
            mdlen * 2 != OUTCOME_KEY_LEN)
                return;
        for (unsigned int i = 0; i < mdlen; i++) {
                out[2 * i] = hex[md[i] >> 4];
                out[2 * i + 1] = hex[md[i] & 0x0f];
        }
        out[OUTCOME_KEY_LEN] = '\0';
}

/* The error text as it may go into an event: registered secrets masked (a
 * provider may echo the credential back in an error body), cut at a
 * character boundary, and stray bytes replaced so it is valid UTF-8 for
 * JSON. Masking looks at twice the kept length so a secret straddling the
 * cut (any up to OUTCOME_ERROR_MAX bytes long) is masked, not halved. */
static json_t *error_string(const char *error)
{
        char buf[2 * OUTCOME_ERROR_MAX + 1];
        size_t n = strnlen(error, sizeof(buf) - 1);

        memcpy(buf, error, n);
        buf[n] = '\0';
        log_redact(buf);
        int cut = n > OUTCOME_ERROR_MAX;
        if (cut)
                n = text_utf8_cut(buf, n, OUTCOME_ERROR_MAX);
        text_fix_utf8(buf, n);
        buf[n] = '\0';
        if (cut)
                memcpy(buf + n, outcome_ellipsis, sizeof(outcome_ellipsis));
        return json_string(buf);
}

static json_t *time_string(int64_t wall_ms)
{
        char ts[32];
        clock_format_rfc3339(wall_ms, ts);
        return json_string(ts);
}

static int set(json_t *obj, const char *key, json_t *value)
{
        /* json_object_set_new() releases value and fails on NULL, so an
         * allocation failure anywhere surfaces as one nonzero result. */
        return json_object_set_new(obj, key, value) != 0;
}

/* Serialises obj (consumed) or returns NULL if any field failed. */
static char *finish(json_t *obj, int failed)
{
        char *text = NULL;
        if (!failed)
                text = json_dumps(obj, JSON_COMPACT);
        json_decref(obj);
        return text;
}

const char *outcome_verify_name(enum outcome_verify v)
{
        static const char *const names[OUTCOME_NVERIFY] = {
            [OUTCOME_VERIFY_NONE] = "none",
            [OUTCOME_VERIFY_ABSENT] = "absent",
            [OUTCOME_VERIFY_PRESENT] = "present",
            [OUTCOME_VERIFY_UNVERIFIED] = "unverified",
            [OUTCOME_VERIFY_NOT_SUPPORTED] = "not_supported",
        };
        return (unsigned)v < OUTCOME_NVERIFY ? names[v] : "none";
}

/* null when the deletion failed: there was nothing to read back. */
static json_t *verification_object(const struct outcome_verification *v)
{
        if (v->status == OUTCOME_VERIFY_NONE)
                return json_null();
        json_t *obj = json_object();
        if (!obj)
                return NULL;
        int bad =
            set(obj, "status", json_string(outcome_verify_name(v->status)));
        bad |= set(obj, "http_status",
                   v->http_status > 0 ? json_integer(v->http_status)
                                      : json_null());
        bad |= set(obj, "attempts", json_integer(v->attempts));
        bad |=
            set(obj, "checked_at",
                v->attempts > 0 ? time_string(v->checked_at_ms) : json_null());
        if (bad) {
                json_decref(obj);
                return NULL;
        }
        return obj;
}

char *outcome_call_json(const struct outcome_call *c,
                        char key_out[OUTCOME_KEY_LEN + 1])
{
        outcome_key(c->request_id, c->provider, c->account, c->action,
                    c->resource, key_out);
        if (key_out[0] == '\0')
                return NULL;
        json_t *obj = json_object();
        if (!obj)
                return NULL;

        int bad = set(obj, "idempotency_key", json_string(key_out));
        bad |= set(obj, "request_id", json_string(or_empty(c->request_id)));
        bad |= set(obj, "provider", json_string(or_empty(c->provider)));
        bad |= set(obj, "account", json_string(or_empty(c->account)));
        bad |= set(obj, "action", json_string(or_empty(c->action)));
        bad |= set(obj, "resource", json_string(or_empty(c->resource)));
        bad |= set(obj, "status", json_string(outcome_status_name(c->status)));
        bad |= set(obj, "retryable", json_boolean(c->retryable));
        bad |= set(obj, "http_status",
                   c->http_status > 0 ? json_integer(c->http_status)
                                      : json_null());
        bad |= set(obj, "attempts", json_integer(c->attempts));
        bad |=
            set(obj, "error", c->error ? error_string(c->error) : json_null());
        bad |= set(obj, "started_at", time_string(c->started_at_ms));
        bad |= set(obj, "finished_at", time_string(c->finished_at_ms));
        bad |=
            set(obj, "scope", json_string(c->agent_scope ? "agent" : "user"));
        bad |= set(obj, "verification", verification_object(&c->verification));
        if (c->status == OUTCOME_DISCOVERED)
                bad |= set(obj, "items", json_integer(c->items));
        return finish(obj, bad);
}

const char *outcome_overall(const struct outcome_summary *s)
{
        size_t ok =
            s->counts[OUTCOME_DELETED] + s->counts[OUTCOME_ALREADY_ABSENT];
        size_t failed = s->counts[OUTCOME_FAILED];

        if (s->counts[OUTCOME_REJECTED] > 0 || s->error_code)
                return "rejected";
        if (failed == 0)
                return "completed";
        if (ok == 0)
                return "failed";
        return "partially_failed";
}

int outcome_fully_verified(const struct outcome_summary *s)
{
        const size_t *v = s->verify_counts;
        return strcmp(outcome_overall(s), "completed") == 0 &&
               v[OUTCOME_VERIFY_ABSENT] > 0 &&
               v[OUTCOME_VERIFY_PRESENT] + v[OUTCOME_VERIFY_UNVERIFIED] +
                       v[OUTCOME_VERIFY_NOT_SUPPORTED] ==
                   0;
}

static json_t *verification_counts(const struct outcome_summary *s)
{
        const size_t *v = s->verify_counts;
        return json_pack("{sI sI sI}", "verified",
                         (json_int_t)v[OUTCOME_VERIFY_ABSENT], "unverified",
                         (json_int_t)(v[OUTCOME_VERIFY_UNVERIFIED] +
                                      v[OUTCOME_VERIFY_PRESENT]),
                         "not_supported",
                         (json_int_t)v[OUTCOME_VERIFY_NOT_SUPPORTED]);
}

static json_t *counts_object(const struct outcome_summary *s)
{
        json_t *obj = json_object();
        if (!obj)
                return NULL;
        int bad = 0;
        for (int i = 0; i <= OUTCOME_REJECTED; i++)
                bad |= set(obj, outcome_status_name((enum outcome_status)i),
                           json_integer((json_int_t)s->counts[i]));
        if (bad) {
                json_decref(obj);
                return NULL;
        }
        return obj;
}

char *outcome_summary_json(const struct outcome_summary *s,
                           char key_out[OUTCOME_KEY_LEN + 1])
{
        outcome_key(s->request_id, "", "", "summary", "", key_out);
        if (key_out[0] == '\0')
                return NULL;
        json_t *obj = json_object();
        if (!obj)
                return NULL;

        const char *overall = outcome_overall(s);
        int rejected = strcmp(overall, "rejected") == 0;
        size_t calls = 0;
        for (int i = 0; i < OUTCOME_NSTATUS; i++)
                calls += s->counts[i];

        int bad = set(obj, "idempotency_key", json_string(key_out));
        bad |= set(obj, "request_id", json_string(or_empty(s->request_id)));
        bad |= set(obj, "status", json_string(overall));
        bad |= set(obj, "counts", counts_object(s));
        bad |= set(obj, "calls", json_integer((json_int_t)calls));
        bad |= set(obj, "error",
                   rejected && s->error ? error_string(s->error) : json_null());
        bad |= set(obj, "error_code",
                   rejected && s->error_code ? json_string(s->error_code)
                                             : json_null());
        bad |= set(obj, "finished_at", time_string(s->finished_at_ms));
        bad |= set(obj, "verification", verification_counts(s));
        bad |=
            set(obj, "fully_verified", json_boolean(outcome_fully_verified(s)));
        bad |= set(obj, "discovered",
                   json_integer((json_int_t)s->counts[OUTCOME_DISCOVERED]));
        return finish(obj, bad);
}

/* ---- headers ---- */

/* rd_kafka_header_add() fails only on a read-only list, never on ours. */
static void add_header(rd_kafka_headers_t *h, const char *name,
                       const char *value)
{
        rd_kafka_header_add(h, name, -1, value, -1);
}

rd_kafka_headers_t *outcome_ce_headers(const struct outcome_ce *ce)
{
        char ts[32];
        char id[OUTCOME_KEY_LEN + 1];
        clock_format_rfc3339(ce->time_ms, ts);
        outcome_event_id(ce->id, ce->body, id);
        rd_kafka_headers_t *h = id[0] ? rd_kafka_headers_new(10) : NULL;
        if (!h)
                return NULL;
        add_header(h, "ce_specversion", "1.0");
        add_header(h, "ce_id", id);
        add_header(h, "ce_source", or_empty(ce->source));
        add_header(h, OUTCOME_H_CE_TYPE, ce->type);
        add_header(h, "ce_time", ts);
        add_header(h, "ce_subject", or_empty(ce->subject));
        add_header(h, "content-type", "application/json");
        add_header(h, "idempotency-key", ce->id);
        if (ce->traceparent)
                add_header(h, "traceparent", ce->traceparent);
        return h;
}

static char *failed_calls_json(const struct outcome_dead_letter *d)
{
        json_t *arr = json_array();
        int bad = !arr;
        for (size_t i = 0; !bad && i < d->nfailed; i++) {
                const struct outcome_failed_call *c = &d->failed[i];
                bad = json_array_append_new(
                    arr, json_pack("{s:s, s:s, s:s, s:s, s:o}", "provider",
                                   or_empty(c->provider), "account",
                                   or_empty(c->account), "action",
                                   or_empty(c->action), "resource",
                                   or_empty(c->resource), "error",
                                   error_string(or_empty(c->error))));
        }
        char *text = bad ? NULL : json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        return text;
}

static void add_source(rd_kafka_headers_t *h,
                       const struct outcome_dead_letter *d)
{
        char num[32];
        add_header(h, OUTCOME_H_SOURCE_TOPIC, or_empty(d->source_topic));
        snprintf(num, sizeof(num), "%d", (int)d->source_partition);
        add_header(h, OUTCOME_H_SOURCE_PARTITION, num);
        snprintf(num, sizeof(num), "%lld", (long long)d->source_offset);
        add_header(h, OUTCOME_H_SOURCE_OFFSET, num);
        if (d->request_id)
                add_header(h, OUTCOME_H_REQUEST_ID, d->request_id);
}

rd_kafka_headers_t *
outcome_dead_letter_headers(const struct outcome_dead_letter *d,
                            const rd_kafka_headers_t *original)
{
        rd_kafka_headers_t *h = original ? rd_kafka_headers_copy(original)
                                         : rd_kafka_headers_new(8);
        if (!h)
                return NULL;
        add_header(h, OUTCOME_H_ERROR_CODE, d->code);
        add_header(h, OUTCOME_H_ERROR_REASON, or_empty(d->reason));
        add_source(h, d);
        if (d->total_failed > 0) {
                char *fc = failed_calls_json(d);
                char num[32];
                if (!fc) {
                        rd_kafka_headers_destroy(h);
                        return NULL;
                }
                add_header(h, OUTCOME_H_FAILED_CALLS, fc);
                free(fc);
                snprintf(num, sizeof(num), "%zu", d->total_failed);
                add_header(h, OUTCOME_H_FAILED_CALLS_N, num);
        }
        return h;
}

static json_t *sha256_string(const void *p, size_t n)
{
        static const char hex[] = "0123456789abcdef";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        char out[2 * EVP_MAX_MD_SIZE + 1];
        if (!EVP_Digest(p ? p : "", n, md, &mdlen, EVP_sha256(), NULL))
                return NULL;
        for (unsigned int i = 0; i < mdlen; i++) {
                out[2 * i] = hex[md[i] >> 4];
                out[2 * i + 1] = hex[md[i] & 0x0f];
        }
        out[2 * mdlen] = '\0';
        return json_string(out);
}

static char *stub_json(const struct outcome_dead_letter *d,
                       const void *original, size_t original_len)
{
        json_t *obj = json_object();
        if (!obj)
                return NULL;
        int bad =
            set(obj, "error_code", json_string(OUTCOME_CODE_TOO_LARGE_FOR_DLQ));
        bad |= set(obj, "original_error_code", json_string(d->code));
        bad |= set(obj, "reason", error_string(or_empty(d->reason)));
        bad |= set(obj, "request_id",
                   d->request_id ? json_string(d->request_id) : json_null());
        bad |= set(obj, "source_topic", json_string(or_empty(d->source_topic)));
        bad |= set(obj, "source_partition", json_integer(d->source_partition));
        bad |= set(obj, "source_offset", json_integer(d->source_offset));
        bad |= set(obj, "size", json_integer((json_int_t)original_len));
        bad |= set(obj, "sha256", sha256_string(original, original_len));
        bad |= set(obj, "failed_calls_total",
                   json_integer((json_int_t)d->total_failed));
        return finish(obj, bad);
}

char *outcome_dead_letter_stub(const struct outcome_dead_letter *d,
                               const void *original, size_t original_len,
                               size_t *len_out,
                               rd_kafka_headers_t **headers_out)
{
        char *body = stub_json(d, original, original_len);
        rd_kafka_headers_t *h = body ? rd_kafka_headers_new(8) : NULL;
        if (!h) {
                free(body);
                return NULL;
        }
        add_header(h, OUTCOME_H_ERROR_CODE, OUTCOME_CODE_TOO_LARGE_FOR_DLQ);
        add_header(h, OUTCOME_H_ORIGINAL_CODE, d->code);
        add_header(h, OUTCOME_H_ERROR_REASON,
                   "the dead-letter copy was refused by Kafka; the original "
                   "is at the source offset");
        add_source(h, d);
        add_header(h, "content-type", "application/json");
        *len_out = strlen(body);
        *headers_out = h;
        return body;
}
