/* Unit tests: acctlimit (account limits shared by several loops). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "acctlimit.h"

#define T0 1000000LL

static int woken[4];

static void count_wake(void *arg)
{
        woken[(int *)arg - woken]++;
}

static struct acctlimit *two_loops(int concurrency, double rate, double burst)
{
        struct acctlimit *al = acctlimit_new(2, 2);
        assert_non_null(al);
        for (size_t i = 0; i < 2; i++)
                acctlimit_set(al, i, concurrency, rate, burst, T0);
        woken[0] = woken[1] = 0;
        acctlimit_set_waker(al, 0, count_wake, &woken[0]);
        acctlimit_set_waker(al, 1, count_wake, &woken[1]);
        return al;
}

static void concurrency_is_per_account(void **state)
{
        (void)state;
        struct acctlimit *al = two_loops(2, 0, 1);
        assert_int_equal(acctlimit_acquire(al, 0, 0, T0), 0);
        assert_int_equal(acctlimit_acquire(al, 0, 1, T0), 0);
        /* Loop 1 is refused the third, whichever loop holds the two. */
        assert_int_equal(acctlimit_acquire(al, 0, 1, T0), ACCTLIMIT_FULL);
        assert_int_equal(acctlimit_acquire(al, 0, 0, T0), ACCTLIMIT_FULL);
        /* Another account is not affected. */
        assert_int_equal(acctlimit_acquire(al, 1, 1, T0), 0);
        assert_int_equal(acctlimit_in_flight(al, 0), 2);
        acctlimit_release(al, 0, 0);
        assert_int_equal(acctlimit_in_flight(al, 0), 1);
        assert_int_equal(acctlimit_acquire(al, 0, 1, T0), 0);
        acctlimit_free(al);
}

static void refused_loop_is_woken_once(void **state)
{
        (void)state;
        struct acctlimit *al = two_loops(1, 0, 1);
        assert_int_equal(acctlimit_acquire(al, 0, 0, T0), 0);
        assert_int_equal(acctlimit_acquire(al, 0, 1, T0), ACCTLIMIT_FULL);
        assert_int_equal(acctlimit_acquire(al, 0, 1, T0), ACCTLIMIT_FULL);
        assert_int_equal(woken[1], 0);
        acctlimit_release(al, 0, 0);
        /* Woken once for two refusals; the releaser is not woken. */
        assert_int_equal(woken[1], 1);
        assert_int_equal(woken[0], 0);
        assert_int_equal(acctlimit_acquire(al, 0, 1, T0), 0);
        acctlimit_release(al, 0, 1);
        assert_int_equal(woken[1], 1);
        assert_int_equal(woken[0], 0);
        acctlimit_free(al);
}

static void own_refusal_not_woken_by_own_release(void **state)
{
        (void)state;
        struct acctlimit *al = two_loops(1, 0, 1);
        assert_int_equal(acctlimit_acquire(al, 0, 0, T0), 0);
        assert_int_equal(acctlimit_acquire(al, 0, 0, T0), ACCTLIMIT_FULL);
        acctlimit_release(al, 0, 0);
        assert_int_equal(woken[0], 0);
        /* The flag was cleared: a later release wakes nobody. */
        assert_int_equal(acctlimit_acquire(al, 0, 1, T0), 0);
        acctlimit_release(al, 0, 1);
        assert_int_equal(woken[0] + woken[1], 0);
        acctlimit_free(al);
}

static void bucket_is_shared(void **state)
{
        (void)state;
        struct acctlimit *al = two_loops(100, 10, 2);
        assert_int_equal(acctlimit_acquire(al, 0, 0, T0), 0);
        assert_int_equal(acctlimit_acquire(al, 0, 1, T0), 0);
        /* The burst is the account's, not each loop's. */
        assert_int_equal(acctlimit_acquire(al, 0, 1, T0), 100);
        assert_int_equal(acctlimit_acquire(al, 0, 0, T0 + 40), 60);
        /* Told to wait, it holds no slot. */
        assert_int_equal(acctlimit_in_flight(al, 0), 2);
        assert_int_equal(acctlimit_acquire(al, 0, 0, T0 + 100), 0);
        acctlimit_free(al);
}

static void cooldown_stops_every_loop(void **state)
{
        (void)state;
        struct acctlimit *al = two_loops(10, 0, 1);
        acctlimit_cooldown(al, 0, T0 + 500);
        assert_int_equal(acctlimit_acquire(al, 0, 0, T0), 500);
        assert_int_equal(acctlimit_acquire(al, 0, 1, T0 + 200), 300);
        /* Never shortened. */
        acctlimit_cooldown(al, 0, T0 + 100);
        assert_int_equal(acctlimit_acquire(al, 0, 1, T0 + 200), 300);
        assert_int_equal(acctlimit_acquire(al, 0, 1, T0 + 500), 0);
        assert_int_equal(acctlimit_acquire(al, 1, 1, T0), 0);
        acctlimit_free(al);
}

static void total_holds_across_accounts_and_loops(void **state)
{
        (void)state;
        struct acctlimit *al = two_loops(10, 0, 1);
        acctlimit_set_total(al, 3);
        assert_int_equal(acctlimit_acquire(al, 0, 0, T0), 0);
        assert_int_equal(acctlimit_acquire(al, 1, 0, T0), 0);
        assert_int_equal(acctlimit_acquire(al, 1, 1, T0), 0);
        /* Both accounts have room, the process has none. */
        assert_int_equal(acctlimit_acquire(al, 0, 1, T0), ACCTLIMIT_FULL);
        assert_int_equal(acctlimit_total_in_flight(al), 3);
        /* A call of the other account, in the other loop, ends. */
        acctlimit_release(al, 1, 0);
        assert_int_equal(woken[1], 1);
        assert_int_equal(acctlimit_acquire(al, 0, 1, T0), 0);
        assert_int_equal(acctlimit_in_flight(al, 0), 2);
        acctlimit_free(al);
}

static void token_wait_holds_no_total_slot(void **state)
{
        (void)state;
        struct acctlimit *al = two_loops(10, 1, 1);
        acctlimit_set_total(al, 1);
        assert_int_equal(acctlimit_acquire(al, 0, 0, T0), 0);
        acctlimit_release(al, 0, 0);
        /* The bucket is empty: told to wait, and the total slot it took
         * for a moment is back, for account 1. */
        assert_int_equal(acctlimit_acquire(al, 0, 0, T0), 1000);
        assert_int_equal(acctlimit_total_in_flight(al), 0);
        assert_int_equal(acctlimit_acquire(al, 1, 1, T0), 0);
        acctlimit_free(al);
}

static void too_many_loops(void **state)
{
        (void)state;
        assert_null(acctlimit_new(1, ACCTLIMIT_MAX_LOOPS + 1));
        acctlimit_free(NULL);
}

/* ---- several threads over one account ---- */

#define NTHREADS   4
#define ROUNDS     3000
#define CONCURRENT 3

static struct acctlimit *shared;
static atomic_int holding, most_held;
static int wake_pipe[NTHREADS][2];

static void pipe_wake(void *arg)
{
        ssize_t n = write(*(int *)arg, "w", 1);
        (void)n;
}

/* Waits for a wake-up; 0 if none came within 5 s (a lost wake-up). */
static int await_wake(int fd)
{
        struct pollfd p = {fd, POLLIN, 0};
        char buf[64];
        if (poll(&p, 1, 5000) != 1)
                return 0;
        ssize_t n = read(fd, buf, sizeof(buf));
        (void)n;
        return 1;
}

static void *hammer(void *arg)
{
        size_t loop = (size_t)(intptr_t)arg;
        for (int r = 0; r < ROUNDS; r++) {
                while (acctlimit_acquire(shared, 0, loop, T0) != 0)
                        if (!await_wake(wake_pipe[loop][0]))
                                return (void *)1;
                int now = atomic_fetch_add(&holding, 1) + 1;
                int seen = atomic_load(&most_held);
                while (now > seen &&
                       !atomic_compare_exchange_weak(&most_held, &seen, now))
                        ;
                atomic_fetch_sub(&holding, 1);
                acctlimit_release(shared, 0, loop);
        }
        return NULL;
}

static void threads_never_exceed_concurrency(void **state)
{
        (void)state;
        pthread_t t[NTHREADS];
        shared = acctlimit_new(1, NTHREADS);
        assert_non_null(shared);
        acctlimit_set(shared, 0, CONCURRENT, 0, 1, T0);
        acctlimit_set_total(shared, CONCURRENT + 1); /* not the binding one */
        for (size_t i = 0; i < NTHREADS; i++) {
                assert_int_equal(pipe(wake_pipe[i]), 0);
                fcntl(wake_pipe[i][1], F_SETFL, O_NONBLOCK);
                acctlimit_set_waker(shared, i, pipe_wake, &wake_pipe[i][1]);
        }
        for (size_t i = 0; i < NTHREADS; i++)
                pthread_create(&t[i], NULL, hammer, (void *)(intptr_t)i);
        for (size_t i = 0; i < NTHREADS; i++) {
                void *rc;
                pthread_join(t[i], &rc);
                assert_null(rc);
        }
        assert_true(atomic_load(&most_held) <= CONCURRENT);
        assert_true(atomic_load(&most_held) >= 1);
        assert_int_equal(acctlimit_in_flight(shared, 0), 0);
        for (size_t i = 0; i < NTHREADS; i++) {
                close(wake_pipe[i][0]);
                close(wake_pipe[i][1]);
        }
        acctlimit_free(shared);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(concurrency_is_per_account),
            cmocka_unit_test(refused_loop_is_woken_once),
            cmocka_unit_test(own_refusal_not_woken_by_own_release),
            cmocka_unit_test(bucket_is_shared),
            cmocka_unit_test(cooldown_stops_every_loop),
            cmocka_unit_test(total_holds_across_accounts_and_loops),
            cmocka_unit_test(token_wait_holds_no_total_slot),
            cmocka_unit_test(too_many_loops),
            cmocka_unit_test(threads_never_exceed_concurrency),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
