/* oauth — the token cache of one account using OAuth 2.0 client
 * credentials (RFC 6749 §4.4): when to fetch, what to send, what the
 * answer means. No I/O: the worker moves the token request over its own
 * libcurl multi (src/worker_auth.c), so the event loop never blocks.
 *
 * One fetch at a time. A token is used until expires_in minus a margin and
 * fetched again, in the background, once three quarters of that has gone.
 * 429, 5xx and transport errors back off like calls (src/retry.h); when
 * the attempts or the budget run out, and at once on 400/401/403 (bad
 * credentials, which retrying cannot fix), the account is failed for
 * max_ms so that its calls fail fast instead of hammering the endpoint. */
#ifndef ERASURE_OAUTH_H
#define ERASURE_OAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "provider.h"
#include "retry.h"

struct oauth;

enum oauth_status {
        OAUTH_READY,  /* a token is at hand */
        OAUTH_WAIT,   /* calls wait: a fetch is in flight or due */
        OAUTH_FAILED, /* calls fail now, with oauth_error() */
};

/* How a fetch ended, for metrics ("ok", "rejected", "error"). */
enum oauth_result { OAUTH_OK, OAUTH_REJECTED, OAUTH_ERROR };

/* The token request's parts; strings owned by the struct. */
struct oauth_request {
        char *body;          /* application/x-www-form-urlencoded */
        char *authorization; /* "Basic ..." or NULL (form client auth) */
};

struct oauth *oauth_new(const struct provider_oauth *cfg,
                        const struct retry_policy *policy, uint64_t seed);
void oauth_free(struct oauth *o);

/* What calls may do at now; *wake gets when that may change (INT64_MAX:
 * on a fetch's end). */
enum oauth_status oauth_status(const struct oauth *o, int64_t now,
                               int64_t *wake);
/* 1 if a fetch should start now. */
int oauth_fetch_due(const struct oauth *o, int64_t now);
int oauth_request_build(const struct oauth *o, struct oauth_request *rq);
void oauth_request_clear(struct oauth_request *rq);
void oauth_fetch_started(struct oauth *o, int64_t now);
/* The token endpoint's answer (status 0: transport error, text in body).
 * retry_after_ms < 0: none. */
enum oauth_result oauth_fetch_done(struct oauth *o, long status,
                                   const char *body, size_t body_len,
                                   int64_t retry_after_ms, int64_t now);
/* The value for the API header (prefix + token), or NULL. */
const char *oauth_header_value(const struct oauth *o);
/* The bare token, for redaction; NULL if none. */
const char *oauth_token(const struct oauth *o);
/* Changes with every new token. */
uint64_t oauth_generation(const struct oauth *o);
/* A 401 on a call sent with token generation gen: drop that token. */
void oauth_invalidate(struct oauth *o, uint64_t gen);
/* Why the calls fail (OAUTH_FAILED), or why the last fetch failed. */
const char *oauth_error(const struct oauth *o);
/* When the current token was requested (mono ms), -1 if none. */
int64_t oauth_fetched_at(const struct oauth *o);
int oauth_fetch_in_flight(const struct oauth *o);

#endif
