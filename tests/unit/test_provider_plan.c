/* Unit tests of src/provider_plan.c: the shipped config/providers.conf
 * against the vendors' documents (exact calls), request checks and the
 * encoding of hostile identifiers. */
#include "provider_fixture.h"
#include "oom_alloc.h"

/* ---- the five endpoints ------------------------------------------------ */

static void test_vectara_for_each(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok("{'targets':[{'provider':'vectara','agent_id':'agt_support',"
                "'session_ids':['ase_1','ase_2','ase_1','ase_3']}]}",
                &plan);
        /* one DELETE per session; the repeated ase_1 is sent once */
        assert_int_equal(plan.ncalls, 3);
        const char *ids[] = {"ase_1", "ase_2", "ase_3"};
        for (size_t i = 0; i < 3; i++) {
                const struct provider_call *c = &plan.calls[i];
                char url[256], res[64];
                snprintf(url, sizeof(url),
                         "https://api.vectara.io/v2/agents/agt_support/"
                         "sessions/%s",
                         ids[i]);
                snprintf(res, sizeof(res), "agt_support/%s", ids[i]);
                assert_string_equal(c->method, "DELETE");
                assert_string_equal(c->url, url);
                assert_string_equal(c->resource, res);
                assert_string_equal(c->provider, "vectara");
                assert_string_equal(c->account_name, "default");
                assert_string_equal(c->action_name, "delete_session");
                assert_ptr_equal(c->account, provider_account_at(reg, 0));
                assert_null(c->body);
                assert_int_equal(c->nheaders, 1);
                assert_header(c, 0, "x-api-key", "vectara-key-1", 1);
        }
        provider_plan_clear(&plan);
}

static void test_vectara_oauth_account(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok("{'targets':[{'provider':'vectara','account':'oauth',"
                "'agent_id':'agt_a','session_ids':['ase_9']}]}",
                &plan);
        assert_int_equal(plan.ncalls, 1);
        assert_string_equal(plan.calls[0].url,
                            "http://127.0.0.1:8080/vectara/v2/agents/agt_a/"
                            "sessions/ase_9");
        assert_string_equal(plan.calls[0].account_name, "oauth");
        assert_int_equal(plan.calls[0].nheaders, 1);
        assert_header(&plan.calls[0], 0, "Authorization",
                      "Bearer vectara-oauth-2", 1);
        provider_plan_clear(&plan);
}

static char *convai_request(size_t n)
{
        size_t cap = 128 + n * 16, o = 0;
        char *s = malloc(cap);
        assert_non_null(s);
        o += (size_t)snprintf(s, cap,
                              "{'targets':[{'provider':'convai',"
                              "'character_id':'c0ffee','session_ids':[");
        for (size_t i = 0; i < n; i++)
                o += (size_t)snprintf(s + o, cap - o, "%s's-%zu'", i ? "," : "",
                                      i);
        snprintf(s + o, cap - o, "]}]}");
        return s;
}

static void test_convai_chunks(void **state)
{
        struct provider_plan plan;
        (void)state;
        char *json = convai_request(250);
        plan_ok(json, &plan);
        free(json);
        assert_int_equal(plan.ncalls, 3);
        size_t sizes[] = {100, 100, 50}, first = 0;
        for (size_t i = 0; i < 3; i++) {
                const struct provider_call *c = &plan.calls[i];
                assert_string_equal(c->method, "POST");
                assert_string_equal(
                    c->url,
                    "https://api.convai.com/character/chatHistory/delete");
                assert_int_equal(c->nheaders, 2);
                assert_header(c, 0, "CONVAI-API-KEY", "convai-key-3", 1);
                assert_header(c, 1, "Content-Type", "application/json", 0);
                json_error_t je;
                json_t *body = json_loads(c->body, 0, &je);
                assert_non_null(body);
                assert_string_equal(
                    json_string_value(json_object_get(body, "charID")),
                    "c0ffee");
                json_t *ids = json_object_get(body, "sessionIDs");
                assert_int_equal(json_array_size(ids), sizes[i]);
                for (size_t k = 0; k < sizes[i]; k++) {
                        char want[16];
                        snprintf(want, sizeof(want), "s-%zu", first + k);
                        assert_string_equal(
                            json_string_value(json_array_get(ids, k)), want);
                }
                json_decref(body);
                first += sizes[i];
        }
        /* exact text of the last body and its resource */
        char want[2048];
        size_t o = (size_t)snprintf(want, sizeof(want),
                                    "{\"charID\":\"c0ffee\",\"sessionIDs\":[");
        for (size_t k = 200; k < 250; k++)
                o += (size_t)snprintf(want + o, sizeof(want) - o, "%s\"s-%zu\"",
                                      k > 200 ? "," : "", k);
        snprintf(want + o, sizeof(want) - o, "]}");
        assert_string_equal(plan.calls[2].body, want);
        assert_true(
            strncmp(plan.calls[2].resource, "c0ffee/s-200,s-201,", 19) == 0);
        provider_plan_clear(&plan);
}

static void test_convai_small(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok("{'targets':[{'provider':'convai','character_id':'c0ffee',"
                "'session_ids':['s-1','s-2']}]}",
                &plan);
        assert_int_equal(plan.ncalls, 1);
        assert_string_equal(plan.calls[0].body,
                            "{\"charID\":\"c0ffee\",\"sessionIDs\":[\"s-1\","
                            "\"s-2\"]}");
        assert_string_equal(plan.calls[0].resource, "c0ffee/s-1,s-2");
        provider_plan_clear(&plan);
}

static void test_algolia_user_data(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok("{'targets':[{'provider':'algolia','user_token':'user-42'}]}",
                &plan);
        /* The read that finds the conversations, then the user data. */
        assert_int_equal(plan.ncalls, 2);
        const struct provider_call *d = &plan.calls[0];
        assert_true(d->discover);
        assert_string_equal(d->method, "GET");
        assert_string_equal(d->action_name, "discover_conversations");
        assert_string_equal(d->url, "https://APPID42.algolia.net/agent-studio/"
                                    "1/user-data/user-42");
        assert_string_equal(d->resource, "user-42");
        assert_null(d->verify);
        const struct provider_call *c = &plan.calls[1];
        assert_false(c->discover);
        assert_int_equal(c->after, (long)d->action_index);
        assert_int_equal(c->target_index, d->target_index);
        assert_non_null(c->verify);
        assert_string_equal(c->verify->url, d->url);
        assert_string_equal(c->method, "DELETE");
        assert_string_equal(c->url, "https://APPID42.algolia.net/agent-studio/"
                                    "1/user-data/user-42");
        assert_string_equal(c->action_name, "delete_user_data");
        assert_string_equal(c->resource, "user-42");
        assert_null(c->body);
        assert_int_equal(c->nheaders, 2);
        assert_header(c, 0, "x-algolia-application-id", "APPID42", 0);
        assert_header(c, 1, "x-algolia-api-key", "algolia-key-4", 1);
        provider_plan_clear(&plan);
}

static void test_algolia_conversations_query(void **state)
{
        struct provider_plan plan;
        const char *base = "https://APPID42.algolia.net/agent-studio/1/agents/"
                           "76710f1b-8231-42e5-b0d1-f43aac618e15/conversations";
        char want[512];
        (void)state;

        plan_ok("{'targets':[{'provider':'algolia','scope':'agent','agent_id':"
                "'76710f1b-8231-42e5-b0d1-f43aac618e15','conversations':{"
                "'start_date':'2026-01-01','end_date':'2026-11-01'}}]}",
                &plan);
        assert_int_equal(plan.ncalls, 1);
        snprintf(want, sizeof(want),
                 "%s?startDate=2026-01-01&endDate=2026-11-01", base);
        assert_string_equal(plan.calls[0].method, "DELETE");
        assert_string_equal(plan.calls[0].url, want);
        assert_string_equal(plan.calls[0].action_name, "delete_conversations");
        assert_string_equal(plan.calls[0].resource,
                            "76710f1b-8231-42e5-b0d1-f43aac618e15/2026-01-01.."
                            "2026-11-01");
        assert_null(plan.calls[0].body);
        assert_header(&plan.calls[0], 0, "x-algolia-application-id", "APPID42",
                      0);
        assert_header(&plan.calls[0], 1, "x-algolia-api-key", "algolia-key-4",
                      1);
        provider_plan_clear(&plan);

        /* only start_date: only startDate, never an empty endDate */
        plan_ok("{'targets':[{'provider':'algolia','scope':'agent','agent_id':"
                "'76710f1b-8231-42e5-b0d1-f43aac618e15','conversations':{"
                "'start_date':'2026-01-01'}}]}",
                &plan);
        snprintf(want, sizeof(want), "%s?startDate=2026-01-01", base);
        assert_string_equal(plan.calls[0].url, want);
        provider_plan_clear(&plan);

        plan_ok("{'targets':[{'provider':'algolia','scope':'agent','agent_id':"
                "'76710f1b-8231-42e5-b0d1-f43aac618e15','conversations':{"
                "'end_date':'2026-11-01'}}]}",
                &plan);
        snprintf(want, sizeof(want), "%s?endDate=2026-11-01", base);
        assert_string_equal(plan.calls[0].url, want);
        provider_plan_clear(&plan);

        /* no dates: no query at all */
        plan_ok("{'targets':[{'provider':'algolia','scope':'agent','agent_id':"
                "'76710f1b-8231-42e5-b0d1-f43aac618e15','conversations':{}}]}",
                &plan);
        assert_string_equal(plan.calls[0].url, base);
        provider_plan_clear(&plan);
}

static void test_algolia_both_actions(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok("{'targets':[{'provider':'algolia','scope':'agent','agent_id':'"
                "ag1',"
                "'user_token':'u1','conversations':{'end_date':'2026-02-03'}}"
                "]}",
                &plan);
        /* action order of the config: discover, user data, then the
         * agent-wide delete */
        assert_int_equal(plan.ncalls, 3);
        assert_string_equal(plan.calls[0].action_name,
                            "discover_conversations");
        assert_string_equal(plan.calls[1].action_name, "delete_user_data");
        assert_string_equal(plan.calls[2].action_name, "delete_conversations");
        assert_string_equal(plan.calls[2].url,
                            "https://APPID42.algolia.net/agent-studio/1/agents/"
                            "ag1/conversations?endDate=2026-02-03");
        provider_plan_clear(&plan);
}

static void test_avaamo_clear_data(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok(
            "{'targets':[{'provider':'avaamo','scope':'agent','agent_id':20123,"
            "'data_types':['storage_data','js_errors','conversation_"
            "sessions']}]}",
            &plan);
        assert_int_equal(plan.ncalls, 1);
        const struct provider_call *c = &plan.calls[0];
        assert_string_equal(c->method, "POST");
        assert_string_equal(
            c->url,
            "https://cx.avaamo.com/dashboard/agents/20123/clear_data.json");
        /* exactly what the request names, in its order: no translation */
        assert_string_equal(c->body,
                            "{\"data_types\":[\"storage_data\",\"js_errors\","
                            "\"conversation_sessions\"]}");
        assert_string_equal(c->resource,
                            "20123/storage_data,js_errors,conversation_"
                            "sessions");
        assert_int_equal(c->nheaders, 2);
        assert_header(c, 0, "Access-Token", "avaamo-token-5", 1);
        assert_header(c, 1, "Content-Type", "application/json", 0);
        provider_plan_clear(&plan);

        plan_ok("{'targets':[{'provider':'avaamo','scope':'agent','agent_id':"
                "9007199254740992,'data_types':['storage']}]}",
                &plan);
        assert_string_equal(plan.calls[0].url,
                            "https://cx.avaamo.com/dashboard/agents/"
                            "9007199254740992/clear_data.json");
        assert_string_equal(plan.calls[0].body,
                            "{\"data_types\":[\"storage\"]}");
        provider_plan_clear(&plan);
}

static void test_design_example_order(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok(
            "{'version':1,'request_id':'req_2026-11-22_000123','targets':["
            "{'provider':'vectara','agent_id':'agt_support','session_ids':["
            "'ase_1','ase_2']},"
            "{'provider':'convai','character_id':'c0ffee','session_ids':['s-"
            "1','s-2']},"
            "{'provider':'algolia','scope':'agent','agent_id':'76710f1b-8231-"
            "42e5-b0d1-"
            "f43aac618e15','user_token':'user-42'},"
            "{'provider':'algolia','scope':'agent','agent_id':'76710f1b-8231-"
            "42e5-b0d1-"
            "f43aac618e15','conversations':{'start_date':'2026-01-01','end_"
            "date':'2026-11-01'}},"
            "{'provider':'avaamo','scope':'agent','agent_id':20123,'data_types'"
            ":['"
            "conversation_sessions']}]}",
            &plan);
        const char *actions[] = {"delete_session",   "delete_session",
                                 "delete_sessions",  "discover_conversations",
                                 "delete_user_data", "delete_conversations",
                                 "clear_data"};
        assert_int_equal(plan.ncalls, 7);
        for (size_t i = 0; i < 7; i++)
                assert_string_equal(plan.calls[i].action_name, actions[i]);
        provider_plan_clear(&plan);
}

static void test_duplicate_calls_across_targets(void **state)
{
        struct provider_plan plan;
        (void)state;
        plan_ok("{'targets':["
                "{'provider':'vectara','agent_id':'agt_a','session_ids':["
                "'ase_1','ase_2']},"
                "{'provider':'vectara','agent_id':'agt_a','session_ids':["
                "'ase_2','ase_3']},"
                "{'provider':'vectara','account':'oauth','agent_id':'agt_a',"
                "'session_ids':['ase_2']},"
                "{'provider':'vectara','agent_id':'agt_a','session_ids':["
                "'ase_2']}]}",
                &plan);
        /* same call (account, action, resource) kept once, first wins; the
         * other account's call is a different call */
        assert_int_equal(plan.ncalls, 4);
        assert_string_equal(plan.calls[0].resource, "agt_a/ase_1");
        assert_string_equal(plan.calls[1].resource, "agt_a/ase_2");
        assert_string_equal(plan.calls[2].resource, "agt_a/ase_3");
        assert_string_equal(plan.calls[3].resource, "agt_a/ase_2");
        assert_string_equal(plan.calls[3].account_name, "oauth");
        for (size_t i = 0; i < 3; i++)
                assert_string_equal(plan.calls[i].account_name, "default");
        provider_plan_clear(&plan);
}

/* ---- encoding of hostile identifiers ---------------------------------- */

static void test_percent_encoding(void **state)
{
        struct provider_plan plan;
        const char *prefix = "https://APPID42.algolia.net/agent-studio/1/"
                             "user-data/";
        char want[256];
        (void)state;

        plan_ok("{'targets':[{'provider':'algolia','user_token':"
                "'a/../b?c#d%0D'}]}",
                &plan);
        snprintf(want, sizeof(want), "%sa%%2F..%%2Fb%%3Fc%%23d%%250D", prefix);
        assert_string_equal(plan.calls[0].url, want);
        assert_string_equal(plan.calls[0].resource, "a/../b?c#d%0D");
        provider_plan_clear(&plan);

        /* unreserved stays, the rest (space, &, =, +, UTF-8) is encoded */
        plan_ok("{'targets':[{'provider':'algolia','user_token':"
                "'A-z_0.9~ &=+\\u00e9@:'}]}",
                &plan);
        snprintf(want, sizeof(want),
                 "%sA-z_0.9~%%20%%26%%3D%%2B%%C3%%A9%%40%%3A", prefix);
        assert_string_equal(plan.calls[0].url, want);
        provider_plan_clear(&plan);

        plan_ok("{'targets':[{'provider':'algolia','user_token':'...'}]}",
                &plan);
        snprintf(want, sizeof(want), "%s...", prefix);
        assert_string_equal(plan.calls[0].url, want);
        provider_plan_clear(&plan);
}

struct bad_case {
        const char *json;
        size_t max_calls;
        enum request_error code;
        const char *errstr; /* substring */
};

static const struct bad_case bad_cases[] = {
    /* wrong type */
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':"
     "'ase_1'}]}",
     0, REQUEST_ERR_BAD_FIELD,
     "targets[0].session_ids: must be a list of strings"},
    {"{'targets':[{'provider':'vectara','agent_id':7,'session_ids':['ase_1']}"
     "]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].agent_id: must be a string"},
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':["
     "'ase_1',2]}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].session_ids[1]: must be a string"},
    {"{'targets':[{'provider':'vectara','agent_id':null,'session_ids':["
     "'ase_1']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].agent_id: must be a string"},
    /* pattern */
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':["
     "'ase_1','ase_2/../x']}]}",
     0, REQUEST_ERR_BAD_FIELD,
     "targets[0].session_ids[1]: does not match ^ase_[0-9a-zA-Z_-]+$"},
    {"{'targets':[{'provider':'vectara','agent_id':'xagt_a','session_ids':["
     "'ase_1']}]}",
     0, REQUEST_ERR_BAD_FIELD,
     "targets[0].agent_id: does not match ^agt_[0-9a-zA-Z_-]+$"},
    {"{'targets':[{'provider':'algolia','scope':'agent','agent_id':'a1','"
     "conversations':{"
     "'start_date':'2026-1-1'}}]}",
     0, REQUEST_ERR_BAD_FIELD,
     "targets[0].conversations.start_date: does not match"},
    {"{'targets':[{'provider':'avaamo','scope':'agent','agent_id':1,'data_"
     "types':["
     "'everything']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].data_types[0]: does not match"},
    /* too long, empty, control characters */
    {"{'targets':[{'provider':'vectara','agent_id':'agt_"
     "1234567890123456789012345678901234567890123456789012345678901',"
     "'session_ids':['ase_1']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].agent_id: longer than 64 bytes"},
    {"{'targets':[{'provider':'algolia','user_token':''}]}", 0,
     REQUEST_ERR_BAD_FIELD, "targets[0].user_token: must not be empty"},
    {"{'targets':[{'provider':'algolia','user_token':'a\\r\\nX-Evil: 1'}]}", 0,
     REQUEST_ERR_BAD_FIELD,
     "targets[0].user_token: contains a control character"},
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':[]}"
     "]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].session_ids: must not be empty"},
    /* characters that hide or reorder text where the resource is read */
    {"{'targets':[{'provider':'algolia','user_token':'user\\u202egnp.exe'}]}",
     0, REQUEST_ERR_BAD_FIELD,
     "targets[0].user_token: contains a C1 control, bidi control or line "
     "separator"},
    {"{'targets':[{'provider':'algolia','user_token':'a\\u2066b'}]}", 0,
     REQUEST_ERR_BAD_FIELD, "targets[0].user_token: contains a C1 control"},
    {"{'targets':[{'provider':'algolia','user_token':'a\\u0085b'}]}", 0,
     REQUEST_ERR_BAD_FIELD, "targets[0].user_token: contains a C1 control"},
    {"{'targets':[{'provider':'algolia','user_token':'a\\u2028b'}]}", 0,
     REQUEST_ERR_BAD_FIELD, "targets[0].user_token: contains a C1 control"},
    {"{'targets':[{'provider':'convai','character_id':'c1','session_ids':["
     "'s1','s\\u2029']}]}",
     0, REQUEST_ERR_BAD_FIELD,
     "targets[0].session_ids[1]: contains a C1 control"},
    {"{'targets':[{'provider':'avaamo','scope':'agent','agent_id':1,'data_"
     "types':['storage',"
     "'js_errors','storage','js_errors','storage']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].data_types: more than 4 items"},
    /* integers */
    {"{'targets':[{'provider':'avaamo','scope':'agent','agent_id':'20123','"
     "data_types':["
     "'storage']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].agent_id: must be an integer"},
    {"{'targets':[{'provider':'avaamo','scope':'agent','agent_id':20123.0,'"
     "data_types':["
     "'storage']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].agent_id: must be an integer"},
    {"{'targets':[{'provider':'avaamo','scope':'agent','agent_id':0,'data_"
     "types':["
     "'storage']}]}",
     0, REQUEST_ERR_BAD_FIELD,
     "targets[0].agent_id: must be between 1 and 9007199254740992"},
    {"{'targets':[{'provider':'avaamo','scope':'agent','agent_id':"
     "9007199254740993,'data_"
     "types':['storage']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].agent_id: must be between"},
    /* unknown and missing fields */
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','sesion_ids':["
     "'ase_1']}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].sesion_ids: unknown field"},
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':["
     "'ase_1'],'user_token':'u'}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].user_token: unknown field"},
    {"{'targets':[{'provider':'algolia','scope':'agent','agent_id':'a1','"
     "conversations':{"
     "'start':'2026-01-01'}}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].conversations.start: unknown field"},
    {"{'targets':[{'provider':'algolia','scope':'agent','agent_id':'a1','"
     "conversations':{},"
     "'conversations.start_date':'2026-01-01'}]}",
     0, REQUEST_ERR_BAD_FIELD,
     "targets[0].conversations.start_date: unknown field"},
    {"{'targets':[{'provider':'algolia','scope':'agent','agent_id':'a1','"
     "conversations':"
     "'all'}]}",
     0, REQUEST_ERR_BAD_FIELD, "targets[0].conversations: must be an object"},
    {"{'targets':[{'provider':'vectara','session_ids':['ase_1']}]}", 0,
     REQUEST_ERR_BAD_FIELD,
     "targets[0].agent_id: missing (action delete_session needs it)"},
    {"{'targets':[{'provider':'algolia','conversations':{}}]}", 0,
     REQUEST_ERR_BAD_FIELD, "targets[0].agent_id: missing"},
    /* a value that would be a dot segment */
    {"{'targets':[{'provider':'algolia','user_token':'..'}]}", 0,
     REQUEST_ERR_BAD_FIELD, "targets[0]: a value would make a . or .. segment"},
    {"{'targets':[{'provider':'algolia','user_token':'.'}]}", 0,
     REQUEST_ERR_BAD_FIELD, "targets[0]: a value would make a . or .. segment"},
    /* nothing to do */
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a'}]}", 0,
     REQUEST_ERR_NO_ACTION, "targets[0]: no field"},
    {"{'targets':[{'provider':'algolia','scope':'agent','agent_id':'a1'}]}", 0,
     REQUEST_ERR_NO_ACTION, "targets[0]: no field"},
    /* routing */
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':["
     "'ase_1']},{'provider':'openai','x':1}]}",
     0, REQUEST_ERR_UNKNOWN_PROVIDER,
     "targets[1].provider: unknown provider \"openai\""},
    {"{'targets':[{'provider':'vectara','account':'eu','agent_id':'agt_a',"
     "'session_ids':['ase_1']}]}",
     0, REQUEST_ERR_UNKNOWN_ACCOUNT,
     "targets[0].account: provider vectara has no account \"eu\""},
    /* the plan bound */
    {"{'targets':[{'provider':'vectara','agent_id':'agt_a','session_ids':["
     "'ase_1','ase_2','ase_3']},{'provider':'avaamo','scope':'agent','agent_id'"
     ":1,'data_"
     "types':['storage']}]}",
     3, REQUEST_ERR_TOO_MANY_CALLS, "4 calls needed, at most 3 allowed"},
};

static void test_agent_wide_needs_both_opt_ins(void **state)
{
        (void)state;
        struct provider_plan plan;
        char err[512] = "";
        /* No "scope" in the target: refused, and nothing is planned. */
        enum request_error rc =
            plan_with(reg,
                      "{'targets':[{'provider':'algolia','agent_id':'a1',"
                      "'conversations':{}}]}",
                      0, &plan, err, sizeof(err));
        assert_int_equal(rc, REQUEST_ERR_AGENT_WIDE);
        assert_int_equal(plan.ncalls, 0);
        assert_contains(err, "must say \"scope\": \"agent\"");
        assert_string_equal(request_error_name(rc), "agent_wide_not_allowed");
        /* The target consents, the account does not. */
        rc = plan_with(reg,
                       "{'targets':[{'provider':'algolia','account':'noopt',"
                       "'scope':'agent','agent_id':'a1','conversations':{}}]}",
                       0, &plan, err, sizeof(err));
        assert_int_equal(rc, REQUEST_ERR_AGENT_WIDE);
        assert_contains(err, "account algolia/noopt does not set "
                             "allow_agent_wide = true");
        /* A per-user target needs no opt-in, on either account. */
        plan_ok("{'targets':[{'provider':'algolia','account':'noopt',"
                "'user_token':'u1'}]}",
                &plan);
        assert_int_equal(plan.calls[0].agent_scope, 0);
        provider_plan_clear(&plan);
        /* Both: planned, and marked. */
        plan_ok("{'targets':[{'provider':'avaamo','scope':'agent',"
                "'agent_id':1,'data_types':['storage']}]}",
                &plan);
        assert_int_equal(plan.calls[0].agent_scope, 1);
        assert_null(plan.calls[0].verify);
        provider_plan_clear(&plan);
        rc = plan_with(reg,
                       "{'targets':[{'provider':'vectara','scope':'all',"
                       "'agent_id':'agt_a','session_ids':['ase_1']}]}",
                       0, &plan, err, sizeof(err));
        assert_int_equal(rc, REQUEST_ERR_BAD_FIELD);
        assert_contains(err, "targets[0].scope: must be \"agent\"");
}

static void test_verify_requests_planned(void **state)
{
        (void)state;
        struct provider_plan plan;
        plan_ok("{'targets':[{'provider':'vectara','agent_id':'agt_a',"
                "'session_ids':['ase_1','ase_2']}]}",
                &plan);
        assert_int_equal(plan.ncalls, 2);
        const struct provider_call *v = plan.calls[1].verify;
        assert_non_null(v);
        assert_string_equal(v->method, "GET");
        assert_string_equal(v->url,
                            "https://api.vectara.io/v2/agents/agt_a/sessions/"
                            "ase_2");
        assert_string_equal(v->resource, "agt_a/ase_2");
        assert_header(v, 0, "x-api-key", "vectara-key-1", 1);
        assert_int_equal(plan.calls[1].verify_attempts, 3);
        provider_plan_clear(&plan);

        plan_ok("{'targets':[{'provider':'convai','character_id':'c0ffee',"
                "'session_ids':['s-1','s-2']}]}",
                &plan);
        v = plan.calls[0].verify;
        assert_string_equal(v->method, "POST");
        assert_string_equal(
            v->url, "https://api.convai.com/character/chatHistory/list");
        assert_string_equal(v->body,
                            "{\"charID\":\"c0ffee\",\"limit\":\"-1\"}");
        assert_int_equal(json_array_size(plan.calls[0].verify_values), 2);
        provider_plan_clear(&plan);
}

/* ---- discovered items -------------------------------------------------- */

static int expand(const char *target, const char *body,
                  struct provider_plan *out, size_t *found, char *err,
                  size_t err_size)
{
        struct provider_plan plan;
        plan_ok(target, &plan);
        assert_true(plan.calls[0].discover);
        int rc = provider_expand(&plan.calls[0], body, strlen(body), out, found,
                                 err, err_size);
        provider_plan_clear(&plan);
        return rc;
}

static const char *const user_data =
    "{\"conversations\":["
    "{\"id\":\"alg_cnv_1\",\"agentId\":\"ag-a\",\"userToken\":\"u1\","
    "\"messages\":[{\"id\":\"m1\"}]},"
    "{\"id\":\"alg_cnv_2\",\"agentId\":\"ag-b\",\"userToken\":\"u1\"},"
    "{\"id\":\"alg_cnv_x\",\"agentId\":\"ag-a\",\"userToken\":\"other\"},"
    "{\"id\":\"alg_cnv_1\",\"agentId\":\"ag-a\",\"userToken\":\"u1\"}],"
    "\"memories\":[]}";

static void test_discovered_items_become_calls(void **state)
{
        (void)state;
        struct provider_plan p;
        size_t found;
        char err[256] = "";
        assert_int_equal(expand("{'targets':[{'provider':'algolia',"
                                "'user_token':'u1'}]}",
                                user_data, &p, &found, err, sizeof(err)),
                         0);
        /* Another user's item is filtered out; a duplicate is sent once. */
        assert_int_equal(found, 3);
        assert_int_equal(p.ncalls, 2);
        assert_string_equal(p.calls[0].action_name, "delete_conversation");
        assert_string_equal(p.calls[0].method, "DELETE");
        assert_string_equal(p.calls[0].url,
                            "https://APPID42.algolia.net/agent-studio/1/agents/"
                            "ag-a/conversations/alg_cnv_1");
        /* The key derives from the discovered resource. */
        assert_string_equal(p.calls[0].resource, "ag-a/alg_cnv_1");
        assert_string_equal(p.calls[1].resource, "ag-b/alg_cnv_2");
        assert_false(p.calls[0].discover);
        assert_header(&p.calls[0], 1, "x-algolia-api-key", "algolia-key-4", 1);
        provider_plan_clear(&p);

        /* agent_id in the target keeps only that agent's conversations. */
        assert_int_equal(expand("{'targets':[{'provider':'algolia',"
                                "'user_token':'u1','agent_id':'ag-b'}]}",
                                user_data, &p, &found, err, sizeof(err)),
                         0);
        assert_int_equal(p.ncalls, 1);
        assert_string_equal(p.calls[0].resource, "ag-b/alg_cnv_2");
        provider_plan_clear(&p);

        /* Nothing found is an empty plan, not an error. */
        assert_int_equal(expand("{'targets':[{'provider':'algolia',"
                                "'user_token':'u1'}]}",
                                "{\"conversations\":[],\"memories\":[]}", &p,
                                &found, err, sizeof(err)),
                         0);
        assert_int_equal(found, 0);
        assert_int_equal(p.ncalls, 0);
        provider_plan_clear(&p);
}

static void test_discovered_values_are_validated(void **state)
{
        (void)state;
        struct provider_plan p;
        size_t found;
        char err[256] = "";
        const char *t =
            "{'targets':[{'provider':'algolia','user_token':'u1'}]}";
        /* A hostile id must never reach a URL: all or nothing. */
        assert_int_equal(
            expand(
                t,
                "{\"conversations\":[{\"id\":\"ok\",\"agentId\":\"a\","
                "\"userToken\":\"u1\"},{\"id\":\"../../x\",\"agentId\":\"a\","
                "\"userToken\":\"u1\"}]}",
                &p, &found, err, sizeof(err)),
            -1);
        assert_int_equal(p.ncalls, 0);
        assert_contains(err, "conversation_id: does not match");
        assert_int_equal(
            expand(t,
                   "{\"conversations\":[{\"id\":\"c\\u202e1\",\"agentId\":"
                   "\"a\",\"userToken\":\"u1\"}]}",
                   &p, &found, err, sizeof(err)),
            -1);
        assert_contains(err, "bidi control");
        assert_int_equal(
            expand(t,
                   "{\"conversations\":[{\"id\":7,\"agentId\":\"a\","
                   "\"userToken\":\"u1\"}]}",
                   &p, &found, err, sizeof(err)),
            -1);
        assert_contains(err, "must be a string");
        assert_int_equal(expand(t,
                                "{\"conversations\":[{\"agentId\":\"a\","
                                "\"userToken\":\"u1\"}]}",
                                &p, &found, err, sizeof(err)),
                         -1);
        assert_contains(err, "discovered item 0 has nothing at /id");
        assert_int_equal(
            expand(t, "{\"data\":[]}", &p, &found, err, sizeof(err)), -1);
        assert_contains(err, "no array at \"/conversations\"");
        assert_int_equal(expand(t, "not json", &p, &found, err, sizeof(err)),
                         -1);
}

static void test_discover_over_max_items_deletes_nothing(void **state)
{
        (void)state;
        char body[200000];
        size_t o = (size_t)snprintf(body, sizeof(body), "{\"conversations\":[");
        for (int i = 0; i < 1001; i++)
                o += (size_t)snprintf(body + o, sizeof(body) - o,
                                      "%s{\"id\":\"c%d\",\"agentId\":\"a\","
                                      "\"userToken\":\"u1\"}",
                                      i ? "," : "", i);
        snprintf(body + o, sizeof(body) - o, "]}");
        struct provider_plan p;
        size_t found;
        char err[256] = "";
        assert_int_equal(expand("{'targets':[{'provider':'algolia',"
                                "'user_token':'u1'}]}",
                                body, &p, &found, err, sizeof(err)),
                         -1);
        assert_int_equal(found, 1001);
        assert_int_equal(p.ncalls, 0);
        assert_contains(err, "1001 items found, more than max_items 1000");
}

static void test_discovered_field_not_from_target(void **state)
{
        (void)state;
        struct provider_plan plan;
        char err[256] = "";
        enum request_error rc =
            plan_with(reg,
                      "{'targets':[{'provider':'algolia','user_token':'u1',"
                      "'conversation_id':'c1'}]}",
                      0, &plan, err, sizeof(err));
        assert_int_equal(rc, REQUEST_ERR_BAD_FIELD);
        assert_contains(err, "targets[0].conversation_id: unknown field");
}

static void test_bad_fields(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
                const struct bad_case *bc = &bad_cases[i];
                struct provider_plan plan = {(void *)1, 42};
                char err[512] = "";
                enum request_error rc = plan_with(reg, bc->json, bc->max_calls,
                                                  &plan, err, sizeof(err));
                if (rc != bc->code)
                        fail_msg("case %zu: code %d, want %d (%s)", i, rc,
                                 bc->code, err);
                assert_contains(err, bc->errstr);
        }
}

static void test_plan_bound_exact(void **state)
{
        struct provider_plan plan;
        char err[256];
        const char *json = "{'targets':[{'provider':'vectara','agent_id':"
                           "'agt_a','session_ids':['ase_1','ase_2','ase_1']}]}";
        (void)state;
        /* duplicates do not count against the bound */
        assert_int_equal(plan_with(reg, json, 2, &plan, err, sizeof(err)),
                         REQUEST_OK);
        assert_int_equal(plan.ncalls, 2);
        provider_plan_clear(&plan);
        assert_int_equal(plan_with(reg, json, 1, &plan, err, sizeof(err)),
                         REQUEST_ERR_TOO_MANY_CALLS);
}

static void test_list_item_bound(void **state)
{
        struct provider_plan plan;
        char err[256];
        (void)state;
        char *json = convai_request(1000);
        assert_int_equal(plan_with(reg, json, 0, &plan, err, sizeof(err)),
                         REQUEST_OK);
        assert_int_equal(plan.ncalls, 10);
        provider_plan_clear(&plan);
        free(json);
        json = convai_request(1001);
        assert_int_equal(plan_with(reg, json, 0, &plan, err, sizeof(err)),
                         REQUEST_ERR_BAD_FIELD);
        assert_contains(err, "targets[0].session_ids: more than 1000 items");
        free(json);
}

static void test_hostile_names_escaped(void **state)
{
        struct provider_plan plan;
        char err[1024], key[400], json[1200];
        (void)state;
        memset(key, 'A', sizeof(key) - 1);
        key[sizeof(key) - 1] = '\0';
        snprintf(json, sizeof(json),
                 "{'targets':[{'provider':'vectara','\\u0001%s':1}]}", key);
        assert_int_equal(plan_with(reg, json, 0, &plan, err, sizeof(err)),
                         REQUEST_ERR_BAD_FIELD);
        assert_contains(err, "targets[0].\\x01AAAA");
        assert_contains(err, "...: unknown field");
        assert_true(strlen(err) < 160); /* at most ~64 bytes echoed */

        snprintf(json, sizeof(json),
                 "{'targets':[{'provider':'ev\\nil\\u00e9%s'}]}", key);
        assert_int_equal(plan_with(reg, json, 0, &plan, err, sizeof(err)),
                         REQUEST_ERR_UNKNOWN_PROVIDER);
        assert_contains(err, "unknown provider \"ev\\x0Ail\\xC3\\xA9AAA");
        assert_true(strlen(err) < 200);
        for (const char *p = err; *p; p++)
                assert_true(*p >= 0x20 && *p < 0x7f);
}

/* A bad later target must leave nothing planned (all-or-nothing). */
static void test_all_or_nothing(void **state)
{
        struct provider_plan plan;
        char err[256];
        (void)state;
        assert_int_equal(
            plan_with(reg,
                      "{'targets':[{'provider':'vectara','agent_id':'agt_a',"
                      "'session_ids':['ase_1']},{'provider':'convai',"
                      "'character_id':'c1','session_ids':['s1']},{'provider':"
                      "'algolia','user_token':'..'}]}",
                      0, &plan, err, sizeof(err)),
            REQUEST_ERR_BAD_FIELD);
        assert_contains(err, "targets[2]");
        assert_null(plan.calls);
        assert_int_equal(plan.ncalls, 0);
}

/* Templates beyond the shipped ones: typed and literal body values, nested
 * objects, optional fields left out, a for_each item in a body, literal
 * query values, and patterns that match the whole value even unanchored. */
static const char *const custom_conf =
    "providers = { t = {\n"
    "  base_url = \"https://{region}.t.example/v1\";\n"
    "  vars = { region = { }; };\n"
    "  auth = { k = ( { header = \"X-Region\"; value = \"r-{region}\"; },\n"
    "                 { header = \"X-Key\"; prefix = \"Key \"; secret = "
    "\"key\"; } ); };\n"
    "  actions = ( { name = \"purge\"; when = \"users\"; method = "
    "\"PUT\";\n"
    "    path = \"/orgs/{org}/users/{users}/purge\"; for_each = "
    "\"users\";\n"
    "    query = ( { name = \"mode\"; value = \"hard&fast\"; },\n"
    "              { name = \"n\"; value = \"{n}\"; },\n"
    "              { name = \"note\"; value = \"x{tag}\"; } );\n"
    "    body = { user = \"{users}\"; org = \"{org}\"; n = \"{n}\";\n"
    "             tag = \"{tag}\"; fixed = 3; ratio = 0.5; yes = true;\n"
    "             list = [ \"a\", \"b\" ]; mixed = ( 1, \"{tag}\", "
    "\"{n}\" );\n"
    "             meta = { who = \"{org}\"; why = \"{tag}\"; }; };\n"
    "    resource = \"{org}/{users}/{tag}\";\n"
    "    params = ( { field = \"org\"; type = \"string\"; pattern = "
    "\"[a-z]+\"; },\n"
    "               { field = \"users\"; type = \"string_list\"; pattern "
    "= \"u[0-9]+|admin\"; },\n"
    "               { field = \"n\"; type = \"integer\"; min = -5; max = "
    "5; },\n"
    "               { field = \"tag\"; type = \"string\"; optional = true; "
    "} );\n"
    "  } );\n"
    "}; };\n"
    "accounts = ( { provider = \"t\"; vars = { region = \"eu-1\"; };\n"
    "  secrets = { key = \"TP_P_KEY\"; }; } );\n";

static void test_custom_templates(void **state)
{
        char err[512];
        struct provider_plan plan;
        (void)state;
        struct provider_registry *r =
            load_text("custom.conf", custom_conf, 0, err, sizeof(err));
        if (!r)
                fail_msg("%s", err);

        assert_int_equal(plan_with(r,
                                   "{'targets':[{'provider':'t','org':'acme',"
                                   "'users':['u1','admin'],'n':-5}]}",
                                   0, &plan, err, sizeof(err)),
                         REQUEST_OK);
        assert_int_equal(plan.ncalls, 2);
        const struct provider_call *c = &plan.calls[0];
        assert_string_equal(c->method, "PUT");
        assert_string_equal(c->url, "https://eu-1.t.example/v1/orgs/acme/users/"
                                    "u1/purge?mode=hard%26fast&n=-5");
        /* absent optional {tag}: its keys, elements and query are left out */
        assert_string_equal(c->body,
                            "{\"user\":\"u1\",\"org\":\"acme\",\"n\":-5,"
                            "\"fixed\":3,\"ratio\":0.5,\"yes\":true,"
                            "\"list\":[\"a\",\"b\"],\"mixed\":[1,-5],"
                            "\"meta\":{\"who\":\"acme\"}}");
        assert_string_equal(c->resource, "acme/u1/");
        assert_int_equal(c->nheaders, 3);
        assert_header(c, 0, "X-Region", "r-eu-1", 0);
        assert_header(c, 1, "X-Key", "Key p-key-6", 1);
        assert_header(c, 2, "Content-Type", "application/json", 0);
        assert_string_equal(plan.calls[1].url,
                            "https://eu-1.t.example/v1/orgs/acme/users/admin/"
                            "purge?mode=hard%26fast&n=-5");
        provider_plan_clear(&plan);

        assert_int_equal(plan_with(r,
                                   "{'targets':[{'provider':'t','org':'acme',"
                                   "'users':['u2'],'n':5,'tag':'t 1'}]}",
                                   0, &plan, err, sizeof(err)),
                         REQUEST_OK);
        assert_string_equal(plan.calls[0].url,
                            "https://eu-1.t.example/v1/orgs/acme/users/u2/"
                            "purge?mode=hard%26fast&n=5&note=xt%201");
        assert_string_equal(plan.calls[0].body,
                            "{\"user\":\"u2\",\"org\":\"acme\",\"n\":5,"
                            "\"tag\":\"t 1\",\"fixed\":3,\"ratio\":0.5,"
                            "\"yes\":true,\"list\":[\"a\",\"b\"],"
                            "\"mixed\":[1,\"t 1\",5],\"meta\":{\"who\":"
                            "\"acme\",\"why\":\"t 1\"}}");
        assert_string_equal(plan.calls[0].resource, "acme/u2/t 1");
        provider_plan_clear(&plan);

        /* patterns match the whole value although written unanchored */
        const char *bad[] = {
            "{'targets':[{'provider':'t','org':'acme/../x','users':['u1'],"
            "'n':1}]}",
            "{'targets':[{'provider':'t','org':'acme','users':['u1x'],"
            "'n':1}]}",
            "{'targets':[{'provider':'t','org':'acme','users':['xadmin'],"
            "'n':1}]}",
            "{'targets':[{'provider':'t','org':'acme','users':['u1'],"
            "'n':6}]}",
        };
        const char *why[] = {
            "targets[0].org: does not match [a-z]+",
            "targets[0].users[0]: does not match u[0-9]+|admin",
            "targets[0].users[0]: does not match u[0-9]+|admin",
            "targets[0].n: must be between -5 and 5"};
        for (size_t i = 0; i < 4; i++) {
                assert_int_equal(
                    plan_with(r, bad[i], 0, &plan, err, sizeof(err)),
                    REQUEST_ERR_BAD_FIELD);
                assert_contains(err, why[i]);
        }
        provider_registry_free(r);
}

/* Out of memory while planning is the worker's problem, not the
 * request's: REQUEST_ERR_INTERNAL (retried), never oversize or bad_field
 * (dead-lettered and committed). Each of the planner's jansson
 * allocations fails in turn until the plan succeeds. */
static void test_out_of_memory_is_internal(void **state)
{
        (void)state;
        struct request *req = test_req_new(
            "{'targets':[{'provider':'convai','character_id':'c0ffee',"
            "'session_ids':['s-1','s-2']},{'provider':'vectara',"
            "'agent_id':'agt_1','session_ids':['ase_1','ase_2']}]}");
        long budget;
        int internal = 0;
        for (budget = 0; budget < 10000; budget++) {
                struct provider_plan plan = {0};
                char err[256] = "";
                oom_arm(budget);
                enum request_error rc =
                    provider_plan(reg, req, 0, &plan, err, sizeof(err));
                oom_disarm();
                provider_plan_clear(&plan);
                if (rc == REQUEST_OK)
                        break;
                if (rc != REQUEST_ERR_INTERNAL)
                        fail_msg("budget %ld: %s (%s)", budget,
                                 request_error_name(rc), err);
                internal++;
        }
        test_req_free(req);
        assert_true(budget < 10000);
        assert_true(internal > 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_vectara_for_each),
            cmocka_unit_test(test_vectara_oauth_account),
            cmocka_unit_test(test_convai_chunks),
            cmocka_unit_test(test_convai_small),
            cmocka_unit_test(test_algolia_user_data),
            cmocka_unit_test(test_algolia_conversations_query),
            cmocka_unit_test(test_algolia_both_actions),
            cmocka_unit_test(test_avaamo_clear_data),
            cmocka_unit_test(test_design_example_order),
            cmocka_unit_test(test_duplicate_calls_across_targets),
            cmocka_unit_test(test_percent_encoding),
            cmocka_unit_test(test_bad_fields),
            cmocka_unit_test(test_agent_wide_needs_both_opt_ins),
            cmocka_unit_test(test_discovered_items_become_calls),
            cmocka_unit_test(test_discovered_values_are_validated),
            cmocka_unit_test(test_discover_over_max_items_deletes_nothing),
            cmocka_unit_test(test_discovered_field_not_from_target),
            cmocka_unit_test(test_verify_requests_planned),
            cmocka_unit_test(test_plan_bound_exact),
            cmocka_unit_test(test_list_item_bound),
            cmocka_unit_test(test_hostile_names_escaped),
            cmocka_unit_test(test_all_or_nothing),
            cmocka_unit_test(test_custom_templates),
            cmocka_unit_test(test_out_of_memory_is_internal),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
