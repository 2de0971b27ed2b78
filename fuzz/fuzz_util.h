/* fuzz_util — what the libFuzzer harnesses share: the invariant check,
 * a fatal start-up error, and loading a worker config that includes the
 * shipped config/providers.conf. Header-only: each harness is one
 * translation unit linked against its own instrumented copy of the core.
 * exit() is allowed here: a harness is a program, not library code. */
#ifndef ERASURE_FUZZ_UTIL_H
#define ERASURE_FUZZ_UTIL_H

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "settings.h"

#ifndef ERASURE_SOURCE_DIR
#define ERASURE_SOURCE_DIR "."
#endif

/* abort() rather than __builtin_trap(): libFuzzer reports both as a crash
 * and saves the input, but only this way is the broken rule printed. */
#define CHECK(cond)                                                            \
        do {                                                                   \
                if (!(cond)) {                                                 \
                        fprintf(stderr, "invariant broken: %s (%s:%d)\n",      \
                                #cond, __FILE__, __LINE__);                    \
                        abort();                                               \
                }                                                              \
        } while (0)

__attribute__((format(printf, 1, 2), noreturn, unused)) static void
fuzz_die(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "fuzz: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
        exit(1);
}

/* Loads "@include providers.conf" + log level error + accounts = (ACCOUNTS).
 * settings_load() resolves @include in the file's own directory (libconfig
 * 1.5 cannot include an absolute path then), hence the symlink next to a
 * temporary file; both are removed once loaded, since the registry keeps
 * nothing of the files, so a killed fuzzer leaves nothing behind. */
__attribute__((unused)) static struct settings *
fuzz_load_settings(const char *accounts)
{
        char src[PATH_MAX], inc[PATH_MAX + 32], dir[PATH_MAX];
        char conf[PATH_MAX + 16], link[PATH_MAX + 32], err[1024];
        const char *env = getenv("ERASURE_SOURCE_DIR");
        const char *s = env && env[0] ? env : ERASURE_SOURCE_DIR;
        const char *tmp = getenv("TMPDIR");

        if (!realpath(s, src))
                fuzz_die("source directory %s not found (set "
                         "ERASURE_SOURCE_DIR)",
                         s);
        snprintf(inc, sizeof(inc), "%s/config/providers.conf", src);
        if (access(inc, R_OK) != 0)
                fuzz_die("cannot read %s", inc);
        snprintf(dir, sizeof(dir), "%s/erasure-fuzz.XXXXXX",
                 tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(dir))
                fuzz_die("mkdtemp %s failed", dir);
        snprintf(conf, sizeof(conf), "%s/worker.conf", dir);
        snprintf(link, sizeof(link), "%s/providers.conf", dir);
        if (symlink(inc, link) != 0)
                fuzz_die("cannot link %s to %s", link, inc);
        FILE *f = fopen(conf, "w");
        if (!f ||
            fprintf(f,
                    "@include \"providers.conf\"\n"
                    "log = { level = \"error\"; };\n"
                    "accounts = (\n%s);\n",
                    accounts) < 0 ||
            fclose(f) != 0)
                fuzz_die("cannot write %s", conf);
        struct settings *st = settings_load(conf, 0, err, sizeof(err));
        unlink(conf);
        unlink(link);
        rmdir(dir);
        if (!st)
                fuzz_die("cannot load the fuzzing config: %s", err);
        return st;
}

#endif
