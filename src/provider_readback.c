/* provider_readback — loading an action's reads: `verify` (the read-back
 * after a confirmed deletion, classified absent / present / retry) and
 * `discover` (the read whose JSON answer yields the items to act on). The
 * format is described at the top of config/providers.conf. */
#include "provider_model.h"

#include "jsonptr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- verify: the read-back ------------------------------------------- */

static int load_verify_rule(struct loader *ld, const config_setting_t *s,
                            struct verify_rule *r)
{
        static const char *const keys[] = {"status", "outcome", NULL};
        struct rule tmp = {0};
        const char *o;
        int rc = confread_check_keys(&ld->cr, s, keys) != 0 ||
                 provider_load_rule_status(ld, s, &tmp) != 0;
        r->status = tmp.status;
        r->nstatus = tmp.nstatus;
        if (rc || confread_need_string(&ld->cr, s, "outcome", &o) < 0)
                return -1;
        if (strcmp(o, "absent") == 0)
                r->kind = PROVIDER_CHECK_ABSENT;
        else if (strcmp(o, "present") == 0)
                r->kind = PROVIDER_CHECK_PRESENT;
        else if (strcmp(o, "retry") == 0)
                r->kind = PROVIDER_CHECK_RETRY;
        else
                return confread_fail(&ld->cr,
                                     config_setting_get_member(s, "outcome"),
                                     NULL, "must be absent, present or retry");
        return 0;
}

static int load_verify_rules(struct loader *ld, const config_setting_t *s,
                             struct verify_def *v)
{
        const config_setting_t *cs = config_setting_get_member(s, "classify");
        if (!cs)
                return 0;
        if (!config_setting_is_list(cs))
                return confread_fail(&ld->cr, cs, NULL,
                                     "must be a list ( { ... }, ... )");
        size_t n = (size_t)config_setting_length(cs);
        v->rules = alloc_array(n, sizeof(*v->rules));
        if (!v->rules)
                return confread_fail_nomem(&ld->cr, cs);
        for (size_t i = 0; i < n; i++) {
                v->nrules = i + 1;
                if (load_verify_rule(ld,
                                     config_setting_get_elem(cs, (unsigned)i),
                                     &v->rules[i]) != 0)
                        return -1;
        }
        return 0;
}

static int load_pointer(struct loader *ld, const config_setting_t *s,
                        const char *name, char **out)
{
        const char *ptr;
        int rc = confread_string(&ld->cr, s, name, &ptr);
        if (rc <= 0)
                return rc;
        if (!jsonptr_valid(ptr))
                return confread_fail(&ld->cr,
                                     config_setting_get_member(s, name), NULL,
                                     "must be a JSON Pointer (RFC 6901): "
                                     "\"\" or \"/a/b\", ~ only as ~0 or ~1");
        return confread_strdup(&ld->cr, s, ptr, out) == 0 ? 1 : -1;
}

/* match = { item = "/sessionID"; field = "session_ids"; } */
static int load_verify_match(struct loader *ld, const config_setting_t *s,
                             const struct provider_action *a,
                             struct verify_def *v)
{
        static const char *const keys[] = {"item", "field", NULL};
        const config_setting_t *ms = config_setting_get_member(s, "match");
        const char *field;
        if (!ms)
                return 0;
        if (!v->items)
                return confread_fail(&ld->cr, ms, NULL, "needs items");
        if (!config_setting_is_group(ms))
                return confread_fail(&ld->cr, ms, NULL,
                                     "must be a group { item; field; }");
        if (confread_check_keys(&ld->cr, ms, keys) != 0 ||
            load_pointer(ld, ms, "item", &v->match_item) < 0 ||
            confread_need_string(&ld->cr, ms, "field", &field) < 0)
                return -1;
        if (!v->match_item)
                return confread_fail(&ld->cr, ms, "item", "missing");
        long ref = provider_find_param(a, field);
        if (ref < 0)
                return confread_fail(
                    &ld->cr, config_setting_get_member(ms, "field"), NULL,
                    "%s is not a param of the action", field);
        v->match_param = (size_t)ref;
        return 0;
}

static int load_verify_req(struct loader *ld, const config_setting_t *vs,
                           const struct provider_action *a,
                           struct verify_def *v)
{
        struct provider_action *r = calloc(1, sizeof(*r));
        if (!r)
                return confread_fail_nomem(&ld->cr, vs);
        v->req = r;
        r->borrowed_params = 1;
        r->params = a->params;
        r->nparams = a->nparams;
        r->expand = a->expand;
        r->expand_param = a->expand_param;
        r->documents_success = 1;
        if (confread_strdup(&ld->cr, vs, a->name, &r->name) != 0)
                return -1;
        return provider_load_method(ld, vs, r) != 0 ||
                       provider_load_path(ld, vs, r) != 0 ||
                       provider_load_query(ld, vs, r) != 0 ||
                       provider_load_body(ld, vs, r) != 0
                   ? -1
                   : 0;
}

int provider_load_verify(struct loader *ld, const config_setting_t *s,
                         struct provider_action *a)
{
        static const char *const keys[] = {
            "method", "path",  "query",    "body",     "classify",
            "items",  "match", "delay_ms", "attempts", NULL};
        const config_setting_t *vs = config_setting_get_member(s, "verify");
        long long n;
        if (!vs)
                return 0;
        if (!config_setting_is_group(vs))
                return confread_fail(&ld->cr, vs, NULL,
                                     "must be a group { method; path; ... }");
        struct verify_def *v = calloc(1, sizeof(*v));
        if (!v)
                return confread_fail_nomem(&ld->cr, vs);
        a->verify = v;
        v->attempts = 3;
        if (confread_check_keys(&ld->cr, vs, keys) != 0 ||
            load_verify_req(ld, vs, a, v) != 0 ||
            load_verify_rules(ld, vs, v) != 0 ||
            load_pointer(ld, vs, "items", &v->items) < 0 ||
            load_verify_match(ld, vs, a, v) != 0)
                return -1;
        int rc = confread_int64(&ld->cr, vs, "delay_ms", 0, 600000, &n);
        if (rc < 0)
                return -1;
        if (rc > 0)
                v->delay_ms = n;
        rc = confread_int64(&ld->cr, vs, "attempts", 1, 20, &n);
        if (rc > 0)
                v->attempts = (int)n;
        return rc < 0 ? -1 : 0;
}

void provider_verify_free(struct verify_def *v)
{
        if (!v)
                return;
        if (v->req) {
                provider_action_free(v->req);
                free(v->req);
        }
        for (size_t i = 0; i < v->nrules; i++)
                free(v->rules[i].status);
        free(v->rules);
        free(v->items);
        free(v->match_item);
        free(v);
}

static int tmpl_uses(const struct tmpl *t, size_t param)
{
        for (size_t i = 0; i < t->n; i++) {
                if (!t->v[i].text && t->v[i].ref == param)
                        return 1;
        }
        return 0;
}

/* ---- discover: finding the items ------------------------------------- */

static int discovered_param(struct loader *ld, const config_setting_t *s,
                            const struct provider_action *a, const char *name,
                            int want_discovered, size_t *out)
{
        long ref = provider_find_param(a, name);
        if (ref < 0)
                return confread_fail(&ld->cr, s, NULL,
                                     "%s is not a param of the action", name);
        if (a->params[ref].discovered != want_discovered)
                return confread_fail(&ld->cr, s, NULL,
                                     want_discovered
                                         ? "%s is not a discovered param"
                                         : "%s is discovered, not a target "
                                           "field",
                                     name);
        *out = (size_t)ref;
        return 0;
}

static int load_discover_fields(struct loader *ld, const config_setting_t *ds,
                                struct provider_action *a,
                                struct discover_def *d)
{
        const config_setting_t *fs = config_setting_get_member(ds, "fields");
        if (!fs)
                return confread_fail(&ld->cr, ds, "fields", "missing");
        if (!config_setting_is_group(fs) || config_setting_length(fs) == 0)
                return confread_fail(&ld->cr, fs, NULL,
                                     "must be a group { param = \"/ptr\"; }");
        size_t n = (size_t)config_setting_length(fs);
        d->fields = alloc_array(n, sizeof(*d->fields));
        if (!d->fields)
                return confread_fail_nomem(&ld->cr, fs);
        for (size_t i = 0; i < n; i++) {
                const config_setting_t *e =
                    config_setting_get_elem(fs, (unsigned)i);
                struct discover_field *f = &d->fields[i];
                d->nfields = i + 1;
                if (discovered_param(ld, e, a, config_setting_name(e), 1,
                                     &f->param) != 0 ||
                    load_pointer(ld, fs, config_setting_name(e), &f->pointer) <
                        0)
                        return -1;
                a->params[f->param].used = 1;
        }
        for (size_t i = 0; i < a->nparams; i++) {
                int found = 0;
                for (size_t k = 0; k < d->nfields; k++)
                        found |= d->fields[k].param == i;
                if (a->params[i].discovered && !found)
                        return confread_fail(&ld->cr, fs, NULL,
                                             "discovered param %s has no "
                                             "pointer here",
                                             a->params[i].field);
        }
        return 0;
}

static int load_discover_filter(struct loader *ld, const config_setting_t *e,
                                struct provider_action *a,
                                struct discover_filter *f)
{
        static const char *const keys[] = {"item", "equals", NULL};
        const char *field;
        if (!config_setting_is_group(e))
                return confread_fail(&ld->cr, e, NULL,
                                     "must be a group { item; equals; }");
        if (confread_check_keys(&ld->cr, e, keys) != 0 ||
            load_pointer(ld, e, "item", &f->pointer) < 0 ||
            confread_need_string(&ld->cr, e, "equals", &field) < 0)
                return -1;
        if (!f->pointer)
                return confread_fail(&ld->cr, e, "item", "missing");
        if (discovered_param(ld, config_setting_get_member(e, "equals"), a,
                             field, 0, &f->param) != 0)
                return -1;
        a->params[f->param].used = 1;
        return 0;
}

static int load_discover_filters(struct loader *ld, const config_setting_t *ds,
                                 struct provider_action *a,
                                 struct discover_def *d)
{
        const config_setting_t *fs = config_setting_get_member(ds, "filters");
        if (!fs)
                return 0;
        if (!config_setting_is_list(fs))
                return confread_fail(&ld->cr, fs, NULL,
                                     "must be a list ( { ... }, ... )");
        size_t n = (size_t)config_setting_length(fs);
        d->filters = alloc_array(n, sizeof(*d->filters));
        if (!d->filters)
                return confread_fail_nomem(&ld->cr, fs);
        for (size_t i = 0; i < n; i++) {
                d->nfilters = i + 1;
                if (load_discover_filter(
                        ld, config_setting_get_elem(fs, (unsigned)i), a,
                        &d->filters[i]) != 0)
                        return -1;
        }
        return 0;
}

static int load_discover_head(struct loader *ld, const config_setting_t *ds,
                              struct provider_action *a, struct discover_def *d)
{
        const char *name;
        long long n = 0;
        if (confread_need_string(&ld->cr, ds, "name", &name) < 0)
                return -1;
        const config_setting_t *ns = config_setting_get_member(ds, "name");
        if (!all_chars(name, is_ident_char) || strlen(name) > 64)
                return confread_fail(&ld->cr, ns, NULL,
                                     "must be 1..64 of [A-Za-z0-9_-]");
        if (confread_strdup(&ld->cr, ns, name, &d->name) != 0 ||
            load_pointer(ld, ds, "items", &d->items) < 0 ||
            confread_int64(&ld->cr, ds, "max_items", 1, 100000, &n) < 0)
                return -1;
        if (!d->items)
                return confread_fail(&ld->cr, ds, "items", "missing");
        d->max_items = n > 0 ? (size_t)n : DEFAULT_MAX_ITEMS;
        if (a->expand != EXPAND_NONE)
                return confread_fail(&ld->cr, ds, NULL,
                                     "cannot be used with for_each or chunk");
        return 0;
}

int provider_load_discover(struct loader *ld, const config_setting_t *s,
                           struct provider_action *a)
{
        static const char *const keys[] = {
            "name",   "method",  "path",      "query",    "body", "items",
            "fields", "filters", "max_items", "resource", NULL};
        const config_setting_t *ds = config_setting_get_member(s, "discover");
        if (!ds)
                return 0;
        if (!config_setting_is_group(ds))
                return confread_fail(&ld->cr, ds, NULL,
                                     "must be a group { method; path; ... }");
        struct discover_def *d = calloc(1, sizeof(*d));
        if (!d)
                return confread_fail_nomem(&ld->cr, ds);
        a->discover = d;
        struct verify_def tmp = {0};
        int rc = confread_check_keys(&ld->cr, ds, keys) != 0 ||
                 load_discover_head(ld, ds, a, d) != 0 ||
                 load_verify_req(ld, ds, a, &tmp) != 0;
        d->req = tmp.req;
        if (rc || provider_load_resource(ld, ds, d->req) != 0 ||
            load_discover_fields(ld, ds, a, d) != 0 ||
            load_discover_filters(ld, ds, a, d) != 0)
                return -1;
        /* The read may only use what the target gives. */
        for (size_t i = 0; i < a->nparams; i++) {
                if (!a->params[i].discovered)
                        continue;
                if (tmpl_uses(&d->req->path, i) ||
                    tmpl_uses(&d->req->resource, i))
                        return confread_fail(&ld->cr, ds, NULL,
                                             "uses discovered param %s",
                                             a->params[i].field);
        }
        return 0;
}

void provider_discover_free(struct discover_def *d)
{
        if (!d)
                return;
        if (d->req) {
                provider_action_free(d->req);
                free(d->req);
        }
        for (size_t i = 0; i < d->nfields; i++)
                free(d->fields[i].pointer);
        free(d->fields);
        for (size_t i = 0; i < d->nfilters; i++)
                free(d->filters[i].pointer);
        free(d->filters);
        free(d->items);
        free(d->name);
        free(d);
}
