/* cpus — how many CPUs this process may use: its affinity mask, limited
 * by the cgroup v2 CPU quota (cpu.max) of its cgroup and every ancestor,
 * so a pod limited to 1 CPU counts 1 however many the node has. */
#ifndef ERASURE_CPUS_H
#define ERASURE_CPUS_H

/* The CPUs of sched_getaffinity(), limited by the quota of the process's
 * cgroup (/proc/self/cgroup, /sys/fs/cgroup). At least 1. */
unsigned cpus_usable(void);

/* The same limit from a given cgroup v2 tree: the smallest quota of
 * ROOT/PATH/cpu.max and each of its ancestors' up to ROOT/cpu.max,
 * rounded up; `affinity` when none is set or none can be read. */
unsigned cpus_limit(unsigned affinity, const char *root, const char *path);

/* One cpu.max line ("QUOTA PERIOD" or "max PERIOD"): 1 with *cpus set to
 * QUOTA / PERIOD rounded up (at least 1), 0 for "max" (no limit), -1 if
 * it cannot be read. */
int cpus_parse_max(const char *text, unsigned *cpus);

#endif
