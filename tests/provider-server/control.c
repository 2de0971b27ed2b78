#include "control.h"
#include "oauth.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "faults.h"
#include "state.h"
#include "timer.h"

static bool is(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}

static json_t *parse_body(const char *body, size_t len, struct reply *out)
{
        json_error_t err;
        json_t *j = body != NULL ? json_loadb(body, len, 0, &err) : NULL;
        char msg[300];

        if (j == NULL) {
                snprintf(msg, sizeof(msg), "body is not JSON: %s",
                         body != NULL ? err.text : "empty");
                reply_error(out, MHD_HTTP_BAD_REQUEST, msg);
        }
        return j;
}

/* Missing or not a decimal number: the default. */
static bool number_param(const char *query, const char *name,
                         unsigned long long *value)
{
        char *raw, *end;
        bool ok;

        if (!query_param(query, name, &raw))
                return true;
        errno = 0;
        *value = strtoull(raw, &end, 10);
        ok = errno == 0 && *raw >= '0' && *raw <= '9' && *end == '\0';
        free(raw);
        return ok;
}

static void calls_get(const char *query, struct reply *out)
{
        unsigned long long since = 0, limit = 0;

        if (!number_param(query, "since", &since) ||
            !number_param(query, "limit", &limit)) {
                reply_error(out, MHD_HTTP_BAD_REQUEST,
                            "since and limit must be non-negative integers");
                return;
        }
        reply_free(out);
        out->status = MHD_HTTP_OK;
        out->body = calls_dump(since, (size_t)limit, &out->body_len);
        out->content_type = "application/json";
}

static void calls_route(const char *method, const char *query,
                        struct reply *out)
{
        if (is(method, "GET")) {
                calls_get(query, out);
        } else if (is(method, "DELETE")) {
                calls_clear();
                reply_json(out, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1));
        } else {
                reply_error(out, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "method not allowed");
                out->allow = "GET, DELETE";
        }
}

static void stats_route(const char *method, struct reply *out)
{
        json_t *stats;

        if (is(method, "GET")) {
                stats = calls_stats();
                json_object_set_new(stats, "waiting",
                                    json_integer((json_int_t)timer_waiting()));
                reply_json(out, MHD_HTTP_OK, stats);
        } else if (is(method, "DELETE")) {
                calls_stats_reset();
                reply_json(out, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1));
        } else {
                reply_error(out, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "method not allowed");
                out->allow = "GET, DELETE";
        }
}

/* Accepts one rule or an array of rules; all or nothing is not needed
 * by tests, so rules before a bad one stay added. */
static void faults_post(const char *body, size_t len, struct reply *out)
{
        json_t *j = parse_body(body, len, out);
        json_t *ids, *rules, *rule;
        char err[200];
        size_t i;

        if (j == NULL)
                return;
        ids = json_array();
        rules = json_is_array(j) ? json_incref(j) : json_pack("[O]", j);
        json_array_foreach(rules, i, rule)
        {
                long id = faults_add(rule, err, sizeof(err));

                if (id < 0) {
                        reply_error(out, MHD_HTTP_BAD_REQUEST, err);
                        break;
                }
                json_array_append_new(ids, json_integer(id));
        }
        if (out->status != MHD_HTTP_BAD_REQUEST)
                reply_json(out, MHD_HTTP_CREATED,
                           json_pack("{s:O}", "ids", ids));
        json_decref(ids);
        json_decref(rules);
        json_decref(j);
}

static void faults_route(const char *method, const char *body, size_t len,
                         struct reply *out)
{
        if (is(method, "GET")) {
                reply_json(out, MHD_HTTP_OK, faults_list());
        } else if (is(method, "POST")) {
                faults_post(body, len, out);
        } else if (is(method, "DELETE")) {
                faults_clear();
                reply_json(out, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1));
        } else {
                reply_error(out, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "method not allowed");
                out->allow = "GET, POST, DELETE";
        }
}

/* An id list: strings, or integers for Avaamo's numeric agent ids. NULL
 * (with *bad set) when it is something else. */
static json_t *id_list(json_t *v, bool *bad)
{
        json_t *ids;
        size_t i;
        json_t *e;
        char buf[32];

        if (v == NULL)
                return NULL;
        ids = json_array();
        *bad = *bad || !json_is_array(v);
        json_array_foreach(v, i, e)
        {
                if (json_is_string(e)) {
                        json_array_append(ids, e);
                } else if (json_is_integer(e)) {
                        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
                                 json_integer_value(e));
                        json_array_append_new(ids, json_string(buf));
                } else {
                        *bad = true;
                }
        }
        return ids;
}

static void state_post(const char *body, size_t len, struct reply *out)
{
        json_t *j = parse_body(body, len, out);
        bool bad = j != NULL && !json_is_object(j);
        json_t *missing = id_list(json_object_get(j, "missing_agents"), &bad);
        json_t *unlocked = id_list(json_object_get(j, "unlocked_agents"), &bad);

        if (j == NULL) {
                /* parse_body has answered */
        } else if (bad) {
                reply_error(out, MHD_HTTP_BAD_REQUEST,
                            "missing_agents and unlocked_agents must be "
                            "arrays of ids");
        } else {
                state_replace(missing, unlocked);
                reply_json(out, MHD_HTTP_OK, state_snapshot());
        }
        json_decref(missing);
        json_decref(unlocked);
        json_decref(j);
}

static void state_route(const char *method, const char *body, size_t len,
                        struct reply *out)
{
        if (is(method, "GET")) {
                reply_json(out, MHD_HTTP_OK, state_snapshot());
        } else if (is(method, "POST")) {
                state_post(body, len, out);
        } else if (is(method, "DELETE")) {
                state_reset();
                reply_json(out, MHD_HTTP_OK, state_snapshot());
        } else {
                reply_error(out, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "method not allowed");
                out->allow = "GET, POST, DELETE";
        }
}

static void health_route(const char *method, struct reply *out)
{
        if (is(method, "GET")) {
                reply_json(out, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1));
        } else {
                reply_error(out, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "method not allowed");
                out->allow = "GET";
        }
}

void control_handle(const char *method, const char *path, const char *query,
                    const char *body, size_t body_len, struct reply *out)
{
        if (is(path, "/health"))
                health_route(method, out);
        else if (is(path, "/calls"))
                calls_route(method, query, out);
        else if (is(path, "/stats"))
                stats_route(method, out);
        else if (is(path, "/faults"))
                faults_route(method, body, body_len, out);
        else if (is(path, "/state"))
                state_route(method, body, body_len, out);
        else if (is(path, "/oauth"))
                oauth_control(method, out);
        else
                reply_error(out, MHD_HTTP_NOT_FOUND, "no such route");
}
