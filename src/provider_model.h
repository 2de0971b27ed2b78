/* provider_model — the loaded model of providers, shared by the files of
 * the provider module (provider_load.c, provider_action.c,
 * provider_account.c, provider_plan.c, provider_classify.c). Private: the
 * module's interface is provider.h. */
#ifndef ERASURE_PROVIDER_MODEL_H
#define ERASURE_PROVIDER_MODEL_H

#include "provider.h"
#include "buf.h"
#include "confread.h"
#include "text.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <libconfig.h>

#define NAME_MAX_LEN       128
#define URL_MAX            8192
#define BODY_MAX           (8 * 1024 * 1024)
#define RESOURCE_MAX       (256 * 1024)
#define ECHO_MAX           64  /* bytes of hostile input in an error */
#define PROVIDER_TEXT_MAX  160 /* bytes of a raw body in a verdict */
#define DEFAULT_MAX_LENGTH 256
#define DEFAULT_MAX_ITEMS  1000
#define INT_SAFE_MAX       9007199254740992LL /* 2^53: exact in a double */
#define VAR_MAX_LENGTH     256

/* ---- characters and bounded strings ---------------------------------- */

static inline int is_alnum(unsigned char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               (c >= '0' && c <= '9');
}

static inline int is_unreserved(unsigned char c)
{
        return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static inline int is_ctl(unsigned char c)
{
        return c < 0x20 || c == 0x7f;
}

static inline int is_token_char(unsigned char c)
{
        return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static inline int has_ctl(const char *s, size_t n)
{
        return text_has_ctl(s, n);
}

static inline int all_chars(const char *s, int (*ok)(unsigned char))
{
        for (; *s; s++) {
                if (!ok((unsigned char)*s))
                        return 0;
        }
        return 1;
}

static inline int is_var_char(unsigned char c)
{
        return is_alnum(c) || c == '.' || c == '_' || c == '-';
}

static inline int is_ident_char(unsigned char c)
{
        return is_alnum(c) || c == '_' || c == '-';
}

static inline int is_dot_segment(const char *s, size_t n)
{
        return (n == 1 && s[0] == '.') ||
               (n == 2 && s[0] == '.' && s[1] == '.');
}

static inline int is_key(const char *name, const char *const *allowed)
{
        for (; *allowed; allowed++) {
                if (strcmp(name, *allowed) == 0)
                        return 1;
        }
        return 0;
}

/* Arrays sized from the config; never calloc(0). */
static inline void *alloc_array(size_t n, size_t size)
{
        return calloc(n ? n : 1, size);
}

/* Text with {name} placeholders, split at load time. */
struct piece {
        char *text; /* literal; NULL for a placeholder */
        size_t ref; /* placeholder: index of the param or var */
};

struct tmpl {
        struct piece *v;
        size_t n;
};

enum param_type { PARAM_STRING, PARAM_INTEGER, PARAM_STRING_LIST };

struct param {
        char *field; /* dotted path into the target */
        enum param_type type;
        char *pattern; /* as written, for messages */
        regex_t re;
        int has_re;
        size_t max_length;
        size_t max_items;
        json_int_t min, max;
        int optional;
        int discovered; /* set from a discovered item, never the target */
        int used;
};

struct query_item {
        char *name;
        struct tmpl value;
};

struct rule {
        int *status;
        size_t nstatus;
        char *json_value;
        char *json_field;
        json_t *json_equals;
        enum provider_verdict_kind kind;
        int retryable;
};

enum expand { EXPAND_NONE, EXPAND_FOR_EACH, EXPAND_CHUNK };

/* A read-back rule: status (and optional JSON checks as in struct rule)
 * to absent, present or retry. */
struct verify_rule {
        int *status;
        size_t nstatus;
        enum provider_check kind;
};

/* The read-back made after a deletion succeeded. */
struct verify_def {
        struct provider_action *req; /* method, path, query, body; the
                                        params are the action's, borrowed */
        struct verify_rule *rules;
        size_t nrules;
        char *items;        /* JSON Pointer to an array in a 2xx body */
        char *match_item;   /* pointer into each item; NULL: any item */
        size_t match_param; /* the action's param it must not equal */
        int64_t delay_ms;
        int attempts;
};

/* An item field of a discover: a discovered param and where it is. */
struct discover_field {
        size_t param;
        char *pointer; /* relative to the item */
};

/* An item is kept only if its value at `pointer` equals the target's
 * `param` (when the target has it). */
struct discover_filter {
        size_t param;
        char *pointer;
};

/* The read that finds what one action deletes, one call per item. */
struct discover_def {
        char *name;                  /* the discover outcome's action */
        struct provider_action *req; /* method, path, query, body, resource;
                                        params borrowed */
        char *items;                 /* JSON Pointer to the item array */
        struct discover_field *fields;
        size_t nfields;
        struct discover_filter *filters;
        size_t nfilters;
        size_t max_items;
};

struct provider_action {
        char *name;
        char *when;
        char *method;
        struct param *params;
        size_t nparams;
        struct tmpl path;
        struct tmpl resource;
        struct query_item *query;
        size_t nquery;
        json_t *body; /* template; "{x}" strings are placeholders */
        enum expand expand;
        size_t expand_param;
        size_t chunk_size;
        struct rule *rules;
        size_t nrules;
        int documents_success;         /* some rule says "deleted" */
        int agent_scope;               /* scope = "agent": erases every user */
        struct verify_def *verify;     /* NULL: the vendor offers no read */
        struct discover_def *discover; /* NULL: the target names items */
        long after;   /* index of the action this one waits for; -1 none */
        size_t index; /* in its provider's actions */
        int borrowed_params; /* a verify request's: not freed */
};

struct var_def {
        char *name;
        char *pattern;
        regex_t re;
        int has_re;
};

struct auth_header {
        char *name;
        char *prefix;
        char *secret; /* slot name, or NULL */
        struct tmpl value;
        /* For errors found while loading accounts; the config is not
         * kept, so never used after provider_registry_load() returns. */
        const config_setting_t *where;
};

/* kind = "oauth2_client_credentials": the token is fetched at run time
 * (src/oauth.h); its secret slots are fixed. */
#define OAUTH_KIND        "oauth2_client_credentials"
#define OAUTH_SLOT_ID     "client_id"
#define OAUTH_SLOT_SECRET "client_secret"

struct oauth_def {
        char *token_url;
        const config_setting_t *token_url_setting; /* during load only */
        char *scope;
        char *audience;
        char *header;
        char *prefix;
        int basic_auth;
};

struct scheme {
        char *name;
        struct auth_header *headers;
        size_t n;
        struct oauth_def *oauth; /* NULL: a list of headers */
};

struct provider_def {
        char *name;
        const config_setting_t *base_url_setting; /* during load only */
        struct tmpl base_url;
        struct var_def *vars;
        size_t nvars;
        struct scheme *schemes;
        size_t nschemes;
        struct provider_action *actions;
        size_t nactions;
};

struct provider_account {
        size_t index;
        const struct provider_def *def;
        char *name;
        char *base_url;                  /* vars substituted */
        struct provider_header *headers; /* the chosen auth scheme */
        size_t nheaders;
        char *ca_file;
        struct provider_limits limits;
        const char *auth; /* scheme name, borrowed; NULL: none */
        int allow_plain_http;
        int allow_agent_wide; /* agent-scoped actions may run */
        /* Per header of the scheme that takes a secret: the slot and the
         * environment variable named for it (for check-config). */
        const char **secret_slots; /* borrowed from the definition */
        char **secret_envs;
        size_t nsecret_envs;
        /* Set when the scheme is oauth2_client_credentials; the strings
         * below are owned, the rest borrowed from the definition. */
        int has_oauth;
        struct provider_oauth oauth;
        char *oauth_token_url;
        char *oauth_client_id;
        char *oauth_client_secret;
};

struct provider_registry {
        struct provider_def *defs;
        size_t ndefs;
        struct provider_account *accounts;
        size_t naccounts;
        char **secrets;
        size_t nsecrets;
};

/* ---- load errors ------------------------------------------------------- */

struct loader {
        struct confread cr; /* errors go here */
        struct provider_registry *reg;
        int allow_missing_secrets;
};

/* ---- provider_plan.c: bounded strings ---------------------------------- */

int provider_has_dot_segment(const char *path);

/* ---- provider_load.c: definitions ------------------------------------- */

long provider_find_var(const void *ctx, const char *name);
int provider_is_parent_of(const char *parent, const char *field);

/* ---- provider_action.c: templates and actions -------------------------- */

void provider_tmpl_free(struct tmpl *t);
int provider_tmpl_parse(struct loader *ld, const config_setting_t *s,
                        const char *src,
                        long (*find)(const void *ctx, const char *name),
                        const void *ctx, struct tmpl *t);
long provider_find_param(const void *ctx, const char *name);
int provider_compile_pattern(struct loader *ld, const config_setting_t *s,
                             const char *pattern, regex_t *re);
void provider_action_free(struct provider_action *a);
int provider_load_action(struct loader *ld, const config_setting_t *s,
                         struct provider_action *a);
/* `after` names an earlier action; resolved once all are loaded. */
int provider_resolve_after(struct loader *ld, const config_setting_t *s,
                           struct provider_def *d, size_t i);
/* The parts of an action that a read (verify, discover) has as well. */
int provider_load_rule_status(struct loader *ld, const config_setting_t *s,
                              struct rule *r);
int provider_load_method(struct loader *ld, const config_setting_t *s,
                         struct provider_action *a);
int provider_load_path(struct loader *ld, const config_setting_t *s,
                       struct provider_action *a);
int provider_load_resource(struct loader *ld, const config_setting_t *s,
                           struct provider_action *a);
int provider_load_query(struct loader *ld, const config_setting_t *s,
                        struct provider_action *a);
int provider_load_body(struct loader *ld, const config_setting_t *s,
                       struct provider_action *a);

/* ---- provider_readback.c: an action's reads ---------------------------- */

int provider_load_verify(struct loader *ld, const config_setting_t *s,
                         struct provider_action *a);
void provider_verify_free(struct verify_def *v); /* accepts NULL */
int provider_load_discover(struct loader *ld, const config_setting_t *s,
                           struct provider_action *a);
void provider_discover_free(struct discover_def *d); /* accepts NULL */

/* ---- provider_account.c: accounts -------------------------------------- */

int provider_load_accounts(struct loader *ld, const config_t *cfg);
void provider_account_free(struct provider_account *a);
const struct provider_def *provider_find_def(const struct provider_registry *r,
                                             const char *name);

#endif
