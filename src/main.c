/* erasure-worker — command line.
 *
 * Exit codes: 0 done, 1 runtime failure, 2 usage, 3 invalid configuration,
 * 4 request rejected (plan), 5 a request is overdue (report). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "provider.h"
#include "replay.h"
#include "report.h"
#include "request.h"
#include "settings.h"

#define EXIT_RUNTIME  1
#define EXIT_USAGE    2
#define EXIT_CONFIG   3
#define EXIT_REJECTED 4
#define EXIT_OVERDUE  5

static struct pool *g_pool;

static void on_signal(int sig)
{
        (void)sig;
        if (g_pool)
                pool_request_stop(g_pool);
}

static void usage(FILE *fp)
{
        fputs(
            "usage: erasure-worker [run] -c FILE [options]\n"
            "       erasure-worker check-config -c FILE [--json] "
            "[--no-secrets]\n"
            "       erasure-worker plan -c FILE [REQUEST_FILE|-]\n"
            "       erasure-worker replay -c FILE [--code CODE]... [--all] "
            "[--dry-run]\n"
            "       erasure-worker report -c FILE --since T [--until T] "
            "[--format F]\n"
            "                      [--request-id ID]\n"
            "\n"
            "  -c, --config FILE     worker configuration (libconfig)\n"
            "  -b, --brokers LIST    bootstrap.servers (overrides config)\n"
            "      --metrics-bind A  metrics.bind (overrides config)\n"
            "      --metrics-port N  metrics.port (overrides config)\n"
            "  -X NAME=VALUE         librdkafka property, repeatable\n"
            "  -l, --log-level L     debug, info, warn, error\n"
            "      --json            check-config: the resolved settings as "
            "JSON\n"
            "      --no-secrets      check-config: do not require the secret\n"
            "                        variables (image builds, CI)\n"
            "      --code CODE       replay: dead-letter reason to copy back\n"
            "                        (repeatable; default retries_exhausted)\n"
            "      --all             replay: every dead-lettered message\n"
            "      --dry-run         replay: count only\n"
            "      --since, --until T  report: requests that arrived in\n"
            "                        [T, T), RFC 3339 or YYYY-MM-DD (UTC);\n"
            "                        --until defaults to now\n"
            "      --format F        report: text, csv, json or html\n"
            "      --request-id ID   report: only this request\n"
            "  -h, --help            this text\n"
            "\n"
            "Secrets come from the environment variables the config names.\n"
            "Exit: 0 ok, 1 runtime failure, 2 usage, 3 bad config,\n"
            "      4 request rejected (plan), 5 overdue request (report).\n",
            fp);
}

struct options {
        const char *command;
        const char *config;
        const char *brokers;
        const char *metrics_bind;
        const char *metrics_port;
        const char *log_level;
        const char *request_file;
        struct settings_props extra;
        const char *codes[16];
        size_t ncodes;
        int all;
        int dry_run;
        int json;
        int no_secrets;
        const char *since, *until, *format, *request_id;
};

static int parse_args(int argc, char **argv, struct options *o)
{
        static const struct option longopts[] = {
            {"config", required_argument, NULL, 'c'},
            {"brokers", required_argument, NULL, 'b'},
            {"metrics-bind", required_argument, NULL, 'M'},
            {"metrics-port", required_argument, NULL, 'P'},
            {"no-secrets", no_argument, NULL, 'N'},
            {"log-level", required_argument, NULL, 'l'},
            {"check-config", no_argument, NULL, 'C'},
            {"code", required_argument, NULL, 'K'},
            {"all", no_argument, NULL, 'A'},
            {"dry-run", no_argument, NULL, 'D'},
            {"json", no_argument, NULL, 'J'},
            {"since", required_argument, NULL, 'S'},
            {"until", required_argument, NULL, 'U'},
            {"format", required_argument, NULL, 'F'},
            {"request-id", required_argument, NULL, 'R'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0}};
        o->command = "run";
        if (argc > 1 && argv[1][0] != '-') {
                o->command = argv[1];
                argv++;
                argc--;
        }
        int ch;
        char err[256];
        while ((ch = getopt_long(argc, argv, "c:b:X:l:h", longopts, NULL)) !=
               -1) {
                switch (ch) {
                case 'c':
                        o->config = optarg;
                        break;
                case 'b':
                        o->brokers = optarg;
                        break;
                case 'M':
                        o->metrics_bind = optarg;
                        break;
                case 'P':
                        o->metrics_port = optarg;
                        break;
                case 'N':
                        o->no_secrets = 1;
                        break;
                case 'l':
                        o->log_level = optarg;
                        break;
                case 'C': /* old spelling, kept working, not shown */
                        o->command = "check-config";
                        break;
                case 'K':
                        if (o->ncodes == sizeof(o->codes) / sizeof(o->codes[0]))
                                return -1;
                        o->codes[o->ncodes++] = optarg;
                        break;
                case 'A':
                        o->all = 1;
                        break;
                case 'D':
                        o->dry_run = 1;
                        break;
                case 'J':
                        o->json = 1;
                        break;
                case 'S':
                        o->since = optarg;
                        break;
                case 'U':
                        o->until = optarg;
                        break;
                case 'F':
                        o->format = optarg;
                        break;
                case 'R':
                        o->request_id = optarg;
                        break;
                case 'X':
                        if (settings_props_add(&o->extra, optarg, err,
                                               sizeof(err))) {
                                fprintf(stderr, "erasure-worker: -X %s\n", err);
                                return -1;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        return -1;
                }
        }
        if (optind < argc)
                o->request_file = argv[optind++];
        if (optind < argc || !o->config)
                return -1;
        return 0;
}

/* A -X librdkafka refuses is a configuration error like a bad line in the
 * file, named by the flag (there is no file:line to give). */
static int check_extra(const struct options *o)
{
        char err[512];
        for (size_t i = 0; i < o->extra.n; i++) {
                const char *kv = o->extra.items[i];
                if (settings_check_property(kv, err, sizeof(err)) == 0)
                        continue;
                fprintf(stderr,
                        "erasure-worker: invalid configuration: -X %.*s: %s\n",
                        (int)(strchr(kv, '=') - kv), kv, err);
                return -1;
        }
        return 0;
}

static int set_metrics_port(struct settings *s, const char *text)
{
        char *end;
        long port = strtol(text, &end, 10);
        if (!*text || *end || port < 1 || port > 65535) {
                fprintf(stderr, "erasure-worker: bad --metrics-port %s\n",
                        text);
                return -1;
        }
        s->metrics_port = (int)port;
        return 0;
}

/* Command-line Kafka properties win over the file's: appended last. */
static int apply_overrides(struct settings *s, const struct options *o)
{
        char err[256];
        for (size_t i = 0; i < o->extra.n; i++)
                if (settings_props_add(&s->kafka, o->extra.items[i], err,
                                       sizeof(err)))
                        return -1;
        /* Two local workers from one config differ only by this. */
        if (o->metrics_port && set_metrics_port(s, o->metrics_port))
                return -1;
        if (o->brokers) {
                char kv[1024];
                snprintf(kv, sizeof(kv), "bootstrap.servers=%s", o->brokers);
                if (settings_props_add(&s->kafka, kv, err, sizeof(err)))
                        return -1;
        }
        /* Pods need the pod's address, a laptop loopback: the manifest
         * says which without a config of its own. */
        if (o->metrics_bind) {
                char *bind = strdup(o->metrics_bind);
                if (!bind)
                        return -1;
                free(s->metrics_bind);
                s->metrics_bind = bind;
        }
        if (o->log_level && log_level_parse(o->log_level, &s->log_level)) {
                fprintf(stderr, "erasure-worker: bad --log-level %s\n",
                        o->log_level);
                return -1;
        }
        return 0;
}

static void register_secrets(const struct settings *s)
{
        const char *v;
        for (size_t i = 0; (v = provider_secret_at(s->providers, i)); i++)
                log_add_secret(v);
}

static void print_props(const struct settings *s, const char *what,
                        const struct settings_props *p)
{
        for (size_t i = 0; i < p->n; i++) {
                const char *kv = p->items[i];
                size_t n = (size_t)(strchr(kv, '=') - kv);
                printf("%s: %.*s=%s\n", what, (int)n, kv,
                       settings_prop_is_secret(s, kv, n) ? "****" : kv + n + 1);
        }
}

static int cmd_check_config_json(const struct settings *s)
{
        char *text = settings_to_json(s);
        if (!text) {
                fprintf(stderr, "erasure-worker: out of memory\n");
                return EXIT_RUNTIME;
        }
        printf("%s\n", text);
        free(text);
        return 0;
}

/* Where the account's calls go and how they authenticate; of a secret
 * only its variable and whether it is set. */
static void print_account_access(const struct provider_account *a,
                                 const struct provider_limits *l,
                                 int no_secrets)
{
        const char *auth = provider_account_auth(a);
        printf("  base_url=%s auth=%s plain_http=%s tls_verify=%s\n",
               provider_account_base_url(a), auth ? auth : "none",
               provider_account_plain_http(a) ? "allowed" : "no",
               l->tls_verify ? "on" : "OFF");
        const char *var;
        for (size_t j = 0; provider_account_secret_slot(a, j, &var); j++) {
                const char *v = getenv(var);
                printf("  secret from $%s: %s\n", var,
                       v && *v      ? "set (value never printed)"
                       : no_secrets ? "not checked (--no-secrets)"
                                    : "NOT SET");
        }
}

static int cmd_check_config(const struct settings *s, int no_secrets)
{
        const struct provider_registry *reg = s->providers;
        printf("%s: OK\n", s->path);
        printf("topics: requests=%s outcomes=%s dead_letter=%s\n",
               s->topic_requests, s->topic_outcomes, s->topic_dead_letter);
        printf("group: %s%s%s%s\n", s->group_id,
               s->static_membership_env ? ", group.instance.id from $" : "",
               s->static_membership_env ? s->static_membership_env : "",
               s->static_membership_env && s->threads > 1
                   ? " (+ \"-<loop>\" per loop)"
                   : "");
        printf("worker: threads=%u%s, per loop: max_requests_in_flight=%zu "
               "max_bytes_in_flight=%zu; max_calls_in_flight=%zu in all\n",
               s->threads,
               s->threads_auto ? " (auto: the CPUs this process may use)" : "",
               pool_share(s->max_requests_in_flight, s->threads),
               pool_share(s->max_bytes_in_flight, s->threads),
               s->max_calls_in_flight);
        /* Values of properties that may hold credentials are masked (shown
         * as ****, never printed); the rest helps an operator see what is
         * used. */
        print_props(s, "kafka", &s->kafka);
        print_props(s, "consumer", &s->consumer);
        print_props(s, "producer", &s->producer);
        for (size_t i = 0; i < provider_account_count(reg); i++) {
                const struct provider_account *a = provider_account_at(reg, i);
                const struct provider_limits *l = provider_account_limits(a);
                printf(
                    "account %s/%s: concurrency=%d rate=%.1f/s burst=%.0f "
                    "timeout=%lldms attempts=%d budget=%lldms tls_verify=%s\n",
                    provider_account_provider(a), provider_account_name(a),
                    l->concurrency, l->rate_per_s, l->burst,
                    (long long)l->timeout_ms, l->max_attempts,
                    (long long)l->budget_ms, l->tls_verify ? "on" : "OFF");
                print_account_access(a, l, no_secrets);
                const struct provider_oauth *oa = provider_account_oauth(a);
                if (oa)
                        printf("  oauth2 client credentials: token_url=%s "
                               "client_auth=%s\n",
                               oa->token_url,
                               oa->basic_auth ? "basic" : "form");
        }
        return 0;
}

static char *read_all(FILE *fp, size_t max, size_t *len)
{
        char *buf = malloc(max + 1);
        if (!buf)
                return NULL;
        *len = fread(buf, 1, max + 1, fp);
        buf[*len > max ? max : *len] = '\0';
        return buf;
}

static void print_call(const struct provider_call *c)
{
        printf("%s %s\n", c->method, c->url);
        for (size_t h = 0; h < c->nheaders; h++)
                printf("  %s: %s\n", c->headers[h].name,
                       c->headers[h].secret ? "****" : c->headers[h].value);
        /* The token is fetched at run time; plan never fetches one. */
        const struct provider_oauth *oa = provider_account_oauth(c->account);
        if (oa)
                printf("  %s: %s**** (OAuth token from %s)\n", oa->header,
                       oa->prefix, oa->token_url);
        if (c->body)
                printf("  body: %s\n", c->body);
        printf("  # %s/%s %s resource=%s\n", c->provider, c->account_name,
               c->action_name, c->resource);
        if (provider_call_after(c))
                printf("  # after %s\n", provider_call_after(c));
        if (c->verify)
                printf("  then verify: %s %s\n", c->verify->method,
                       c->verify->url);
        char *items = provider_describe_items(c);
        if (items)
                printf("  per item found: %s\n", items);
        free(items);
}

static int cmd_plan(const struct settings *s, const char *file)
{
        FILE *fp = (!file || strcmp(file, "-") == 0) ? stdin : fopen(file, "r");
        if (!fp) {
                fprintf(stderr, "erasure-worker: cannot open %s\n", file);
                return EXIT_USAGE;
        }
        size_t len = 0;
        char *buf = read_all(fp, s->request_limits.max_bytes, &len);
        if (fp != stdin)
                fclose(fp);
        if (!buf)
                return EXIT_RUNTIME;
        char err[512];
        enum request_error code = REQUEST_OK;
        struct request *req = request_parse(buf, len, &s->request_limits, &code,
                                            NULL, err, sizeof(err));
        struct provider_plan plan = {0};
        if (req)
                code =
                    provider_plan(s->providers, req, s->max_calls_per_request,
                                  &plan, err, sizeof(err));
        free(buf);
        if (code != REQUEST_OK) {
                printf("rejected: %s: %s\n", request_error_name(code), err);
                request_free(req);
                return EXIT_REJECTED;
        }
        for (size_t i = 0; i < plan.ncalls; i++)
                print_call(&plan.calls[i]);
        provider_plan_clear(&plan);
        request_free(req);
        return 0;
}

static int cmd_replay(const struct settings *s, const struct options *o)
{
        struct replay_options ro = {o->codes, o->ncodes, o->all, o->dry_run,
                                    30000};
        struct replay_result res;
        char err[512];
        if (replay_run(s, &ro, &res, err, sizeof(err))) {
                log_error(NULL, NULL, "replay: %s", err);
                return EXIT_RUNTIME;
        }
        printf("%s %zu dead-lettered request(s) to %s, skipped %zu, "
               "could not copy %zu\n",
               o->dry_run ? "would copy" : "copied", res.copied,
               s->topic_requests, res.skipped, res.unproducible);
        return 0;
}

static int report_args(const struct options *o, struct report_options *ro)
{
        ro->now_ms = clock_wall_ms();
        ro->until_ms = ro->now_ms;
        ro->format = REPORT_TEXT;
        ro->request_id = o->request_id;
        ro->timeout_ms = 30000;
        ro->progress_ms = 5000;
        if (!o->since || clock_parse_rfc3339(o->since, &ro->since_ms) ||
            (o->until && clock_parse_rfc3339(o->until, &ro->until_ms)) ||
            (o->format && report_format_parse(o->format, &ro->format))) {
                fprintf(stderr, "erasure-worker: report needs --since T, "
                                "times as RFC 3339 or YYYY-MM-DD, --format "
                                "text|csv|json|html\n");
                return -1;
        }
        return 0;
}

/* Exit 5 when a request is overdue, so a cron job can alert on it. */
static int cmd_report(const struct settings *s, const struct options *o)
{
        struct report_options ro;
        struct report_result res;
        char err[512];
        if (report_args(o, &ro))
                return EXIT_USAGE;
        if (report_run(s, &ro, stdout, &res, err, sizeof(err))) {
                log_error(NULL, NULL, "report: %s", err);
                return EXIT_RUNTIME;
        }
        if (!res.overdue)
                return 0;
        fprintf(stderr, "erasure-worker: %zu of %zu request(s) overdue\n",
                res.overdue, res.requests);
        return EXIT_OVERDUE;
}

static int cmd_run(struct settings *s)
{
        char err[512];
        struct metrics *m = metrics_new();
        if (!m)
                return EXIT_RUNTIME;
        metrics_set_limits(m, &s->metrics_limits);
        if (s->metrics_bind &&
            metrics_serve(m, s->metrics_bind, s->metrics_port, err,
                          sizeof(err))) {
                log_error(NULL, NULL, "metrics server: %s", err);
                metrics_free(m);
                return EXIT_RUNTIME;
        }
        struct pool *p = pool_new(s, m, err, sizeof(err));
        if (!p) {
                log_error(NULL, NULL, "%s", err);
                metrics_free(m);
                return EXIT_RUNTIME;
        }
        g_pool = p;
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        int rc = pool_run(p, err, sizeof(err));
        if (rc != 0)
                log_error(NULL, NULL, "worker stopped: %s", err);
        g_pool = NULL;
        pool_free(p);
        metrics_free(m);
        return rc == 0 ? 0 : EXIT_RUNTIME;
}

static void free_options(struct options *o)
{
        for (size_t i = 0; i < o->extra.n; i++)
                free(o->extra.items[i]);
        free(o->extra.items);
}

/* Loads, applies the command line and, for the commands that build Kafka
 * clients, the librdkafka configuration. NULL with *rc the exit code. */
static struct settings *load(const struct options *o, int allow_missing,
                             int kafka_conf, int *rc)
{
        char err[1024];
        *rc = EXIT_CONFIG;
        if (check_extra(o))
                return NULL;
        struct settings *s =
            settings_load(o->config, allow_missing, err, sizeof(err));
        if (!s) {
                fprintf(stderr, "erasure-worker: invalid configuration: %s\n",
                        err);
                return NULL;
        }
        if (apply_overrides(s, o)) {
                *rc = EXIT_USAGE;
        } else if (kafka_conf && kafka_check_conf(s, err, sizeof(err))) {
                fprintf(stderr, "erasure-worker: invalid configuration: %s\n",
                        err);
        } else {
                return s;
        }
        settings_free(s);
        return NULL;
}

int main(int argc, char **argv)
{
        struct options o = {0};
        if (parse_args(argc, argv, &o)) {
                usage(stderr);
                free_options(&o);
                return EXIT_USAGE;
        }
        int is_run = strcmp(o.command, "run") == 0;
        int is_replay = strcmp(o.command, "replay") == 0;
        int is_report = strcmp(o.command, "report") == 0;
        int is_check = strcmp(o.command, "check-config") == 0;
        if (!is_run && !is_replay && !is_report && !is_check &&
            strcmp(o.command, "plan") != 0) {
                usage(stderr);
                free_options(&o);
                return EXIT_USAGE;
        }
        /* run needs the providers' secrets, and check-config says whether
         * run would have them (unless told not to, where none exist). */
        int allow_missing = !is_run && (!is_check || o.no_secrets);
        int rc;
        struct settings *s = load(&o, allow_missing, is_run || is_check, &rc);
        if (s) {
                log_set_level(s->log_level);
                register_secrets(s);
                if (is_run)
                        rc = cmd_run(s);
                else if (is_replay)
                        rc = cmd_replay(s, &o);
                else if (is_report)
                        rc = cmd_report(s, &o);
                else if (strcmp(o.command, "plan") == 0)
                        rc = cmd_plan(s, o.request_file);
                else if (o.json)
                        rc = cmd_check_config_json(s);
                else
                        rc = cmd_check_config(s, o.no_secrets);
        }
        settings_free(s);
        free_options(&o);
        log_clear_secrets();
        return rc;
}
