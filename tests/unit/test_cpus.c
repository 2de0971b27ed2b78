/* Unit tests: cpus (cgroup v2 cpu.max parsing and the nested limit). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpus.h"

static void parse_quota(void **state)
{
        (void)state;
        unsigned n = 0;
        assert_int_equal(cpus_parse_max("100000 100000\n", &n), 1);
        assert_int_equal(n, 1);
        assert_int_equal(cpus_parse_max("150000 100000", &n), 1);
        assert_int_equal(n, 2); /* 1.5 CPUs: rounded up */
        assert_int_equal(cpus_parse_max("50000 100000", &n), 1);
        assert_int_equal(n, 1); /* half a CPU is still one loop */
        assert_int_equal(cpus_parse_max("400000 100000", &n), 1);
        assert_int_equal(n, 4);
}

static void parse_unlimited_and_garbage(void **state)
{
        (void)state;
        unsigned n = 77;
        assert_int_equal(cpus_parse_max("max 100000\n", &n), 0);
        assert_int_equal(n, 77);
        assert_int_equal(cpus_parse_max("", &n), -1);
        assert_int_equal(cpus_parse_max(NULL, &n), -1);
        assert_int_equal(cpus_parse_max("100000", &n), -1);
        assert_int_equal(cpus_parse_max("100000 0", &n), -1);
        assert_int_equal(cpus_parse_max("-5 100000", &n), -1);
        assert_int_equal(cpus_parse_max("12x 100000", &n), -1);
        assert_int_equal(n, 77);
}

static char tree[] = "/tmp/test_cpus.XXXXXX";

static void put(const char *dir, const char *text)
{
        char file[512];
        snprintf(file, sizeof(file), "%s%s", tree, dir);
        mkdir(file, 0700);
        snprintf(file, sizeof(file), "%s%s/cpu.max", tree, dir);
        FILE *fp = fopen(file, "w");
        assert_non_null(fp);
        fputs(text, fp);
        fclose(fp);
}

static int make_tree(void **state)
{
        (void)state;
        if (!mkdtemp(tree))
                return -1;
        put("", "max 100000\n");
        put("/kubepods", "300000 100000\n");
        put("/kubepods/pod", "max 100000\n");
        put("/kubepods/pod/ctr", "100000 100000\n");
        put("/wide", "max 100000\n");
        return 0;
}

static int remove_tree(void **state)
{
        (void)state;
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tree);
        return system(cmd) == 0 ? 0 : -1;
}

static void limit_of_container(void **state)
{
        (void)state;
        /* A pod limited to one CPU gets one, on an 8-CPU node. */
        assert_int_equal(cpus_limit(8, tree, "/kubepods/pod/ctr"), 1);
}

static void parent_quota_binds(void **state)
{
        (void)state;
        /* No quota of its own: the 3-CPU quota of an ancestor applies. */
        assert_int_equal(cpus_limit(8, tree, "/kubepods/pod"), 3);
        assert_int_equal(cpus_limit(8, tree, "/kubepods/pod/"), 3);
        /* The affinity mask may be smaller than the quota. */
        assert_int_equal(cpus_limit(2, tree, "/kubepods/pod"), 2);
}

static void no_quota_or_no_cgroup(void **state)
{
        (void)state;
        assert_int_equal(cpus_limit(8, tree, "/wide"), 8);
        assert_int_equal(cpus_limit(8, tree, "/"), 8);
        assert_int_equal(cpus_limit(8, tree, ""), 8);
        assert_int_equal(cpus_limit(8, tree, NULL), 8);
        /* A path we cannot see (another namespace): its ancestors count. */
        assert_int_equal(cpus_limit(8, tree, "/kubepods/gone/x"), 3);
        assert_int_equal(cpus_limit(0, "/nonexistent", "/x"), 1);
}

static void usable_is_positive(void **state)
{
        (void)state;
        unsigned n = cpus_usable();
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        assert_true(n >= 1);
        assert_true(online < 1 || n <= (unsigned)online);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(parse_quota),
            cmocka_unit_test(parse_unlimited_and_garbage),
            cmocka_unit_test(limit_of_container),
            cmocka_unit_test(parent_quota_binds),
            cmocka_unit_test(no_quota_or_no_cgroup),
            cmocka_unit_test(usable_is_positive),
        };
        return cmocka_run_group_tests(tests, make_tree, remove_tree);
}
