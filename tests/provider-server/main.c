/*
 * provider-server: one HTTP server standing in for the conversational-AI
 * vendors' deletion APIs (Vectara, Convai, Algolia Agent Studio, Avaamo)
 * in tests, the demo and benchmarks. Written from the vendors' documents,
 * not from the worker, so that the two cannot share a misreading.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "calls.h"
#include "faults.h"
#include "oauth.h"
#include "server.h"
#include "state.h"
#include "userdata.h"
#include "timer.h"
#include "util.h"

struct options {
        struct server_config server;
        struct keys keys;
        const char *port_file;
        unsigned int latency_ms;
        unsigned long long seed;
        unsigned long max_calls;
        bool allow_non_loopback;
        const char *oauth_client_id;
        const char *oauth_client_secret;
        unsigned int oauth_lifetime_ms;
};

enum {
        OPT_BIND = 256,
        OPT_PORT,
        OPT_PORT_FILE,
        OPT_LATENCY,
        OPT_THREADS,
        OPT_MISSING,
        OPT_UNLOCKED,
        OPT_VECTARA_KEY,
        OPT_VECTARA_TOKEN,
        OPT_CONVAI_KEY,
        OPT_ALGOLIA_APP,
        OPT_ALGOLIA_KEY,
        OPT_AVAAMO_TOKEN,
        OPT_ALLOW_REMOTE,
        OPT_MAX_CALLS,
        OPT_HANG_MS,
        OPT_SEED,
        OPT_CONN_LIMIT,
        OPT_VERBOSE,
        OPT_OAUTH_ID,
        OPT_OAUTH_SECRET,
        OPT_OAUTH_LIFETIME,
        OPT_HELP,
};

static const struct option long_options[] = {
    {"bind", required_argument, NULL, OPT_BIND},
    {"port", required_argument, NULL, OPT_PORT},
    {"port-file", required_argument, NULL, OPT_PORT_FILE},
    {"latency-ms", required_argument, NULL, OPT_LATENCY},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"missing-agent", required_argument, NULL, OPT_MISSING},
    {"unlocked-agent", required_argument, NULL, OPT_UNLOCKED},
    {"vectara-key", required_argument, NULL, OPT_VECTARA_KEY},
    {"vectara-token", required_argument, NULL, OPT_VECTARA_TOKEN},
    {"convai-key", required_argument, NULL, OPT_CONVAI_KEY},
    {"algolia-app-id", required_argument, NULL, OPT_ALGOLIA_APP},
    {"algolia-key", required_argument, NULL, OPT_ALGOLIA_KEY},
    {"avaamo-token", required_argument, NULL, OPT_AVAAMO_TOKEN},
    {"allow-non-loopback", no_argument, NULL, OPT_ALLOW_REMOTE},
    {"max-calls", required_argument, NULL, OPT_MAX_CALLS},
    {"hang-ms", required_argument, NULL, OPT_HANG_MS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"connection-limit", required_argument, NULL, OPT_CONN_LIMIT},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"oauth-client-id", required_argument, NULL, OPT_OAUTH_ID},
    {"oauth-client-secret", required_argument, NULL, OPT_OAUTH_SECRET},
    {"oauth-lifetime-ms", required_argument, NULL, OPT_OAUTH_LIFETIME},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *out)
{
        fputs("usage: provider-server [--bind ADDR] [--port N] "
              "[--port-file PATH]\n"
              "         [--latency-ms N] [--threads N] "
              "[--connection-limit N]\n"
              "         [--missing-agent ID]... [--unlocked-agent ID]...\n"
              "         [--vectara-key K] [--vectara-token T] "
              "[--convai-key K]\n"
              "         [--algolia-app-id A] [--algolia-key K] "
              "[--avaamo-token T]\n"
              "         [--max-calls N] [--hang-ms N] [--seed N] "
              "[--allow-non-loopback]\n"
              "         [--oauth-client-id ID --oauth-client-secret S "
              "[--oauth-lifetime-ms N]]\n"
              "         [--verbose]\n"
              "See tests/provider-server/README.md.\n",
              out);
}

static bool parse_number(const char *s, unsigned long long min,
                         unsigned long long max, unsigned long long *out)
{
        char *end;

        errno = 0;
        if (*s < '0' || *s > '9')
                return false;
        *out = strtoull(s, &end, 10);
        return errno == 0 && *end == '\0' && *out >= min && *out <= max;
}

static bool number_option(const char *name, const char *arg,
                          unsigned long long min, unsigned long long max,
                          unsigned long long *out)
{
        if (parse_number(arg, min, max, out))
                return true;
        fprintf(stderr, "provider-server: --%s wants an integer %llu..%llu\n",
                name, min, max);
        return false;
}

/* Options that take a number; false on a bad value. */
static bool numeric_option(int opt, const char *arg, struct options *o)
{
        unsigned long long v = 0;
        bool ok = false;

        switch (opt) {
        case OPT_PORT:
                ok = number_option("port", arg, 0, 65535, &v);
                o->server.port = (unsigned int)v;
                break;
        case OPT_LATENCY:
                ok = number_option("latency-ms", arg, 0, 3600000, &v);
                o->latency_ms = (unsigned int)v;
                break;
        case OPT_THREADS:
                ok = number_option("threads", arg, 1, 256, &v);
                o->server.threads = (unsigned int)v;
                break;
        case OPT_CONN_LIMIT:
                ok = number_option("connection-limit", arg, 1, 1000000, &v);
                o->server.connection_limit = (unsigned int)v;
                break;
        case OPT_MAX_CALLS:
                ok = number_option("max-calls", arg, 1, 100000000, &v);
                o->max_calls = (unsigned long)v;
                break;
        case OPT_HANG_MS:
                ok = number_option("hang-ms", arg, 1, 86400000, &v);
                o->server.hang_ms = (unsigned int)v;
                break;
        case OPT_SEED:
                ok = number_option("seed", arg, 0, ULLONG_MAX, &v);
                o->seed = v;
                break;
        case OPT_OAUTH_LIFETIME:
                ok = number_option("oauth-lifetime-ms", arg, 1, 86400000, &v);
                o->oauth_lifetime_ms = (unsigned int)v;
                break;
        }
        return ok;
}

/* Options that take a string; false if opt is not one of them. */
static bool string_option(int opt, const char *arg, struct options *o)
{
        switch (opt) {
        case OPT_BIND:
                /* The one name accepted, since no resolver is involved. */
                o->server.bind =
                    strcmp(arg, "localhost") == 0 ? "127.0.0.1" : arg;
                return true;
        case OPT_PORT_FILE:
                o->port_file = arg;
                return true;
        case OPT_MISSING:
                state_add_initial_missing(arg);
                return true;
        case OPT_UNLOCKED:
                state_add_initial_unlocked(arg);
                return true;
        case OPT_VECTARA_KEY:
                o->keys.vectara_key = arg;
                return true;
        case OPT_VECTARA_TOKEN:
                o->keys.vectara_token = arg;
                return true;
        case OPT_CONVAI_KEY:
                o->keys.convai_key = arg;
                return true;
        case OPT_ALGOLIA_APP:
                o->keys.algolia_app_id = arg;
                return true;
        case OPT_ALGOLIA_KEY:
                o->keys.algolia_key = arg;
                return true;
        case OPT_AVAAMO_TOKEN:
                o->keys.avaamo_token = arg;
                return true;
        case OPT_OAUTH_ID:
                o->oauth_client_id = arg;
                return true;
        case OPT_OAUTH_SECRET:
                o->oauth_client_secret = arg;
                return true;
        }
        return false;
}

/* Returns -1 for --help, 1 on a usage error, 0 to run. */
static int parse_options(int argc, char **argv, struct options *o)
{
        int opt;

        for (;;) {
                opt = getopt_long(argc, argv, "", long_options, NULL);
                if (opt == -1)
                        break;
                if (opt == OPT_HELP) {
                        usage(stdout);
                        return -1;
                }
                if (opt == OPT_ALLOW_REMOTE)
                        o->allow_non_loopback = true;
                else if (opt == OPT_VERBOSE)
                        o->server.verbose = true;
                else if (string_option(opt, optarg, o))
                        continue;
                else if (opt == '?' || !numeric_option(opt, optarg, o))
                        return 1;
        }
        if (optind != argc) {
                usage(stderr);
                return 1;
        }
        if ((o->oauth_client_id == NULL) != (o->oauth_client_secret == NULL)) {
                fputs("provider-server: --oauth-client-id and "
                      "--oauth-client-secret go together\n",
                      stderr);
                return 1;
        }
        return 0;
}

static int check_bind(const struct options *o)
{
        struct sockaddr_storage ss;
        socklen_t len;

        if (server_parse_addr(o->server.bind, 0, &ss, &len) != 0) {
                fprintf(stderr,
                        "provider-server: --bind wants an IP address, got "
                        "'%s'\n",
                        o->server.bind);
                return -1;
        }
        /* Everything here is fake and the control API is unauthenticated:
         * exposing it beyond the host must be a deliberate choice. */
        if (!sockaddr_is_loopback((struct sockaddr *)&ss) &&
            !o->allow_non_loopback) {
                fprintf(stderr,
                        "provider-server: refusing to bind non-loopback "
                        "address %s without --allow-non-loopback\n",
                        o->server.bind);
                return -1;
        }
        return 0;
}

/* Thousands of concurrent test connections need more than the usual
 * 1024 descriptors. */
static void raise_fd_limit(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
}

/* Written to a temporary name and renamed, so that a reader polling for
 * the file never sees it half-written. */
static int write_port_file(const char *path, unsigned int port)
{
        size_t n = strlen(path) + 32;
        char *tmp = xmalloc(n);
        FILE *f;
        int rc = -1;

        snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
        f = fopen(tmp, "w");
        if (f != NULL) {
                fprintf(f, "%u\n", port);
                rc = fclose(f) == 0 ? 0 : -1;
        }
        if (rc == 0)
                rc = rename(tmp, path);
        if (rc != 0) {
                fprintf(stderr, "provider-server: writing %s: %s\n", path,
                        strerror(errno));
                unlink(tmp);
        }
        free(tmp);
        return rc;
}

static void announce(const char *bind, unsigned int port)
{
        bool v6 = strchr(bind, ':') != NULL;

        fprintf(stderr, "provider-server listening on %s%s%s:%u\n",
                v6 ? "[" : "", bind, v6 ? "]" : "", port);
}

/* Signals are taken synchronously by the main thread: no handler, no
 * async-signal-safety concerns, and every other thread has them blocked
 * because it inherits this mask. */
static void block_signals(sigset_t *set)
{
        sigemptyset(set);
        sigaddset(set, SIGINT);
        sigaddset(set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, set, NULL);
        signal(SIGPIPE, SIG_IGN);
}

static int run(const struct options *o)
{
        sigset_t set;
        int sig;
        unsigned int port;
        struct MHD_Daemon *d;

        block_signals(&set);
        if (timer_start() != 0)
                return 1;
        d = server_start(&o->server, &port);
        if (d == NULL) {
                fprintf(stderr, "provider-server: cannot listen on %s:%u\n",
                        o->server.bind, o->server.port);
                timer_stop();
                return 1;
        }
        if (o->port_file != NULL && write_port_file(o->port_file, port) != 0) {
                server_stop(d);
                return 1;
        }
        announce(o->server.bind, port);
        sigwait(&set, &sig);
        fprintf(stderr, "provider-server: signal %d, stopping\n", sig);
        server_stop(d);
        /* A stale file would hand the next run's reader a dead port. */
        if (o->port_file != NULL)
                unlink(o->port_file);
        return 0;
}

int main(int argc, char **argv)
{
        struct options o = {
            .server = {.bind = "127.0.0.1",
                       .port = 0,
                       .threads = 2,
                       .connection_limit = 20000,
                       .hang_ms = 300000},
            .keys = {.vectara_key = "test-vectara-key",
                     .vectara_token = "test-vectara-token",
                     .convai_key = "test-convai-key",
                     .algolia_app_id = "TESTALGOLIAAPP",
                     .algolia_key = "test-algolia-key",
                     .avaamo_token = "test-avaamo-token"},
            .max_calls = 1000000,
        };
        int rc;

        /* Seed jansson's hash before any thread exists. */
        json_object_seed(0);
        state_init();
        userdata_init();
        rc = parse_options(argc, argv, &o);
        if (rc == 0 && check_bind(&o) != 0)
                rc = 1;
        if (rc == 0) {
                state_set_keys(&o.keys);
                oauth_configure(o.oauth_client_id, o.oauth_client_secret,
                                o.oauth_lifetime_ms);
                faults_init(o.seed, o.latency_ms);
                calls_init(o.max_calls);
                raise_fd_limit();
                rc = run(&o);
        } else {
                /* --help (-1) is a success; a usage error exits 2. */
                rc = rc < 0 ? 0 : 2;
        }
        faults_free();
        calls_free();
        state_free();
        userdata_free();
        oauth_free();
        return rc;
}
