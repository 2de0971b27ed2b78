#include "oauth.h"

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TOKENS 4096 /* oldest forgotten first */

struct token {
        char value[48];
        uint64_t expires_ms;
};

static struct {
        pthread_mutex_t mu;
        char *client_id;
        char *client_secret;
        unsigned int lifetime_ms;
        struct token tokens[MAX_TOKENS];
        size_t next;
        uint64_t issued;
        uint64_t refused;
        uint64_t revoked;
} oa = {.mu = PTHREAD_MUTEX_INITIALIZER};

void oauth_configure(const char *client_id, const char *client_secret,
                     unsigned int lifetime_ms)
{
        oa.client_id = client_id ? xstrdup(client_id) : NULL;
        oa.client_secret = client_secret ? xstrdup(client_secret) : NULL;
        oa.lifetime_ms = lifetime_ms ? lifetime_ms : 1800000;
}

bool oauth_enabled(void)
{
        return oa.client_id != NULL;
}

void oauth_free(void)
{
        free(oa.client_id);
        free(oa.client_secret);
        oa.client_id = oa.client_secret = NULL;
}

/* RFC 6749 §5.2 error shape. */
static void oauth_error(struct reply *out, unsigned int status,
                        const char *code)
{
        reply_json(out, status, json_pack("{s:s}", "error", code));
}

/* client_id:client_secret from "Basic base64(urlenc(id):urlenc(secret))"
 * (RFC 6749 §2.3.1); false if absent or malformed. */
static bool basic_credentials(const char *auth, char **id, char **secret)
{
        unsigned char dec[1024];
        size_t n;
        if (auth == NULL || strncasecmp(auth, "Basic ", 6) != 0)
                return false;
        n = strlen(auth + 6);
        if (n == 0 || n > 4 * (sizeof(dec) / 3) - 4)
                return false;
        int len = EVP_DecodeBlock(dec, (const unsigned char *)auth + 6, (int)n);
        if (len < 0)
                return false;
        while (len > 0 && dec[len - 1] == '\0')
                len--; /* padding */
        char *colon = memchr(dec, ':', (size_t)len);
        if (colon == NULL)
                return false;
        *id = percent_decode((char *)dec, (size_t)(colon - (char *)dec), true,
                             NULL);
        *secret = percent_decode(
            colon + 1, (size_t)len - (size_t)(colon + 1 - (char *)dec), true,
            NULL);
        return *id != NULL && *secret != NULL;
}

static void issue(struct reply *out)
{
        unsigned char raw[18];
        char value[48];
        unsigned int life = oa.lifetime_ms;

        RAND_bytes(raw, sizeof(raw));
        memcpy(value, "vtok_", 5);
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(value + 5 + 2 * i, 3, "%02x", raw[i]);
        pthread_mutex_lock(&oa.mu);
        struct token *t = &oa.tokens[oa.next++ % MAX_TOKENS];
        memcpy(t->value, value, sizeof(t->value));
        t->expires_ms = mono_ms() + life;
        oa.issued++;
        pthread_mutex_unlock(&oa.mu);
        /* expires_in is whole seconds; a sub-second lifetime says 1. */
        reply_json(out, MHD_HTTP_OK,
                   json_pack("{s:s, s:s, s:I}", "access_token", value,
                             "token_type", "Bearer", "expires_in",
                             (json_int_t)(life < 1000 ? 1 : life / 1000)));
}

static void refuse(struct reply *out, unsigned int status, const char *code)
{
        pthread_mutex_lock(&oa.mu);
        oa.refused++;
        pthread_mutex_unlock(&oa.mu);
        oauth_error(out, status, code);
}

void oauth_token_endpoint(const struct provider_request *rq, struct reply *out)
{
        char *body = xstrndup(rq->body ? rq->body : "", rq->body_len);
        char *grant = NULL, *id = NULL, *secret = NULL;
        const char *auth =
            json_string_value(json_object_get(rq->headers, "authorization"));

        if (!oauth_enabled()) {
                reply_error(out, MHD_HTTP_NOT_FOUND,
                            "no such route (start with --oauth-client-id)");
        } else if (strcmp(rq->method, "POST") != 0) {
                reply_error(out, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "method not allowed");
                out->allow = "POST";
        } else if (!query_param(body, "grant_type", &grant) ||
                   strcmp(grant, "client_credentials") != 0) {
                refuse(out, MHD_HTTP_BAD_REQUEST, "unsupported_grant_type");
        } else if (!basic_credentials(auth, &id, &secret) &&
                   (!query_param(body, "client_id", &id) ||
                    !query_param(body, "client_secret", &secret))) {
                refuse(out, MHD_HTTP_UNAUTHORIZED, "invalid_client");
        } else if (strcmp(id, oa.client_id) != 0 ||
                   strcmp(secret, oa.client_secret) != 0) {
                refuse(out, MHD_HTTP_UNAUTHORIZED, "invalid_client");
        } else {
                issue(out);
        }
        free(grant);
        free(id);
        free(secret);
        free(body);
}

bool oauth_token_valid(const char *token)
{
        bool ok = false;
        uint64_t now = mono_ms();

        if (token == NULL)
                return false;
        pthread_mutex_lock(&oa.mu);
        for (size_t i = 0; i < MAX_TOKENS && !ok; i++) {
                const struct token *t = &oa.tokens[i];
                ok = t->value[0] && now < t->expires_ms &&
                     strcmp(t->value, token) == 0;
        }
        pthread_mutex_unlock(&oa.mu);
        return ok;
}

void oauth_control(const char *method, struct reply *out)
{
        pthread_mutex_lock(&oa.mu);
        if (strcmp(method, "DELETE") == 0) {
                for (size_t i = 0; i < MAX_TOKENS; i++) {
                        if (oa.tokens[i].value[0])
                                oa.revoked++;
                        oa.tokens[i].value[0] = '\0';
                }
        } else if (strcmp(method, "GET") != 0) {
                pthread_mutex_unlock(&oa.mu);
                reply_error(out, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "method not allowed");
                out->allow = "GET, DELETE";
                return;
        }
        json_t *j = json_pack(
            "{s:b, s:I, s:I, s:I, s:I}", "enabled", oa.client_id != NULL,
            "issued", (json_int_t)oa.issued, "refused", (json_int_t)oa.refused,
            "revoked", (json_int_t)oa.revoked, "lifetime_ms",
            (json_int_t)oa.lifetime_ms);
        pthread_mutex_unlock(&oa.mu);
        reply_json(out, MHD_HTTP_OK, j);
}
