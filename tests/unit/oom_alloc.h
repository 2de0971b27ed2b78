/* A jansson allocator that fails after a budget of allocations, for the
 * out-of-memory tests (test_request_oom.c, test_provider_plan.c). */
#ifndef ERASURE_TEST_OOM_ALLOC_H
#define ERASURE_TEST_OOM_ALLOC_H

#include <stdlib.h>
#include <jansson.h>

static long oom_budget = -1; /* allocations left; -1: unlimited */
static long oom_failed;      /* allocations refused so far */

static inline void *oom_malloc(size_t n)
{
        if (oom_budget == 0) {
                oom_failed++;
                return NULL;
        }
        if (oom_budget > 0)
                oom_budget--;
        return malloc(n);
}

/* Every jansson allocation after the next `budget` ones fails. */
static inline void oom_arm(long budget)
{
        oom_budget = budget;
        oom_failed = 0;
        json_set_alloc_funcs(oom_malloc, free);
}

static inline void oom_disarm(void)
{
        oom_budget = -1;
        json_set_alloc_funcs(malloc, free);
}

#endif
