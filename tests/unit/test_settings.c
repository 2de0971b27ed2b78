/* Unit tests of src/settings.c and settings_json.c: a valid file and its
 * defaults, every kind of error as FILE:LINE: SETTING.PATH: message, and
 * check-config's masking of secrets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "cpus.h"
#include "settings.h"

#define PROVIDERS                                                              \
        "providers = { p = {\n"                                                \
        "  base_url = \"https://p.example/api\";\n"                            \
        "  auth = { key = ( { header = \"X-Key\"; secret = \"key\"; } ); };\n" \
        "  actions = ( { name = \"del\"; when = \"ids\"; method = "            \
        "\"DELETE\";\n"                                                        \
        "    path = \"/items/{ids}\"; for_each = \"ids\"; resource = "         \
        "\"{ids}\";\n"                                                         \
        "    params = ( { field = \"ids\"; type = \"string_list\"; } ); } "    \
        ");\n"                                                                 \
        "}; };\n"                                                              \
        "accounts = ( { provider = \"p\"; secrets = { key = \"TS_P_KEY\"; }; " \
        "} );\n"

/* Values no output may ever show. */
#define SENTINEL_ENV   "env-SENTINEL-1"
#define SENTINEL_KEY   "key-SENTINEL-2"
#define SENTINEL_PLAIN "plain-SENTINEL-3"

static char tmpdir[64];
static char path[128];

static int group_setup(void **state)
{
        (void)state;
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_settings.XXXXXX");
        if (!mkdtemp(tmpdir))
                return -1;
        snprintf(path, sizeof(path), "%s/worker.conf", tmpdir);
        setenv("TS_P_KEY", SENTINEL_KEY, 1);
        setenv("TS_KAFKA_PASSWORD", SENTINEL_ENV, 1);
        setenv("TS_CLIENT_ID", SENTINEL_ENV, 1);
        unsetenv("TS_UNSET");
        return 0;
}

static int group_teardown(void **state)
{
        (void)state;
        unlink(path);
        rmdir(tmpdir);
        return 0;
}

static struct settings *load(const char *text, int allow_missing, char *err,
                             size_t errsize)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
        return settings_load(path, allow_missing, err, errsize);
}

static void test_valid_file_and_defaults(void **state)
{
        (void)state;
        char err[512] = "";
        struct settings *s = load(
            "kafka = { properties = [ \"bootstrap.servers=k:9092\" ];\n"
            "  properties_from_env = [ \"sasl.password=TS_KAFKA_PASSWORD\" "
            "];\n"
            "  consumer = [ \"session.timeout.ms=45000\" ];\n"
            "  group_id = \"g1\"; };\n"
            "topics = { requests = \"in\"; };\n"
            "worker = { max_calls_in_flight = 7; max_targets = 3; };\n"
            "metrics = { bind = \"127.0.0.1\"; port = 0; };\n"
            "log = { level = \"debug\"; };\n" PROVIDERS,
            0, err, sizeof(err));
        if (!s)
                fail_msg("load failed: %s", err);
        assert_string_equal(s->path, path);
        assert_string_equal(s->group_id, "g1");
        assert_string_equal(s->topic_requests, "in");
        assert_string_equal(s->topic_outcomes, "erasure.outcomes");
        assert_string_equal(s->topic_dead_letter, "erasure.requests.dlq");
        assert_int_equal(s->max_calls_in_flight, 7);
        assert_int_equal(s->max_requests_in_flight, 1000);
        /* Not set: one loop per usable CPU. */
        assert_true(s->threads_auto);
        assert_int_equal(s->threads, cpus_usable());
        assert_int_equal(s->request_limits.max_targets, 3);
        assert_int_equal(s->drain_timeout_ms, 25000);
        assert_string_equal(s->metrics_bind, "127.0.0.1");
        assert_int_equal(s->metrics_port, 0);
        assert_int_equal(s->log_level, LOG_DEBUG);
        assert_int_equal(s->kafka.n, 2);
        assert_string_equal(s->kafka.items[0], "bootstrap.servers=k:9092");
        assert_string_equal(s->kafka.items[1], "sasl.password=" SENTINEL_ENV);
        assert_int_equal(s->kafka_from_env.n, 1);
        assert_string_equal(s->kafka_from_env.items[0],
                            "sasl.password=TS_KAFKA_PASSWORD");
        assert_int_equal(s->consumer.n, 1);
        assert_int_equal(s->producer.n, 0);
        assert_null(s->static_membership_env);
        assert_non_null(s->providers);
        settings_free(s);
        settings_free(NULL);
}

struct error_case {
        const char *text; /* the bad line ends with "#!" */
        int allow_missing;
        const char *want; /* after "FILE:LINE: " */
};

static const struct error_case error_cases[] = {
    {"colour = 1; #!\n", 0, "colour: unknown setting"},
    {"kafka = { group = \"g\"; #!\n};\n", 0, "kafka.group: unknown setting"},
    {"kafka = { group_id = 5; #!\n};\n", 0, "kafka.group_id: must be a string"},
    {"kafka = { group_id = \"\"; #!\n};\n", 0,
     "kafka.group_id: must not be empty"},
    {"kafka = { properties = \"a=b\"; #!\n};\n", 0,
     "kafka.properties: must be an array of \"name=value\""},
    {"kafka = { properties = [ \"novalue\" ]; #!\n};\n", 0,
     "kafka.properties.[0]: \"novalue\": expected name=value"},
    {"kafka = { properties_from_env = [ \"sasl.password=TS_UNSET\" ]; #!\n"
     "};\n",
     0,
     "kafka.properties_from_env.[0]: environment variable TS_UNSET is not "
     "set"},
    {"kafka = 1; #!\n", 0, "kafka: must be a group"},
    {"worker = { max_calls_in_flight = 0; #!\n};\n", 0,
     "worker.max_calls_in_flight: must be between 1 and 100000"},
    {"worker = { threads = -1; #!\n};\n", 0,
     "worker.threads: must be between 0 and 256"},
    {"worker = { threads = 257; #!\n};\n", 0,
     "worker.threads: must be between 0 and 256"},
    {"worker = { drain_timeout_ms = \"10\"; #!\n};\n", 0,
     "worker.drain_timeout_ms: must be an integer"},
    {"metrics = { port = 70000; #!\n};\n", 0,
     "metrics.port: must be between 0 and 65535"},
    {"topics = { requests = \"erasure.outcomes\"; #!\n};\n", 0,
     "topics.requests: must differ from the outcome and dead-letter topics"},
    {"log = { level = \"loud\"; #!\n};\n", 0,
     "log.level: must be one of debug, info, warn, error"},
};

static int marker_line(const char *text)
{
        const char *m = strstr(text, "#!");
        int line = 1;
        assert_non_null(m);
        for (const char *p = text; p < m; p++)
                line += *p == '\n';
        return line;
}

static void test_errors_name_file_line_and_path(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]);
             i++) {
                const struct error_case *c = &error_cases[i];
                char text[2048], err[512] = "", want[1024];
                snprintf(text, sizeof(text), "%s%s", c->text, PROVIDERS);
                struct settings *s =
                    load(text, c->allow_missing, err, sizeof(err));
                if (s) {
                        settings_free(s);
                        fail_msg("case %zu loaded: %s", i, c->text);
                }
                snprintf(want, sizeof(want), "%s:%d: %s", path,
                         marker_line(text), c->want);
                if (strncmp(err, want, strlen(want)) != 0)
                        fail_msg("case %zu:\n got  %s\n want %s", i, err, want);
        }
}

static void test_missing_secret_allowed_for_check_config(void **state)
{
        (void)state;
        char err[512] = "";
        struct settings *s = load(
            "kafka = { properties_from_env = [ \"sasl.password=TS_UNSET\" ]; "
            "};\n" PROVIDERS,
            1, err, sizeof(err));
        if (!s)
                fail_msg("load failed: %s", err);
        assert_int_equal(s->kafka.n, 0);
        /* Still known to come from the environment, so still masked. */
        assert_int_equal(s->kafka_from_env.n, 1);
        assert_true(settings_prop_is_secret(s, "sasl.password", 13));
        settings_free(s);
}

static void test_prop_is_secret(void **state)
{
        (void)state;
        char err[512] = "";
        struct settings *s = load(
            "kafka = { properties_from_env = [ \"client.id=TS_CLIENT_ID\" ]; "
            "};\n" PROVIDERS,
            0, err, sizeof(err));
        if (!s)
                fail_msg("load failed: %s", err);
        const char *secret[] = {"client.id", /* from the environment */
                                "sasl.password",
                                "ssl.key.password",
                                "ssl.keystore.password",
                                "ssl.key.pem",
                                "sasl.oauthbearer.client.secret",
                                "sasl.oauthbearer.config",
                                "sasl.oauthbearer.extensions",
                                "my.secret.thing",
                                "api.key"};
        const char *plain[] = {"bootstrap.servers", "sasl.username",
                               "sasl.mechanisms",   "ssl.ca.location",
                               "ssl.key.location",  "client.ids"};
        for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
                if (!settings_prop_is_secret(s, secret[i], strlen(secret[i])))
                        fail_msg("%s not masked", secret[i]);
        }
        for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
                if (settings_prop_is_secret(s, plain[i], strlen(plain[i])))
                        fail_msg("%s masked", plain[i]);
        }
        settings_free(s);
}

static void expect_str(json_t *obj, const char *key, const char *want)
{
        const char *v = json_string_value(json_object_get(obj, key));
        if (!v || strcmp(v, want) != 0)
                fail_msg("%s: got %s, want %s", key, v ? v : "(none)", want);
}

/* Every property must be one librdkafka accepts now (load validates
 * them): sasl.oauthbearer.config stands for the OAuth family, whose OIDC
 * members this librdkafka build may lack. */
/* A set count is taken as it is, shown with threads_auto false, and each
 * loop's Kafka client queues count in the memory the caps need. */
static void test_threads_set(void **state)
{
        (void)state;
        char err[512] = "";
        struct settings *one =
            load("worker = { threads = 1; };\n" PROVIDERS, 0, err, sizeof(err));
        if (!one)
                fail_msg("load failed: %s", err);
        struct settings *three =
            load("worker = { threads = 3; };\n" PROVIDERS, 0, err, sizeof(err));
        if (!three)
                fail_msg("load failed: %s", err);
        assert_int_equal(three->threads, 3);
        assert_false(three->threads_auto);
        /* Two more loops: two more consumer and producer queues (64 MiB
         * each by default). */
        assert_int_equal(settings_memory_needed(three) -
                             settings_memory_needed(one),
                         2 * 2 * 65536 * 1024ULL);
        char *text = settings_to_json(three);
        json_t *root = json_loads(text, 0, NULL);
        json_t *w = json_object_get(root, "worker");
        assert_int_equal(json_integer_value(json_object_get(w, "threads")), 3);
        assert_true(json_is_false(json_object_get(w, "threads_auto")));
        json_decref(root);
        free(text);
        settings_free(one);
        settings_free(three);
}

static void test_json_masks_every_secret(void **state)
{
        (void)state;
        char err[512] = "";
        struct settings *s = load(
            "kafka = { properties = [ \"bootstrap.servers=k:9092\",\n"
            "    \"sasl.oauthbearer.config=" SENTINEL_PLAIN "\",\n"
            "    \"ssl.key.password=" SENTINEL_PLAIN "\",\n"
            "    \"ssl.key.pem=" SENTINEL_PLAIN "\" ];\n"
            "  properties_from_env = [ \"sasl.password=TS_KAFKA_PASSWORD\",\n"
            "    \"client.id=TS_CLIENT_ID\" ];\n"
            "  consumer = [ \"sasl.password=" SENTINEL_PLAIN "\" ];\n"
            "  producer = [ \"linger.ms=5\" ]; };\n" PROVIDERS,
            0, err, sizeof(err));
        if (!s)
                fail_msg("load failed: %s", err);
        char *text = settings_to_json(s);
        assert_non_null(text);
        if (strstr(text, "SENTINEL"))
                fail_msg("a secret is shown:\n%s", text);
        json_error_t je;
        json_t *root = json_loads(text, 0, &je);
        if (!root)
                fail_msg("not JSON (%s):\n%s", je.text, text);
        json_t *k = json_object_get(root, "kafka");
        json_t *props = json_object_get(k, "properties");
        expect_str(props, "bootstrap.servers", "k:9092");
        expect_str(props, "sasl.oauthbearer.config", "****");
        expect_str(props, "ssl.key.password", "****");
        expect_str(props, "ssl.key.pem", "****");
        expect_str(props, "sasl.password", "****");
        expect_str(props, "client.id", "****");
        json_t *env = json_object_get(k, "properties_from_env");
        expect_str(env, "sasl.password", "TS_KAFKA_PASSWORD");
        expect_str(env, "client.id", "TS_CLIENT_ID");
        expect_str(json_object_get(k, "consumer"), "sasl.password", "****");
        expect_str(json_object_get(k, "producer"), "linger.ms", "5");
        expect_str(json_object_get(root, "topics"), "requests",
                   "erasure.requests");
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(root, "worker"),
                                               "drain_timeout_ms")),
            25000);
        json_t *acct = json_array_get(json_object_get(root, "accounts"), 0);
        expect_str(acct, "provider", "p");
        expect_str(acct, "base_url", "https://p.example/api");
        expect_str(acct, "auth", "key");
        expect_str(json_object_get(acct, "secret_env"), "key", "TS_P_KEY");
        assert_true(json_is_false(json_object_get(acct, "allow_plain_http")));
        assert_true(json_is_true(json_object_get(acct, "tls_verify")));
        assert_int_equal(json_integer_value(json_object_get(
                             json_object_get(acct, "limits"), "concurrency")),
                         32);
        json_decref(root);
        free(text);
        settings_free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_valid_file_and_defaults),
            cmocka_unit_test(test_errors_name_file_line_and_path),
            cmocka_unit_test(test_missing_secret_allowed_for_check_config),
            cmocka_unit_test(test_prop_is_secret),
            cmocka_unit_test(test_json_masks_every_secret),
            cmocka_unit_test(test_threads_set),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
