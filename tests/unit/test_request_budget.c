/* Unit tests: request's per-message parse budget and internal_error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

#define MIB (1024 * 1024)

/* A valid request whose unknown top-level "pad" is n bytes of "{},". */
static char *padded(size_t n, size_t *len)
{
        static const char head[] = "{\"version\":1,\"request_id\":\"r-pad\","
                                   "\"targets\":[{\"provider\":\"vectara\"}],"
                                   "\"pad\":[";
        char *buf = malloc(sizeof(head) + n + 8);
        assert_non_null(buf);
        size_t off = sizeof(head) - 1;
        memcpy(buf, head, off);
        for (size_t i = 0; i + 3 <= n; i += 3)
                memcpy(buf + off + i, "{},", 3);
        off += n / 3 * 3;
        memcpy(buf + off, "{}]}", 4);
        *len = off + 4;
        return buf;
}

/* A valid request of about n bytes: one target, many session ids. */
static char *sessions(size_t n, size_t *len)
{
        static const char head[] = "{\"version\":1,\"request_id\":\"r-big\","
                                   "\"targets\":[{\"provider\":\"vectara\","
                                   "\"agent_id\":\"agt_a\",\"session_ids\":[";
        char *buf = malloc(sizeof(head) + n + 64);
        assert_non_null(buf);
        size_t off = sizeof(head) - 1;
        memcpy(buf, head, off);
        for (int i = 0; off + 32 < sizeof(head) + n; i++)
                off += (size_t)sprintf(buf + off, "%s\"ase_%08d\"",
                                       i ? "," : "", i);
        memcpy(buf + off, "]}]}", 4);
        *len = off + 4;
        return buf;
}

static void padded_tree_over_budget_is_oversize(void **state)
{
        (void)state;
        struct request_limits lim;
        request_limits_default(&lim);
        size_t len;
        char *msg = padded(MIB - 200, &len);
        assert_true(len <= lim.max_bytes);
        enum request_error err = REQUEST_OK;
        char *id = NULL;
        char errstr[256];
        struct request *req =
            request_parse(msg, len, &lim, &err, &id, errstr, sizeof(errstr));
        assert_null(req);
        assert_int_equal(err, REQUEST_ERR_OVERSIZE);
        assert_non_null(strstr(errstr, "parsing needs more than"));
        free(id);
        free(msg);
}

static void small_padding_is_still_tolerated(void **state)
{
        (void)state;
        size_t len;
        char *msg = padded(3000, &len);
        enum request_error err = REQUEST_OK;
        struct request *req =
            request_parse(msg, len, NULL, &err, NULL, NULL, 0);
        assert_non_null(req);
        assert_int_equal(err, REQUEST_OK);
        request_free(req);
        free(msg);
}

/* A real request at the size limit fits the default budget. */
static void legitimate_request_at_the_limit_parses(void **state)
{
        (void)state;
        struct request_limits lim;
        request_limits_default(&lim);
        size_t len;
        char *msg = sessions(lim.max_bytes - 100, &len);
        assert_true(len <= lim.max_bytes);
        enum request_error err = REQUEST_OK;
        char errstr[256] = "";
        struct request *req =
            request_parse(msg, len, &lim, &err, NULL, errstr, sizeof(errstr));
        if (!req)
                fail_msg("rejected: %s", errstr);
        assert_int_equal(req->ntargets, 1);
        request_free(req);
        free(msg);
        assert_int_equal(request_parse_budget(&lim),
                         REQUEST_PARSE_FACTOR * lim.max_bytes);
}

static void internal_error_name(void **state)
{
        (void)state;
        assert_string_equal(request_error_name(REQUEST_ERR_INTERNAL),
                            "internal_error");
        assert_int_equal(REQUEST_ERR_INTERNAL, REQUEST_ERR_TOO_MANY_CALLS + 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(padded_tree_over_budget_is_oversize),
            cmocka_unit_test(small_padding_is_still_tolerated),
            cmocka_unit_test(legitimate_request_at_the_limit_parses),
            cmocka_unit_test(internal_error_name),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
