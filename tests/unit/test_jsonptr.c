/* Unit tests: jsonptr (RFC 6901, including its §5 examples). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jsonptr.h"

static const char *rfc_doc =
    "{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2, "
    "\"e^f\": 3, \"g|h\": 4, \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7, "
    "\"m~n\": 8}";

static json_int_t int_at(json_t *doc, const char *ptr)
{
        json_t *v = jsonptr_get(doc, ptr);
        assert_non_null(v);
        return json_integer_value(v);
}

static void rfc6901_examples(void **state)
{
        (void)state;
        json_t *doc = json_loads(rfc_doc, 0, NULL);
        assert_non_null(doc);
        assert_ptr_equal(jsonptr_get(doc, ""), doc);
        assert_int_equal(json_array_size(jsonptr_get(doc, "/foo")), 2);
        assert_string_equal(json_string_value(jsonptr_get(doc, "/foo/0")),
                            "bar");
        assert_int_equal(int_at(doc, "/"), 0);
        assert_int_equal(int_at(doc, "/a~1b"), 1);
        assert_int_equal(int_at(doc, "/c%d"), 2);
        assert_int_equal(int_at(doc, "/e^f"), 3);
        assert_int_equal(int_at(doc, "/g|h"), 4);
        assert_int_equal(int_at(doc, "/i\\j"), 5);
        assert_int_equal(int_at(doc, "/k\"l"), 6);
        assert_int_equal(int_at(doc, "/ "), 7);
        assert_int_equal(int_at(doc, "/m~0n"), 8);
        json_decref(doc);
}

static void escapes_apply_in_order(void **state)
{
        (void)state;
        /* "~01" is "~1" literally, not "/". */
        json_t *doc = json_pack("{s:i, s:i}", "~1", 1, "/", 2);
        assert_int_equal(int_at(doc, "/~01"), 1);
        assert_int_equal(int_at(doc, "/~1"), 2);
        json_decref(doc);
}

static void names_nothing(void **state)
{
        (void)state;
        json_t *doc = json_loads(rfc_doc, 0, NULL);
        assert_null(jsonptr_get(doc, "/foo/2"));
        assert_null(jsonptr_get(doc, "/foo/-"));
        assert_null(jsonptr_get(doc, "/foo/01"));
        assert_null(jsonptr_get(doc, "/foo/x"));
        assert_null(jsonptr_get(doc, "/foo/0/deeper"));
        assert_null(jsonptr_get(doc, "/missing"));
        assert_null(jsonptr_get(doc, "foo"));
        assert_null(jsonptr_get(doc, "/m~2n"));
        assert_null(jsonptr_get(NULL, ""));
        json_decref(doc);
}

static void validity(void **state)
{
        (void)state;
        assert_true(jsonptr_valid(""));
        assert_true(jsonptr_valid("/a/~0/~1"));
        assert_false(jsonptr_valid("a"));
        assert_false(jsonptr_valid("/~"));
        assert_false(jsonptr_valid("/~x"));
        assert_false(jsonptr_valid(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(rfc6901_examples),
            cmocka_unit_test(escapes_apply_in_order),
            cmocka_unit_test(names_nothing),
            cmocka_unit_test(validity),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
