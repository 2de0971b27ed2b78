/* Unit tests: clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "clock.h"

static void format_epoch(void **state)
{
        (void)state;
        char out[32];
        clock_format_rfc3339(0, out);
        assert_string_equal(out, "1970-01-01T00:00:00.000Z");
}

static void format_known_instant_with_ms(void **state)
{
        (void)state;
        char out[32];
        /* date -u -d '2026-11-22T10:00:00Z' +%s -> 1795341600 */
        clock_format_rfc3339(1795341600123LL, out);
        assert_string_equal(out, "2026-11-22T10:00:00.123Z");
        clock_format_rfc3339(1795341600007LL, out);
        assert_string_equal(out, "2026-11-22T10:00:00.007Z");
}

static void format_leap_day_and_year_end(void **state)
{
        (void)state;
        char out[32];
        /* 2024-02-29T23:59:59.999Z */
        clock_format_rfc3339(1709251199999LL, out);
        assert_string_equal(out, "2024-02-29T23:59:59.999Z");
        /* 1999-12-31T23:59:59.500Z */
        clock_format_rfc3339(946684799500LL, out);
        assert_string_equal(out, "1999-12-31T23:59:59.500Z");
}

static void format_before_epoch_floors(void **state)
{
        (void)state;
        char out[32];
        clock_format_rfc3339(-1, out);
        assert_string_equal(out, "1969-12-31T23:59:59.999Z");
}

static void format_clamps_to_four_digit_years(void **state)
{
        (void)state;
        char out[32];
        clock_format_rfc3339(INT64_MAX, out);
        assert_string_equal(out, "9999-12-31T23:59:59.999Z");
        clock_format_rfc3339(INT64_MIN, out);
        assert_string_equal(out, "0000-01-01T00:00:00.000Z");
}

static void mono_advances_with_sleep(void **state)
{
        (void)state;
        int64_t a = clock_mono_ms();
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        int64_t b = clock_mono_ms();
        /* Both readings are truncated to ms, so 20 ms of sleep shows as
         * at least 19. */
        assert_true(b - a >= 19);
        assert_true(b - a < 5000);
}

static int64_t realtime_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Bounds from CLOCK_REALTIME itself: time() reads the coarse clock, which
 * may still show the previous second a few ms after it has passed, and
 * then made this test fail at random. */
static void wall_matches_time(void **state)
{
        (void)state;
        int64_t before = realtime_ms();
        int64_t wall = clock_wall_ms();
        int64_t after = realtime_ms();
        assert_true(wall >= before);
        assert_true(wall <= after);
        int64_t t = (int64_t)time(NULL) * 1000;
        assert_true(wall > t - 2000 && wall < t + 2000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(format_epoch),
            cmocka_unit_test(format_known_instant_with_ms),
            cmocka_unit_test(format_leap_day_and_year_end),
            cmocka_unit_test(format_before_epoch_floors),
            cmocka_unit_test(format_clamps_to_four_digit_years),
            cmocka_unit_test(mono_advances_with_sleep),
            cmocka_unit_test(wall_matches_time),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
