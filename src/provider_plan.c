/* provider_plan — templates to calls: validate a request's targets and
 * render URLs, headers and bodies (DESIGN §3). */
#include "provider_planner.h"
#include "jsonptr.h"

#include "text.h"

#include <stdio.h>

/* Dot segments are resolved away by curl or the server and would change
 * which resource is deleted. */
int provider_has_dot_segment(const char *path)
{
        const char *p = path;
        while (*p == '/') {
                size_t n = strcspn(p + 1, "/");
                if (is_dot_segment(p + 1, n))
                        return 1;
                p += n + 1;
        }
        return 0;
}

/* RFC 3986: everything but the unreserved set is encoded, so a value can
 * never add a path segment, a query, a fragment or a header line. */
static void add_encoded(struct buf *b, const char *s, size_t n)
{
        static const char hex[] = "0123456789ABCDEF";
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (is_unreserved(c)) {
                        buf_add(b, (const char *)&s[i], 1);
                } else {
                        char e[3] = {'%', hex[c >> 4], hex[c & 15]};
                        buf_add(b, e, 3);
                }
        }
}

/* ---- rendering calls ----------------------------------------- */

static void add_value(struct buf *b, json_t *v, int encode)
{
        char num[32];
        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                if (encode)
                        add_encoded(b, s, strlen(s));
                else
                        buf_adds(b, s);
        } else if (json_is_integer(v)) {
                snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                         json_integer_value(v));
                buf_adds(b, num);
        } else if (json_is_array(v)) {
                for (size_t i = 0; i < json_array_size(v); i++) {
                        if (i > 0)
                                buf_add(b, ",", 1);
                        add_value(b, json_array_get(v, i), encode);
                }
        }
}

static enum request_error text_fail(struct planner *pl, struct buf *b,
                                    const char *what)
{
        enum buf_state st = b->state;
        size_t max = b->max;
        buf_free(b);
        if (st == BUF_NOMEM)
                return planner_nomem(pl);
        return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                            "targets[%zu]: %s longer than %zu bytes",
                            pl->target, what, max);
}

static void render_query(struct buf *b, const struct provider_action *a,
                         json_t *const *vals)
{
        int first = 1;
        for (size_t i = 0; i < a->nquery; i++) {
                const struct query_item *q = &a->query[i];
                int absent = 0;
                for (size_t k = 0; k < q->value.n; k++) {
                        if (!q->value.v[k].text && !vals[q->value.v[k].ref])
                                absent = 1;
                }
                if (absent)
                        continue;
                buf_add(b, first ? "?" : "&", 1);
                first = 0;
                add_encoded(b, q->name, strlen(q->name));
                buf_add(b, "=", 1);
                for (size_t k = 0; k < q->value.n; k++) {
                        const struct piece *pc = &q->value.v[k];
                        if (pc->text)
                                add_encoded(b, pc->text, strlen(pc->text));
                        else
                                add_value(b, vals[pc->ref], 1);
                }
        }
}

static enum request_error render_url(struct planner *pl,
                                     const struct provider_account *acct,
                                     const struct provider_action *a,
                                     json_t *const *vals, char **out)
{
        struct buf b;
        size_t path_start = strlen(acct->base_url);

        buf_init(&b, URL_MAX);
        buf_adds(&b, acct->base_url);
        for (size_t i = 0; i < a->path.n; i++) {
                const struct piece *pc = &a->path.v[i];
                if (pc->text)
                        buf_adds(&b, pc->text);
                else
                        add_value(&b, vals[pc->ref], 1);
        }
        if (b.state != BUF_OK)
                return text_fail(pl, &b, "URL");
        /* The config's path has none, so a value made it. */
        if (provider_has_dot_segment(b.data + path_start)) {
                buf_free(&b);
                return planner_fail(
                    pl, REQUEST_ERR_BAD_FIELD,
                    "targets[%zu]: a value would make a . or .. "
                    "segment in the path of action %s",
                    pl->target, a->name);
        }
        render_query(&b, a, vals);
        if (b.state != BUF_OK)
                return text_fail(pl, &b, "URL");
        *out = buf_take(&b);
        return REQUEST_OK;
}

static json_t *render_json(json_t *t, const struct provider_action *a,
                           json_t *const *vals, int *absent);

/* A body string that is exactly "{field}" (checked at load). */
static json_t *render_placeholder(json_t *t, const struct provider_action *a,
                                  json_t *const *vals, int *absent)
{
        char name[NAME_MAX_LEN + 1];
        const char *s = json_string_value(t);
        size_t n = strlen(s) - 2;

        memcpy(name, s + 1, n);
        name[n] = '\0';
        json_t *v = vals[provider_find_param(a, name)];
        *absent = v == NULL;
        return v ? json_deep_copy(v) : NULL;
}

static json_t *render_object(json_t *t, const struct provider_action *a,
                             json_t *const *vals)
{
        json_t *o = json_object();
        const char *key;
        json_t *child;

        json_object_foreach(t, key, child)
        {
                int skip = 0; /* o is NULL: out of memory, not absent */
                json_t *r = o ? render_json(child, a, vals, &skip) : NULL;
                if (r && json_object_set_new(o, key, r) == 0)
                        continue;
                if (!r && skip)
                        continue;
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *render_array(json_t *t, const struct provider_action *a,
                            json_t *const *vals)
{
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < json_array_size(t); i++) {
                int skip;
                json_t *r = render_json(json_array_get(t, i), a, vals, &skip);
                if (r && json_array_append_new(arr, r) == 0)
                        continue;
                if (!r && skip)
                        continue;
                json_decref(arr);
                return NULL;
        }
        return arr;
}

/* Builds the body from the template. NULL with *absent set when t is a
 * placeholder whose field the target leaves out: its key or element is
 * then left out too. NULL without *absent: out of memory. */
static json_t *render_json(json_t *t, const struct provider_action *a,
                           json_t *const *vals, int *absent)
{
        *absent = 0;
        if (json_is_string(t) && json_string_value(t)[0] == '{')
                return render_placeholder(t, a, vals, absent);
        if (json_is_object(t))
                return render_object(t, a, vals);
        if (json_is_array(t))
                return render_array(t, a, vals);
        return json_deep_copy(t);
}

static enum request_error render_body(struct planner *pl,
                                      const struct provider_action *a,
                                      json_t *const *vals, char **out)
{
        int absent;
        *out = NULL;
        if (!a->body)
                return REQUEST_OK;
        json_t *doc = render_json(a->body, a, vals, &absent);
        if (!doc)
                return planner_nomem(pl);
        *out = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        if (!*out)
                return planner_nomem(pl);
        if (strlen(*out) > BODY_MAX)
                return planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                    "targets[%zu]: body longer than %d bytes",
                                    pl->target, BODY_MAX);
        return REQUEST_OK;
}

static enum request_error render_resource(struct planner *pl,
                                          const struct provider_action *a,
                                          json_t *const *vals, char **out)
{
        struct buf b;
        buf_init(&b, RESOURCE_MAX);
        for (size_t i = 0; i < a->resource.n; i++) {
                const struct piece *pc = &a->resource.v[i];
                if (pc->text)
                        buf_adds(&b, pc->text);
                else if (vals[pc->ref])
                        add_value(&b, vals[pc->ref], 0);
        }
        if (b.state != BUF_OK)
                return text_fail(pl, &b, "resource");
        *out = buf_take(&b);
        return REQUEST_OK;
}

static int copy_header(struct provider_header *dst, const char *name,
                       const char *value, int secret)
{
        dst->name = strdup(name);
        dst->value = strdup(value);
        dst->secret = secret;
        return dst->name && dst->value ? 0 : -1;
}

static enum request_error render_headers(struct planner *pl,
                                         const struct provider_account *acct,
                                         struct provider_call *c)
{
        size_t n = acct->nheaders + (c->body ? 1 : 0);
        c->headers = alloc_array(n, sizeof(*c->headers));
        if (!c->headers)
                return planner_nomem(pl);
        for (size_t i = 0; i < acct->nheaders; i++) {
                const struct provider_header *h = &acct->headers[i];
                c->nheaders++;
                if (copy_header(&c->headers[i], h->name, h->value, h->secret))
                        return planner_nomem(pl);
        }
        if (c->body) {
                c->nheaders++;
                if (copy_header(&c->headers[n - 1], "Content-Type",
                                "application/json", 0))
                        return planner_nomem(pl);
        }
        return REQUEST_OK;
}

static void call_free(struct provider_call *c)
{
        if (c->verify) {
                call_free(c->verify);
                free(c->verify);
        }
        json_decref(c->verify_values);
        json_decref(c->target);
        free(c->url);
        for (size_t i = 0; i < c->nheaders; i++) {
                free(c->headers[i].name);
                free(c->headers[i].value);
        }
        free(c->headers);
        free(c->body);
        free(c->resource);
        memset(c, 0, sizeof(*c));
}

/* The values the read-back must no longer find, always as an array. */
static json_t *verify_values(const struct verify_def *v, json_t *const *vals)
{
        json_t *x = vals[v->match_param];
        if (!v->match_item || !x)
                return json_array();
        if (json_is_array(x))
                return json_deep_copy(x);
        return json_pack("[O]", x);
}

static enum request_error add_verify(struct planner *pl,
                                     const struct provider_account *acct,
                                     const struct provider_action *a,
                                     json_t *const *vals,
                                     struct provider_call *c)
{
        const struct verify_def *v = a->verify;
        struct provider_call *vc = calloc(1, sizeof(*vc));
        if (!vc)
                return planner_nomem(pl);
        c->verify = vc;
        c->verify_delay_ms = v->delay_ms;
        c->verify_attempts = v->attempts;
        c->verify_values = verify_values(v, vals);
        *vc = (struct provider_call){.account = acct,
                                     .action = v->req,
                                     .provider = c->provider,
                                     .account_name = c->account_name,
                                     .action_name = c->action_name,
                                     .method = v->req->method,
                                     .agent_scope = c->agent_scope};
        vc->resource = strdup(c->resource);
        if (!c->verify_values || !vc->resource)
                return planner_nomem(pl);
        enum request_error rc = render_url(pl, acct, v->req, vals, &vc->url);
        if (rc == REQUEST_OK)
                rc = render_body(pl, v->req, vals, &vc->body);
        if (rc == REQUEST_OK)
                rc = render_headers(pl, acct, vc);
        return rc;
}

static enum request_error add_call(struct planner *pl,
                                   const struct provider_account *acct,
                                   const struct provider_action *a,
                                   json_t *const *vals, json_t *target)
{
        struct provider_plan *plan = pl->plan;
        if (plan->ncalls == pl->cap)
                return planner_nomem(
                    pl); /* sized from the count: cannot happen */
        struct provider_call *c = &plan->calls[plan->ncalls];
        memset(c, 0, sizeof(*c));
        c->account = acct;
        c->action = a;
        c->provider = acct->def->name;
        c->account_name = acct->name;
        c->action_name = a->name;
        c->method = a->method;
        c->agent_scope = a->agent_scope;
        c->target_index = pl->target;
        c->after = a->after;
        c->action_index = a->index;
        const struct provider_action *req = a;
        if (a->discover && !pl->expanding) {
                /* The read first; the deletions come from its answer. */
                req = a->discover->req;
                c->discover = 1;
                c->action_name = a->discover->name;
                c->method = req->method;
                c->target = json_deep_copy(target);
                if (!c->target)
                        return planner_nomem(pl);
        }
        enum request_error rc = render_url(pl, acct, req, vals, &c->url);
        if (rc == REQUEST_OK)
                rc = render_body(pl, req, vals, &c->body);
        if (rc == REQUEST_OK)
                rc = render_resource(pl, req, vals, &c->resource);
        if (rc == REQUEST_OK)
                rc = render_headers(pl, acct, c);
        if (rc == REQUEST_OK && a->verify && !c->discover)
                rc = add_verify(pl, acct, a, vals, c);
        if (rc != REQUEST_OK) {
                call_free(c);
                return rc;
        }
        plan->ncalls++;
        return REQUEST_OK;
}

static json_t *make_chunk(json_t *list, const size_t *order, size_t n)
{
        json_t *chunk = json_array();
        for (size_t k = 0; chunk && k < n; k++) {
                if (json_array_append(chunk, json_array_get(list, order[k]))) {
                        json_decref(chunk);
                        return NULL;
                }
        }
        return chunk;
}

/* One call per item (for_each) or per chunk of items (chunk). */
static enum request_error add_expanded(struct planner *pl,
                                       const struct provider_account *acct,
                                       const struct provider_action *a,
                                       json_t **vals)
{
        json_t *list = vals[a->expand_param];
        size_t *order = alloc_array(json_array_size(list), sizeof(*order));
        long m = order ? planner_unique_items(list, order) : -1;
        size_t step = a->expand == EXPAND_CHUNK ? a->chunk_size : 1;
        enum request_error rc = REQUEST_OK;

        for (size_t i = 0; m >= 0 && rc == REQUEST_OK && i < (size_t)m;
             i += step) {
                size_t end = i + step < (size_t)m ? i + step : (size_t)m;
                json_t *chunk = NULL;
                if (a->expand == EXPAND_FOR_EACH) {
                        vals[a->expand_param] = json_array_get(list, order[i]);
                } else {
                        chunk = make_chunk(list, order + i, end - i);
                        vals[a->expand_param] = chunk;
                }
                if (chunk || a->expand == EXPAND_FOR_EACH)
                        rc = add_call(pl, acct, a, vals, NULL);
                else
                        rc = planner_nomem(pl);
                json_decref(chunk);
        }
        vals[a->expand_param] = list;
        free(order);
        return m < 0 ? planner_nomem(pl) : rc;
}

static enum request_error build_target(struct planner *pl,
                                       const struct request_target *t)
{
        const struct provider_account *acct;
        enum request_error rc = planner_find_account(pl, t, &acct);

        for (size_t i = 0; rc == REQUEST_OK && i < acct->def->nactions; i++) {
                const struct provider_action *a = &acct->def->actions[i];
                if (!planner_triggers(a, t->json))
                        continue;
                json_t **vals = alloc_array(a->nparams, sizeof(*vals));
                if (!vals)
                        return planner_nomem(pl);
                for (size_t k = 0; k < a->nparams; k++)
                        vals[k] = planner_field(t->json, a->params[k].field);
                if (a->expand == EXPAND_NONE)
                        rc = add_call(pl, acct, a, vals, t->json);
                else
                        rc = add_expanded(pl, acct, a, vals);
                free(vals);
        }
        return rc;
}

static int call_cmp(const void *x, const void *y)
{
        const struct provider_call *a = *(struct provider_call *const *)x;
        const struct provider_call *b = *(struct provider_call *const *)y;
        if (a->account != b->account)
                return a->account->index < b->account->index ? -1 : 1;
        int c = strcmp(a->action_name, b->action_name);
        if (c != 0)
                return c;
        c = strcmp(a->resource, b->resource);
        if (c != 0)
                return c;
        return a < b ? -1 : a > b;
}

/* Two targets may name the same thing; the same call twice would publish
 * two outcomes under one idempotency key. Keeps the first, in order. */
static enum request_error drop_duplicate_calls(struct planner *pl)
{
        struct provider_plan *plan = pl->plan;
        size_t n = plan->ncalls, m = 0;
        struct provider_call **sorted = alloc_array(n, sizeof(*sorted));
        if (!sorted)
                return planner_nomem(pl);
        for (size_t i = 0; i < n; i++)
                sorted[i] = &plan->calls[i];
        qsort(sorted, n, sizeof(*sorted), call_cmp);
        const struct provider_call *head = n ? sorted[0] : NULL;
        for (size_t i = 1; i < n; i++) {
                struct provider_call *c = sorted[i];
                if (c->account == head->account && c->action == head->action &&
                    strcmp(c->resource, head->resource) == 0)
                        call_free(c); /* later in the plan than head */
                else
                        head = c;
        }
        free(sorted);
        for (size_t i = 0; i < n; i++) {
                if (plan->calls[i].url)
                        plan->calls[m++] = plan->calls[i];
        }
        plan->ncalls = m;
        return REQUEST_OK;
}

enum request_error provider_plan(const struct provider_registry *reg,
                                 const struct request *req, size_t max_calls,
                                 struct provider_plan *plan, char *errstr,
                                 size_t errstr_size)
{
        struct planner pl = {reg, 0, 0, errstr, errstr_size, plan, 0};
        enum request_error rc = REQUEST_OK;
        size_t total = 0;

        plan->calls = NULL;
        plan->ncalls = 0;
        if (errstr && errstr_size)
                errstr[0] = '\0';
        /* Everything is checked before anything is built: all or nothing. */
        for (size_t i = 0; rc == REQUEST_OK && i < req->ntargets; i++) {
                pl.target = i;
                rc = planner_check_target(&pl, &req->targets[i], &total);
        }
        if (rc != REQUEST_OK)
                return rc;
        if (max_calls > 0 && total > max_calls)
                return planner_fail(&pl, REQUEST_ERR_TOO_MANY_CALLS,
                                    "targets: %zu calls needed, at most %zu "
                                    "allowed",
                                    total, max_calls);
        plan->calls = alloc_array(total, sizeof(*plan->calls));
        if (!plan->calls)
                return planner_nomem(&pl);
        pl.cap = total;
        for (size_t i = 0; rc == REQUEST_OK && i < req->ntargets; i++) {
                pl.target = i;
                rc = build_target(&pl, &req->targets[i]);
        }
        if (rc == REQUEST_OK)
                rc = drop_duplicate_calls(&pl);
        if (rc != REQUEST_OK)
                provider_plan_clear(plan);
        return rc;
}

void provider_plan_clear(struct provider_plan *plan)
{
        if (!plan)
                return;
        for (size_t i = 0; i < plan->ncalls; i++)
                call_free(&plan->calls[i]);
        free(plan->calls);
        plan->calls = NULL;
        plan->ncalls = 0;
}

/* ---- expanding a discover's answer ------------------------------------- */

/* Whether the item passes every filter the target gives a value for. */
static int item_wanted(const struct provider_action *a, json_t *target,
                       json_t *item)
{
        const struct discover_def *d = a->discover;
        for (size_t i = 0; i < d->nfilters; i++) {
                const struct discover_filter *f = &d->filters[i];
                json_t *want = planner_field(target, a->params[f->param].field);
                if (want && !json_equal(want, jsonptr_get(item, f->pointer)))
                        return 0;
        }
        return 1;
}

/* The target as if it had named the item: its discovered fields set. */
static enum request_error item_target(struct planner *pl,
                                      const struct provider_action *a,
                                      json_t *target, json_t *item,
                                      size_t index, json_t **out)
{
        const struct discover_def *d = a->discover;
        json_t *t = json_deep_copy(target);
        if (!t)
                return planner_nomem(pl);
        for (size_t i = 0; i < d->nfields; i++) {
                const struct param *p = &a->params[d->fields[i].param];
                json_t *v = jsonptr_get(item, d->fields[i].pointer);
                enum request_error rc =
                    v ? planner_check_value(pl, p, v)
                      : planner_fail(pl, REQUEST_ERR_BAD_FIELD,
                                     "discovered item %zu has nothing at %s",
                                     index, d->fields[i].pointer);
                if (rc == REQUEST_OK && json_object_set(t, p->field, v) != 0)
                        rc = planner_nomem(pl);
                if (rc != REQUEST_OK) {
                        json_decref(t);
                        return rc;
                }
        }
        *out = t;
        return REQUEST_OK;
}

static enum request_error add_item(struct planner *pl,
                                   const struct provider_call *dc, json_t *item,
                                   size_t index)
{
        const struct provider_action *a = dc->action;
        json_t *t = NULL;
        enum request_error rc = item_target(pl, a, dc->target, item, index, &t);
        if (rc != REQUEST_OK)
                return rc;
        json_t **vals = alloc_array(a->nparams, sizeof(*vals));
        if (!vals) {
                json_decref(t);
                return planner_nomem(pl);
        }
        for (size_t k = 0; k < a->nparams; k++)
                vals[k] = planner_field(t, a->params[k].field);
        rc = add_call(pl, dc->account, a, vals, t);
        free(vals);
        json_decref(t);
        return rc;
}

static enum request_error expand_items(struct planner *pl,
                                       const struct provider_call *dc,
                                       json_t *arr, size_t *found)
{
        const struct provider_action *a = dc->action;
        size_t n = json_array_size(arr), m = 0;
        size_t *keep = alloc_array(n, sizeof(*keep));
        if (!keep)
                return planner_nomem(pl);
        for (size_t i = 0; i < n; i++) {
                if (item_wanted(a, dc->target, json_array_get(arr, i)))
                        keep[m++] = i;
        }
        *found = m;
        enum request_error rc = REQUEST_OK;
        if (m > a->discover->max_items)
                rc = planner_fail(pl, REQUEST_ERR_TOO_MANY_CALLS,
                                  "%zu items found, more than max_items %zu: "
                                  "nothing deleted",
                                  m, a->discover->max_items);
        pl->plan->calls =
            rc == REQUEST_OK ? alloc_array(m, sizeof(*pl->plan->calls)) : NULL;
        if (rc == REQUEST_OK && !pl->plan->calls)
                rc = planner_nomem(pl);
        pl->cap = m;
        for (size_t i = 0; rc == REQUEST_OK && i < m; i++)
                rc = add_item(pl, dc, json_array_get(arr, keep[i]), keep[i]);
        free(keep);
        if (rc == REQUEST_OK)
                rc = drop_duplicate_calls(pl);
        return rc;
}

int provider_expand(const struct provider_call *discover, const char *body,
                    size_t body_len, struct provider_plan *plan, size_t *found,
                    char *errstr, size_t errstr_size)
{
        struct planner pl = {
            NULL, discover->target_index, 1, errstr, errstr_size, plan, 0};
        const struct discover_def *d = discover->action->discover;
        plan->calls = NULL;
        plan->ncalls = 0;
        *found = 0;
        json_t *doc = body ? json_loadb(body, body_len, 0, NULL) : NULL;
        json_t *arr = jsonptr_get(doc, d->items);
        enum request_error rc =
            json_is_array(arr)
                ? expand_items(&pl, discover, arr, found)
                : planner_fail(&pl, REQUEST_ERR_BAD_FIELD,
                               "the answer holds no array at \"%s\"", d->items);
        json_decref(doc);
        if (rc != REQUEST_OK)
                provider_plan_clear(plan);
        return rc == REQUEST_OK ? 0 : -1;
}

/* ---- describing a plan (the plan command) ------------------------------ */

static void add_template(struct buf *b, const struct provider_action *a,
                         const struct tmpl *t)
{
        for (size_t i = 0; i < t->n; i++) {
                if (t->v[i].text) {
                        buf_adds(b, t->v[i].text);
                } else {
                        buf_adds(b, "{");
                        buf_adds(b, a->params[t->v[i].ref].field);
                        buf_adds(b, "}");
                }
        }
}

char *provider_describe_items(const struct provider_call *discover)
{
        const struct provider_action *a = discover->action;
        struct buf b;
        if (!discover->discover)
                return NULL;
        buf_init(&b, URL_MAX);
        buf_adds(&b, a->method);
        buf_adds(&b, " ");
        buf_adds(&b, discover->account->base_url);
        add_template(&b, a, &a->path);
        buf_adds(&b, "  resource=");
        add_template(&b, a, &a->resource);
        if (a->verify) {
                buf_adds(&b, "\n  then verify: ");
                buf_adds(&b, a->verify->req->method);
                buf_adds(&b, " ");
                buf_adds(&b, discover->account->base_url);
                add_template(&b, a, &a->verify->req->path);
        }
        if (b.state != BUF_OK) {
                buf_free(&b);
                return NULL;
        }
        return buf_take(&b);
}

const char *provider_call_after(const struct provider_call *c)
{
        if (c->after < 0)
                return NULL;
        return c->account->def->actions[c->after].name;
}
