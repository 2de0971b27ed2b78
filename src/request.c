/* request — the version-1 envelope of an erasure request (DESIGN §2). */
#include "request.h"

#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUEST_DEFAULT_MAX_BYTES   (1024 * 1024)
#define REQUEST_DEFAULT_MAX_TARGETS 100
/* Input quoted in an error message is cut here: errstr ends up in logs and
 * dead-letter headers, which must not carry a megabyte of someone's data. */
#define REQUEST_QUOTE_MAX 64
#define REQUEST_ID_MAX    128
#define PROVIDER_NAME_MAX 32
#define ACCOUNT_NAME_MAX  64
/* Nanoseconds are the finest fraction any producer emits. */
#define RFC3339_FRACTION_MAX 9

static const char *const request_error_names[] = {
    [REQUEST_OK] = "ok",
    [REQUEST_ERR_OVERSIZE] = "oversize",
    [REQUEST_ERR_NOT_JSON] = "not_json",
    [REQUEST_ERR_NOT_OBJECT] = "not_object",
    [REQUEST_ERR_VERSION] = "bad_version",
    [REQUEST_ERR_REQUEST_ID] = "bad_request_id",
    [REQUEST_ERR_TARGETS] = "bad_targets",
    [REQUEST_ERR_UNKNOWN_PROVIDER] = "unknown_provider",
    [REQUEST_ERR_UNKNOWN_ACCOUNT] = "unknown_account",
    [REQUEST_ERR_BAD_FIELD] = "bad_field",
    [REQUEST_ERR_NO_ACTION] = "no_action",
    [REQUEST_ERR_TOO_MANY_CALLS] = "too_many_calls",
    [REQUEST_ERR_INTERNAL] = "internal_error",
    [REQUEST_ERR_AGENT_WIDE] = "agent_wide_not_allowed",
};

const char *request_error_name(enum request_error err)
{
        size_t n = sizeof(request_error_names) / sizeof(request_error_names[0]);
        if ((size_t)err >= n || !request_error_names[err])
                return "unknown";
        return request_error_names[err];
}

void request_limits_default(struct request_limits *lim)
{
        lim->max_bytes = REQUEST_DEFAULT_MAX_BYTES;
        lim->max_targets = REQUEST_DEFAULT_MAX_TARGETS;
}

size_t request_parse_budget(const struct request_limits *lim)
{
        return REQUEST_PARSE_FACTOR * lim->max_bytes;
}

/* jansson's allocator, counting what one parse on this thread allocates.
 * Frees are not subtracted: the sum bounds the peak, needs no size
 * header, and so stays right for memory allocated before the hook was
 * installed. Outside request_parse (budget 0) it only passes through to
 * the allocator it wraps (malloc, or a test's). */
static _Thread_local size_t parse_budget, parse_used;
static _Thread_local int parse_over, parse_oom;
static json_malloc_t parse_inner = malloc;

/* Over the budget the allocation still succeeds and the parse is
 * rejected afterwards: jansson 2.14 asserts (lex_unget_unsave) when an
 * allocation fails in the middle of a token, so failing it turned a
 * hostile message into an abort (found by fuzz_request). What bounds the
 * tree instead is tree_bound_ok(), before parsing. */
static void *parse_malloc(size_t n)
{
        if (parse_budget) {
                if (n > parse_budget - parse_used)
                        parse_over = 1;
                else
                        parse_used += n;
        }
        void *p = parse_inner(n);
        if (!p)
                parse_oom = 1;
        return p;
}

/* Wraps whatever allocator is installed now, once per installation. */
static void install_parse_hook(void)
{
        json_malloc_t cur;
        json_free_t cur_free;
        json_get_alloc_funcs(&cur, &cur_free);
        if (cur == parse_malloc)
                return;
        parse_inner = cur;
        json_set_alloc_funcs(parse_malloc, cur_free);
}

/* What a parse may cost jansson, estimated from the message before
 * parsing: every value but the first is opened by "{", "[", "," or ":"
 * (counted inside strings too: an overcount is safe), and costs about
 * this much (an object its hash table, measured ~226 B per "{}" in a
 * 1 MiB array of them); strings cost their bytes, twice with the lexer's
 * buffer. Below the floor a tree is never a memory problem. */
#define REQUEST_COST_OBJECT 200
#define REQUEST_COST_ARRAY  64
#define REQUEST_COST_VALUE  48
#define REQUEST_TREE_FLOOR  (1u << 20)

static int tree_bound_ok(const void *msg, size_t len, size_t budget)
{
        const char *buf = msg;
        size_t max = budget > REQUEST_TREE_FLOOR ? budget : REQUEST_TREE_FLOOR;
        size_t cost = 2 * len;
        for (size_t i = 0; i < len && cost <= max; i++) {
                switch (buf[i]) {
                case '{':
                        cost += REQUEST_COST_OBJECT;
                        break;
                case '[':
                        cost += REQUEST_COST_ARRAY;
                        break;
                case ',':
                case ':':
                        cost += REQUEST_COST_VALUE;
                        break;
                default:
                        break;
                }
        }
        return cost <= max;
}

static int is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static int is_lower(char c)
{
        return c >= 'a' && c <= 'z';
}

static int is_alnum(char c)
{
        return is_digit(c) || is_lower(c) || (c >= 'A' && c <= 'Z');
}

int request_id_valid(const char *id)
{
        if (!id || !is_alnum(id[0]))
                return 0;
        size_t i = 1;
        for (; id[i] != '\0'; i++) {
                char c = id[i];
                if (i >= REQUEST_ID_MAX)
                        return 0;
                if (!is_alnum(c) && c != '.' && c != '_' && c != ':' &&
                    c != '-')
                        return 0;
        }
        return 1;
}

/* ^[a-z][a-z0-9_-]{0,31}$ */
static int provider_name_valid(const char *s)
{
        if (!is_lower(s[0]))
                return 0;
        for (size_t i = 1; s[i] != '\0'; i++) {
                char c = s[i];
                if (i >= PROVIDER_NAME_MAX)
                        return 0;
                if (!is_lower(c) && !is_digit(c) && c != '_' && c != '-')
                        return 0;
        }
        return 1;
}

/* ^[A-Za-z0-9_-]{1,64}$ */
static int account_name_valid(const char *s)
{
        size_t i = 0;
        for (; s[i] != '\0'; i++) {
                char c = s[i];
                if (i >= ACCOUNT_NAME_MAX)
                        return 0;
                if (!is_alnum(c) && c != '_' && c != '-')
                        return 0;
        }
        return i > 0;
}

/* Reads exactly n digits at *p as a number and advances *p; -1 if not. */
static int take_digits(const char **p, int n)
{
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (!is_digit((*p)[i]))
                        return -1;
                v = v * 10 + ((*p)[i] - '0');
        }
        *p += n;
        return v;
}

/* Takes the character c at *p; 0 if something else is there. */
static int take_char(const char **p, char c)
{
        if (**p != c)
                return 0;
        (*p)++;
        return 1;
}

static int in_range(int v, int lo, int hi)
{
        return v >= lo && v <= hi;
}

/* "Z" or "±HH:MM" ending the string. */
static int rfc3339_zone_valid(const char *p)
{
        if (*p == 'Z' || *p == 'z')
                return p[1] == '\0';
        if (*p != '+' && *p != '-')
                return 0;
        p++;
        int hh = take_digits(&p, 2);
        if (!in_range(hh, 0, 23) || !take_char(&p, ':'))
                return 0;
        int mm = take_digits(&p, 2);
        return in_range(mm, 0, 59) && *p == '\0';
}

/* YYYY-MM-DDTHH:MM:SS(.fraction)?(Z|±HH:MM), fields range-checked but not
 * against the calendar: the timestamp is informational and passed on. RFC
 * 3339 §5.6 allows lower-case t and z. */
static int rfc3339_valid(const char *s)
{
        const char *p = s;
        int year = take_digits(&p, 4);
        int ok = year >= 0 && take_char(&p, '-');
        ok = ok && in_range(take_digits(&p, 2), 1, 12) && take_char(&p, '-');
        ok = ok && in_range(take_digits(&p, 2), 1, 31);
        ok = ok && (take_char(&p, 'T') || take_char(&p, 't'));
        ok = ok && in_range(take_digits(&p, 2), 0, 23) && take_char(&p, ':');
        ok = ok && in_range(take_digits(&p, 2), 0, 59) && take_char(&p, ':');
        ok = ok && in_range(take_digits(&p, 2), 0, 60); /* leap second */
        if (!ok)
                return 0;
        if (take_char(&p, '.')) {
                int digits = 0;
                while (is_digit(*p) && digits <= RFC3339_FRACTION_MAX) {
                        p++;
                        digits++;
                }
                if (digits == 0 || digits > RFC3339_FRACTION_MAX)
                        return 0;
        }
        return rfc3339_zone_valid(p);
}

#define QUOTE_BUF TEXT_ESCAPE_SIZE(REQUEST_QUOTE_MAX)

/* At most REQUEST_QUOTE_MAX bytes of s for an error message, non-printable
 * bytes (and, when the copy goes between quotes, '"' and '\\') escaped so
 * a hostile value cannot forge log lines or header bytes. out holds
 * QUOTE_BUF bytes. */
static const char *escape_input(const char *s, char *out, unsigned flags)
{
        text_escape(out, QUOTE_BUF, s, strlen(s), REQUEST_QUOTE_MAX, flags);
        return out;
}

static const char *quote(const char *s, char *out)
{
        return escape_input(s, out, TEXT_ESCAPE_QUOTES);
}

static const char *json_kind(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
                return "an integer";
        case JSON_REAL:
                return "a number with a fraction or exponent";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        case JSON_NULL:
                return "null";
        }
        return "an unknown value";
}

/* Parsing state shared by the checks, so each stays short. */
struct parse_ctx {
        enum request_error *err;
        char *errstr;
        size_t errstr_size;
};

/* Records a failure; returns -1 so checks can `return fail(...)`. */
__attribute__((format(printf, 3, 4))) static int
fail(struct parse_ctx *ctx, enum request_error err, const char *fmt, ...)
{
        *ctx->err = err;
        if (ctx->errstr && ctx->errstr_size > 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(ctx->errstr, ctx->errstr_size, fmt, ap);
                va_end(ap);
        }
        return -1;
}

/* jansson reports most allocation failures with json_error_out_of_memory,
 * but one that happens before parsing starts (its lexer's buffer) leaves
 * the error empty (and its code unset): no text means nothing was wrong
 * with the input. */
static int load_out_of_memory(const json_error_t *jerr)
{
        return jerr->text[0] == '\0' ||
               json_error_code(jerr) == json_error_out_of_memory;
}

static json_t *load_json(struct parse_ctx *ctx, const void *buf, size_t len)
{
        json_error_t jerr;
        char q[QUOTE_BUF];

        /* Duplicate keys are rejected because two readers of the same
         * message could otherwise disagree on its request_id or targets.
         * JSON_DECODE_ANY lets a bare scalar through to be reported as
         * not_object: it is JSON, just not an erasure request. */
        json_t *root =
            json_loadb(buf ? buf : "", buf ? len : 0,
                       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!root && load_out_of_memory(&jerr))
                fail(ctx, REQUEST_ERR_INTERNAL, "out of memory while parsing");
        else if (!root)
                fail(ctx, REQUEST_ERR_NOT_JSON,
                     "not valid JSON (line %d, column %d): %s", jerr.line,
                     jerr.column, escape_input(jerr.text, q, 0));
        return root;
}

static int check_version(struct parse_ctx *ctx, json_t *root)
{
        json_t *v = json_object_get(root, "version");
        if (!v)
                return fail(ctx, REQUEST_ERR_VERSION, "version is missing");
        /* Only the integer 1: "1" or 1.0 means a producer that does not
         * follow the schema, and guessing would hide that. */
        if (!json_is_integer(v))
                return fail(ctx, REQUEST_ERR_VERSION,
                            "version must be the integer 1, got %s",
                            json_kind(v));
        if (json_integer_value(v) != 1)
                return fail(ctx, REQUEST_ERR_VERSION,
                            "unsupported version %lld (only 1 is known)",
                            (long long)json_integer_value(v));
        return 0;
}

static int check_request_id(struct parse_ctx *ctx, json_t *root)
{
        char q[QUOTE_BUF];
        json_t *v = json_object_get(root, "request_id");
        if (!v)
                return fail(ctx, REQUEST_ERR_REQUEST_ID,
                            "request_id is missing");
        if (!json_is_string(v))
                return fail(ctx, REQUEST_ERR_REQUEST_ID,
                            "request_id must be a string, got %s",
                            json_kind(v));
        if (!request_id_valid(json_string_value(v)))
                return fail(ctx, REQUEST_ERR_REQUEST_ID,
                            "request_id \"%s\" does not match "
                            "[A-Za-z0-9][A-Za-z0-9._:-]{0,127}",
                            quote(json_string_value(v), q));
        return 0;
}

static int check_requested_at(struct parse_ctx *ctx, json_t *root)
{
        char q[QUOTE_BUF];
        json_t *v = json_object_get(root, "requested_at");
        if (!v)
                return 0;
        if (!json_is_string(v))
                return fail(ctx, REQUEST_ERR_BAD_FIELD,
                            "requested_at must be a string, got %s",
                            json_kind(v));
        if (!rfc3339_valid(json_string_value(v)))
                return fail(ctx, REQUEST_ERR_BAD_FIELD,
                            "requested_at \"%s\" is not an RFC 3339 "
                            "date-time",
                            quote(json_string_value(v), q));
        return 0;
}

static int check_target(struct parse_ctx *ctx, size_t i, json_t *t,
                        struct request_target *out)
{
        char q[QUOTE_BUF];
        if (!json_is_object(t))
                return fail(ctx, REQUEST_ERR_TARGETS,
                            "targets[%zu] must be an object, got %s", i,
                            json_kind(t));
        json_t *p = json_object_get(t, "provider");
        if (!json_is_string(p))
                return fail(ctx, REQUEST_ERR_TARGETS,
                            "targets[%zu].provider must be a string", i);
        if (!provider_name_valid(json_string_value(p)))
                return fail(ctx, REQUEST_ERR_TARGETS,
                            "targets[%zu].provider \"%s\" does not match "
                            "[a-z][a-z0-9_-]{0,31}",
                            i, quote(json_string_value(p), q));
        out->provider = json_string_value(p);
        out->account = "default";
        out->json = t;

        json_t *a = json_object_get(t, "account");
        if (!a)
                return 0;
        if (!json_is_string(a))
                return fail(ctx, REQUEST_ERR_TARGETS,
                            "targets[%zu].account must be a string", i);
        if (!account_name_valid(json_string_value(a)))
                return fail(ctx, REQUEST_ERR_TARGETS,
                            "targets[%zu].account \"%s\" does not match "
                            "[A-Za-z0-9_-]{1,64}",
                            i, quote(json_string_value(a), q));
        out->account = json_string_value(a);
        return 0;
}

static int check_targets(struct parse_ctx *ctx, json_t *root,
                         const struct request_limits *lim, struct request *req)
{
        json_t *v = json_object_get(root, "targets");
        if (!v)
                return fail(ctx, REQUEST_ERR_TARGETS, "targets is missing");
        if (!json_is_array(v))
                return fail(ctx, REQUEST_ERR_TARGETS,
                            "targets must be an array, got %s", json_kind(v));
        size_t n = json_array_size(v);
        if (n == 0)
                return fail(ctx, REQUEST_ERR_TARGETS, "targets is empty");
        if (n > lim->max_targets)
                return fail(ctx, REQUEST_ERR_TARGETS,
                            "%zu targets, the limit is %zu", n,
                            lim->max_targets);

        req->targets = calloc(n, sizeof(*req->targets));
        if (!req->targets)
                return fail(ctx, REQUEST_ERR_INTERNAL,
                            "out of memory for %zu targets", n);
        req->ntargets = n;
        for (size_t i = 0; i < n; i++) {
                if (check_target(ctx, i, json_array_get(v, i),
                                 &req->targets[i]) != 0)
                        return -1;
        }
        return 0;
}

/* Copies the request_id for the caller as soon as it is known good, so a
 * message rejected for another reason can still get a rejected outcome. */
static void copy_request_id(json_t *root, char **request_id_out)
{
        if (!request_id_out)
                return;
        const char *id = json_string_value(json_object_get(root, "request_id"));
        if (id && request_id_valid(id))
                *request_id_out = strdup(id);
}

/* Checks in order; the first failure decides the error. Unknown top-level
 * keys are tolerated: version 1 may grow optional fields, and a worker
 * that has not been upgraded yet must not dead-letter those requests. */
static int check_envelope(struct parse_ctx *ctx, json_t *root,
                          const struct request_limits *lim, struct request *req)
{
        if (check_version(ctx, root) != 0 || check_request_id(ctx, root) != 0 ||
            check_requested_at(ctx, root) != 0 ||
            check_targets(ctx, root, lim, req) != 0)
                return -1;
        req->request_id =
            json_string_value(json_object_get(root, "request_id"));
        req->requested_at =
            json_string_value(json_object_get(root, "requested_at"));
        return 0;
}

struct request *request_parse(const void *buf, size_t len,
                              const struct request_limits *lim,
                              enum request_error *err, char **request_id_out,
                              char *errstr, size_t errstr_size)
{
        enum request_error local_err;
        struct request_limits defaults;
        struct parse_ctx ctx = {err ? err : &local_err, errstr, errstr_size};

        *ctx.err = REQUEST_OK;
        if (errstr && errstr_size > 0)
                errstr[0] = '\0';
        if (request_id_out)
                *request_id_out = NULL;
        if (!lim) {
                request_limits_default(&defaults);
                lim = &defaults;
        }

        /* Before parsing: an oversize message must not cost the memory and
         * time its size limit is there to protect. */
        if (len > lim->max_bytes) {
                fail(&ctx, REQUEST_ERR_OVERSIZE,
                     "message is %zu bytes, the limit is %zu", len,
                     lim->max_bytes);
                return NULL;
        }
        if (!tree_bound_ok(buf, len, request_parse_budget(lim))) {
                fail(&ctx, REQUEST_ERR_OVERSIZE,
                     "parsing needs more than %zu bytes (%d times "
                     "worker.max_message_bytes): too many values",
                     request_parse_budget(lim), REQUEST_PARSE_FACTOR);
                return NULL;
        }
        install_parse_hook();
        parse_budget = request_parse_budget(lim);
        parse_used = 0;
        parse_over = parse_oom = 0;
        json_t *root = load_json(&ctx, buf, len);
        parse_budget = 0;
        if (parse_over || parse_oom) {
                json_decref(root);
                if (parse_over)
                        fail(&ctx, REQUEST_ERR_OVERSIZE,
                             "parsing needs more than %zu bytes (%d times "
                             "worker.max_message_bytes)",
                             request_parse_budget(lim), REQUEST_PARSE_FACTOR);
                else
                        fail(&ctx, REQUEST_ERR_INTERNAL,
                             "out of memory parsing");
                return NULL;
        }
        if (!root)
                return NULL;
        if (!json_is_object(root)) {
                fail(&ctx, REQUEST_ERR_NOT_OBJECT,
                     "message must be a JSON object, got %s", json_kind(root));
                json_decref(root);
                return NULL;
        }
        copy_request_id(root, request_id_out);

        struct request *req = calloc(1, sizeof(*req));
        if (!req) {
                json_decref(root);
                fail(&ctx, REQUEST_ERR_INTERNAL, "out of memory");
                return NULL;
        }
        req->root = root;
        if (check_envelope(&ctx, root, lim, req) != 0) {
                request_free(req);
                return NULL;
        }
        return req;
}

void request_free(struct request *req)
{
        if (!req)
                return;
        json_decref(req->root);
        free(req->targets);
        free(req);
}
