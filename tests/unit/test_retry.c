/* Unit tests: retry (full jitter, Retry-After, budgets). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>

#include "retry.h"

#define DRAWS 20000

/* Sun, 06 Nov 1994 08:49:37 GMT (date -u -d ... +%s) in ms. */
#define RFC_EXAMPLE_MS 784111777000LL
#define HOUR_MS        3600000LL

struct draws {
        int64_t min, max;
        double mean;
};

static struct draws sample(const struct retry_policy *p, int attempt,
                           uint64_t seed)
{
        struct draws d = {INT64_MAX, INT64_MIN, 0};
        uint64_t rng = seed;
        double sum = 0;
        for (int i = 0; i < DRAWS; i++) {
                int64_t v = retry_backoff_ms(p, attempt, &rng);
                if (v < d.min)
                        d.min = v;
                if (v > d.max)
                        d.max = v;
                sum += (double)v;
        }
        d.mean = sum / DRAWS;
        return d;
}

/* All draws in [0, cap], spread over the whole range, mean near cap/2. */
static void assert_full_jitter(const struct retry_policy *p, int attempt,
                               int64_t cap)
{
        struct draws d = sample(p, attempt, 0x1234567887654321ULL);
        assert_true(d.min >= 0);
        assert_true(d.max <= cap);
        assert_true(d.min <= cap / 50);
        assert_true(d.max >= cap - cap / 50);
        double half = (double)cap / 2;
        if (d.mean < half * 0.95 || d.mean > half * 1.05)
                fail_msg("attempt %d: mean %.1f, expected about %.1f", attempt,
                         d.mean, half);
}

static void backoff_full_jitter_per_attempt(void **state)
{
        (void)state;
        struct retry_policy p = {.max_attempts = 50,
                                 .budget_ms = 600000,
                                 .base_ms = 100,
                                 .max_ms = 30000};
        assert_full_jitter(&p, 1, 100);
        assert_full_jitter(&p, 2, 200);
        assert_full_jitter(&p, 4, 800);
        assert_full_jitter(&p, 8, 12800);
        assert_full_jitter(&p, 9, 25600);
        assert_full_jitter(&p, 10, 30000);
        assert_full_jitter(&p, 40, 30000);
}

static void backoff_exponent_overflow_safe(void **state)
{
        (void)state;
        struct retry_policy p = {.max_attempts = 5,
                                 .budget_ms = 1000,
                                 .base_ms = INT64_MAX / 4,
                                 .max_ms = INT64_MAX / 2};
        uint64_t rng = 42;
        int attempts[] = {1, 2, 3, 4, 63, 64, 65, 1000, INT_MAX};
        for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
                for (int k = 0; k < 100; k++) {
                        int64_t v = retry_backoff_ms(&p, attempts[i], &rng);
                        assert_true(v >= 0 && v <= INT64_MAX / 2);
                }
        }
        struct retry_policy q = {.max_attempts = 5,
                                 .budget_ms = 1000,
                                 .base_ms = 1000,
                                 .max_ms = 60000};
        assert_full_jitter(&q, INT_MAX, 60000);
        assert_full_jitter(&q, 64, 60000);
        /* attempt 0 or negative counts as the first retry, not 2^-1. */
        assert_full_jitter(&q, 0, 1000);
        assert_full_jitter(&q, -5, 1000);
}

static void backoff_base_above_max_uses_max(void **state)
{
        (void)state;
        struct retry_policy p = {.max_attempts = 5,
                                 .budget_ms = 1000,
                                 .base_ms = 5000,
                                 .max_ms = 2000};
        assert_full_jitter(&p, 1, 2000);
}

static void backoff_upper_bound_inclusive(void **state)
{
        (void)state;
        /* [0, 1]: both ends must occur, about equally often. */
        struct retry_policy p = {
            .max_attempts = 5, .budget_ms = 1000, .base_ms = 1, .max_ms = 1};
        assert_full_jitter(&p, 1, 1);
        assert_full_jitter(&p, 30, 1);
}

static void backoff_degenerate_policies(void **state)
{
        (void)state;
        uint64_t rng = 7;
        struct retry_policy zero = {
            .max_attempts = 5, .budget_ms = 1000, .base_ms = 0, .max_ms = 0};
        struct retry_policy neg = {
            .max_attempts = 5, .budget_ms = 1000, .base_ms = -10, .max_ms = -1};
        for (int i = 1; i < 70; i++) {
                assert_int_equal(retry_backoff_ms(&zero, i, &rng), 0);
                assert_int_equal(retry_backoff_ms(&neg, i, &rng), 0);
        }
}

static void backoff_rng_state_advances_and_zero_seed_works(void **state)
{
        (void)state;
        struct retry_policy p = {.max_attempts = 5,
                                 .budget_ms = 1000,
                                 .base_ms = 1000000,
                                 .max_ms = 1000000};
        uint64_t a = 99, b = 99;
        for (int i = 0; i < 10; i++)
                assert_int_equal(retry_backoff_ms(&p, 1, &a),
                                 retry_backoff_ms(&p, 1, &b));
        assert_true(a != 99);

        /* 0 is not a valid xorshift state; it must not pin delays at 0. */
        uint64_t z = 0;
        int64_t sum = 0;
        for (int i = 0; i < 10; i++)
                sum += retry_backoff_ms(&p, 1, &z);
        assert_true(sum > 0);
        assert_true(z != 0);

        /* Different seeds give different sequences. */
        uint64_t s1 = 1, s2 = 2;
        int differ = 0;
        for (int i = 0; i < 10; i++)
                differ |= retry_backoff_ms(&p, 1, &s1) !=
                          retry_backoff_ms(&p, 1, &s2);
        assert_true(differ);
}

static void retry_after_delta_seconds(void **state)
{
        (void)state;
        assert_int_equal(retry_after_ms("0", 0), 0);
        assert_int_equal(retry_after_ms("1", 0), 1000);
        assert_int_equal(retry_after_ms("120", 0), 120000);
        assert_int_equal(retry_after_ms("007", 0), 7000);
        assert_int_equal(retry_after_ms(" 30\r\n", 0), 30000);
        assert_int_equal(retry_after_ms("3600", 0), HOUR_MS);
        assert_int_equal(retry_after_ms("3601", 0), HOUR_MS);
        assert_int_equal(retry_after_ms("86400", 0), HOUR_MS);
        assert_int_equal(
            retry_after_ms("99999999999999999999999999999999999999", 0),
            HOUR_MS);
}

static void retry_after_garbage(void **state)
{
        (void)state;
        const char *bad[] = {
            "",
            "   ",
            "-1",
            "+5",
            "1.5",
            "5s",
            "5 5",
            "0x10",
            "abc",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Tue, 29 Feb 2022 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT junk",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            "2026-11-22T10:00:00Z",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int64_t v = retry_after_ms(bad[i], RFC_EXAMPLE_MS - 5000);
                if (v != -1)
                        fail_msg("\"%s\" gave %lld", bad[i], (long long)v);
        }
        assert_int_equal(retry_after_ms(NULL, 0), -1);
}

static void retry_after_http_date_forms(void **state)
{
        (void)state;
        int64_t now = RFC_EXAMPLE_MS - 5000;
        assert_int_equal(retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now),
                         5000);
        assert_int_equal(retry_after_ms("Sunday, 06-Nov-94 08:49:37 GMT", now),
                         5000);
        assert_int_equal(retry_after_ms("Sun Nov  6 08:49:37 1994", now), 5000);
        assert_int_equal(retry_after_ms("Sun Nov 06 08:49:37 1994", now), 5000);
        /* Sub-second "now": the wait is exact to the ms. */
        assert_int_equal(
            retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_MS - 1),
            1);
        assert_int_equal(retry_after_ms(" Sun, 06 Nov 1994 08:49:37 GMT ", now),
                         5000);
        /* Leap years. */
        assert_int_equal(
            retry_after_ms("Thu, 29 Feb 2024 00:00:10 GMT", 1709164800000LL),
            10000);
}

static void retry_after_past_and_far_future(void **state)
{
        (void)state;
        int64_t now = RFC_EXAMPLE_MS + 60000;
        assert_int_equal(retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now),
                         0);
        assert_int_equal(retry_after_ms("Sun Nov  6 08:49:37 1994", now), 0);
        assert_int_equal(
            retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_MS), 0);
        assert_int_equal(retry_after_ms("Fri, 31 Dec 9999 23:59:59 GMT", now),
                         HOUR_MS);
        /* Extreme "now" values must not overflow the subtraction. */
        assert_int_equal(
            retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", INT64_MIN),
            HOUR_MS);
        assert_int_equal(
            retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", INT64_MAX), 0);
}

static void retry_after_rfc850_century(void **state)
{
        (void)state;
        /* 2026-12-31T23:30:00Z: "27" is 2027, half an hour ahead, not 1927
         * (RFC 7231: at most 50 years in the future). */
        int64_t now = 1798759800000LL;
        assert_int_equal(retry_after_ms("Friday, 01-Jan-27 00:00:00 GMT", now),
                         1800000);
        /* "94" is in the past whichever way; "80" is 2080 - 54 years ahead
         * is too far, so 1980: past. */
        assert_int_equal(retry_after_ms("Sunday, 06-Nov-94 08:49:37 GMT", now),
                         0);
        assert_int_equal(retry_after_ms("Monday, 01-Jan-80 00:00:00 GMT", now),
                         0);
        /* "70" is 2070, 44 years ahead: capped, not 1970 (which gives 0). */
        assert_int_equal(
            retry_after_ms("Wednesday, 01-Jan-70 00:00:00 GMT", now), HOUR_MS);
}

static void next_delay_gives_up_when_attempts_used(void **state)
{
        (void)state;
        struct retry_policy p = {.max_attempts = 3,
                                 .budget_ms = 600000,
                                 .base_ms = 100,
                                 .max_ms = 1000};
        uint64_t rng = 5;
        assert_true(retry_next_delay(&p, 1, 0, 0, -1, &rng) >= 0);
        assert_true(retry_next_delay(&p, 2, 0, 0, -1, &rng) >= 0);
        assert_int_equal(retry_next_delay(&p, 3, 0, 0, -1, &rng), -1);
        assert_int_equal(retry_next_delay(&p, 4, 0, 0, -1, &rng), -1);
        p.max_attempts = 1;
        assert_int_equal(retry_next_delay(&p, 1, 0, 0, 0, &rng), -1);
}

static void next_delay_respects_budget(void **state)
{
        (void)state;
        /* Backoff of at most 1 ms, so Retry-After alone sets the delay. */
        struct retry_policy p = {
            .max_attempts = 10, .budget_ms = 1000, .base_ms = 1, .max_ms = 1};
        uint64_t rng = 5;
        int64_t first = 50000;
        /* Next attempt would start at first + 1000 exactly: allowed. */
        assert_int_equal(retry_next_delay(&p, 1, first, first + 900, 100, &rng),
                         100);
        /* One ms later it would start after the budget. */
        assert_int_equal(retry_next_delay(&p, 1, first, first + 901, 100, &rng),
                         -1);
        assert_int_equal(retry_next_delay(&p, 1, first, first + 2000, -1, &rng),
                         -1);
        /* A Retry-After of an hour does not fit a 1 s budget. */
        assert_int_equal(retry_next_delay(&p, 1, first, first, HOUR_MS, &rng),
                         -1);
        /* No overflow with a huge budget and a huge delay. */
        p.budget_ms = INT64_MAX;
        assert_int_equal(
            retry_next_delay(&p, 1, first, first, INT64_MAX - 10, &rng),
            INT64_MAX - 10);
}

static void next_delay_is_max_of_backoff_and_retry_after(void **state)
{
        (void)state;
        struct retry_policy p = {.max_attempts = 10,
                                 .budget_ms = 600000,
                                 .base_ms = 10000,
                                 .max_ms = 10000};
        for (uint64_t seed = 1; seed < 200; seed++) {
                uint64_t a = seed, b = seed;
                int64_t backoff = retry_backoff_ms(&p, 1, &a);
                /* A smaller Retry-After leaves the backoff as it is. */
                assert_int_equal(retry_next_delay(&p, 1, 0, 0, 1, &b),
                                 backoff > 1 ? backoff : 1);
                /* A larger one wins. */
                b = seed;
                assert_int_equal(retry_next_delay(&p, 1, 0, 0, 20000, &b),
                                 20000);
                /* None: plain backoff, for the attempt count given. */
                b = seed;
                assert_int_equal(retry_next_delay(&p, 1, 0, 0, -1, &b),
                                 backoff);
        }
}

static void next_delay_uses_attempt_for_backoff(void **state)
{
        (void)state;
        struct retry_policy p = {.max_attempts = 100,
                                 .budget_ms = INT64_MAX / 2,
                                 .base_ms = 100,
                                 .max_ms = 1000000};
        uint64_t rng = 11;
        int64_t max1 = 0, max5 = 0;
        for (int i = 0; i < 2000; i++) {
                int64_t d1 = retry_next_delay(&p, 1, 0, 0, -1, &rng);
                int64_t d5 = retry_next_delay(&p, 5, 0, 0, -1, &rng);
                assert_true(d1 >= 0 && d1 <= 100);
                assert_true(d5 >= 0 && d5 <= 1600);
                max1 = d1 > max1 ? d1 : max1;
                max5 = d5 > max5 ? d5 : max5;
        }
        assert_true(max1 > 90);
        assert_true(max5 > 1000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(backoff_full_jitter_per_attempt),
            cmocka_unit_test(backoff_exponent_overflow_safe),
            cmocka_unit_test(backoff_base_above_max_uses_max),
            cmocka_unit_test(backoff_upper_bound_inclusive),
            cmocka_unit_test(backoff_degenerate_policies),
            cmocka_unit_test(backoff_rng_state_advances_and_zero_seed_works),
            cmocka_unit_test(retry_after_delta_seconds),
            cmocka_unit_test(retry_after_garbage),
            cmocka_unit_test(retry_after_http_date_forms),
            cmocka_unit_test(retry_after_past_and_far_future),
            cmocka_unit_test(retry_after_rfc850_century),
            cmocka_unit_test(next_delay_gives_up_when_attempts_used),
            cmocka_unit_test(next_delay_respects_budget),
            cmocka_unit_test(next_delay_is_max_of_backoff_and_retry_after),
            cmocka_unit_test(next_delay_uses_attempt_for_backoff),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
