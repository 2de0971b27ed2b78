/* provider_classify — HTTP responses to verdicts: the action's rules,
 * then the defaults (DESIGN §3). */
#include "provider_model.h"
#include "jsonptr.h"

#include "log.h"
#include "text.h"

#include <stdio.h>

/* ---- classification ---------------------------------------------------- */

static int has_string_value(json_t *v, const char *want, int depth)
{
        const char *key;
        json_t *child;

        if (depth > 64)
                return 0;
        if (json_is_string(v))
                return strcmp(json_string_value(v), want) == 0;
        if (json_is_array(v)) {
                for (size_t i = 0; i < json_array_size(v); i++) {
                        if (has_string_value(json_array_get(v, i), want,
                                             depth + 1))
                                return 1;
                }
                return 0;
        }
        json_object_foreach(v, key, child)
        {
                if (has_string_value(child, want, depth + 1))
                        return 1;
        }
        return 0;
}

static int rule_matches(const struct rule *r, long status, json_t *doc)
{
        int hit = 0;
        for (size_t i = 0; i < r->nstatus; i++) {
                if (r->status[i] == status)
                        hit = 1;
        }
        if (!hit)
                return 0;
        if (r->json_value && (!doc || !has_string_value(doc, r->json_value, 0)))
                return 0;
        if (r->json_field) {
                json_t *v = json_object_get(doc, r->json_field);
                if (!v || !json_equal(v, r->json_equals))
                        return 0;
        }
        return 1;
}

static const char *string_at(json_t *doc, const char *key, size_t index)
{
        json_t *v = json_object_get(doc, key);
        if (json_is_array(v))
                v = json_array_get(v, index);
        return json_string_value(v);
}

/* The provider's own words: the error fields the vendors' documents show
 * (message, ERROR, detail[0].msg, …), else the raw body. */
static const char *provider_words(json_t *doc, const char *body, size_t len,
                                  size_t *n)
{
        static const char *const keys[] = {"message", "error",    "ERROR",
                                           "detail",  "messages", NULL};
        const char *s = NULL;

        for (const char *const *k = keys; doc && !s && *k; k++)
                s = string_at(doc, *k, 0);
        if (!s && doc) {
                json_t *d0 = json_array_get(json_object_get(doc, "detail"), 0);
                json_t *err = json_object_get(doc, "error");
                s = json_string_value(json_object_get(d0, "msg"));
                if (!s)
                        s = json_string_value(json_object_get(err, "message"));
        }
        if (s) {
                *n = strlen(s);
                return s;
        }
        *n = body ? len : 0;
        return body ? body : "";
}

/* The start of the provider's words, escaped. A vendor may echo the
 * credential it was sent, so all of the text is redacted before it is cut
 * to PROVIDER_TEXT_MAX: a secret straddling the cut is masked whole, and
 * the end of a cut is masked where it starts a secret. With no memory for
 * the copy nothing is quoted rather than something unredacted. */
static void provider_text(json_t *doc, const char *body, size_t len, char *out,
                          size_t cap)
{
        size_t n;
        const char *s = provider_words(doc, body, len, &n);
        char *copy = malloc(n + 1);

        out[0] = '\0';
        if (!copy)
                return;
        memcpy(copy, s, n);
        copy[n] = '\0';
        log_redact_len(copy, n);
        if (n > PROVIDER_TEXT_MAX)
                log_redact_cut(copy, PROVIDER_TEXT_MAX);
        text_escape(out, cap, copy, n, PROVIDER_TEXT_MAX, 0);
        free(copy);
}

/* What a vendor says when it refuses our credentials is the likeliest
 * place for them to be echoed, and it never helps more than the status. */
static int refuses_credentials(long status)
{
        return status == 401 || status == 403;
}

static void default_verdict(const struct provider_action *a, long status,
                            struct provider_verdict *out, const char **why)
{
        *why = "";
        out->retryable = 0;
        if (status >= 200 && status <= 299) {
                if (!a->documents_success) {
                        out->kind = PROVIDER_DELETED;
                        return;
                }
                out->kind = PROVIDER_FAILED;
                *why = "unexpected response";
                return;
        }
        if (status == 408 || status == 425 || status == 429 ||
            (status >= 500 && status <= 599)) {
                out->kind = PROVIDER_RETRY;
                return;
        }
        out->kind = PROVIDER_FAILED;
}

/* "HTTP <status>[: why][: provider text]", the text cut to fit; never
 * the text on 401/403. */
static void write_error(struct provider_verdict *out, long status,
                        const char *why, json_t *doc, const char *body,
                        size_t body_len)
{
        size_t cap = sizeof(out->error);
        if (refuses_credentials(status) && !why[0])
                why = "credentials refused";
        int n = snprintf(out->error, cap, "HTTP %ld%s%s", status,
                         why[0] ? ": " : "", why);
        if (n < 0 || (size_t)n + 3 >= cap)
                return;
        char *text = out->error + n + 2;
        text[0] = '\0';
        if (!refuses_credentials(status))
                provider_text(doc, body, body_len, text, cap - (size_t)n - 2);
        if (text[0])
                memcpy(out->error + n, ": ", 2);
        else
                out->error[n] = '\0';
}

void provider_classify(const struct provider_action *action, long http_status,
                       const char *body, size_t body_len,
                       struct provider_verdict *out)
{
        json_t *doc = NULL;
        const char *why = "";
        size_t i;

        memset(out, 0, sizeof(*out));
        if (body && body_len > 0)
                doc = json_loadb(body, body_len, JSON_DECODE_ANY, NULL);
        for (i = 0; i < action->nrules; i++) {
                const struct rule *r = &action->rules[i];
                if (!rule_matches(r, http_status, doc))
                        continue;
                out->kind = r->kind;
                out->retryable = r->kind == PROVIDER_FAILED && r->retryable;
                break;
        }
        if (i == action->nrules)
                default_verdict(action, http_status, out, &why);
        if (out->kind == PROVIDER_FAILED || out->kind == PROVIDER_RETRY)
                write_error(out, http_status, why,
                            json_is_object(doc) ? doc : NULL, body, body_len);
        json_decref(doc);
}

/* ---- read-backs ------------------------------------------------------- */

static int value_listed(json_t *values, json_t *v)
{
        for (size_t i = 0; i < json_array_size(values); i++) {
                if (json_equal(json_array_get(values, i), v))
                        return 1;
        }
        return 0;
}

/* Whether the array at `items` still holds what was deleted. -1 when the
 * body is not the documented shape: that is no evidence either way. */
static int items_present(const struct verify_def *v, json_t *values,
                         json_t *doc)
{
        json_t *arr = jsonptr_get(doc, v->items);
        if (!json_is_array(arr))
                return -1;
        if (!v->match_item)
                return json_array_size(arr) > 0;
        for (size_t i = 0; i < json_array_size(arr); i++) {
                json_t *x = jsonptr_get(json_array_get(arr, i), v->match_item);
                if (x && value_listed(values, x))
                        return 1;
        }
        return 0;
}

static int verify_rule_matches(const struct verify_rule *r, long status)
{
        for (size_t i = 0; i < r->nstatus; i++) {
                if (r->status[i] == status)
                        return 1;
        }
        return 0;
}

enum provider_check provider_classify_verify(const struct provider_call *call,
                                             long http_status, const char *body,
                                             size_t body_len)
{
        const struct verify_def *v = call->action->verify;
        for (size_t i = 0; v && i < v->nrules; i++) {
                if (verify_rule_matches(&v->rules[i], http_status))
                        return v->rules[i].kind;
        }
        int ok = http_status >= 200 && http_status < 300;
        if (ok && v && v->items) {
                json_t *doc = body ? json_loadb(body, body_len, 0, NULL) : NULL;
                int present = items_present(v, call->verify_values, doc);
                json_decref(doc);
                if (present < 0)
                        return PROVIDER_CHECK_RETRY;
                return present ? PROVIDER_CHECK_PRESENT : PROVIDER_CHECK_ABSENT;
        }
        if (http_status == 404 || http_status == 410)
                return PROVIDER_CHECK_ABSENT;
        return ok ? PROVIDER_CHECK_PRESENT : PROVIDER_CHECK_RETRY;
}
