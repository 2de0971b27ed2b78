/* oauth — the token cache state machine of one account (see oauth.h). */
#include "oauth.h"

#include "buf.h"
#include "log.h"
#include "text.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX     8192
#define MARGIN_MAX_MS 60000 /* a token is dropped this long before expiry */
#define ERROR_MAX     256

struct oauth {
        const struct provider_oauth *cfg;
        struct retry_policy policy;
        uint64_t rng;
        char *token;
        char *retired; /* the one before: answers to calls sent with it
                        * may still arrive, so it stays redacted */
        char *header_value;
        uint64_t gen;
        int64_t fetched_at; /* when the request for it started */
        int64_t refresh_at; /* from then a new one is fetched beside it */
        int64_t usable_until;
        int in_flight;
        int64_t started_at; /* of the fetch in flight */
        int attempts;       /* failed fetches in a row */
        int64_t first_failure;
        int64_t next_try;     /* no fetch before (backoff) */
        int64_t failed_until; /* calls fail fast until then */
        char error[ERROR_MAX];
};

struct oauth *oauth_new(const struct provider_oauth *cfg,
                        const struct retry_policy *policy, uint64_t seed)
{
        struct oauth *o = calloc(1, sizeof(*o));
        if (!o)
                return NULL;
        o->cfg = cfg;
        o->policy = *policy;
        o->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
        o->fetched_at = -1;
        return o;
}

static void drop_token(struct oauth *o)
{
        if (o->token) {
                log_forget_secret(o->retired);
                free(o->retired);
                o->retired = o->token;
        }
        free(o->header_value);
        o->token = NULL;
        o->header_value = NULL;
        o->fetched_at = -1;
}

void oauth_free(struct oauth *o)
{
        if (!o)
                return;
        drop_token(o);
        log_forget_secret(o->retired);
        free(o->retired);
        free(o);
}

static int token_valid(const struct oauth *o, int64_t now)
{
        return o->token && now < o->usable_until;
}

enum oauth_status oauth_status(const struct oauth *o, int64_t now,
                               int64_t *wake)
{
        *wake = INT64_MAX;
        if (token_valid(o, now)) {
                *wake = o->usable_until;
                return OAUTH_READY;
        }
        if (now < o->failed_until)
                return OAUTH_FAILED;
        if (!o->in_flight && now < o->next_try)
                *wake = o->next_try;
        return OAUTH_WAIT;
}

int oauth_fetch_due(const struct oauth *o, int64_t now)
{
        if (o->in_flight || now < o->failed_until || now < o->next_try)
                return 0;
        return !token_valid(o, now) || now >= o->refresh_at;
}

static char *escape(const char *s)
{
        char *e = curl_easy_escape(NULL, s ? s : "", 0);
        char *copy = e ? strdup(e) : NULL;
        curl_free(e);
        return copy;
}

static void add_field(struct buf *b, const char *name, const char *value)
{
        char *v = escape(value);
        buf_printf(b, "%s%s=%s", b->len ? "&" : "", name, v ? v : "");
        free(v);
}

/* RFC 6749 §2.3.1: id and secret form-encoded, then "id:secret" base64. */
static char *basic_credentials(const char *id, const char *secret)
{
        char *eid = escape(id), *esec = escape(secret);
        char *out = NULL;
        struct buf b;
        buf_init(&b, TOKEN_MAX);
        if (eid && esec)
                buf_printf(&b, "%s:%s", eid, esec);
        char *pair = buf_take(&b);
        if (pair) {
                size_t n = strlen(pair);
                out = malloc(6 + 4 * (n / 3 + 1) + 1);
                if (out) {
                        memcpy(out, "Basic ", 6);
                        EVP_EncodeBlock((unsigned char *)out + 6,
                                        (const unsigned char *)pair, (int)n);
                }
                OPENSSL_cleanse(pair, n);
        }
        free(pair);
        free(eid);
        free(esec);
        return out;
}

int oauth_request_build(const struct oauth *o, struct oauth_request *rq)
{
        const struct provider_oauth *c = o->cfg;
        struct buf b;
        memset(rq, 0, sizeof(*rq));
        buf_init(&b, TOKEN_MAX);
        add_field(&b, "grant_type", "client_credentials");
        if (c->basic_auth) {
                rq->authorization =
                    basic_credentials(c->client_id, c->client_secret);
                if (!rq->authorization) {
                        free(buf_take(&b));
                        return -1;
                }
        } else {
                add_field(&b, "client_id", c->client_id);
                add_field(&b, "client_secret", c->client_secret);
        }
        if (c->scope)
                add_field(&b, "scope", c->scope);
        if (c->audience)
                add_field(&b, "audience", c->audience);
        rq->body = buf_take(&b);
        if (!rq->body) {
                oauth_request_clear(rq);
                return -1;
        }
        return 0;
}

void oauth_request_clear(struct oauth_request *rq)
{
        if (rq->body)
                OPENSSL_cleanse(rq->body, strlen(rq->body));
        if (rq->authorization)
                OPENSSL_cleanse(rq->authorization, strlen(rq->authorization));
        free(rq->body);
        free(rq->authorization);
        rq->body = rq->authorization = NULL;
}

void oauth_fetch_started(struct oauth *o, int64_t now)
{
        o->in_flight = 1;
        o->started_at = now;
}

/* The token and its lifetime from a 200 answer; -1 if unusable. */
static int parse_token(const char *body, size_t len, char **token,
                       json_int_t *expires_in)
{
        json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;
        json_t *t = json_object_get(root, "access_token");
        json_t *e = json_object_get(root, "expires_in");
        const char *tv = json_string_value(t);
        int rc = -1;
        if (tv && tv[0] && strlen(tv) < TOKEN_MAX &&
            !text_has_ctl(tv, strlen(tv)) && json_is_integer(e) &&
            json_integer_value(e) > 0) {
                *token = strdup(tv);
                *expires_in = json_integer_value(e);
                rc = *token ? 0 : -1;
        }
        json_decref(root);
        return rc;
}

/* When the token's lifetime starts: normally the request, since the
 * endpoint may have issued it a while before we read it. But when the
 * answer took half the usable lifetime or more, counting from the request
 * would leave a token that is stale on arrival, forever; then from the
 * answer (should that be late, a 401 refetches once). */
static int64_t lifetime_base(const struct oauth *o, int64_t usable, int64_t now)
{
        return now - o->started_at >= usable / 2 ? now : o->started_at;
}

static int store_token(struct oauth *o, char *token, json_int_t expires_in,
                       int64_t now)
{
        int64_t life = expires_in > 86400 * 365 ? 86400LL * 365 * 1000
                                                : (int64_t)expires_in * 1000;
        int64_t margin = life / 10 < MARGIN_MAX_MS ? life / 10 : MARGIN_MAX_MS;
        int64_t base = lifetime_base(o, life - margin, now);
        struct buf b;
        buf_init(&b, 2 * TOKEN_MAX);
        buf_adds(&b, o->cfg->prefix);
        buf_adds(&b, token);
        char *hv = buf_take(&b);
        if (!hv) {
                free(token);
                return -1;
        }
        drop_token(o);
        o->token = token;
        o->header_value = hv;
        log_add_secret(token);
        o->gen++;
        o->fetched_at = base;
        o->usable_until = base + life - margin;
        o->refresh_at = base + (life - margin) * 3 / 4;
        o->attempts = 0;
        o->next_try = 0;
        o->error[0] = '\0';
        return 0;
}

/* The endpoint's own words (RFC 6749 §5.2 "error"), never its whole body:
 * a hostile or buggy server could echo the secret. */
static void describe(const char *body, size_t len, char *out, size_t n)
{
        json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;
        const char *e = json_string_value(json_object_get(root, "error"));
        snprintf(out, n, "%.64s", e ? e : "");
        log_redact(out);
        for (char *p = out; *p; p++) {
                if (*p < 0x20 || *p == 0x7f)
                        *p = '?';
        }
        json_decref(root);
}

static void fail_for(struct oauth *o, int64_t now)
{
        o->failed_until = now + o->policy.max_ms;
        o->next_try = o->failed_until;
        o->attempts = 0;
}

static enum oauth_result rejected(struct oauth *o, long status,
                                  const char *body, size_t len, int64_t now)
{
        char why[80];
        describe(body, len, why, sizeof(why));
        snprintf(o->error, sizeof(o->error),
                 "OAuth token endpoint refused the client credentials "
                 "(HTTP %ld%s%s); check client_id/client_secret",
                 status, why[0] ? " " : "", why);
        fail_for(o, now);
        return OAUTH_REJECTED;
}

static enum oauth_result failed(struct oauth *o, long status, const char *body,
                                size_t len, int64_t retry_after, int64_t now)
{
        char why[96];
        if (status == 0)
                snprintf(why, sizeof(why), "transport: %.*s",
                         (int)(len < 80 ? len : 80), body ? body : "");
        else if (status == 200)
                snprintf(why, sizeof(why), "HTTP 200 without a usable token");
        else
                snprintf(why, sizeof(why), "HTTP %ld", status);
        log_redact(why);
        if (o->attempts++ == 0)
                o->first_failure = o->started_at;
        int64_t d = retry_next_delay(&o->policy, o->attempts, o->first_failure,
                                     now, retry_after, &o->rng);
        if (d < 0) {
                snprintf(o->error, sizeof(o->error),
                         "OAuth token endpoint unavailable after %d "
                         "attempt(s): %s",
                         o->attempts, why);
                fail_for(o, now);
        } else {
                snprintf(o->error, sizeof(o->error), "OAuth token endpoint: %s",
                         why);
                o->next_try = now + d;
        }
        return OAUTH_ERROR;
}

enum oauth_result oauth_fetch_done(struct oauth *o, long status,
                                   const char *body, size_t body_len,
                                   int64_t retry_after_ms, int64_t now)
{
        char *token = NULL;
        json_int_t expires_in = 0;
        o->in_flight = 0;
        if (status == 200 &&
            parse_token(body, body_len, &token, &expires_in) == 0)
                return store_token(o, token, expires_in, now) == 0
                           ? OAUTH_OK
                           : failed(o, status, NULL, 0, -1, now);
        if (status == 400 || status == 401 || status == 403)
                return rejected(o, status, body, body_len, now);
        return failed(o, status, body, body_len, retry_after_ms, now);
}

const char *oauth_header_value(const struct oauth *o)
{
        return o->header_value;
}

const char *oauth_token(const struct oauth *o)
{
        return o->token;
}

uint64_t oauth_generation(const struct oauth *o)
{
        return o->gen;
}

void oauth_invalidate(struct oauth *o, uint64_t gen)
{
        if (o->token && gen == o->gen)
                drop_token(o);
}

const char *oauth_error(const struct oauth *o)
{
        return o->error;
}

int64_t oauth_fetched_at(const struct oauth *o)
{
        return o->fetched_at;
}

int oauth_fetch_in_flight(const struct oauth *o)
{
        return o->in_flight;
}
