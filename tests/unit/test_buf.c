/* Unit tests: buf (bounded growable strings). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void empty_take_is_empty_string(void **state)
{
        (void)state;
        struct buf b;
        buf_init(&b, 16);
        char *s = buf_take(&b);
        assert_string_equal(s, "");
        free(s);
}

static void grows_past_first_capacity(void **state)
{
        (void)state;
        struct buf b;
        char want[1001];
        buf_init(&b, 1000);
        for (int i = 0; i < 1000; i++) {
                want[i] = (char)('a' + i % 26);
                buf_add(&b, &want[i], 1);
        }
        want[1000] = '\0';
        assert_int_equal(b.state, BUF_OK);
        char *s = buf_take(&b);
        assert_string_equal(s, want);
        assert_null(b.data);
        free(s);
}

static void exact_bound_fits_one_more_refuses(void **state)
{
        (void)state;
        struct buf b;
        buf_init(&b, 5);
        buf_adds(&b, "ab");
        buf_adds(&b, "cde");
        assert_int_equal(b.state, BUF_OK);
        assert_string_equal(b.data, "abcde");
        buf_adds(&b, "f");
        assert_int_equal(b.state, BUF_TOO_LONG);
        /* Once failed, later appends that would fit change nothing. */
        buf_adds(&b, "");
        assert_int_equal(b.state, BUF_TOO_LONG);
        assert_null(buf_take(&b));
        assert_null(b.data);
}

static void printf_short_and_long(void **state)
{
        (void)state;
        struct buf b;
        char big[600];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        buf_init(&b, 4096);
        buf_printf(&b, "%d-%s|", 42, "ok");
        buf_printf(&b, "%s", big); /* longer than the stack scratch */
        assert_int_equal(b.state, BUF_OK);
        assert_int_equal(b.len, 6 + sizeof(big) - 1);
        assert_memory_equal(b.data, "42-ok|", 6);
        assert_string_equal(b.data + 6, big);
        buf_free(&b);
        assert_null(b.data);
        buf_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(empty_take_is_empty_string),
            cmocka_unit_test(grows_past_first_capacity),
            cmocka_unit_test(exact_bound_fits_one_more_refuses),
            cmocka_unit_test(printf_short_and_long),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
