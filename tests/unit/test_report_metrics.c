/* Unit tests of the deadline metrics in src/metrics.c (issue 15): the
 * oldest open request's age, rendered against the wall clock, the count
 * past the deadline, and the once-a-second rescan gate. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "metrics.h"

/* The value of the unlabelled sample name in doc. */
static long long sample(const char *doc, const char *name)
{
        char line[128];
        snprintf(line, sizeof(line), "\n%s ", name);
        const char *p = strstr(doc, line);
        if (!p)
                fail_msg("no sample %s in:\n%s", name, doc);
        return strtoll(p + strlen(line), NULL, 10);
}

static void test_none_open_renders_zero(void **state)
{
        (void)state;
        struct metrics *m = metrics_new();
        char *doc = metrics_render(m);
        assert_int_equal(sample(doc, "erasure_oldest_open_request_age_seconds"),
                         0);
        assert_int_equal(sample(doc, "erasure_open_requests_past_deadline"), 0);
        assert_non_null(strstr(
            doc, "# TYPE erasure_oldest_open_request_age_seconds gauge"));
        free(doc);
        metrics_free(m);
}

static void test_age_and_past_deadline(void **state)
{
        (void)state;
        struct metrics *m = metrics_new();
        int64_t forty_days = 40LL * 86400 * 1000;
        metrics_set_open_requests(m, clock_wall_ms() - forty_days, 3);
        char *doc = metrics_render(m);
        long long age = sample(doc, "erasure_oldest_open_request_age_seconds");
        /* Rendering takes far less than a second. */
        assert_true(age >= forty_days / 1000 && age <= forty_days / 1000 + 1);
        assert_int_equal(sample(doc, "erasure_open_requests_past_deadline"), 3);
        free(doc);
        /* Finished: back to none. */
        metrics_set_open_requests(m, -1, 0);
        doc = metrics_render(m);
        assert_int_equal(sample(doc, "erasure_oldest_open_request_age_seconds"),
                         0);
        free(doc);
        metrics_free(m);
}

static void test_rescan_at_most_once_a_second(void **state)
{
        (void)state;
        struct metrics *m = metrics_new();
        assert_true(metrics_open_requests_due(m, 5000));
        assert_false(metrics_open_requests_due(m, 5000));
        assert_false(metrics_open_requests_due(m, 5999));
        assert_true(metrics_open_requests_due(m, 6000));
        assert_false(metrics_open_requests_due(NULL, 6000));
        metrics_set_open_requests(NULL, 0, 0); /* NULL is a no-op */
        metrics_free(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_none_open_renders_zero),
            cmocka_unit_test(test_age_and_past_deadline),
            cmocka_unit_test(test_rescan_at_most_once_a_second),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
