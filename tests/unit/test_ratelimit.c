/* Unit tests: ratelimit (token bucket and cool-down, injected clock). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "ratelimit.h"

#define T0 1000000LL

static void burst_then_wait(void **state)
{
        (void)state;
        struct ratelimit rl;
        ratelimit_init(&rl, 10, 5, T0);
        for (int i = 0; i < 5; i++)
                assert_int_equal(ratelimit_take(&rl, T0), 0);
        /* 10/s: one token every 100 ms. */
        assert_int_equal(ratelimit_take(&rl, T0), 100);
        /* Being told to wait takes nothing: asking again says the same. */
        assert_int_equal(ratelimit_take(&rl, T0), 100);
        assert_int_equal(ratelimit_take(&rl, T0 + 30), 70);
        assert_int_equal(ratelimit_take(&rl, T0 + 99), 1);
        assert_int_equal(ratelimit_take(&rl, T0 + 100), 0);
        assert_int_equal(ratelimit_take(&rl, T0 + 100), 100);
}

static void steady_rate_after_burst(void **state)
{
        (void)state;
        struct ratelimit rl;
        ratelimit_init(&rl, 10, 5, T0);
        /* A caller that always waits exactly as told, for 10 s. */
        int64_t now = T0;
        int taken = 0;
        while (now < T0 + 10000) {
                int64_t wait = ratelimit_take(&rl, now);
                if (wait == 0) {
                        taken++;
                        continue;
                }
                assert_true(wait > 0 && wait <= 100);
                now += wait;
        }
        /* The burst plus 10/s over 10 s (the token due at exactly +10 s
         * is outside the window). */
        assert_int_equal(taken, 5 + 99);
}

static void fractional_rates_exact_waits(void **state)
{
        (void)state;
        struct ratelimit rl;
        /* 3/s is not exact in binary: the wait must still be ceil(333.3). */
        ratelimit_init(&rl, 3, 1, T0);
        assert_int_equal(ratelimit_take(&rl, T0), 0);
        assert_int_equal(ratelimit_take(&rl, T0), 334);
        assert_int_equal(ratelimit_take(&rl, T0 + 333), 1);
        assert_int_equal(ratelimit_take(&rl, T0 + 334), 0);
        /* Three tokens in exactly one second, however finely it is
         * sliced (burst 2, so no fraction is lost to the cap). */
        ratelimit_init(&rl, 3, 2, T0);
        assert_int_equal(ratelimit_take(&rl, T0), 0);
        assert_int_equal(ratelimit_take(&rl, T0), 0);
        int64_t now = T0;
        int taken = 0;
        while (now <= T0 + 3000) {
                int64_t wait = ratelimit_take(&rl, now);
                if (wait == 0)
                        taken++;
                else
                        now += 1;
        }
        assert_int_equal(taken, 9);

        /* 0.1/s: 10000 refills of 0.0001 sum to 0.99999999999991, yet the
         * token is due at exactly +10 s. */
        ratelimit_init(&rl, 0.1, 1, T0);
        assert_int_equal(ratelimit_take(&rl, T0), 0);
        now = T0;
        while (ratelimit_take(&rl, now) != 0)
                now++;
        assert_int_equal(now, T0 + 10000);

        ratelimit_init(&rl, 0.5, 1, T0);
        assert_int_equal(ratelimit_take(&rl, T0), 0);
        assert_int_equal(ratelimit_take(&rl, T0), 2000);
        assert_int_equal(ratelimit_take(&rl, T0 + 1500), 500);
        assert_int_equal(ratelimit_take(&rl, T0 + 2000), 0);
}

static void idle_refill_capped_at_burst(void **state)
{
        (void)state;
        struct ratelimit rl;
        ratelimit_init(&rl, 100, 3, T0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(ratelimit_take(&rl, T0), 0);
        /* An hour idle earns 360000 tokens but the bucket holds 3. */
        int64_t later = T0 + 3600000;
        for (int i = 0; i < 3; i++)
                assert_int_equal(ratelimit_take(&rl, later), 0);
        assert_int_equal(ratelimit_take(&rl, later), 10);
}

static void burst_below_one_is_one(void **state)
{
        (void)state;
        struct ratelimit rl;
        double bursts[] = {0, 0.5, -3, NAN};
        for (size_t i = 0; i < sizeof(bursts) / sizeof(bursts[0]); i++) {
                ratelimit_init(&rl, 1, bursts[i], T0);
                assert_true(rl.burst == 1.0);
                assert_int_equal(ratelimit_take(&rl, T0), 0);
                assert_int_equal(ratelimit_take(&rl, T0), 1000);
        }
}

static void unlimited_when_rate_zero(void **state)
{
        (void)state;
        struct ratelimit rl;
        ratelimit_init(&rl, 0, 1, T0);
        for (int i = 0; i < 100000; i++)
                assert_int_equal(ratelimit_take(&rl, T0), 0);
        /* A negative or NaN rate is no limit either, never "no calls". */
        ratelimit_init(&rl, -5, 1, T0);
        for (int i = 0; i < 100; i++)
                assert_int_equal(ratelimit_take(&rl, T0), 0);
        ratelimit_init(&rl, NAN, 1, T0);
        for (int i = 0; i < 100; i++)
                assert_int_equal(ratelimit_take(&rl, T0), 0);
}

static void unlimited_still_cools_down(void **state)
{
        (void)state;
        struct ratelimit rl;
        ratelimit_init(&rl, 0, 1, T0);
        ratelimit_cooldown(&rl, T0 + 4000);
        assert_int_equal(ratelimit_take(&rl, T0), 4000);
        assert_int_equal(ratelimit_take(&rl, T0 + 3999), 1);
        assert_int_equal(ratelimit_take(&rl, T0 + 4000), 0);
        assert_int_equal(ratelimit_take(&rl, T0 + 4000), 0);
}

static void cooldown_never_shortened(void **state)
{
        (void)state;
        struct ratelimit rl;
        ratelimit_init(&rl, 10, 5, T0);
        ratelimit_cooldown(&rl, T0 + 5000);
        ratelimit_cooldown(&rl, T0 + 3000);
        assert_int_equal(ratelimit_take(&rl, T0), 5000);
        ratelimit_cooldown(&rl, T0 + 7000);
        assert_int_equal(ratelimit_take(&rl, T0 + 1000), 6000);
        ratelimit_cooldown(&rl, T0); /* in the past: no effect */
        assert_int_equal(ratelimit_take(&rl, T0 + 6999), 1);
}

static void cooldown_does_not_spend_tokens(void **state)
{
        (void)state;
        struct ratelimit rl;
        ratelimit_init(&rl, 1, 2, T0);
        ratelimit_cooldown(&rl, T0 + 500);
        for (int i = 0; i < 10; i++)
                assert_int_equal(ratelimit_take(&rl, T0 + i), 500 - i);
        /* The full burst is there when the cool-down ends. */
        assert_int_equal(ratelimit_take(&rl, T0 + 500), 0);
        assert_int_equal(ratelimit_take(&rl, T0 + 500), 0);
        assert_int_equal(ratelimit_take(&rl, T0 + 500), 1000);
}

static void clock_going_back_mints_nothing(void **state)
{
        (void)state;
        struct ratelimit rl;
        ratelimit_init(&rl, 10, 1, T0);
        assert_int_equal(ratelimit_take(&rl, T0), 0);
        /* Earlier timestamps (callers racing over one bucket) must not
         * create tokens, nor make the next real refill larger. */
        assert_int_equal(ratelimit_take(&rl, T0 - 5000), 100);
        assert_int_equal(ratelimit_take(&rl, T0 + 50), 50);
        assert_int_equal(ratelimit_take(&rl, T0 + 100), 0);
}

static void tiny_rate_wait_is_bounded(void **state)
{
        (void)state;
        struct ratelimit rl;
        ratelimit_init(&rl, 1e-300, 1, T0);
        assert_int_equal(ratelimit_take(&rl, T0), 0);
        int64_t wait = ratelimit_take(&rl, T0);
        assert_true(wait > 1000000000LL);
        assert_true(wait <= 1000000000000000LL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(burst_then_wait),
            cmocka_unit_test(steady_rate_after_burst),
            cmocka_unit_test(fractional_rates_exact_waits),
            cmocka_unit_test(idle_refill_capped_at_burst),
            cmocka_unit_test(burst_below_one_is_one),
            cmocka_unit_test(unlimited_when_rate_zero),
            cmocka_unit_test(unlimited_still_cools_down),
            cmocka_unit_test(cooldown_never_shortened),
            cmocka_unit_test(cooldown_does_not_spend_tokens),
            cmocka_unit_test(clock_going_back_mints_nothing),
            cmocka_unit_test(tiny_rate_wait_is_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
