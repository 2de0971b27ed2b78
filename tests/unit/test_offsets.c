/* Commit points under out-of-order completion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "offsets.h"

static void in_order_moves_one_by_one(void **state)
{
        (void)state;
        struct offsets *o = offsets_new();
        assert_int_equal(offsets_begin(o, 0, 10), 0);
        assert_int_equal(offsets_begin(o, 0, 11), 0);
        assert_int_equal(offsets_finish(o, 0, 10), 11);
        assert_int_equal(offsets_finish(o, 0, 11), 12);
        assert_int_equal(offsets_pending(o, 0), 0);
        offsets_free(o);
}

static void out_of_order_waits_for_the_lowest(void **state)
{
        (void)state;
        struct offsets *o = offsets_new();
        for (int64_t off = 100; off < 105; off++)
                assert_int_equal(offsets_begin(o, 3, off), 0);
        /* 101..104 finish first: nothing may be committed past 100. */
        assert_int_equal(offsets_finish(o, 3, 103), -1);
        assert_int_equal(offsets_finish(o, 3, 101), -1);
        assert_int_equal(offsets_finish(o, 3, 104), -1);
        assert_int_equal(offsets_pending(o, 3), 5);
        /* 100 finishes: the point jumps over 101 to the next gap (102). */
        assert_int_equal(offsets_finish(o, 3, 100), 102);
        assert_int_equal(offsets_finish(o, 3, 102), 105);
        assert_int_equal(offsets_pending(o, 3), 0);
        offsets_free(o);
}

static void partitions_are_independent(void **state)
{
        (void)state;
        struct offsets *o = offsets_new();
        assert_int_equal(offsets_begin(o, 0, 5), 0);
        assert_int_equal(offsets_begin(o, 7, 5), 0);
        assert_int_equal(offsets_finish(o, 7, 5), 6);
        assert_int_equal(offsets_pending(o, 0), 1);
        assert_int_equal(offsets_finish(o, 0, 5), 6);
        offsets_free(o);
}

static void rejects_bad_input(void **state)
{
        (void)state;
        struct offsets *o = offsets_new();
        assert_int_equal(offsets_begin(o, 0, 5), 0);
        assert_int_equal(offsets_begin(o, 0, 5), -1); /* duplicate */
        assert_int_equal(offsets_begin(o, 0, 4), -1); /* backwards */
        assert_int_equal(offsets_begin(o, -1, 1), -1);
        assert_int_equal(offsets_finish(o, 0, 99), -1); /* unknown */
        assert_int_equal(offsets_finish(o, 2, 5), -1);
        assert_int_equal(offsets_finish(o, 0, 5), 6);
        assert_int_equal(offsets_finish(o, 0, 5), -1); /* twice */
        offsets_free(o);
        offsets_free(NULL);
}

static void drop_forgets_partition(void **state)
{
        (void)state;
        struct offsets *o = offsets_new();
        assert_int_equal(offsets_begin(o, 1, 50), 0);
        offsets_drop(o, 1);
        assert_int_equal(offsets_pending(o, 1), 0);
        assert_int_equal(offsets_finish(o, 1, 50), -1);
        /* Re-assigned later, it may start lower (committed offset). */
        assert_int_equal(offsets_begin(o, 1, 40), 0);
        assert_int_equal(offsets_finish(o, 1, 40), 41);
        offsets_free(o);
}

static void many_offsets_wrap_the_ring(void **state)
{
        (void)state;
        struct offsets *o = offsets_new();
        int64_t next = 0;
        /* Keep the oldest open while thousands pass through behind it. */
        assert_int_equal(offsets_begin(o, 0, 0), 0);
        for (int64_t off = 1; off < 5000; off++) {
                assert_int_equal(offsets_begin(o, 0, off), 0);
                if (off % 3 == 0)
                        assert_int_equal(offsets_finish(o, 0, off), -1);
        }
        for (int64_t off = 1; off < 5000; off++)
                if (off % 3 != 0)
                        offsets_finish(o, 0, off);
        next = offsets_finish(o, 0, 0);
        assert_int_equal(next, 5000);
        offsets_free(o);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(in_order_moves_one_by_one),
            cmocka_unit_test(out_of_order_waits_for_the_lowest),
            cmocka_unit_test(partitions_are_independent),
            cmocka_unit_test(rejects_bad_input),
            cmocka_unit_test(drop_forgets_partition),
            cmocka_unit_test(many_offsets_wrap_the_ring),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
