/* provider — providers as data: load definitions, plan calls, classify
 * responses (DESIGN §3).
 *
 * Definitions come from libconfig (config/providers.conf, see the comment
 * at its top for the format); accounts (base URL variables, secrets'
 * environment variables, TLS, limits) from the worker's config. Nothing
 * about a particular vendor is written in C. */
#ifndef ERASURE_PROVIDER_H
#define ERASURE_PROVIDER_H

#include <stddef.h>
#include <stdint.h>
#include <libconfig.h>
#include "request.h"

struct provider_registry; /* all providers and accounts; immutable */
struct provider_account;  /* one provider + one account */
struct provider_action;   /* one action of one provider */

/* Flow-control and transport settings of one account. */
struct provider_limits {
        double rate_per_s;  /* token bucket rate; 0 = unlimited */
        double burst;       /* bucket size */
        int concurrency;    /* calls in flight to this account */
        int64_t timeout_ms; /* whole call */
        int64_t connect_timeout_ms;
        int max_attempts;        /* per call, including the first */
        int64_t budget_ms;       /* per call, from first attempt */
        int64_t backoff_base_ms; /* full-jitter exponential backoff */
        int64_t backoff_max_ms;
        int tls_verify;      /* 1 unless the account turns it off */
        const char *ca_file; /* NULL = system bundle */
};

/* Loads `providers` (definitions) and `accounts` from cfg. Secrets are read
 * with getenv() here, once; a missing secret variable is an error unless
 * allow_missing_secrets (plan and check-config --no-secrets work without
 * them and show the secret as unset).
 * Returns NULL on error with errstr "FILE:LINE: PATH: reason", e.g.
 * "config/providers.conf:42: providers.vectara.actions.[0].path: unknown
 * placeholder {agent}". */
struct provider_registry *provider_registry_load(const config_t *cfg,
                                                 int allow_missing_secrets,
                                                 char *errstr,
                                                 size_t errstr_size);
void provider_registry_free(struct provider_registry *reg);

size_t provider_account_count(const struct provider_registry *reg);
const struct provider_account *
provider_account_at(const struct provider_registry *reg, size_t i);
/* Index of acct in 0..provider_account_count()-1, for per-account state. */
size_t provider_account_index(const struct provider_account *acct);
const char *provider_account_provider(const struct provider_account *acct);
const char *provider_account_name(const struct provider_account *acct);
const struct provider_limits *
provider_account_limits(const struct provider_account *acct);

/* What check-config shows of an account; never a secret's value. */
const char *provider_account_base_url(const struct provider_account *acct);
/* The auth scheme in use; NULL when the provider defines none. */
const char *provider_account_auth(const struct provider_account *acct);
int provider_account_plain_http(const struct provider_account *acct);
/* The i-th secret slot the account's scheme reads, with *env_var set to
 * the environment variable named for it; NULL past the end. */
const char *provider_account_secret_slot(const struct provider_account *acct,
                                         size_t i, const char **env_var);

/* OAuth 2.0 client credentials (RFC 6749 §4.4) of an account whose scheme
 * has kind = "oauth2_client_credentials". client_id and client_secret are
 * NULL only when missing secrets were allowed (plan, check-config). */
struct provider_oauth {
        const char *token_url;
        const char *client_id;
        const char *client_secret;
        const char *scope;    /* NULL: not sent */
        const char *audience; /* NULL: not sent */
        int basic_auth;       /* 1: HTTP Basic (RFC 6749 §2.3.1); 0: form */
        const char *header;   /* the API calls' header for the token */
        const char *prefix;   /* before the token, e.g. "Bearer " */
};

/* NULL unless the account's scheme is oauth2_client_credentials. */
const struct provider_oauth *
provider_account_oauth(const struct provider_account *acct);

/* Every secret value loaded (for log_add_secret()); NULL past the end. */
const char *provider_secret_at(const struct provider_registry *reg, size_t i);

struct provider_header {
        char *name;
        char *value;
        int secret; /* value holds a secret: mask it when printing */
};

/* One HTTP call to make. All strings owned by the plan. */
struct provider_call {
        const struct provider_account *account;
        const struct provider_action *action;
        const char *provider;            /* borrowed from the registry */
        const char *account_name;        /* borrowed */
        const char *action_name;         /* borrowed */
        const char *method;              /* borrowed, "DELETE", "POST", … */
        char *url;                       /* base URL + encoded path + query */
        struct provider_header *headers; /* auth headers, content-type */
        size_t nheaders;
        char *body;      /* JSON text, NULL when the action sends none */
        char *resource;  /* human-readable id of what is deleted */
        int agent_scope; /* erases every user of an agent (opted in) */
        /* The read-back after success (NULL: the vendor has none), with
         * the values it must no longer find (borrowed by nobody else). */
        struct provider_call *verify;
        json_t *verify_values; /* array of the match param's values */
        int64_t verify_delay_ms;
        int verify_attempts;
        /* A discover read: what it finds becomes calls of the action
         * (provider_expand()); the target is kept for that. */
        int discover;
        json_t *target;
        size_t target_index;
        long after; /* action index this call waits for in its target */
        size_t action_index;
};

struct provider_plan {
        struct provider_call *calls;
        size_t ncalls;
};

/* Turns a request into calls, in target order then action order then item
 * order (deterministic: redelivery gives the same calls and resources).
 * Every target field used is validated against the action's parameter
 * definitions (type, pattern, length, item count) before it is encoded.
 * Returns REQUEST_OK and fills *plan (caller calls provider_plan_clear()),
 * or an error code with errstr naming the target index and field; *plan is
 * then empty. max_calls bounds the plan (0 = no bound). */
enum request_error provider_plan(const struct provider_registry *reg,
                                 const struct request *req, size_t max_calls,
                                 struct provider_plan *plan, char *errstr,
                                 size_t errstr_size);
void provider_plan_clear(struct provider_plan *plan);

/* Turns the answer to a discover call into one call per item found:
 * items picked by the discover's pointer, filtered, bounded by max_items
 * (more is an error: never a silent partial erasure), each item's values
 * validated by the action's params before they touch a URL. Appends to
 * *plan (initially empty); *found gets the item count. Returns 0, or -1
 * with errstr (the discover then failed and nothing is deleted). */
int provider_expand(const struct provider_call *discover, const char *body,
                    size_t body_len, struct provider_plan *plan, size_t *found,
                    char *errstr, size_t errstr_size);

enum provider_verdict_kind {
        PROVIDER_DELETED,
        PROVIDER_ALREADY_ABSENT,
        PROVIDER_FAILED, /* final; see retryable */
        PROVIDER_RETRY,  /* transient: back off and try again */
};

struct provider_verdict {
        enum provider_verdict_kind kind;
        int retryable;   /* for PROVIDER_FAILED: 1 if a later try might work */
        char error[256]; /* "" on success; else reason with provider's text */
};

/* For `plan`: a discover call's per-item request as a template
 * ("DELETE https://…/{conversation_id}  resource=…", then its verify), or
 * NULL; malloc'd. */
char *provider_describe_items(const struct provider_call *discover);
/* The action c waits for (`after`), or NULL. */
const char *provider_call_after(const struct provider_call *c);

enum provider_check {
        PROVIDER_CHECK_ABSENT,
        PROVIDER_CHECK_PRESENT,
        PROVIDER_CHECK_RETRY, /* the read itself failed: try again */
};

/* Classifies the response to call->verify: its rules first; then, with
 * `items`, a 2xx body whose array holds none of call->verify_values (or
 * is empty, without `match`) is absent; then 404 and 410 are absent,
 * another 2xx present, everything else retry. */
enum provider_check provider_classify_verify(const struct provider_call *call,
                                             long http_status, const char *body,
                                             size_t body_len);

/* Classifies an HTTP response of `action` (the action's rules first, then
 * the defaults of DESIGN §3). body may be NULL. Transport errors (no HTTP
 * status) are not classified here: they are always PROVIDER_RETRY. */
void provider_classify(const struct provider_action *action, long http_status,
                       const char *body, size_t body_len,
                       struct provider_verdict *out);

#endif
