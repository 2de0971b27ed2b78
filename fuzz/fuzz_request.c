/* libFuzzer harness for request_parse() (src/request.c).
 *
 * Every message on the request topic comes from outside the worker, so the
 * parser must survive any bytes and keep the promises the rest of the
 * worker relies on: an accepted request has a valid id and well-formed
 * targets, and a rejection's errstr (which lands in logs and dead-letter
 * headers) is short, terminated and printable. Each input is parsed
 * several ways (default limits, small limits, tiny or absent out
 * parameters) and the results must agree with one another. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "request.h"

#include "fuzz_util.h"

/* libFuzzer's entry points; declared here for -Wmissing-prototypes. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Production passes buffers of this order; see worker.c and main.c. */
#define ERRSTR_SIZE 512
/* Small enough that most inputs overflow it, to test truncation. */
#define TINY_ERRSTR 7
/* A second set of limits that real inputs cross often. */
#define SMALL_MAX_BYTES   256
#define SMALL_MAX_TARGETS 3

/* One way of calling request_parse(), and what came back. */
struct parse_result {
        struct request *req;
        enum request_error err;
        char *id;
        char errstr[ERRSTR_SIZE];
};

static int is_alnum(int c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               (c >= '0' && c <= '9');
}

/* request.h's documented syntax, written independently of request.c so
 * the two can be compared on arbitrary strings. */
static int ref_request_id_valid(const char *s)
{
        size_t n = strlen(s);
        if (n < 1 || n > 128 || !is_alnum((unsigned char)s[0]))
                return 0;
        for (size_t i = 1; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (!is_alnum(c) && !strchr("._:-", c))
                        return 0;
        }
        return 1;
}

/* [a-z][a-z0-9_-]{0,31} */
static int ref_provider_valid(const char *s)
{
        size_t n = strlen(s);
        if (n < 1 || n > 32 || !(s[0] >= 'a' && s[0] <= 'z'))
                return 0;
        for (size_t i = 1; i < n; i++) {
                char c = s[i];
                if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') &&
                    c != '_' && c != '-')
                        return 0;
        }
        return 1;
}

/* [A-Za-z0-9_-]{1,64} */
static int ref_account_valid(const char *s)
{
        size_t n = strlen(s);
        if (n < 1 || n > 64)
                return 0;
        for (size_t i = 0; i < n; i++) {
                if (!is_alnum((unsigned char)s[i]) && s[i] != '_' &&
                    s[i] != '-')
                        return 0;
        }
        return 1;
}

/* Terminated inside its buffer, and only printable ASCII: a hostile
 * message must not be able to forge a log line or a Kafka header. */
static void check_errstr(const char *errstr, size_t size, int want_nonempty)
{
        const char *end = memchr(errstr, '\0', size);
        CHECK(end != NULL);
        if (want_nonempty)
                CHECK(errstr[0] != '\0');
        for (const char *p = errstr; p < end; p++)
                CHECK(*p >= 0x20 && *p <= 0x7e);
}

/* Only envelope errors come out of request_parse(); the others belong to
 * provider_plan(). A new code here would be a new dead-letter reason. */
static int is_envelope_error(enum request_error err)
{
        switch (err) {
        case REQUEST_ERR_OVERSIZE:
        case REQUEST_ERR_NOT_JSON:
        case REQUEST_ERR_NOT_OBJECT:
        case REQUEST_ERR_VERSION:
        case REQUEST_ERR_REQUEST_ID:
        case REQUEST_ERR_TARGETS:
        case REQUEST_ERR_BAD_FIELD:
                return 1;
        default:
                return 0;
        }
}

static void check_target(const struct request_target *t)
{
        CHECK(t->provider != NULL);
        CHECK(t->account != NULL);
        CHECK(json_is_object(t->json));
        CHECK(ref_provider_valid(t->provider));
        CHECK(ref_account_valid(t->account));
        /* Borrowed pointers must say what the JSON says. */
        const char *p = json_string_value(json_object_get(t->json, "provider"));
        CHECK(p && strcmp(p, t->provider) == 0);
        json_t *a = json_object_get(t->json, "account");
        if (a)
                CHECK(json_is_string(a) &&
                      strcmp(json_string_value(a), t->account) == 0);
        else
                CHECK(strcmp(t->account, "default") == 0);
}

static void check_success(const struct parse_result *r, size_t size,
                          const struct request_limits *lim)
{
        const struct request *req = r->req;
        CHECK(r->err == REQUEST_OK);
        CHECK(r->errstr[0] == '\0');
        CHECK(size <= lim->max_bytes);
        CHECK(json_is_object(req->root));

        json_t *v = json_object_get(req->root, "version");
        CHECK(json_is_integer(v) && json_integer_value(v) == 1);

        CHECK(req->request_id != NULL);
        CHECK(request_id_valid(req->request_id));
        CHECK(ref_request_id_valid(req->request_id));
        const char *id =
            json_string_value(json_object_get(req->root, "request_id"));
        CHECK(id == req->request_id);
        CHECK(r->id != NULL && strcmp(r->id, req->request_id) == 0);

        json_t *at = json_object_get(req->root, "requested_at");
        CHECK(at ? req->requested_at == json_string_value(at)
                 : req->requested_at == NULL);

        json_t *targets = json_object_get(req->root, "targets");
        CHECK(req->ntargets >= 1);
        CHECK(req->ntargets <= lim->max_targets);
        CHECK(req->targets != NULL);
        CHECK(json_array_size(targets) == req->ntargets);
        for (size_t i = 0; i < req->ntargets; i++) {
                check_target(&req->targets[i]);
                CHECK(req->targets[i].json == json_array_get(targets, i));
        }
}

static void check_failure(const struct parse_result *r, size_t size,
                          const struct request_limits *lim)
{
        CHECK(r->err != REQUEST_OK);
        CHECK(is_envelope_error(r->err));
        CHECK(strcmp(request_error_name(r->err), "unknown") != 0);
        check_errstr(r->errstr, sizeof(r->errstr), 1);
        if (r->id)
                CHECK(request_id_valid(r->id) && ref_request_id_valid(r->id));
        /* The size check comes first so an oversize message is never
         * parsed. The only other oversize is a tree over the parse budget
         * (request_parse_budget()), and it says so. */
        if (size > lim->max_bytes)
                CHECK(r->err == REQUEST_ERR_OVERSIZE);
        if (r->err == REQUEST_ERR_OVERSIZE && size <= lim->max_bytes)
                CHECK(strstr(r->errstr, "parsing needs more than") != NULL);
        if (r->err == REQUEST_ERR_OVERSIZE)
                CHECK(r->id == NULL);
}

static void parse(struct parse_result *r, const uint8_t *data, size_t size,
                  const struct request_limits *lim)
{
        memset(r, 0, sizeof(*r));
        /* Garbage in the outputs must be overwritten, not trusted. */
        r->err = REQUEST_ERR_TOO_MANY_CALLS;
        r->id = (char *)"not-cleared";
        memset(r->errstr, 'x', sizeof(r->errstr));
        r->req = request_parse(data, size, lim, &r->err, &r->id, r->errstr,
                               sizeof(r->errstr));
        if (r->req)
                check_success(r, size, lim);
        else
                check_failure(r, size, lim);
}

static void result_free(struct parse_result *r)
{
        request_free(r->req);
        free(r->id);
}

/* The same input with smaller limits: limits can only turn an acceptance
 * into a rejection (oversize or too many targets), never the reverse, and
 * never change a reason found before the limit applies. A smaller size
 * limit is a smaller parse budget too, so the parse itself may stop as
 * oversize; nothing else is then compared. */
static void check_small_limits(const struct parse_result *full,
                               const uint8_t *data, size_t size)
{
        struct request_limits lim = {SMALL_MAX_BYTES, SMALL_MAX_TARGETS};
        struct parse_result r;
        parse(&r, data, size, &lim);
        if (size <= lim.max_bytes && r.err == REQUEST_ERR_OVERSIZE) {
                CHECK(r.req == NULL && r.id == NULL);
                CHECK(strstr(r.errstr, "parsing needs more than") != NULL);
        } else if (size > lim.max_bytes) {
                CHECK(r.err == REQUEST_ERR_OVERSIZE);
        } else if (full->req) {
                if (full->req->ntargets > lim.max_targets) {
                        CHECK(r.err == REQUEST_ERR_TARGETS);
                } else {
                        CHECK(r.req != NULL);
                        CHECK(r.req->ntargets == full->req->ntargets);
                }
        } else {
                CHECK(r.req == NULL);
                CHECK(r.err == full->err || r.err == REQUEST_ERR_TARGETS);
        }
        if (size <= lim.max_bytes && r.err != REQUEST_ERR_OVERSIZE)
                CHECK((r.id == NULL) == (full->id == NULL) &&
                      (!r.id || strcmp(r.id, full->id) == 0));
        result_free(&r);
}

/* Out parameters are optional, and a short errstr is cut, not overrun. */
static void check_out_params(const struct parse_result *full,
                             const uint8_t *data, size_t size)
{
        struct request_limits lim;
        enum request_error err = REQUEST_OK;
        char tiny[TINY_ERRSTR + 1];

        request_limits_default(&lim);
        tiny[TINY_ERRSTR] = 'G'; /* guard: must survive */
        struct request *req =
            request_parse(data, size, &lim, &err, NULL, tiny, TINY_ERRSTR);
        CHECK((req == NULL) == (full->req == NULL));
        CHECK(err == full->err);
        CHECK(tiny[TINY_ERRSTR] == 'G');
        check_errstr(tiny, TINY_ERRSTR, !req);
        CHECK(strncmp(tiny, full->errstr, strlen(tiny)) == 0);
        request_free(req);

        /* NULL limits mean the defaults. */
        req = request_parse(data, size, NULL, NULL, NULL, NULL, 0);
        CHECK((req == NULL) == (full->req == NULL));
        request_free(req);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        /* A fixed hash seed makes a crash reproduce the same way. */
        json_object_seed(1);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct request_limits lim;
        struct parse_result full;

        request_limits_default(&lim);
        parse(&full, data, size, &lim);
        check_small_limits(&full, data, size);
        check_out_params(&full, data, size);
        result_free(&full);

        /* The id check on its own, on the raw bytes up to the first NUL,
         * against the documented syntax. */
        char *s = malloc(size + 1);
        if (s) {
                memcpy(s, data, size);
                s[size] = '\0';
                CHECK(request_id_valid(s) == ref_request_id_valid(s));
                free(s);
        }
        return 0;
}
