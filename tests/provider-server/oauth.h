/* Vectara's OAuth 2.0 client-credentials token endpoint (grant
 * client_credentials only), and the tokens it has issued. */
#ifndef PS_OAUTH_H
#define PS_OAUTH_H

#include <stdbool.h>

#include "providers.h"

/* Set before the server starts. With a client id the server is in oauth
 * mode: Vectara routes accept only a token it issued and that is still
 * valid (lifetime_ms from issue), nothing else. */
void oauth_configure(const char *client_id, const char *client_secret,
                     unsigned int lifetime_ms);
bool oauth_enabled(void);
void oauth_free(void);

/* POST /oauth2/token (also /oauth/token: the docs give both). */
void oauth_token_endpoint(const struct provider_request *rq, struct reply *out);
bool oauth_token_valid(const char *token);

/* /_control/oauth: GET counts, DELETE revokes every token issued. */
void oauth_control(const char *method, struct reply *out);

#endif
