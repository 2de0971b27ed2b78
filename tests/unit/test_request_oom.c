/* Unit tests: request_parse() out of memory is an internal error, never a
 * rejection of the message (which would dead-letter and commit it). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "oom_alloc.h"
#include "request.h"

static const char msg[] =
    "{\"version\":1,\"request_id\":\"r-oom\",\"requested_at\":"
    "\"2026-11-22T10:00:00Z\",\"targets\":[{\"provider\":\"vectara\","
    "\"agent_id\":\"agt_1\",\"session_ids\":[\"a\",\"b\",\"c\"]},"
    "{\"provider\":\"convai\",\"char_id\":\"c0ffee\"}]}";

static void test_name(void **state)
{
        (void)state;
        assert_string_equal(request_error_name(REQUEST_ERR_INTERNAL),
                            "internal_error");
        /* Appended: the codes already on the wire keep their numbers. */
        assert_int_equal(REQUEST_ERR_INTERNAL, REQUEST_ERR_TOO_MANY_CALLS + 1);
}

static enum request_error parse_with_budget(long budget)
{
        enum request_error err = REQUEST_OK;
        char errstr[256];
        oom_arm(budget);
        struct request *r = request_parse(msg, strlen(msg), NULL, &err, NULL,
                                          errstr, sizeof(errstr));
        oom_disarm();
        request_free(r);
        return err;
}

/* jansson's first allocation is its lexer's buffer; when that fails it
 * says nothing at all, which used to read as not_json. */
static void test_first_allocation_fails(void **state)
{
        (void)state;
        assert_int_equal(parse_with_budget(0), REQUEST_ERR_INTERNAL);
}

/* Fails the first, second, ... allocation in turn. No failure may become
 * a verdict about the message's shape (bad_targets, bad_request_id, ...):
 * jansson reports most as out of memory; one it cannot tell from bad
 * syntax (a failed copy of a string token) stays not_json, a known limit.
 * Once the budget suffices the request parses. */
static void test_every_allocation_fails_in_turn(void **state)
{
        (void)state;
        long budget;
        int internal = 0;
        for (budget = 0; budget < 10000; budget++) {
                enum request_error err = parse_with_budget(budget);
                if (err == REQUEST_OK)
                        break;
                if (err != REQUEST_ERR_INTERNAL && err != REQUEST_ERR_NOT_JSON)
                        fail_msg("budget %ld: %s", budget,
                                 request_error_name(err));
                internal += err == REQUEST_ERR_INTERNAL;
        }
        assert_true(budget < 10000);
        assert_true(internal > 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_name),
            cmocka_unit_test(test_first_allocation_fails),
            cmocka_unit_test(test_every_allocation_fails_in_turn),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
