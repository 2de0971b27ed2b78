/* Unit tests of src/provider_load.c, provider_action.c and
 * provider_account.c: accounts, limits and secrets, and start-up errors
 * naming file, line and setting. */
#include "provider_fixture.h"

/* ---- accounts, limits, secrets ---------------------------------------- */

static void test_accounts_and_limits(void **state)
{
        (void)state;
        assert_int_equal(provider_account_count(reg), 6);
        const char *want[][2] = {{"vectara", "default"}, {"vectara", "oauth"},
                                 {"convai", "default"},  {"algolia", "default"},
                                 {"algolia", "noopt"},   {"avaamo", "default"}};
        for (size_t i = 0; i < 6; i++) {
                const struct provider_account *a = provider_account_at(reg, i);
                assert_non_null(a);
                assert_int_equal(provider_account_index(a), i);
                assert_string_equal(provider_account_provider(a), want[i][0]);
                assert_string_equal(provider_account_name(a), want[i][1]);
        }
        assert_null(provider_account_at(reg, 6));

        /* built-in < account_defaults < account, field by field */
        const struct provider_limits *l =
            provider_account_limits(provider_account_at(reg, 0));
        assert_int_equal(l->concurrency, 16);
        assert_int_equal(l->timeout_ms, 20000);
        assert_int_equal(l->max_attempts, 6);
        assert_int_equal(l->connect_timeout_ms, 5000);
        assert_int_equal(l->budget_ms, 300000);
        assert_int_equal(l->backoff_base_ms, 500);
        assert_int_equal(l->backoff_max_ms, 30000);
        assert_true(l->rate_per_s == 0.0);
        assert_true(l->burst == 10.0);
        assert_int_equal(l->tls_verify, 1);
        assert_null(l->ca_file);

        l = provider_account_limits(provider_account_at(reg, 1));
        assert_int_equal(l->concurrency, 4);
        assert_int_equal(l->max_attempts, 2);
        assert_int_equal(l->timeout_ms, 20000);
        assert_int_equal(l->tls_verify, 0);

        l = provider_account_limits(provider_account_at(reg, 5));
        assert_string_equal(l->ca_file, "/etc/ssl/certs/ca-certificates.crt");
        assert_int_equal(l->tls_verify, 1);
}

/* What check-config shows: base URL, scheme, plain-http flag and the
 * variable each secret slot comes from, never the value. */
static void test_account_description(void **state)
{
        (void)state;
        const struct provider_account *a = provider_account_at(reg, 1);
        const char *env = NULL;
        assert_string_equal(provider_account_base_url(a),
                            "http://127.0.0.1:8080/vectara");
        assert_string_equal(provider_account_auth(a), "oauth");
        assert_int_equal(provider_account_plain_http(a), 1);
        assert_string_equal(provider_account_secret_slot(a, 0, &env),
                            "oauth_token");
        assert_string_equal(env, "TP_VECTARA_TOKEN");
        assert_null(provider_account_secret_slot(a, 1, &env));

        a = provider_account_at(reg, 3); /* algolia: vars in the host */
        assert_string_equal(provider_account_base_url(a),
                            "https://APPID42.algolia.net/agent-studio");
        assert_string_equal(provider_account_auth(a), "api_key");
        assert_int_equal(provider_account_plain_http(a), 0);
        /* The application-id header has no secret: one slot only. */
        assert_string_equal(provider_account_secret_slot(a, 0, &env),
                            "api_key");
        assert_string_equal(env, "TP_ALGOLIA_KEY");
        assert_null(provider_account_secret_slot(a, 1, &env));
}

static void test_secrets_enumerated(void **state)
{
        const char *want[] = {"vectara-key-1", "vectara-oauth-2",
                              "convai-key-3", "algolia-key-4",
                              "avaamo-token-5"};
        (void)state;
        for (size_t i = 0; i < 5; i++)
                assert_string_equal(provider_secret_at(reg, i), want[i]);
        assert_null(provider_secret_at(reg, 5));
}

static void test_secret_listed_once(void **state)
{
        char err[512];
        (void)state;
        struct provider_registry *r = load_text(
            "twice.conf",
            "@include \"providers.conf\"\n"
            "accounts = (\n"
            "  { provider = \"convai\"; secrets = { api_key = \"TP_P_KEY\"; "
            "}; },\n"
            "  { provider = \"convai\"; name = \"eu\"; secrets = { api_key = "
            "\"TP_P_KEY\"; }; }\n"
            ");\n",
            0, err, sizeof(err));
        assert_non_null(r);
        assert_string_equal(provider_secret_at(r, 0), "p-key-6");
        assert_null(provider_secret_at(r, 1));
        provider_registry_free(r);
}

static void test_allow_missing_secrets(void **state)
{
        char err[512];
        struct provider_plan plan;
        const char *conf =
            "@include \"providers.conf\"\n"
            "accounts = ( { provider = \"vectara\"; secrets = { api_key = "
            "\"TP_UNSET_VAR\"; }; } );\n";
        (void)state;
        struct provider_registry *r =
            load_text("missing_ok.conf", conf, 1, err, sizeof(err));
        assert_non_null(r);
        assert_null(provider_secret_at(r, 0));
        assert_int_equal(plan_with(r,
                                   "{'targets':[{'provider':'vectara',"
                                   "'agent_id':'agt_a','session_ids':['ase_"
                                   "1']}]}",
                                   0, &plan, err, sizeof(err)),
                         REQUEST_OK);
        assert_header(&plan.calls[0], 0, "x-api-key", "", 1);
        provider_plan_clear(&plan);
        provider_registry_free(r);

        /* and without the flag it is an error */
        assert_null(load_text("missing.conf", conf, 0, err, sizeof(err)));
        assert_contains(err, "accounts.[0].secrets.api_key: environment "
                             "variable TP_UNSET_VAR is not set");
}

static void test_free_null_and_clear(void **state)
{
        struct provider_plan plan;
        (void)state;
        provider_registry_free(NULL);
        plan_ok("{'targets':[{'provider':'vectara','agent_id':'agt_a',"
                "'session_ids':['ase_1']}]}",
                &plan);
        provider_plan_clear(&plan);
        assert_null(plan.calls);
        assert_int_equal(plan.ncalls, 0);
        provider_plan_clear(&plan); /* twice is harmless */
}

static void test_builtin_limits(void **state)
{
        char err[512];
        (void)state;
        struct provider_registry *r = load_text(
            "builtin.conf",
            "@include \"providers.conf\"\n"
            "accounts = ( { provider = \"convai\"; secrets = { api_key = "
            "\"TP_P_KEY\"; };\n"
            "  limits = { rate_per_s = 2; burst = 2.5; }; } );\n",
            0, err, sizeof(err));
        if (!r)
                fail_msg("%s", err);
        const struct provider_limits *l =
            provider_account_limits(provider_account_at(r, 0));
        assert_true(l->rate_per_s == 2.0); /* an integer is a number too */
        assert_true(l->burst == 2.5);
        assert_int_equal(l->concurrency, 32);
        assert_int_equal(l->timeout_ms, 15000);
        assert_int_equal(l->connect_timeout_ms, 5000);
        assert_int_equal(l->max_attempts, 6);
        assert_int_equal(l->budget_ms, 300000);
        assert_int_equal(l->backoff_base_ms, 500);
        assert_int_equal(l->backoff_max_ms, 30000);
        assert_int_equal(l->tls_verify, 1);
        assert_null(l->ca_file);
        provider_registry_free(r);
}

/* ---- start-up errors --------------------------------------------------- */

/* The line holding "#<" in text, 1-based. */
static int marker_line(const char *text)
{
        const char *m = strstr(text, "#<");
        int line = 1;
        assert_non_null(m);
        for (const char *p = text; p < m; p++)
                line += *p == '\n';
        return line;
}

struct config_case {
        const char *name;
        const char *text;
        const char *want; /* "PATH: reason" after "FILE:LINE: " */
};

#define P_HEAD                                                                 \
        "providers = {\n"                                                      \
        "  p = {\n"                                                            \
        "    base_url = \"https://p.example/api\";\n"                          \
        "    auth = { key = ( { header = \"X-Key\"; secret = \"key\"; } ); "   \
        "};\n"
#define P_ACTION_OPEN                                                          \
        "    actions = (\n"                                                    \
        "      { name = \"del\";\n"                                            \
        "        when = \"ids\";\n"
#define P_PARAMS                                                               \
        "        params = ( { field = \"ids\"; type = \"string_list\"; "       \
        "pattern = \"^[a-z0-9]+$\"; } );\n"
#define P_TAIL                                                                 \
        "      }\n"                                                            \
        "    );\n"                                                             \
        "  };\n"                                                               \
        "};\n"
#define P_ACCOUNT                                                              \
        "accounts = ( { provider = \"p\"; secrets = { key = \"TP_P_KEY\"; }; " \
        "} );\n"
#define P_GOOD_ACTION                                                          \
        P_ACTION_OPEN "        method = \"DELETE\";\n"                         \
                      "        path = \"/items/{ids}\";\n"                     \
                      "        for_each = \"ids\";\n"                          \
                      "        resource = \"{ids}\";\n" P_PARAMS P_TAIL

#define P_VERIFY_ACTION(VERIFY)                                                \
        P_ACTION_OPEN "        method = \"DELETE\";\n"                         \
                      "        path = \"/items/{ids}\";\n"                     \
                      "        for_each = \"ids\";\n"                          \
                      "        resource = \"{ids}\";\n" P_PARAMS VERIFY P_TAIL

static const struct config_case config_cases[] = {
    {"scope_value.conf",
     P_HEAD P_VERIFY_ACTION("        scope = \"user\"; #<\n") P_ACCOUNT,
     "providers.p.actions.[0].scope: must be \"agent\" (or left out)"},
    {"allow_agent_wide_type.conf",
     P_HEAD P_GOOD_ACTION "accounts = ( { provider = \"p\"; secrets = { key "
                          "= \"TP_P_KEY\"; };\n"
                          "  allow_agent_wide = \"yes\"; #<\n"
                          "} );\n",
     "accounts.[0].allow_agent_wide: must be true or false"},
    {"discovered_optional.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\"; type = "
     "\"string\";\n"
     "          optional = true; discovered = true; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].params.[0].discovered: a discovered param is a "
     "top-level string or integer, not optional"},
    {"discover_fields.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}/{id}\";\n"
     "        resource = \"{id}\";\n"
     "        discover = { name = \"find\"; method = \"GET\"; path = "
     "\"/items/{ids}\";\n"
     "          resource = \"{ids}\"; items = \"/data\";\n"
     "          fields = { nope = \"/id\"; }; }; #<\n"
     "        params = ( { field = \"ids\"; type = \"string\"; },\n"
     "          { field = \"id\"; type = \"string\"; discovered = true; } "
     ");\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].discover.fields.nope: nope is not a param of "
     "the action"},
    {"discover_items.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}/{id}\";\n"
     "        resource = \"{id}\";\n"
     "        discover = { name = \"find\"; method = \"GET\"; path = "
     "\"/items/{ids}\";\n"
     "          resource = \"{ids}\"; items = \"data\"; #<\n"
     "          fields = { id = \"/id\"; }; };\n"
     "        params = ( { field = \"ids\"; type = \"string\"; },\n"
     "          { field = \"id\"; type = \"string\"; discovered = true; } "
     ");\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].discover.items: must be a JSON Pointer"},
    {"discover_max_items.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}/{id}\";\n"
     "        resource = \"{id}\";\n"
     "        discover = { name = \"find\"; method = \"GET\"; path = "
     "\"/items/{ids}\";\n"
     "          resource = \"{ids}\"; items = \"/data\"; max_items = 0; #<\n"
     "          fields = { id = \"/id\"; }; };\n"
     "        params = ( { field = \"ids\"; type = \"string\"; },\n"
     "          { field = \"id\"; type = \"string\"; discovered = true; } "
     ");\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].discover.max_items: must be between 1 and "
     "100000"},
    {"discover_filter.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}/{id}\";\n"
     "        resource = \"{id}\";\n"
     "        discover = { name = \"find\"; method = \"GET\"; path = "
     "\"/items/{ids}\";\n"
     "          resource = \"{ids}\"; items = \"/data\";\n"
     "          fields = { id = \"/id\"; };\n"
     "          filters = ( { item = \"/x\";\n"
     "            equals = \"id\"; } ); }; #<\n"
     "        params = ( { field = \"ids\"; type = \"string\"; },\n"
     "          { field = \"id\"; type = \"string\"; discovered = true; } "
     ");\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].discover.filters.[0].equals: id is discovered, "
     "not a target field"},
    {"after_unknown.conf",
     P_HEAD P_VERIFY_ACTION("        after = \"later\"; #<\n") P_ACCOUNT,
     "providers.p.actions.[0].after: later is not an action declared before "
     "this one"},
    {"verify_group.conf",
     P_HEAD P_VERIFY_ACTION("        verify = \"GET\"; #<\n") P_ACCOUNT,
     "providers.p.actions.[0].verify: must be a group"},
    {"verify_key.conf",
     P_HEAD P_VERIFY_ACTION("        verify = { method = \"GET\"; path = "
                            "\"/items/{ids}\";\n"
                            "          delay = 5; }; #<\n") P_ACCOUNT,
     "providers.p.actions.[0].verify.delay: unknown setting"},
    {"verify_path.conf",
     P_HEAD P_VERIFY_ACTION("        verify = { method = \"GET\";\n"
                            "          path = \"/items/{nope}\"; }; #<\n")
         P_ACCOUNT,
     "providers.p.actions.[0].verify.path: unknown placeholder {nope}"},
    {"verify_outcome.conf",
     P_HEAD P_VERIFY_ACTION(
         "        verify = { method = \"GET\"; path = \"/items/{ids}\";\n"
         "          classify = ( { status = [404];\n"
         "            outcome = \"deleted\"; } ); }; #<\n") P_ACCOUNT,
     "providers.p.actions.[0].verify.classify.[0].outcome: must be absent, "
     "present or retry"},
    {"verify_items.conf",
     P_HEAD P_VERIFY_ACTION("        verify = { method = \"GET\"; path = "
                            "\"/items/{ids}\";\n"
                            "          items = \"data\"; }; #<\n") P_ACCOUNT,
     "providers.p.actions.[0].verify.items: must be a JSON Pointer"},
    {"verify_match_field.conf",
     P_HEAD P_VERIFY_ACTION(
         "        verify = { method = \"GET\"; path = \"/items\"; items = "
         "\"\";\n"
         "          match = { item = \"/id\"; field = \"other\"; }; }; #<\n")
         P_ACCOUNT,
     "providers.p.actions.[0].verify.match.field: other is not a param of the "
     "action"},
    {"verify_match_items.conf",
     P_HEAD P_VERIFY_ACTION(
         "        verify = { method = \"GET\"; path = \"/items\";\n"
         "          match = { item = \"/id\"; field = \"ids\"; }; }; #<\n")
         P_ACCOUNT,
     "providers.p.actions.[0].verify.match: needs items"},
    {"verify_attempts.conf",
     P_HEAD P_VERIFY_ACTION("        verify = { method = \"GET\"; path = "
                            "\"/items/{ids}\";\n"
                            "          attempts = 0; }; #<\n") P_ACCOUNT,
     "providers.p.actions.[0].verify.attempts: must be between 1 and 20"},
    {"verify_delay.conf",
     P_HEAD P_VERIFY_ACTION("        verify = { method = \"GET\"; path = "
                            "\"/items/{ids}\";\n"
                            "          delay_ms = -1; }; #<\n") P_ACCOUNT,
     "providers.p.actions.[0].verify.delay_ms: must be between 0 and 600000"},
    {"unknown_placeholder.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{id}\"; #<\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].path: unknown placeholder {id}"},
    {"bad_regex.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\"; type = \"string_list\";\n"
     "                     pattern = \"^(a|b$\"; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].params.[0].pattern: invalid regular "
     "expression"},
    {"missing_env.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\";\n"
                          "    secrets = { key = \"TP_UNSET_VAR\"; }; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].secrets.key: environment variable TP_UNSET_VAR is not set"},
    {"cr_in_var.conf",
     "providers = {\n"
     "  p = {\n"
     "    base_url = \"https://{tenant}.p.example\";\n"
     "    vars = { tenant = { pattern = \"^[A-Za-z0-9]+$\"; }; "
     "};\n" P_GOOD_ACTION "accounts = (\n"
     "  { provider = \"p\";\n"
     "    vars = {\n"
     "      tenant = \"abc\\r\\nHost: evil\"; #<\n"
     "    };\n"
     "  }\n"
     ");\n",
     "accounts.[0].vars.tenant: contains a control character"},
    {"plain_http.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\"; secrets = { key = "
                          "\"TP_P_KEY\"; };\n"
                          "    base_url = \"http://127.0.0.1:9/p\"; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].base_url: plain http:// is refused for accounts.[0]"},
    {"duplicate_account.conf",
     P_HEAD P_GOOD_ACTION
     "accounts = (\n"
     "  { provider = \"p\"; name = \"eu\"; secrets = { key = \"TP_P_KEY\"; }; "
     "},\n"
     "  { provider = \"p\";\n"
     "    name = \"eu\"; #<\n"
     "    secrets = { key = \"TP_P_KEY\"; }; }\n"
     ");\n",
     "accounts.[1].name: duplicate account eu for provider p"},
    {"unknown_key_action.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        foreach = \"ids\"; #<\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].foreach: unknown setting (known: name, when"},
    {"bad_method.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"delete\"; #<\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].method: must be GET, POST, PUT, PATCH or "
     "DELETE"},
    {"unknown_key_account.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\";\n"
                          "    secret = { key = \"TP_P_KEY\"; }; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].secret: unknown setting"},
    {"unknown_key_param.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\"; type = "
     "\"string_list\";\n"
     "                     max_lenght = 5; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].params.[0].max_lenght: unknown setting"},
    {"unknown_key_rule.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS
     "        classify = ( { status = [204];\n"
     "          outcom = \"deleted\"; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].classify.[0].outcom: unknown setting"},
    {"bad_outcome.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS
     "        classify = ( { status = [204];\n"
     "          outcome = \"gone\"; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].classify.[0].outcome: must be deleted, "
     "already_absent, failed or retry"},
    {"bad_status.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS "        classify = ( {\n"
     "          status = [204, 600]; #<\n"
     "          outcome = \"deleted\"; } );\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].classify.[0].status.[1]: must be an HTTP status "
     "100..599"},
    {"retryable_not_failed.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS
     "        classify = ( { status = [204]; outcome = "
     "\"deleted\";\n"
     "          retryable = true; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].classify.[0].retryable: only valid with "
     "outcome failed"},
    {"optional_in_path.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}/{v}\"; #<\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\"; type = \"string_list\"; },\n"
     "                   { field = \"v\"; type = \"string\"; optional = true; "
     "} );\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].path: optional param {v} cannot be used in a "
     "path"},
    {"for_each_not_list.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\"; #<\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\"; type = \"string\"; } );\n" P_TAIL
         P_ACCOUNT,
     "providers.p.actions.[0].for_each: ids is not a string_list param"},
    {"list_in_path.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\"; #<\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].path: list {ids} in a path must be the "
     "for_each field"},
    {"chunk_zero.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"POST\";\n"
     "        path = \"/items/delete\";\n"
     "        chunk = { field = \"ids\";\n"
     "                  size = 0; }; #<\n"
     "        body = { ids = \"{ids}\"; };\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].chunk.size: must be between 1 and 100000"},
    {"body_half_placeholder.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"POST\";\n"
     "        path = \"/items/delete\";\n"
     "        body = { ids = \"{ids}\";\n"
     "                 note = \"x-{ids}\"; }; #<\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].body.note: a placeholder must be the whole "
     "string"},
    {"body_unknown_placeholder.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"POST\";\n"
     "        path = \"/items/delete\";\n"
     "        body = { outer = { ids = \"{idz}\"; }; }; "
     "#<\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].body.outer.ids: unknown placeholder {idz}"},
    {"query_unknown_placeholder.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        query = ( { name = \"since\";\n"
     "                    value = \"{since}\"; } ); #<\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].query.[0].value: unknown placeholder {since}"},
    {"unused_param.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( #<\n"
     "          { field = \"ids\"; type = \"string_list\"; },\n"
     "          { field = \"extra\"; type = \"string\"; } );\n" P_TAIL
         P_ACCOUNT,
     "providers.p.actions.[0].params: extra is not used"},
    {"when_undeclared.conf",
     P_HEAD "    actions = (\n"
            "      { name = \"del\";\n"
            "        when = \"id\"; #<\n"
            "        method = \"DELETE\";\n"
            "        path = \"/items/{ids}\";\n"
            "        for_each = \"ids\";\n"
            "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].when: id is not a declared param"},
    {"path_no_slash.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"items/{ids}\"; #<\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].path: must start with /"},
    {"path_dot_segment.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/../{ids}\"; #<\n"
     "        for_each = \"ids\";\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].path: must not hold empty, . or .. segments"},
    {"min_above_max.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\"; type = "
     "\"integer\";\n"
     "          min = 5; max = 1; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].params.[0].max: is below min (5 > 1)"},
    {"for_each_and_chunk.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        for_each = \"ids\";\n"
     "        chunk = { field = \"ids\"; size = 2; }; "
     "#<\n"
     "        resource = \"{ids}\";\n" P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].chunk: cannot be used with for_each"},
    {"param_bad_type.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\";\n"
     "          type = \"int\"; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].params.[0].type: must be string, integer or "
     "string_list"},
    {"pattern_on_integer.conf",
     P_HEAD P_ACTION_OPEN
     "        method = \"DELETE\";\n"
     "        path = \"/items/{ids}\";\n"
     "        resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\"; type = "
     "\"integer\";\n"
     "          pattern = \"^[0-9]+$\"; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].params.[0].pattern: not valid for type "
     "integer"},
    {"duplicate_action.conf",
     P_HEAD
     "    actions = (\n"
     "      { name = \"del\"; when = \"ids\"; method = \"DELETE\"; path = "
     "\"/a/{ids}\"; for_each = \"ids\"; resource = \"{ids}\";\n"
     "        " P_PARAMS "      },\n"
     "      { name = \"del\"; when = \"ids\"; method = \"DELETE\"; path = "
     "\"/b/{ids}\"; for_each = \"ids\"; resource = \"{ids}\"; #<\n"
     "        " P_PARAMS P_TAIL P_ACCOUNT,
     "providers.p.actions.[1].name: action del is declared twice"},
    {"header_name.conf",
     "providers = {\n"
     "  p = {\n"
     "    base_url = \"https://p.example\";\n"
     "    auth = { key = ( { header = \"X Key\"; secret = \"key\"; } ); }; "
     "#<\n" P_GOOD_ACTION P_ACCOUNT,
     "providers.p.auth.key.[0].header: is not an HTTP header name"},
    {"prefix_ctl.conf",
     "providers = {\n"
     "  p = {\n"
     "    base_url = \"https://p.example\";\n"
     "    auth = { key = ( { header = \"X-Key\"; secret = \"key\";\n"
     "                       prefix = \"Bearer\\n\"; } ); }; #<\n" P_GOOD_ACTION
         P_ACCOUNT,
     "providers.p.auth.key.[0].prefix: contains a control character"},
    {"base_url_provider_http.conf",
     "providers = {\n"
     "  p = {\n"
     "    base_url = \"http://p.example\"; #<\n"
     "    auth = { key = ( { header = \"X-Key\"; secret = \"key\"; } ); };\n"
     "" P_GOOD_ACTION P_ACCOUNT,
     "providers.p.base_url: plain http:// is refused for accounts.[0]"},
    {"base_url_slash.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\"; secrets = { key = "
                          "\"TP_P_KEY\"; };\n"
                          "    base_url = \"https://p.example/\"; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].base_url: must not end with /"},
    {"base_url_query.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\"; secrets = { key = "
                          "\"TP_P_KEY\"; };\n"
                          "    base_url = \"https://p.example?x=1\"; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].base_url: character 0x3F is not allowed"},
    {"account_no_provider.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"q\"; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].provider: no provider q is defined"},
    {"account_unknown_scheme.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\";\n"
                          "    auth = \"oauth\"; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].auth: provider p has no auth scheme oauth"},
    {"account_unknown_slot.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\";\n"
                          "    secrets = { key = \"TP_P_KEY\";\n"
                          "                token = \"TP_P_KEY\"; }; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].secrets.token: provider p has no secret slot token"},
    {"account_missing_slot.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\"; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].secrets.key: missing (auth scheme key needs it)"},
    {"account_missing_var.conf",
     "providers = {\n"
     "  p = {\n"
     "    base_url = \"https://{tenant}.p.example\";\n"
     "    vars = { tenant = { }; };\n" P_GOOD_ACTION "accounts = (\n"
     "  { provider = \"p\";\n"
     "    vars = { }; #<\n"
     "  }\n"
     ");\n",
     "accounts.[0].vars.tenant: missing"},
    {"var_pattern.conf",
     "providers = {\n"
     "  p = {\n"
     "    base_url = \"https://{tenant}.p.example\";\n"
     "    vars = { tenant = { pattern = \"^[a-z]{1,8}$\"; }; };\n" P_GOOD_ACTION
     "accounts = (\n"
     "  { provider = \"p\";\n"
     "    vars = { tenant = \"ABCDEF\"; }; #<\n"
     "  }\n"
     ");\n",
     "accounts.[0].vars.tenant: does not match ^[a-z]{1,8}$"},
    {"var_slash.conf",
     "providers = {\n"
     "  p = {\n"
     "    base_url = \"https://{tenant}.p.example\";\n"
     "    vars = { tenant = { }; };\n" P_GOOD_ACTION "accounts = (\n"
     "  { provider = \"p\";\n"
     "    vars = { tenant = \"evil.com/x\"; }; #<\n"
     "  }\n"
     ");\n",
     "accounts.[0].vars.tenant: must be 1..256 of [A-Za-z0-9._-]"},
    {"limits_range.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\"; secrets = { key = "
                          "\"TP_P_KEY\"; };\n"
                          "    limits = { concurrency = 0; }; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].limits.concurrency: must be between 1 and 100000"},
    {"limits_defaults_key.conf",
     P_HEAD P_GOOD_ACTION "account_defaults = { limits = {\n"
                          "  timeout = 5; }; }; #<\n" P_ACCOUNT,
     "account_defaults.limits.timeout: unknown setting"},
    {"limits_backoff.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\"; secrets = { key = "
                          "\"TP_P_KEY\"; };\n"
                          "    limits = { backoff_base_ms = 60000; }; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].limits: backoff_max_ms (30000) is below backoff_base_ms "
     "(60000)"},
    {"limits_float_int.conf",
     P_HEAD P_GOOD_ACTION "accounts = (\n"
                          "  { provider = \"p\"; secrets = { key = "
                          "\"TP_P_KEY\"; };\n"
                          "    limits = { max_attempts = 2.5; }; #<\n"
                          "  }\n"
                          ");\n",
     "accounts.[0].limits.max_attempts: must be an integer"},
    {"field_type_conflict.conf",
     P_HEAD
     "    actions = (\n"
     "      { name = \"a\"; when = \"ids\"; method = \"DELETE\"; path = "
     "\"/a/{ids}\"; for_each = \"ids\"; resource = \"{ids}\";\n"
     "        " P_PARAMS "      },\n"
     "      { name = \"b\"; when = \"ids\"; method = \"DELETE\"; path = "
     "\"/b/{ids}\"; resource = \"{ids}\";\n"
     "        params = ( { field = \"ids\";\n"
     "                     type = \"string\"; } ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[1].params.[0].type: field ids is a string_list in "
     "action a"},
    {"field_overlap.conf",
     P_HEAD "    actions = (\n"
            "      { name = \"a\"; when = \"ids\"; method = \"DELETE\"; path = "
            "\"/a/{ids}\"; for_each = \"ids\"; resource = \"{ids}\";\n"
            "        " P_PARAMS "      },\n"
            "      { name = \"b\"; when = \"ids\"; method = \"DELETE\"; path = "
            "\"/b\"; resource = \"{ids.x}\";\n"
            "        params = ( {\n"
            "          field = \"ids.x\"; type = \"string\"; } ); #<\n" P_TAIL
                P_ACCOUNT,
     "providers.p.actions.[1].params.[0].field: fields ids.x and ids (action "
     "a) overlap"},
    {"reserved_field.conf",
     P_HEAD P_ACTION_OPEN "        method = \"DELETE\";\n"
                          "        path = \"/items/{ids}\";\n"
                          "        resource = \"{ids}\";\n"
                          "        params = ( {\n"
                          "          field = \"account\"; type = \"string\"; "
                          "} ); #<\n" P_TAIL P_ACCOUNT,
     "providers.p.actions.[0].params.[0].field: \"provider\" and \"account\" "
     "are reserved"},
    {"missing_providers.conf", "accounts = ( ); #<\n", "providers: missing"},
};

static void test_config_errors(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(config_cases) / sizeof(config_cases[0]);
             i++) {
                const struct config_case *cc = &config_cases[i];
                char err[1024] = "", want[512];
                struct provider_registry *r =
                    load_text(cc->name, cc->text, 0, err, sizeof(err));
                if (r) {
                        provider_registry_free(r);
                        fail_msg("%s: loaded, want an error", cc->name);
                }
                int line = strcmp(cc->name, "missing_providers.conf") == 0
                               ? 0
                               : marker_line(cc->text);
                snprintf(want, sizeof(want), "/%s:%d: %s", cc->name, line,
                         cc->want);
                if (!strstr(err, want))
                        fail_msg("%s:\n got: %s\nwant: %s", cc->name, err,
                                 want);
        }
}

/* The skeleton of the broken configs is itself valid, so each case above
 * fails for its own reason. */
static void test_config_skeleton_valid(void **state)
{
        char err[512];
        (void)state;
        struct provider_registry *r =
            load_text("skeleton.conf", P_HEAD P_GOOD_ACTION P_ACCOUNT, 0, err,
                      sizeof(err));
        if (!r)
                fail_msg("%s", err);
        provider_registry_free(r);
}

static void test_secret_never_in_error(void **state)
{
        char err[1024];
        (void)state;
        setenv("TP_CR_SECRET", "s3cr3t-value\r\nX-Evil: 1", 1);
        const char *text = P_HEAD P_GOOD_ACTION
            "accounts = (\n"
            "  { provider = \"p\";\n"
            "    secrets = { key = \"TP_CR_SECRET\"; }; #<\n"
            "  }\n"
            ");\n";
        assert_null(load_text("cr_secret.conf", text, 0, err, sizeof(err)));
        char want[256];
        snprintf(want, sizeof(want),
                 "cr_secret.conf:%d: accounts.[0].secrets.key: environment "
                 "variable TP_CR_SECRET contains a control character",
                 marker_line(text));
        assert_contains(err, want);
        assert_null(strstr(err, "s3cr3t"));
        unsetenv("TP_CR_SECRET");
}

/* An error in an @included file names that file and its line. */
static void test_error_in_included_file(void **state)
{
        char err[1024], path[256], want[256];
        (void)state;
        const char *inc =
            "# included\n" P_HEAD P_ACTION_OPEN "        method = \"DELETE\";\n"
            "        path = \"/items/{ids}\";\n"
            "        for_each = \"ids\";\n"
            "        resource = \"{idz}\"; #<\n" P_PARAMS P_TAIL;
        snprintf(path, sizeof(path), "%s/inc_broken.conf", tmpdir);
        write_file(path, inc);
        assert_null(
            load_text_in(tmpdir, "main_ok.conf",
                         "# main\n@include \"inc_broken.conf\"\n" P_ACCOUNT, 0,
                         err, sizeof(err)));
        unlink(path);
        snprintf(want, sizeof(want),
                 "inc_broken.conf:%d: providers.p.actions.[0].resource: "
                 "unknown placeholder {idz}",
                 marker_line(inc));
        assert_contains(err, want);
}

/* The shipped file's own header promises every load error is reported;
 * a tampered copy of it must fail on the right line. */
static void test_shipped_file_error_line(void **state)
{
        char path[512], err[1024], want[256];
        (void)state;
        snprintf(path, sizeof(path), "%s/config/providers.conf", source_dir());
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        static char text[64 * 1024];
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[n] = '\0';
        const char *needle = "path = \"/dashboard/agents/{agent_id}/";
        char *at = strstr(text, needle);
        assert_non_null(at);
        memcpy(at + strlen("path = \"/dashboard/agents/{"), "agent_ix", 8);
        int line = 1;
        for (const char *p = text; p < at; p++)
                line += *p == '\n';
        assert_null(load_text("tampered.conf", text, 0, err, sizeof(err)));
        snprintf(want, sizeof(want),
                 "tampered.conf:%d: providers.avaamo.actions.[0].path: "
                 "unknown placeholder {agent_ix}",
                 line);
        assert_contains(err, want);
}

/* ---- insecure transport settings --------------------------------------- */

/* One convai account with base_url and the settings given on a "#<" line. */
static struct provider_registry *
load_tls(const char *base_url, const char *settings, char *err, size_t errsize)
{
        char text[1024];
        snprintf(text, sizeof(text),
                 "@include \"providers.conf\"\n"
                 "accounts = ( { provider = \"convai\"; secrets = { api_key = "
                 "\"TP_P_KEY\"; };\n"
                 "  base_url = \"%s\";\n"
                 "  %s #<\n"
                 "} );\n",
                 base_url, settings);
        return load_text("tls.conf", text, 0, err, errsize);
}

static void expect_tls_ok(const char *base_url, const char *settings)
{
        char err[1024] = "";
        struct provider_registry *r =
            load_tls(base_url, settings, err, sizeof(err));
        if (!r)
                fail_msg("%s with %s: %s", base_url, settings, err);
        provider_registry_free(r);
}

static void expect_tls_error(const char *base_url, const char *settings,
                             const char *want)
{
        char err[1024] = "";
        struct provider_registry *r =
            load_tls(base_url, settings, err, sizeof(err));
        if (r) {
                provider_registry_free(r);
                fail_msg("%s with %s: loaded, want an error", base_url,
                         settings);
        }
        /* The "#<" line is line 4 of the file. */
        char full[512];
        snprintf(full, sizeof(full), "/tls.conf:4: %s", want);
        assert_contains(err, full);
}

static void test_insecure_refused_unless_loopback(void **state)
{
        (void)state;
        unsetenv("ERASURE_ALLOW_INSECURE");
        expect_tls_error("http://convai.example", "allow_plain_http = true;",
                         "accounts.[0].allow_plain_http: refused: the "
                         "base_url host is not loopback (allowed for "
                         "127.0.0.0/8, ::1 and localhost, or with "
                         "ERASURE_ALLOW_INSECURE=1)");
        expect_tls_error("https://convai.example", "tls_verify = false;",
                         "accounts.[0].tls_verify: refused: the base_url host "
                         "is not loopback");
        /* Refused even where https makes it moot: it is a test setting. */
        expect_tls_error("https://10.0.0.1:8443", "allow_plain_http = true;",
                         "accounts.[0].allow_plain_http: refused");
        /* Near misses of loopback. */
        expect_tls_error("http://128.0.0.1", "allow_plain_http = true;",
                         "accounts.[0].allow_plain_http: refused");
        expect_tls_error("http://[::2]:80", "allow_plain_http = true;",
                         "accounts.[0].allow_plain_http: refused");
        expect_tls_error("http://localhost.example.com",
                         "allow_plain_http = true;",
                         "accounts.[0].allow_plain_http: refused");
        expect_tls_error("http://user@evil.example", "allow_plain_http = true;",
                         "accounts.[0].allow_plain_http: refused");
        expect_tls_error("http://127.0.0.1@evil.example",
                         "allow_plain_http = true;",
                         "accounts.[0].allow_plain_http: refused");
        expect_tls_error("http://127.0.0.1.evil.example",
                         "allow_plain_http = true;",
                         "accounts.[0].allow_plain_http: refused");

        expect_tls_ok("http://127.0.0.1:8080/convai",
                      "allow_plain_http = true; tls_verify = false;");
        expect_tls_ok("http://127.10.20.30", "allow_plain_http = true;");
        expect_tls_ok("http://[::1]:9000", "allow_plain_http = true;");
        expect_tls_ok("https://LocalHost:8443", "tls_verify = false;");
        expect_tls_ok("https://convai.example", "tls_verify = true;");
        expect_tls_ok("https://convai.example", "allow_plain_http = false;");
}

static void test_insecure_allowed_by_environment(void **state)
{
        (void)state;
        setenv("ERASURE_ALLOW_INSECURE", "0", 1);
        expect_tls_error("https://convai.example", "tls_verify = false;",
                         "accounts.[0].tls_verify: refused");
        setenv("ERASURE_ALLOW_INSECURE", "1", 1);
        expect_tls_ok("https://convai.example", "tls_verify = false;");
        expect_tls_ok("http://convai.example", "allow_plain_http = true;");
        unsetenv("ERASURE_ALLOW_INSECURE");
}

static void test_ca_file_checked_at_load(void **state)
{
        (void)state;
        expect_tls_error("https://convai.example",
                         "ca_file = \"/nonexistent/erasure-ca.pem\";",
                         "accounts.[0].ca_file: /nonexistent/erasure-ca.pem: "
                         "No such file or directory");
        expect_tls_error("https://convai.example", "ca_file = \"/\";",
                         "accounts.[0].ca_file: /: not a regular file");
        char path[128];
        snprintf(path, sizeof(path), "%s/ca.pem", tmpdir);
        write_file(path, "not checked for content: curl does that\n");
        char setting[192];
        snprintf(setting, sizeof(setting), "ca_file = \"%s\";", path);
        expect_tls_ok("https://convai.example", setting);
        unlink(path);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_accounts_and_limits),
            cmocka_unit_test(test_account_description),
            cmocka_unit_test(test_secrets_enumerated),
            cmocka_unit_test(test_secret_listed_once),
            cmocka_unit_test(test_allow_missing_secrets),
            cmocka_unit_test(test_free_null_and_clear),
            cmocka_unit_test(test_builtin_limits),
            cmocka_unit_test(test_config_errors),
            cmocka_unit_test(test_config_skeleton_valid),
            cmocka_unit_test(test_secret_never_in_error),
            cmocka_unit_test(test_error_in_included_file),
            cmocka_unit_test(test_shipped_file_error_line),
            cmocka_unit_test(test_insecure_refused_unless_loopback),
            cmocka_unit_test(test_insecure_allowed_by_environment),
            cmocka_unit_test(test_ca_file_checked_at_load),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
