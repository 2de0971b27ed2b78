/* provider_planner — what provider_plan.c (rendering calls, expanding a
 * discover's answer) and provider_check.c (checking a request's targets
 * against the providers' fields and actions) share. Private to those two
 * files, like provider_model.h to the provider module. */
#ifndef ERASURE_PROVIDER_PLANNER_H
#define ERASURE_PROVIDER_PLANNER_H

#include "provider_model.h"

/* Per-call error context: which target, and where to write. */
struct planner {
        const struct provider_registry *reg;
        size_t target;
        int expanding; /* building the calls of discovered items */
        char *errstr;
        size_t errstr_size;
        struct provider_plan *plan;
        size_t cap;
};

/* Fills the caller's errstr (if any) and returns err. */
__attribute__((format(printf, 3, 4))) enum request_error
planner_fail(struct planner *pl, enum request_error err, const char *fmt, ...);
/* Not the request's fault: it must be retried, not rejected. */
enum request_error planner_nomem(struct planner *pl);

/* The value at a dotted field path of obj, or NULL. */
json_t *planner_field(json_t *obj, const char *field);
/* v against the parameter's type, pattern and bounds. */
enum request_error planner_check_value(struct planner *pl,
                                       const struct param *p, json_t *v);
/* 1 if the target has the field that fires action a. */
int planner_triggers(const struct provider_action *a, json_t *target);
/* Indices of the first occurrence of each distinct string of arr, in
 * order: deleting twice is deleting once, and two calls must never share
 * an idempotency key. Returns the count, or -1 without memory. */
long planner_unique_items(json_t *arr, size_t *order);
/* The account a target names (its provider's "default" if none). */
enum request_error planner_find_account(struct planner *pl,
                                        const struct request_target *t,
                                        const struct provider_account **out);
/* Checks target t as a whole (account, fields, actions, scope) and adds
 * the calls it will make to *ncalls. */
enum request_error planner_check_target(struct planner *pl,
                                        const struct request_target *t,
                                        size_t *ncalls);

#endif
