/* Unit tests: pool (a loop's share of the process-wide caps). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pool.h"

static void share_rounds_up(void **state)
{
        (void)state;
        assert_int_equal(pool_share(512, 1), 512);
        assert_int_equal(pool_share(512, 2), 256);
        assert_int_equal(pool_share(1000, 3), 334);
        /* Never 0: a loop with no share would never take work. */
        assert_int_equal(pool_share(1, 4), 1);
        assert_int_equal(pool_share(5, 4), 2);
        assert_int_equal(pool_share(7, 0), 7);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(share_rounds_up),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
