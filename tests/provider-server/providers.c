#include "providers.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "oauth.h"
#include "state.h"

#define MAX_SEGMENTS 8

static const char *const names[PROVIDER_COUNT] = {
    [PROVIDER_VECTARA] = "vectara",           [PROVIDER_CONVAI] = "convai",
    [PROVIDER_ALGOLIA] = "algolia",           [PROVIDER_AVAAMO] = "avaamo",
    [PROVIDER_VECTARA_AUTH] = "vectara-auth",
};

/* The prefix stands in for each vendor's host (and Algolia's base path),
 * so a worker's configured base URL can point here. */
static const char *const prefixes[PROVIDER_COUNT] = {
    [PROVIDER_VECTARA] = "/vectara",
    [PROVIDER_CONVAI] = "/convai",
    [PROVIDER_ALGOLIA] = "/algolia/agent-studio",
    [PROVIDER_AVAAMO] = "/avaamo",
    [PROVIDER_VECTARA_AUTH] = "/vectara-auth",
};

const char *provider_name(enum provider p)
{
        if (p < 0 || p >= PROVIDER_COUNT)
                return NULL;
        return names[p];
}

enum provider provider_by_name(const char *name)
{
        for (int p = 0; p < PROVIDER_COUNT; p++) {
                if (strcmp(name, names[p]) == 0)
                        return (enum provider)p;
        }
        return PROVIDER_NONE;
}

enum provider provider_route(const char *raw_path, const char **rest)
{
        for (int p = 0; p < PROVIDER_COUNT; p++) {
                size_t n = strlen(prefixes[p]);

                if (strncmp(raw_path, prefixes[p], n) == 0 &&
                    (raw_path[n] == '/' || raw_path[n] == '\0')) {
                        *rest = raw_path + n;
                        return (enum provider)p;
                }
        }
        *rest = raw_path;
        return PROVIDER_NONE;
}

static const char *header(const struct provider_request *rq, const char *name)
{
        return json_string_value(json_object_get(rq->headers, name));
}

static bool header_equals(const struct provider_request *rq, const char *name,
                          const char *expected)
{
        const char *v = header(rq, name);

        return v != NULL && expected != NULL && strcmp(v, expected) == 0;
}

static void route_not_found(struct reply *r)
{
        reply_error(r, MHD_HTTP_NOT_FOUND, "no such route");
}

static void method_not_allowed(struct reply *r, const char *allow)
{
        reply_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
        r->allow = allow;
}

static bool method_is(const struct provider_request *rq, const char *m)
{
        return strcmp(rq->method, m) == 0;
}

/* ------------------------------------------------------------ Vectara */

/*
 * The document names error codes but not the JSON around them; this
 * server sends {"code": "<error code>", "messages": ["<text>"]}.
 */
static void vectara_error(struct reply *r, unsigned int status,
                          const char *code, const char *message)
{
        reply_json(
            r, status,
            json_pack("{s:s, s:[s]}", "code", code, "messages", message));
}

static bool vectara_authorized(const struct provider_request *rq)
{
        const struct keys *k = state_keys();
        const char *auth = header(rq, "authorization");

        /* In oauth mode only a token from our token endpoint counts. */
        if (oauth_enabled())
                return auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0 &&
                       oauth_token_valid(auth + 7);
        if (header_equals(rq, "x-api-key", k->vectara_key))
                return true;
        if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
                return false;
        return k->vectara_token != NULL &&
               strcmp(auth + 7, k->vectara_token) == 0;
}

/* prefix followed by [0-9a-zA-Z_-]+, the whole string. */
static bool vectara_id_ok(const char *id, size_t len, const char *prefix)
{
        size_t n = strlen(prefix);

        if (len <= n || strncmp(id, prefix, n) != 0)
                return false;
        for (size_t i = n; i < len; i++) {
                char c = id[i];
                bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                          (c >= 'A' && c <= 'Z') || c == '_' || c == '-';

                if (!ok)
                        return false;
        }
        return true;
}

static char *decode_id(const char *seg, size_t len, const char *prefix)
{
        size_t out_len;
        char *id = percent_decode(seg, len, false, &out_len);

        if (id != NULL && !vectara_id_ok(id, out_len, prefix)) {
                free(id);
                id = NULL;
        }
        return id;
}

static void vectara_delete(const char **seg, const size_t *len, struct reply *r)
{
        char *agent = decode_id(seg[2], len[2], "agt_");
        char *session = decode_id(seg[4], len[4], "ase_");

        if (agent == NULL || session == NULL)
                vectara_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request",
                              "Invalid agent_id or session_id format");
        else if (state_agent_missing(agent))
                vectara_error(r, MHD_HTTP_NOT_FOUND, "agent_not_found",
                              "Agent with the specified ID does not exist");
        else if (!state_delete_session(agent, session))
                vectara_error(r, MHD_HTTP_NOT_FOUND, "session_not_found",
                              "Session with the specified ID does not exist");
        else
                reply_json(r, MHD_HTTP_NO_CONTENT, NULL);
        free(agent);
        free(session);
}

static void vectara(const struct provider_request *rq, struct reply *r)
{
        const char *seg[MAX_SEGMENTS];
        size_t len[MAX_SEGMENTS];
        int n = path_split(rq->path, seg, len, MAX_SEGMENTS);

        if (n != 5 || !seg_is(seg[0], len[0], "v2") ||
            !seg_is(seg[1], len[1], "agents") ||
            !seg_is(seg[3], len[3], "sessions")) {
                route_not_found(r);
                return;
        }
        if (!method_is(rq, "DELETE")) {
                method_not_allowed(r, "DELETE");
                return;
        }
        if (!vectara_authorized(rq)) {
                vectara_error(r, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                              "Invalid or missing API key");
                return;
        }
        vectara_delete(seg, len, r);
}

/* ------------------------------------------------------------- Convai */

static void convai_error(struct reply *r, unsigned int status,
                         const char *message)
{
        reply_json(r, status, json_pack("{s:s}", "ERROR", message));
}

static bool nonempty_string(json_t *v)
{
        return json_is_string(v) && json_string_length(v) > 0;
}

/* Returns NULL when the body is usable, else what is wrong with it. */
static const char *convai_body_problem(const struct provider_request *rq)
{
        json_t *body = rq->body != NULL
                           ? json_loadb(rq->body, rq->body_len, 0, NULL)
                           : NULL;
        json_t *ids = json_object_get(body, "sessionIDs");
        const char *problem = NULL;
        size_t i;
        json_t *v;

        if (!json_is_object(body))
                problem = "Request body must be a JSON object.";
        else if (!nonempty_string(json_object_get(body, "charID")))
                problem = "charID is required.";
        else if (!json_is_array(ids) || json_array_size(ids) == 0)
                problem = "sessionIDs must be a non-empty list.";
        json_array_foreach(ids, i, v)
        {
                if (problem == NULL && !nonempty_string(v))
                        problem = "sessionIDs must be non-empty strings.";
        }
        json_decref(body);
        return problem;
}

static void convai(const struct provider_request *rq, struct reply *r)
{
        const char *seg[MAX_SEGMENTS];
        size_t len[MAX_SEGMENTS];
        int n = path_split(rq->path, seg, len, MAX_SEGMENTS);
        const char *problem;

        if (n != 3 || !seg_is(seg[0], len[0], "character") ||
            !seg_is(seg[1], len[1], "chatHistory") ||
            !seg_is(seg[2], len[2], "delete")) {
                route_not_found(r);
                return;
        }
        if (!method_is(rq, "POST")) {
                method_not_allowed(r, "POST");
                return;
        }
        if (!header_equals(rq, "convai-api-key", state_keys()->convai_key)) {
                convai_error(r, MHD_HTTP_UNAUTHORIZED,
                             "Invalid API key provided.");
                return;
        }
        /* The document shows no error for a bad body; a 400 in the same
         * {"ERROR": ...} shape as its 401 is this server's guess. */
        problem = convai_body_problem(rq);
        if (problem != NULL) {
                convai_error(r, MHD_HTTP_BAD_REQUEST, problem);
                return;
        }
        reply_json(r, MHD_HTTP_OK,
                   json_pack("{s:s}", "status", "SUCCESSFULLY DELETED"));
}

/* ------------------------------------------------------------ Algolia */

static bool is_leap(int y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* YYYY-MM-DD naming a real calendar day. */
static bool valid_date(const char *s)
{
        static const int days[] = {31, 28, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31};
        int y, m, d;

        if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
                return false;
        for (int i = 0; i < 10; i++) {
                if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
                        return false;
        }
        y = atoi(s);
        m = atoi(s + 5);
        d = atoi(s + 8);
        if (m < 1 || m > 12 || d < 1)
                return false;
        return d <= days[m - 1] + (m == 2 && is_leap(y) ? 1 : 0);
}

/* Appends a FastAPI-style validation entry if the parameter is present
 * but not a date (an empty value included). */
static void check_date_param(const char *query, const char *name,
                             json_t *detail)
{
        char *value;

        if (!query_param(query, name, &value))
                return;
        if (!valid_date(value))
                json_array_append_new(
                    detail,
                    json_pack("{s:[s,s], s:s, s:s, s:o}", "loc", "query", name,
                              "msg",
                              "Input should be a valid date in the "
                              "format YYYY-MM-DD",
                              "type", "date_from_datetime_parsing", "input",
                              json_lossy_string(value, strlen(value))));
        free(value);
}

static void algolia_conversations(const struct provider_request *rq,
                                  struct reply *r)
{
        json_t *detail = json_array();

        check_date_param(rq->query, "startDate", detail);
        check_date_param(rq->query, "endDate", detail);
        if (json_array_size(detail) > 0) {
                reply_json(r, MHD_HTTP_UNPROCESSABLE_CONTENT,
                           json_pack("{s:o}", "detail", detail));
                return;
        }
        json_decref(detail);
        reply_json(r, MHD_HTTP_NO_CONTENT, NULL);
}

static bool algolia_authorized(const struct provider_request *rq)
{
        const struct keys *k = state_keys();

        return header_equals(rq, "x-algolia-application-id",
                             k->algolia_app_id) &&
               header_equals(rq, "x-algolia-api-key", k->algolia_key);
}

static void algolia(const struct provider_request *rq, struct reply *r)
{
        const char *seg[MAX_SEGMENTS];
        size_t len[MAX_SEGMENTS];
        int n = path_split(rq->path, seg, len, MAX_SEGMENTS);
        bool user_data = n == 3 && seg_is(seg[0], len[0], "1") &&
                         seg_is(seg[1], len[1], "user-data") && len[2] > 0;
        bool conversations = n == 4 && seg_is(seg[0], len[0], "1") &&
                             seg_is(seg[1], len[1], "agents") && len[2] > 0 &&
                             seg_is(seg[3], len[3], "conversations");

        if (!user_data && !conversations) {
                route_not_found(r);
                return;
        }
        if (!method_is(rq, "DELETE")) {
                method_not_allowed(r, "DELETE");
                return;
        }
        if (!algolia_authorized(rq)) {
                reply_json(r, MHD_HTTP_FORBIDDEN,
                           json_pack("{s:s}", "message",
                                     "Invalid Application-ID or API key"));
                return;
        }
        /* User data: the reference only promises a 2xx; 204 like the
         * conversations call. */
        if (user_data)
                reply_json(r, MHD_HTTP_NO_CONTENT, NULL);
        else
                algolia_conversations(rq, r);
}

/* ------------------------------------------------------------- Avaamo */

static void avaamo_failure(struct reply *r, unsigned int status,
                           const char *key, const char *message)
{
        reply_json(r, status,
                   json_pack("{s:b, s:s}", "success", 0, key, message));
}

/* Both spellings of the storage type are accepted: the document's table
 * says "storage", its sample sends "storage_data". */
static bool avaamo_type_ok(json_t *v)
{
        static const char *const types[] = {
            "storage", "storage_data", "js_errors", "conversation_sessions"};
        const char *s = json_string_value(v);

        for (size_t i = 0; s != NULL && i < sizeof(types) / sizeof(*types);
             i++) {
                if (strcmp(s, types[i]) == 0)
                        return true;
        }
        return false;
}

static bool avaamo_body_ok(const struct provider_request *rq)
{
        json_t *body = rq->body != NULL
                           ? json_loadb(rq->body, rq->body_len, 0, NULL)
                           : NULL;
        json_t *types = json_object_get(body, "data_types");
        bool ok = json_is_array(types) && json_array_size(types) > 0;
        size_t i;
        json_t *v;

        json_array_foreach(types, i, v)
        {
                ok = ok && avaamo_type_ok(v);
        }
        json_decref(body);
        return ok;
}

static bool all_digits(const char *s, size_t len)
{
        if (len == 0 || len > 18)
                return false;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
        }
        return true;
}

static void avaamo_clear(const struct provider_request *rq, const char *seg,
                         size_t len, struct reply *r)
{
        char *agent = xstrndup(seg, len);

        /* A non-integer id cannot name an agent: 404 like an unknown one. */
        if (!all_digits(seg, len) || state_agent_missing(agent))
                avaamo_failure(r, MHD_HTTP_NOT_FOUND, "error",
                               "Agent not found");
        /* Undocumented: a bad body gets 400 in the 401's shape. */
        else if (!avaamo_body_ok(rq))
                avaamo_failure(r, MHD_HTTP_BAD_REQUEST, "error",
                               "data_types must be a non-empty array of "
                               "storage, storage_data, js_errors, "
                               "conversation_sessions");
        /* The document only says the call fails when the agent is not
         * locked; HTTP 200 with success false exercises the client rule
         * that a 200 without "success": true is a failure. */
        else if (state_agent_unlocked(agent))
                avaamo_failure(r, MHD_HTTP_OK, "message",
                               "Agent must be locked for edit");
        else
                reply_json(r, MHD_HTTP_OK, json_pack("{s:b}", "success", 1));
        free(agent);
}

static void avaamo(const struct provider_request *rq, struct reply *r)
{
        const char *seg[MAX_SEGMENTS];
        size_t len[MAX_SEGMENTS];
        int n = path_split(rq->path, seg, len, MAX_SEGMENTS);

        if (n != 4 || !seg_is(seg[0], len[0], "dashboard") ||
            !seg_is(seg[1], len[1], "agents") || len[2] == 0 ||
            !seg_is(seg[3], len[3], "clear_data.json")) {
                route_not_found(r);
                return;
        }
        if (!method_is(rq, "POST")) {
                method_not_allowed(r, "POST");
                return;
        }
        if (!header_equals(rq, "access-token", state_keys()->avaamo_token)) {
                avaamo_failure(r, MHD_HTTP_UNAUTHORIZED, "error",
                               "Invalid access token");
                return;
        }
        avaamo_clear(rq, seg[2], len[2], r);
}

/* --------------------------------------------------------------- both */

void provider_handle(enum provider p, const struct provider_request *rq,
                     struct reply *out)
{
        switch (p) {
        case PROVIDER_VECTARA:
                vectara(rq, out);
                return;
        case PROVIDER_CONVAI:
                convai(rq, out);
                return;
        case PROVIDER_ALGOLIA:
                algolia(rq, out);
                return;
        case PROVIDER_AVAAMO:
                avaamo(rq, out);
                return;
        case PROVIDER_VECTARA_AUTH:
                if (strcmp(rq->path, "/oauth2/token") == 0 ||
                    strcmp(rq->path, "/oauth/token") == 0)
                        oauth_token_endpoint(rq, out);
                else
                        route_not_found(out);
                return;
        case PROVIDER_NONE:
        case PROVIDER_COUNT:
                break;
        }
        route_not_found(out);
}

static const char *vectara_code(unsigned int status)
{
        switch (status) {
        case 400:
                return "invalid_request";
        case 401:
                return "unauthorized";
        case 403:
                return "forbidden";
        case 404:
                return "session_not_found";
        case 429:
                return "rate_limit_exceeded";
        case 503:
                return "service_unavailable";
        default:
                return status >= 500 ? "internal_error" : "error";
        }
}

void provider_fault_reply(enum provider p, unsigned int status,
                          struct reply *out)
{
        const char *reason = MHD_get_reason_phrase_for(status);

        if (reason == NULL || *reason == '\0')
                reason = "Injected fault";
        provider_fault_reply_text(p, status, reason, out);
}

void provider_fault_reply_text(enum provider p, unsigned int status,
                               const char *reason, struct reply *out)
{
        /* These statuses must not carry a body. */
        if (status < 200 || status == 204 || status == 304) {
                reply_json(out, status, NULL);
                return;
        }
        switch (p) {
        case PROVIDER_VECTARA:
                vectara_error(out, status, vectara_code(status), reason);
                return;
        case PROVIDER_CONVAI:
                convai_error(out, status, reason);
                return;
        case PROVIDER_ALGOLIA:
                reply_json(out, status, json_pack("{s:s}", "message", reason));
                return;
        case PROVIDER_AVAAMO:
                avaamo_failure(out, status, "error", reason);
                return;
        case PROVIDER_VECTARA_AUTH:
                reply_json(out, status,
                           json_pack("{s:s, s:s}", "error", "server_error",
                                     "error_description", reason));
                return;
        case PROVIDER_NONE:
        case PROVIDER_COUNT:
                break;
        }
        reply_error(out, status, reason);
}
