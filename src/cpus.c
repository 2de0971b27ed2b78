/* cpus — the CPU count that worker.threads = 0 means. */
#define _GNU_SOURCE
#include "cpus.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CPUS_CGROUP_ROOT "/sys/fs/cgroup"
#define CPUS_SELF_CGROUP "/proc/self/cgroup"

int cpus_parse_max(const char *text, unsigned *cpus)
{
        char quota[32];
        unsigned long long period;
        if (!text || sscanf(text, "%31s %llu", quota, &period) != 2 ||
            period == 0)
                return -1;
        if (strcmp(quota, "max") == 0)
                return 0;
        char *end;
        unsigned long long q = strtoull(quota, &end, 10);
        if (*end || quota[0] == '-' || q == 0)
                return -1;
        /* A quota of 1.5 CPUs still runs two threads at once part of the
         * time: round up, so the quota is used, never left idle. */
        unsigned long long n = (q + period - 1) / period;
        *cpus = n > 0xffffu ? 0xffffu : (unsigned)n;
        return 1;
}

static int read_line(const char *file, char *buf, size_t size)
{
        FILE *fp = fopen(file, "r");
        if (!fp)
                return -1;
        int ok = fgets(buf, (int)size, fp) != NULL;
        fclose(fp);
        return ok ? 0 : -1;
}

/* The quota of one directory's cpu.max, or 0 when none. */
static unsigned dir_quota(const char *root, const char *path, size_t n)
{
        char file[4096], line[128];
        unsigned cpus = 0;
        snprintf(file, sizeof(file), "%s%.*s/cpu.max", root, (int)n, path);
        if (read_line(file, line, sizeof(line)) != 0 ||
            cpus_parse_max(line, &cpus) != 1)
                return 0;
        return cpus;
}

unsigned cpus_limit(unsigned affinity, const char *root, const char *path)
{
        unsigned best = affinity > 0 ? affinity : 1;
        size_t n = path ? strlen(path) : 0;
        /* Limits nest: the parent's quota binds its children as well. */
        for (;;) {
                while (n > 0 && path[n - 1] == '/')
                        n--;
                unsigned q = dir_quota(root, path ? path : "", n);
                if (q > 0 && q < best)
                        best = q;
                if (n == 0)
                        break;
                while (n > 0 && path[n - 1] != '/')
                        n--;
        }
        return best;
}

/* The cgroup v2 path ("0::/PATH") of this process, or "" if none. */
static void self_cgroup(char *out, size_t size)
{
        char line[4096];
        FILE *fp = fopen(CPUS_SELF_CGROUP, "r");
        out[0] = '\0';
        if (!fp)
                return;
        while (fgets(line, sizeof(line), fp)) {
                if (strncmp(line, "0::", 3) != 0)
                        continue;
                line[strcspn(line, "\n")] = '\0';
                snprintf(out, size, "%s", line + 3);
                break;
        }
        fclose(fp);
}

unsigned cpus_usable(void)
{
        cpu_set_t set;
        unsigned affinity = 1;
        char path[4096];
        if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
                affinity = (unsigned)CPU_COUNT(&set);
        self_cgroup(path, sizeof(path));
        return cpus_limit(affinity, CPUS_CGROUP_ROOT, path);
}
