/* provider — providers as data (DESIGN §3). The format is described at the
 * top of config/providers.conf. */
#include "provider.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#define PATH_DEPTH_MAX     32
#define NAME_MAX_LEN       128
#define URL_MAX            8192
#define BODY_MAX           (8 * 1024 * 1024)
#define RESOURCE_MAX       (256 * 1024)
#define ECHO_MAX           64  /* bytes of hostile input in an error */
#define PROVIDER_TEXT_MAX  160 /* bytes of a raw body in a verdict */
#define DEFAULT_MAX_LENGTH 256
#define DEFAULT_MAX_ITEMS  1000
#define INT_SAFE_MAX       9007199254740992LL /* 2^53: exact in a double */
#define VAR_MAX_LENGTH     256

/* ---- characters and bounded strings ---------------------------------- */

static int is_alnum(unsigned char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               (c >= '0' && c <= '9');
}

static int is_unreserved(unsigned char c)
{
        return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int is_ctl(unsigned char c)
{
        return c < 0x20 || c == 0x7f;
}

static int is_token_char(unsigned char c)
{
        return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int has_ctl(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (is_ctl((unsigned char)s[i]))
                        return 1;
        }
        return 0;
}

static int all_chars(const char *s, int (*ok)(unsigned char))
{
        for (; *s; s++) {
                if (!ok((unsigned char)*s))
                        return 0;
        }
        return 1;
}

static int is_var_char(unsigned char c)
{
        return is_alnum(c) || c == '.' || c == '_' || c == '-';
}

static int is_ident_char(unsigned char c)
{
        return is_alnum(c) || c == '_' || c == '-';
}

/* Writes up to max_in bytes of src as printable ASCII ("\xNN" for the
 * rest) so hostile or binary text can go into errors, logs and JSON
 * without further care. Never splits an escape; marks a cut with "...". */
static void escape_text(char *dst, size_t cap, const char *src, size_t len,
                        size_t max_in)
{
        size_t o = 0, i = 0;
        size_t n = len < max_in ? len : max_in;

        if (cap == 0)
                return;
        for (; i < n; i++) {
                unsigned char c = (unsigned char)src[i];
                char tmp[8];
                size_t tl = 1;
                if (c >= 0x20 && c < 0x7f)
                        tmp[0] = (char)c;
                else
                        tl = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02X", c);
                if (o + tl + 1 > cap)
                        break;
                memcpy(dst + o, tmp, tl);
                o += tl;
        }
        if (i < len && o + 4 <= cap) {
                memcpy(dst + o, "...", 3);
                o += 3;
        }
        dst[o] = '\0';
}

static int is_dot_segment(const char *s, size_t n)
{
        return (n == 1 && s[0] == '.') ||
               (n == 2 && s[0] == '.' && s[1] == '.');
}

/* Dot segments are resolved away by curl or the server and would change
 * which resource is deleted. */
static int has_dot_segment(const char *path)
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

enum sb_state { SB_OK, SB_TOO_LONG, SB_NOMEM };

/* A string that grows up to max bytes and then refuses, remembering why. */
struct sbuf {
        char *p;
        size_t len, cap, max;
        enum sb_state state;
};

static void sb_init(struct sbuf *b, size_t max)
{
        memset(b, 0, sizeof(*b));
        b->max = max;
}

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
        if (b->state != SB_OK)
                return;
        if (n > b->max - b->len) {
                b->state = SB_TOO_LONG;
                return;
        }
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 64;
                while (cap < b->len + n + 1)
                        cap *= 2;
                char *p = realloc(b->p, cap);
                if (!p) {
                        b->state = SB_NOMEM;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

static void sb_adds(struct sbuf *b, const char *s)
{
        sb_add(b, s, strlen(s));
}

/* RFC 3986: everything but the unreserved set is encoded, so a value can
 * never add a path segment, a query, a fragment or a header line. */
static void sb_add_encoded(struct sbuf *b, const char *s, size_t n)
{
        static const char hex[] = "0123456789ABCDEF";
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (is_unreserved(c)) {
                        sb_add(b, (const char *)&s[i], 1);
                } else {
                        char e[3] = {'%', hex[c >> 4], hex[c & 15]};
                        sb_add(b, e, 3);
                }
        }
}

static void sb_free(struct sbuf *b)
{
        free(b->p);
        memset(b, 0, sizeof(*b));
}

/* The string, or NULL if it overflowed or ran out of memory. */
static char *sb_take(struct sbuf *b)
{
        if (b->state != SB_OK) {
                sb_free(b);
                return NULL;
        }
        char *p = b->p ? b->p : strdup("");
        b->p = NULL;
        return p;
}

/* ---- the loaded model -------------------------------------------------- */

/* Text with {name} placeholders, split at load time. */
struct piece {
        char *text; /* literal; NULL for a placeholder */
        size_t ref; /* placeholder: index of the param or var */
};

struct tmpl {
        struct piece *v;
        size_t n;
};

enum param_type { PARAM_STRING, PARAM_INTEGER, PARAM_STRING_LIST };

struct param {
        char *field; /* dotted path into the target */
        enum param_type type;
        char *pattern; /* as written, for messages */
        regex_t re;
        int has_re;
        size_t max_length;
        size_t max_items;
        json_int_t min, max;
        int optional;
        int used;
};

struct query_item {
        char *name;
        struct tmpl value;
};

struct rule {
        int *status;
        size_t nstatus;
        char *json_value;
        char *json_field;
        json_t *json_equals;
        enum provider_verdict_kind kind;
        int retryable;
};

enum expand { EXPAND_NONE, EXPAND_FOR_EACH, EXPAND_CHUNK };

struct provider_action {
        char *name;
        char *when;
        char *method;
        struct param *params;
        size_t nparams;
        struct tmpl path;
        struct tmpl resource;
        struct query_item *query;
        size_t nquery;
        json_t *body; /* template; "{x}" strings are placeholders */
        enum expand expand;
        size_t expand_param;
        size_t chunk_size;
        struct rule *rules;
        size_t nrules;
        int documents_success; /* some rule says "deleted" */
};

struct var_def {
        char *name;
        char *pattern;
        regex_t re;
        int has_re;
};

struct auth_header {
        char *name;
        char *prefix;
        char *secret; /* slot name, or NULL */
        struct tmpl value;
        /* For errors found while loading accounts; the config is not
         * kept, so never used after provider_registry_load() returns. */
        const config_setting_t *where;
};

struct scheme {
        char *name;
        struct auth_header *headers;
        size_t n;
};

struct provider_def {
        char *name;
        const config_setting_t *base_url_setting; /* during load only */
        struct tmpl base_url;
        struct var_def *vars;
        size_t nvars;
        struct scheme *schemes;
        size_t nschemes;
        struct provider_action *actions;
        size_t nactions;
};

struct provider_account {
        size_t index;
        const struct provider_def *def;
        char *name;
        char *base_url;                  /* vars substituted */
        struct provider_header *headers; /* the chosen auth scheme */
        size_t nheaders;
        char *ca_file;
        struct provider_limits limits;
};

struct provider_registry {
        struct provider_def *defs;
        size_t ndefs;
        struct provider_account *accounts;
        size_t naccounts;
        char **secrets;
        size_t nsecrets;
};

/* ---- load errors ------------------------------------------------------- */

struct loader {
        struct provider_registry *reg;
        int allow_missing_secrets;
        char *errstr;
        size_t errstr_size;
};

/* "providers.vectara.actions.[0].path": names, and [i] for list items. */
static void setting_path(const config_setting_t *s, char *buf, size_t size)
{
        const config_setting_t *chain[PATH_DEPTH_MAX];
        size_t n = 0, o = 0;

        buf[0] = '\0';
        while (s && !config_setting_is_root(s) && n < PATH_DEPTH_MAX) {
                chain[n++] = s;
                s = config_setting_parent(s);
        }
        while (n-- > 0) {
                const char *name = config_setting_name(chain[n]);
                char idx[32];
                if (!name) {
                        snprintf(idx, sizeof(idx), "[%d]",
                                 config_setting_index(chain[n]));
                        name = idx;
                }
                int w = snprintf(buf + o, size - o, "%s%s", o ? "." : "", name);
                if (w < 0 || (size_t)w >= size - o)
                        return;
                o += (size_t)w;
        }
}

/* The nearest setting (s or a parent) that knows where it was written. */
static void setting_where(const config_setting_t *s, const char **file,
                          unsigned *line)
{
        for (; s && !config_setting_is_root(s); s = config_setting_parent(s)) {
                if (config_setting_source_file(s) &&
                    config_setting_source_line(s) > 0) {
                        *file = config_setting_source_file(s);
                        *line = config_setting_source_line(s);
                        return;
                }
        }
        /* A top-level setting is missing: the root knows only the file. */
        *file = s && config_setting_source_file(s)
                    ? config_setting_source_file(s)
                    : "<config>";
        *line = 0;
}

/* Reports "FILE:LINE: PATH[.child]: reason" and returns -1. child names a
 * setting that is missing from s. */
__attribute__((format(printf, 4, 5))) static int fail(struct loader *ld,
                                                      const config_setting_t *s,
                                                      const char *child,
                                                      const char *fmt, ...)
{
        char path[512], msg[512];
        const char *file;
        unsigned line;
        va_list ap;

        if (!ld->errstr || ld->errstr_size == 0)
                return -1;
        setting_path(s, path, sizeof(path));
        setting_where(s, &file, &line);
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(ld->errstr, ld->errstr_size, "%s:%u: %s%s%s: %s", file, line,
                 path, child && path[0] ? "." : "", child ? child : "", msg);
        return -1;
}

static int fail_nomem(struct loader *ld, const config_setting_t *s)
{
        return fail(ld, s, NULL, "out of memory");
}

/* ---- reading settings -------------------------------------------------- */

/* The getters return 1 (found), 0 (absent) or -1 (wrong type, reported). */
static int get_string(struct loader *ld, const config_setting_t *group,
                      const char *name, const char **out)
{
        const config_setting_t *s = config_setting_get_member(group, name);
        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return fail(ld, s, NULL, "must be a string");
        *out = config_setting_get_string(s);
        return 1;
}

static int need_string(struct loader *ld, const config_setting_t *group,
                       const char *name, const char **out)
{
        int rc = get_string(ld, group, name, out);
        if (rc == 0)
                return fail(ld, group, name, "missing");
        if (rc > 0 && (*out)[0] == '\0') {
                return fail(ld, config_setting_get_member(group, name), NULL,
                            "must not be empty");
        }
        return rc;
}

static int get_bool(struct loader *ld, const config_setting_t *group,
                    const char *name, int *out)
{
        const config_setting_t *s = config_setting_get_member(group, name);
        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                return fail(ld, s, NULL, "must be true or false");
        *out = config_setting_get_bool(s);
        return 1;
}

static int is_int_setting(const config_setting_t *s)
{
        int t = config_setting_type(s);
        return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static int get_int64(struct loader *ld, const config_setting_t *group,
                     const char *name, long long lo, long long hi,
                     long long *out)
{
        const config_setting_t *s = config_setting_get_member(group, name);
        if (!s)
                return 0;
        if (!is_int_setting(s))
                return fail(ld, s, NULL, "must be an integer");
        long long v = config_setting_get_int64(s);
        if (v < lo || v > hi)
                return fail(ld, s, NULL, "must be between %lld and %lld", lo,
                            hi);
        *out = v;
        return 1;
}

static int get_double(struct loader *ld, const config_setting_t *group,
                      const char *name, double lo, double hi, double *out)
{
        const config_setting_t *s = config_setting_get_member(group, name);
        double v;
        if (!s)
                return 0;
        if (is_int_setting(s))
                v = (double)config_setting_get_int64(s);
        else if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
                v = config_setting_get_float(s);
        else
                return fail(ld, s, NULL, "must be a number");
        if (!isfinite(v) || v < lo || v > hi)
                return fail(ld, s, NULL, "must be between %g and %g", lo, hi);
        *out = v;
        return 1;
}

static int is_key(const char *name, const char *const *allowed)
{
        for (; *allowed; allowed++) {
                if (strcmp(name, *allowed) == 0)
                        return 1;
        }
        return 0;
}

/* Typos must not pass silently: a group may hold only the known keys. */
static int check_keys(struct loader *ld, const config_setting_t *group,
                      const char *const *allowed)
{
        if (!config_setting_is_group(group))
                return fail(ld, group, NULL, "must be a group { ... }");
        for (int i = 0; i < config_setting_length(group); i++) {
                const config_setting_t *e = config_setting_get_elem(group, i);
                if (is_key(config_setting_name(e), allowed))
                        continue;
                char list[256] = "";
                size_t o = 0;
                for (const char *const *k = allowed; *k; k++) {
                        int w = snprintf(list + o, sizeof(list) - o, "%s%s",
                                         o ? ", " : "", *k);
                        if (w < 0 || (size_t)w >= sizeof(list) - o)
                                break;
                        o += (size_t)w;
                }
                return fail(ld, e, NULL, "unknown setting (known: %s)", list);
        }
        return 0;
}

static int dup_into(struct loader *ld, const config_setting_t *s,
                    const char *src, char **out)
{
        *out = strdup(src);
        return *out ? 0 : fail_nomem(ld, s);
}

/* Arrays sized from the config; never calloc(0). */
static void *alloc_array(size_t n, size_t size)
{
        return calloc(n ? n : 1, size);
}

/* ---- templates --------------------------------------------------------- */

static void tmpl_free(struct tmpl *t)
{
        for (size_t i = 0; i < t->n; i++)
                free(t->v[i].text);
        free(t->v);
        memset(t, 0, sizeof(*t));
}

static int tmpl_add_literal(struct tmpl *t, const char *s, size_t n)
{
        if (n == 0)
                return 0;
        t->v[t->n].text = strndup(s, n);
        if (!t->v[t->n].text)
                return -1;
        t->n++;
        return 0;
}

static int tmpl_parse(struct loader *ld, const config_setting_t *s,
                      const char *src,
                      long (*find)(const void *ctx, const char *name),
                      const void *ctx, struct tmpl *t)
{
        size_t len = strlen(src);
        const char *p = src, *lit = src;

        memset(t, 0, sizeof(*t));
        t->v = alloc_array(len + 1, sizeof(*t->v));
        if (!t->v)
                return fail_nomem(ld, s);
        while (*p) {
                if (*p == '}')
                        return fail(ld, s, NULL, "unbalanced } in template");
                if (*p != '{') {
                        p++;
                        continue;
                }
                const char *end = strchr(p + 1, '}');
                const char *open = strchr(p + 1, '{');
                if (!end || (open && open < end))
                        return fail(ld, s, NULL, "unbalanced { in template");
                char name[NAME_MAX_LEN + 1];
                size_t n = (size_t)(end - p - 1);
                if (n == 0 || n > NAME_MAX_LEN)
                        return fail(ld, s, NULL, "bad placeholder name");
                memcpy(name, p + 1, n);
                name[n] = '\0';
                long ref = find(ctx, name);
                if (ref < 0)
                        return fail(ld, s, NULL, "unknown placeholder {%s}",
                                    name);
                if (tmpl_add_literal(t, lit, (size_t)(p - lit)) != 0)
                        return fail_nomem(ld, s);
                t->v[t->n].text = NULL;
                t->v[t->n].ref = (size_t)ref;
                t->n++;
                p = end + 1;
                lit = p;
        }
        if (tmpl_add_literal(t, lit, (size_t)(p - lit)) != 0)
                return fail_nomem(ld, s);
        return 0;
}

/* ---- params ------------------------------------------------------------ */

static long find_param(const void *ctx, const char *name)
{
        const struct provider_action *a = ctx;
        for (size_t i = 0; i < a->nparams; i++) {
                if (a->params[i].field && strcmp(a->params[i].field, name) == 0)
                        return (long)i;
        }
        return -1;
}

/* The pattern must match the whole value: a forgotten ^ or $ must not let
 * "../x" through a pattern written for "x". */
static int compile_pattern(struct loader *ld, const config_setting_t *s,
                           const char *pattern, regex_t *re)
{
        char msg[160];
        int rc;

        if (pattern[0] == '\0')
                return fail(ld, s, NULL, "must not be empty");
        /* Compiled alone first: wrapping could hide an unbalanced ')'. */
        rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
                regerror(rc, re, msg, sizeof(msg));
                return fail(ld, s, NULL, "invalid regular expression: %s", msg);
        }
        regfree(re);
        size_t n = strlen(pattern) + 5;
        char *full = malloc(n);
        if (!full)
                return fail_nomem(ld, s);
        snprintf(full, n, "^(%s)$", pattern);
        rc = regcomp(re, full, REG_EXTENDED | REG_NOSUB);
        free(full);
        if (rc != 0) {
                regerror(rc, re, msg, sizeof(msg));
                return fail(ld, s, NULL, "invalid regular expression: %s", msg);
        }
        return 0;
}

static int valid_field_name(const char *f)
{
        const char *p = f;
        if (!*p)
                return 0;
        while (*p) {
                size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "abcdefghijklmnopqrstuvwxyz"
                                     "0123456789_-");
                if (n == 0)
                        return 0;
                p += n;
                if (*p == '.' && p[1])
                        p++;
                else if (*p)
                        return 0;
        }
        return strlen(f) <= NAME_MAX_LEN;
}

static int top_is_reserved(const char *field)
{
        size_t n = strcspn(field, ".");
        return (n == 8 && strncmp(field, "provider", 8) == 0) ||
               (n == 7 && strncmp(field, "account", 7) == 0);
}

static int load_param_type(struct loader *ld, const config_setting_t *s,
                           struct param *p)
{
        const char *type;
        if (need_string(ld, s, "type", &type) < 0)
                return -1;
        if (strcmp(type, "string") == 0)
                p->type = PARAM_STRING;
        else if (strcmp(type, "integer") == 0)
                p->type = PARAM_INTEGER;
        else if (strcmp(type, "string_list") == 0)
                p->type = PARAM_STRING_LIST;
        else
                return fail(ld, config_setting_get_member(s, "type"), NULL,
                            "must be string, integer or string_list");
        return 0;
}

/* Each type has its own settings; one of another type is a mistake. */
static int check_type_keys(struct loader *ld, const config_setting_t *s,
                           const struct param *p)
{
        static const char *const str_only[] = {"pattern", "max_length", NULL};
        static const char *const int_only[] = {"min", "max", NULL};
        const char *names[] = {"string", "integer", "string_list"};

        for (const char *const *k = str_only; *k; k++) {
                const config_setting_t *e = config_setting_get_member(s, *k);
                if (e && p->type == PARAM_INTEGER)
                        return fail(ld, e, NULL, "not valid for type %s",
                                    names[p->type]);
        }
        for (const char *const *k = int_only; *k; k++) {
                const config_setting_t *e = config_setting_get_member(s, *k);
                if (e && p->type != PARAM_INTEGER)
                        return fail(ld, e, NULL, "not valid for type %s",
                                    names[p->type]);
        }
        const config_setting_t *mi = config_setting_get_member(s, "max_items");
        if (mi && p->type != PARAM_STRING_LIST)
                return fail(ld, mi, NULL, "not valid for type %s",
                            names[p->type]);
        return 0;
}

static int load_param_limits(struct loader *ld, const config_setting_t *s,
                             struct param *p)
{
        long long v = 0, lo = 0, hi = INT_SAFE_MAX;
        const char *pattern = NULL;

        p->max_length = DEFAULT_MAX_LENGTH;
        p->max_items = DEFAULT_MAX_ITEMS;
        if (get_int64(ld, s, "max_length", 1, 65536, &v) < 0)
                return -1;
        p->max_length = v > 0 ? (size_t)v : p->max_length;
        v = 0;
        if (get_int64(ld, s, "max_items", 1, 100000, &v) < 0)
                return -1;
        p->max_items = v > 0 ? (size_t)v : p->max_items;
        if (get_int64(ld, s, "min", -INT_SAFE_MAX, INT_SAFE_MAX, &lo) < 0 ||
            get_int64(ld, s, "max", -INT_SAFE_MAX, INT_SAFE_MAX, &hi) < 0)
                return -1;
        if (lo > hi) {
                const config_setting_t *ms =
                    config_setting_get_member(s, "max");
                return fail(ld, ms ? ms : config_setting_get_member(s, "min"),
                            NULL, "%s (%lld > %lld)",
                            ms ? "is below min" : "is above max", lo, hi);
        }
        p->min = lo;
        p->max = hi;
        int rc = get_string(ld, s, "pattern", &pattern);
        if (rc <= 0)
                return rc;
        const config_setting_t *ps = config_setting_get_member(s, "pattern");
        if (compile_pattern(ld, ps, pattern, &p->re) != 0)
                return -1;
        p->has_re = 1;
        return dup_into(ld, ps, pattern, &p->pattern);
}

static int load_param(struct loader *ld, const config_setting_t *s,
                      struct param *p)
{
        static const char *const keys[] = {"field",      "type",      "pattern",
                                           "max_length", "max_items", "min",
                                           "max",        "optional",  NULL};
        const char *field;

        if (check_keys(ld, s, keys) != 0 ||
            need_string(ld, s, "field", &field) < 0)
                return -1;
        const config_setting_t *fs = config_setting_get_member(s, "field");
        if (!valid_field_name(field))
                return fail(ld, fs, NULL,
                            "must be names of [A-Za-z0-9_-] joined by '.'");
        if (top_is_reserved(field))
                return fail(ld, fs, NULL,
                            "\"provider\" and \"account\" are reserved");
        if (dup_into(ld, fs, field, &p->field) != 0 ||
            load_param_type(ld, s, p) != 0 || check_type_keys(ld, s, p) != 0 ||
            get_bool(ld, s, "optional", &p->optional) < 0)
                return -1;
        return load_param_limits(ld, s, p);
}

static void param_free(struct param *p)
{
        free(p->field);
        free(p->pattern);
        if (p->has_re)
                regfree(&p->re);
}

/* ---- classification rules ---------------------------------------------- */

static int load_rule_status(struct loader *ld, const config_setting_t *s,
                            struct rule *r)
{
        const config_setting_t *st = config_setting_get_member(s, "status");
        if (!st)
                return fail(ld, s, "status", "missing");
        if (!config_setting_is_array(st) && !config_setting_is_list(st))
                return fail(ld, st, NULL, "must be an array like [404]");
        int n = config_setting_length(st);
        if (n == 0)
                return fail(ld, st, NULL, "must not be empty");
        r->status = alloc_array((size_t)n, sizeof(*r->status));
        if (!r->status)
                return fail_nomem(ld, st);
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(st, i);
                long long v =
                    is_int_setting(e) ? config_setting_get_int64(e) : 0;
                if (v < 100 || v > 599)
                        return fail(ld, e, NULL,
                                    "must be an HTTP status 100..599");
                r->status[r->nstatus++] = (int)v;
        }
        return 0;
}

static int load_rule_outcome(struct loader *ld, const config_setting_t *s,
                             struct rule *r)
{
        const char *o;
        if (need_string(ld, s, "outcome", &o) < 0 ||
            get_bool(ld, s, "retryable", &r->retryable) < 0)
                return -1;
        if (strcmp(o, "deleted") == 0)
                r->kind = PROVIDER_DELETED;
        else if (strcmp(o, "already_absent") == 0)
                r->kind = PROVIDER_ALREADY_ABSENT;
        else if (strcmp(o, "failed") == 0)
                r->kind = PROVIDER_FAILED;
        else if (strcmp(o, "retry") == 0)
                r->kind = PROVIDER_RETRY;
        else
                return fail(ld, config_setting_get_member(s, "outcome"), NULL,
                            "must be deleted, already_absent, failed or "
                            "retry");
        const config_setting_t *rt = config_setting_get_member(s, "retryable");
        if (rt && r->kind != PROVIDER_FAILED)
                return fail(ld, rt, NULL, "only valid with outcome failed");
        return 0;
}

static int load_rule_equals(struct loader *ld, const config_setting_t *s,
                            struct rule *r)
{
        const config_setting_t *eq =
            config_setting_get_member(s, "json_equals");
        const config_setting_t *f = config_setting_get_member(s, "json_field");
        const char *field;

        if (!eq && !f)
                return 0;
        if (!eq || !f)
                return fail(ld, s, eq ? "json_field" : "json_equals",
                            "missing (json_field and json_equals go "
                            "together)");
        if (need_string(ld, s, "json_field", &field) < 0 ||
            dup_into(ld, f, field, &r->json_field) != 0)
                return -1;
        if (config_setting_type(eq) == CONFIG_TYPE_STRING)
                r->json_equals = json_string(config_setting_get_string(eq));
        else if (config_setting_type(eq) == CONFIG_TYPE_BOOL)
                r->json_equals = json_boolean(config_setting_get_bool(eq));
        else if (is_int_setting(eq))
                r->json_equals = json_integer(config_setting_get_int64(eq));
        else
                return fail(ld, eq, NULL,
                            "must be a string, a boolean or an integer");
        return r->json_equals ? 0 : fail_nomem(ld, eq);
}

static int load_rule(struct loader *ld, const config_setting_t *s,
                     struct rule *r)
{
        static const char *const keys[] = {
            "status",  "json_value", "json_field", "json_equals",
            "outcome", "retryable",  NULL};
        const char *jv = NULL;

        if (check_keys(ld, s, keys) != 0 || load_rule_status(ld, s, r) != 0 ||
            load_rule_outcome(ld, s, r) != 0 || load_rule_equals(ld, s, r) != 0)
                return -1;
        int rc = get_string(ld, s, "json_value", &jv);
        if (rc <= 0)
                return rc;
        const config_setting_t *js = config_setting_get_member(s, "json_value");
        if (jv[0] == '\0')
                return fail(ld, js, NULL, "must not be empty");
        return dup_into(ld, js, jv, &r->json_value);
}

static void rule_free(struct rule *r)
{
        free(r->status);
        free(r->json_value);
        free(r->json_field);
        json_decref(r->json_equals);
}

/* ---- actions ----------------------------------------------------------- */

static const char *const action_keys[] = {
    "name",     "when",  "method",   "path",   "query",    "body",
    "for_each", "chunk", "resource", "params", "classify", NULL};

static int load_params(struct loader *ld, const config_setting_t *s,
                       struct provider_action *a)
{
        const config_setting_t *ps = config_setting_get_member(s, "params");
        if (!ps)
                return fail(ld, s, "params", "missing");
        if (!config_setting_is_list(ps))
                return fail(ld, ps, NULL, "must be a list ( { ... }, ... )");
        size_t n = (size_t)config_setting_length(ps);
        a->params = alloc_array(n, sizeof(*a->params));
        if (!a->params)
                return fail_nomem(ld, ps);
        for (size_t i = 0; i < n; i++) {
                const config_setting_t *e =
                    config_setting_get_elem(ps, (unsigned)i);
                a->nparams = i + 1;
                if (load_param(ld, e, &a->params[i]) != 0)
                        return -1;
                if ((size_t)find_param(a, a->params[i].field) != i)
                        return fail(ld, config_setting_get_member(e, "field"),
                                    NULL, "field %s is declared twice",
                                    a->params[i].field);
        }
        return 0;
}

static int load_method(struct loader *ld, const config_setting_t *s,
                       struct provider_action *a)
{
        static const char *const methods[] = {"GET",   "POST",   "PUT",
                                              "PATCH", "DELETE", NULL};
        const char *m;
        if (need_string(ld, s, "method", &m) < 0)
                return -1;
        const config_setting_t *ms = config_setting_get_member(s, "method");
        if (!is_key(m, methods))
                return fail(ld, ms, NULL,
                            "must be GET, POST, PUT, PATCH or DELETE");
        return dup_into(ld, ms, m, &a->method);
}

/* `when` names a param, or the top of a dotted one ("conversations"). */
static int when_is_declared(const struct provider_action *a, const char *w)
{
        size_t n = strlen(w);
        for (size_t i = 0; i < a->nparams; i++) {
                const char *f = a->params[i].field;
                if (strcmp(f, w) == 0 || (strncmp(f, w, n) == 0 && f[n] == '.'))
                        return 1;
        }
        return 0;
}

static int load_expand_field(struct loader *ld, const config_setting_t *s,
                             const char *field, struct provider_action *a)
{
        long i = find_param(a, field);
        if (i < 0)
                return fail(ld, s, NULL, "%s is not a declared param", field);
        if (a->params[i].type != PARAM_STRING_LIST)
                return fail(ld, s, NULL, "%s is not a string_list param",
                            field);
        if (a->params[i].optional)
                return fail(ld, s, NULL, "%s must not be optional", field);
        a->expand_param = (size_t)i;
        return 0;
}

static int load_expand(struct loader *ld, const config_setting_t *s,
                       struct provider_action *a)
{
        static const char *const chunk_keys[] = {"field", "size", NULL};
        const config_setting_t *fe = config_setting_get_member(s, "for_each");
        const config_setting_t *ch = config_setting_get_member(s, "chunk");
        const char *field;
        long long size = 0;

        if (fe && ch)
                return fail(ld, ch, NULL, "cannot be used with for_each");
        if (fe) {
                if (need_string(ld, s, "for_each", &field) < 0)
                        return -1;
                a->expand = EXPAND_FOR_EACH;
                return load_expand_field(ld, fe, field, a);
        }
        if (!ch)
                return 0;
        if (check_keys(ld, ch, chunk_keys) != 0 ||
            need_string(ld, ch, "field", &field) < 0)
                return -1;
        if (get_int64(ld, ch, "size", 1, 100000, &size) < 0)
                return -1;
        if (size == 0)
                return fail(ld, ch, "size", "missing");
        a->expand = EXPAND_CHUNK;
        a->chunk_size = (size_t)size;
        return load_expand_field(ld, config_setting_get_member(ch, "field"),
                                 field, a);
}

/* Marks the template's params used; with where = "path" or "query" also
 * refuses what cannot go into a URL. */
static int check_refs(struct loader *ld, const config_setting_t *s,
                      struct provider_action *a, const struct tmpl *t,
                      const char *where)
{
        for (size_t i = 0; i < t->n; i++) {
                if (t->v[i].text)
                        continue;
                struct param *p = &a->params[t->v[i].ref];
                p->used = 1;
                if (!where)
                        continue;
                if (strcmp(where, "path") == 0 && p->optional)
                        return fail(ld, s, NULL,
                                    "optional param {%s} cannot be used in "
                                    "a path",
                                    p->field);
                if (p->type == PARAM_STRING_LIST &&
                    !(a->expand == EXPAND_FOR_EACH &&
                      t->v[i].ref == a->expand_param))
                        return fail(ld, s, NULL,
                                    "list {%s} in a %s must be the for_each "
                                    "field",
                                    p->field, where);
        }
        return 0;
}

/* Literal path text must be plain: no query, fragment, spaces or dot
 * segments sneaking in from the config either. */
static int check_path_literal(struct loader *ld, const config_setting_t *s,
                              const char *path)
{
        if (path[0] != '/')
                return fail(ld, s, NULL, "must start with /");
        for (const char *p = path; *p; p++) {
                unsigned char c = (unsigned char)*p;
                if (!is_unreserved(c) && !strchr("/{}!$&'()*+,;=:@", c))
                        return fail(ld, s, NULL,
                                    "character 0x%02X is not allowed in a "
                                    "path",
                                    c);
        }
        if (has_dot_segment(path) || strstr(path, "//"))
                return fail(ld, s, NULL,
                            "must not hold empty, . or .. "
                            "segments");
        return 0;
}

static int load_path(struct loader *ld, const config_setting_t *s,
                     struct provider_action *a)
{
        const char *path;
        if (need_string(ld, s, "path", &path) < 0)
                return -1;
        const config_setting_t *ps = config_setting_get_member(s, "path");
        if (check_path_literal(ld, ps, path) != 0 ||
            tmpl_parse(ld, ps, path, find_param, a, &a->path) != 0)
                return -1;
        return check_refs(ld, ps, a, &a->path, "path");
}

static int load_resource(struct loader *ld, const config_setting_t *s,
                         struct provider_action *a)
{
        const char *res;
        if (need_string(ld, s, "resource", &res) < 0)
                return -1;
        const config_setting_t *rs = config_setting_get_member(s, "resource");
        if (has_ctl(res, strlen(res)))
                return fail(ld, rs, NULL, "contains a control character");
        if (tmpl_parse(ld, rs, res, find_param, a, &a->resource) != 0)
                return -1;
        return check_refs(ld, rs, a, &a->resource, NULL);
}

static int load_query_item(struct loader *ld, const config_setting_t *e,
                           struct provider_action *a, struct query_item *q)
{
        static const char *const keys[] = {"name", "value", NULL};
        const char *name = NULL, *value = NULL;

        if (check_keys(ld, e, keys) != 0 ||
            need_string(ld, e, "name", &name) < 0 ||
            dup_into(ld, e, name, &q->name) != 0)
                return -1;
        int rc = get_string(ld, e, "value", &value);
        if (rc == 0)
                return fail(ld, e, "value", "missing");
        if (rc < 0)
                return -1;
        const config_setting_t *vs = config_setting_get_member(e, "value");
        if (tmpl_parse(ld, vs, value, find_param, a, &q->value) != 0)
                return -1;
        return check_refs(ld, vs, a, &q->value, "query");
}

static int load_query(struct loader *ld, const config_setting_t *s,
                      struct provider_action *a)
{
        const config_setting_t *qs = config_setting_get_member(s, "query");
        if (!qs)
                return 0;
        if (!config_setting_is_list(qs))
                return fail(ld, qs, NULL, "must be a list ( { ... }, ... )");
        size_t n = (size_t)config_setting_length(qs);
        a->query = alloc_array(n, sizeof(*a->query));
        if (!a->query)
                return fail_nomem(ld, qs);
        for (size_t i = 0; i < n; i++) {
                a->nquery = i + 1;
                if (load_query_item(ld,
                                    config_setting_get_elem(qs, (unsigned)i), a,
                                    &a->query[i]) != 0)
                        return -1;
        }
        return 0;
}

/* A body string is either exactly "{field}" or plain text: half-templated
 * text would be a second, untyped way of building JSON. */
static json_t *body_string(struct loader *ld, const config_setting_t *s,
                           struct provider_action *a)
{
        const char *v = config_setting_get_string(s);
        size_t n = strlen(v);
        if (!strchr(v, '{') && !strchr(v, '}'))
                return json_string(v);
        if (n < 3 || v[0] != '{' || v[n - 1] != '}' ||
            strchr(v + 1, '{') != NULL || strchr(v, '}') != v + n - 1) {
                fail(ld, s, NULL, "a placeholder must be the whole string");
                return NULL;
        }
        char name[NAME_MAX_LEN + 1];
        if (n - 2 > NAME_MAX_LEN) {
                fail(ld, s, NULL, "bad placeholder name");
                return NULL;
        }
        memcpy(name, v + 1, n - 2);
        name[n - 2] = '\0';
        long ref = find_param(a, name);
        if (ref < 0) {
                fail(ld, s, NULL, "unknown placeholder {%s}", name);
                return NULL;
        }
        a->params[ref].used = 1;
        return json_string(v);
}

static json_t *body_from_setting(struct loader *ld, const config_setting_t *s,
                                 struct provider_action *a);

static json_t *body_aggregate(struct loader *ld, const config_setting_t *s,
                              struct provider_action *a)
{
        int is_obj = config_setting_is_group(s);
        json_t *out = is_obj ? json_object() : json_array();
        if (!out) {
                fail_nomem(ld, s);
                return NULL;
        }
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, i);
                json_t *v = body_from_setting(ld, e, a);
                int rc = -1;
                if (v && is_obj)
                        rc =
                            json_object_set_new(out, config_setting_name(e), v);
                else if (v)
                        rc = json_array_append_new(out, v);
                if (rc != 0) {
                        if (v)
                                fail_nomem(ld, e);
                        json_decref(out);
                        return NULL;
                }
        }
        return out;
}

static json_t *body_from_setting(struct loader *ld, const config_setting_t *s,
                                 struct provider_action *a)
{
        json_t *v = NULL;
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_GROUP:
        case CONFIG_TYPE_LIST:
        case CONFIG_TYPE_ARRAY:
                return body_aggregate(ld, s, a);
        case CONFIG_TYPE_STRING:
                return body_string(ld, s, a);
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                v = json_integer(config_setting_get_int64(s));
                break;
        case CONFIG_TYPE_FLOAT:
                v = json_real(config_setting_get_float(s));
                break;
        case CONFIG_TYPE_BOOL:
                v = json_boolean(config_setting_get_bool(s));
                break;
        default:
                fail(ld, s, NULL, "unsupported value");
                return NULL;
        }
        if (!v)
                fail_nomem(ld, s);
        return v;
}

static int load_body(struct loader *ld, const config_setting_t *s,
                     struct provider_action *a)
{
        const config_setting_t *bs = config_setting_get_member(s, "body");
        if (!bs)
                return 0;
        if (!config_setting_is_group(bs))
                return fail(ld, bs, NULL, "must be a group { ... }");
        a->body = body_from_setting(ld, bs, a);
        return a->body ? 0 : -1;
}

static int load_classify(struct loader *ld, const config_setting_t *s,
                         struct provider_action *a)
{
        const config_setting_t *cs = config_setting_get_member(s, "classify");
        if (!cs)
                return 0;
        if (!config_setting_is_list(cs))
                return fail(ld, cs, NULL, "must be a list ( { ... }, ... )");
        size_t n = (size_t)config_setting_length(cs);
        a->rules = alloc_array(n, sizeof(*a->rules));
        if (!a->rules)
                return fail_nomem(ld, cs);
        for (size_t i = 0; i < n; i++) {
                a->nrules = i + 1;
                if (load_rule(ld, config_setting_get_elem(cs, (unsigned)i),
                              &a->rules[i]) != 0)
                        return -1;
                if (a->rules[i].kind == PROVIDER_DELETED)
                        a->documents_success = 1;
        }
        return 0;
}

static int load_action_head(struct loader *ld, const config_setting_t *s,
                            struct provider_action *a)
{
        const char *name, *when;
        if (check_keys(ld, s, action_keys) != 0 ||
            need_string(ld, s, "name", &name) < 0)
                return -1;
        const config_setting_t *ns = config_setting_get_member(s, "name");
        if (!all_chars(name, is_ident_char) || strlen(name) > 64)
                return fail(ld, ns, NULL, "must be 1..64 of [A-Za-z0-9_-]");
        if (dup_into(ld, ns, name, &a->name) != 0 ||
            load_method(ld, s, a) != 0 || load_params(ld, s, a) != 0 ||
            need_string(ld, s, "when", &when) < 0)
                return -1;
        const config_setting_t *ws = config_setting_get_member(s, "when");
        if (!when_is_declared(a, when))
                return fail(ld, ws, NULL, "%s is not a declared param", when);
        return dup_into(ld, ws, when, &a->when);
}

static int load_action(struct loader *ld, const config_setting_t *s,
                       struct provider_action *a)
{
        if (load_action_head(ld, s, a) != 0 || load_expand(ld, s, a) != 0 ||
            load_path(ld, s, a) != 0 || load_query(ld, s, a) != 0 ||
            load_body(ld, s, a) != 0 || load_resource(ld, s, a) != 0 ||
            load_classify(ld, s, a) != 0)
                return -1;
        /* A declared field nobody sends would be accepted and ignored. */
        for (size_t i = 0; i < a->nparams; i++) {
                if (!a->params[i].used)
                        return fail(ld, config_setting_get_member(s, "params"),
                                    NULL,
                                    "%s is not used by the path, query, "
                                    "body or resource",
                                    a->params[i].field);
        }
        return 0;
}

static void action_free(struct provider_action *a)
{
        free(a->name);
        free(a->when);
        free(a->method);
        for (size_t i = 0; i < a->nparams; i++)
                param_free(&a->params[i]);
        free(a->params);
        tmpl_free(&a->path);
        tmpl_free(&a->resource);
        for (size_t i = 0; i < a->nquery; i++) {
                free(a->query[i].name);
                tmpl_free(&a->query[i].value);
        }
        free(a->query);
        json_decref(a->body);
        for (size_t i = 0; i < a->nrules; i++)
                rule_free(&a->rules[i]);
        free(a->rules);
}

/* ---- providers --------------------------------------------------------- */

static long find_var(const void *ctx, const char *name)
{
        const struct provider_def *d = ctx;
        for (size_t i = 0; i < d->nvars; i++) {
                if (strcmp(d->vars[i].name, name) == 0)
                        return (long)i;
        }
        return -1;
}

static int load_vars(struct loader *ld, const config_setting_t *s,
                     struct provider_def *d)
{
        static const char *const keys[] = {"pattern", NULL};
        const config_setting_t *vs = config_setting_get_member(s, "vars");
        if (!vs)
                return 0;
        if (!config_setting_is_group(vs))
                return fail(ld, vs, NULL, "must be a group { ... }");
        size_t n = (size_t)config_setting_length(vs);
        d->vars = alloc_array(n, sizeof(*d->vars));
        if (!d->vars)
                return fail_nomem(ld, vs);
        for (size_t i = 0; i < n; i++) {
                const config_setting_t *e =
                    config_setting_get_elem(vs, (unsigned)i);
                struct var_def *v = &d->vars[i];
                const char *pattern = NULL;
                d->nvars = i + 1;
                if (check_keys(ld, e, keys) != 0 ||
                    dup_into(ld, e, config_setting_name(e), &v->name) != 0)
                        return -1;
                int rc = get_string(ld, e, "pattern", &pattern);
                if (rc < 0)
                        return -1;
                if (rc == 0)
                        continue;
                const config_setting_t *ps =
                    config_setting_get_member(e, "pattern");
                if (compile_pattern(ld, ps, pattern, &v->re) != 0)
                        return -1;
                v->has_re = 1;
                if (dup_into(ld, ps, pattern, &v->pattern) != 0)
                        return -1;
        }
        return 0;
}

static int load_auth_header(struct loader *ld, const config_setting_t *e,
                            struct provider_def *d, struct auth_header *h)
{
        static const char *const keys[] = {"header", "secret", "value",
                                           "prefix", NULL};
        const char *name, *secret = NULL, *value = NULL, *prefix = "";

        h->where = e;
        if (check_keys(ld, e, keys) != 0 ||
            need_string(ld, e, "header", &name) < 0)
                return -1;
        if (!all_chars(name, is_token_char))
                return fail(ld, config_setting_get_member(e, "header"), NULL,
                            "is not an HTTP header name");
        if (get_string(ld, e, "secret", &secret) < 0 ||
            get_string(ld, e, "value", &value) < 0 ||
            get_string(ld, e, "prefix", &prefix) < 0)
                return -1;
        if ((secret != NULL) == (value != NULL))
                return fail(ld, e, NULL, "needs exactly one of secret, value");
        if (has_ctl(prefix, strlen(prefix)))
                return fail(ld, config_setting_get_member(e, "prefix"), NULL,
                            "contains a control character");
        if (dup_into(ld, e, name, &h->name) != 0 ||
            dup_into(ld, e, prefix, &h->prefix) != 0)
                return -1;
        if (secret) {
                if (!all_chars(secret, is_ident_char) || !secret[0])
                        return fail(ld, config_setting_get_member(e, "secret"),
                                    NULL, "must be a name of [A-Za-z0-9_-]");
                return dup_into(ld, e, secret, &h->secret);
        }
        const config_setting_t *vs = config_setting_get_member(e, "value");
        if (has_ctl(value, strlen(value)))
                return fail(ld, vs, NULL, "contains a control character");
        return tmpl_parse(ld, vs, value, find_var, d, &h->value);
}

static int load_scheme(struct loader *ld, const config_setting_t *s,
                       struct provider_def *d, struct scheme *sc)
{
        if (dup_into(ld, s, config_setting_name(s), &sc->name) != 0)
                return -1;
        if (!config_setting_is_list(s))
                return fail(ld, s, NULL,
                            "must be a list ( { header = ...; "
                            "}, ... )");
        size_t n = (size_t)config_setting_length(s);
        if (n == 0)
                return fail(ld, s, NULL, "must not be empty");
        sc->headers = alloc_array(n, sizeof(*sc->headers));
        if (!sc->headers)
                return fail_nomem(ld, s);
        for (size_t i = 0; i < n; i++) {
                sc->n = i + 1;
                if (load_auth_header(ld,
                                     config_setting_get_elem(s, (unsigned)i), d,
                                     &sc->headers[i]) != 0)
                        return -1;
        }
        return 0;
}

static int load_auth(struct loader *ld, const config_setting_t *s,
                     struct provider_def *d)
{
        const config_setting_t *as = config_setting_get_member(s, "auth");
        if (!as)
                return 0;
        if (!config_setting_is_group(as))
                return fail(ld, as, NULL,
                            "must be a group { SCHEME = ( ... "
                            "); }");
        size_t n = (size_t)config_setting_length(as);
        d->schemes = alloc_array(n, sizeof(*d->schemes));
        if (!d->schemes)
                return fail_nomem(ld, as);
        for (size_t i = 0; i < n; i++) {
                d->nschemes = i + 1;
                if (load_scheme(ld, config_setting_get_elem(as, (unsigned)i), d,
                                &d->schemes[i]) != 0)
                        return -1;
        }
        return 0;
}

static int load_actions(struct loader *ld, const config_setting_t *s,
                        struct provider_def *d)
{
        const config_setting_t *as = config_setting_get_member(s, "actions");
        if (!as)
                return fail(ld, s, "actions", "missing");
        if (!config_setting_is_list(as) || config_setting_length(as) == 0)
                return fail(ld, as, NULL,
                            "must be a non-empty list ( { ... }, ... )");
        size_t n = (size_t)config_setting_length(as);
        d->actions = alloc_array(n, sizeof(*d->actions));
        if (!d->actions)
                return fail_nomem(ld, as);
        for (size_t i = 0; i < n; i++) {
                const config_setting_t *e =
                    config_setting_get_elem(as, (unsigned)i);
                d->nactions = i + 1;
                if (load_action(ld, e, &d->actions[i]) != 0)
                        return -1;
                for (size_t j = 0; j < i; j++) {
                        if (strcmp(d->actions[j].name, d->actions[i].name) == 0)
                                return fail(
                                    ld, config_setting_get_member(e, "name"),
                                    NULL, "action %s is declared twice",
                                    d->actions[i].name);
                }
        }
        return 0;
}

static int is_parent_of(const char *parent, const char *field)
{
        size_t n = strlen(parent);
        return strncmp(parent, field, n) == 0 && field[n] == '.';
}

/* The setting of param k of action i, for errors found across actions. */
static const config_setting_t *param_setting(const config_setting_t *actions,
                                             size_t i, size_t k)
{
        const config_setting_t *a =
            config_setting_get_elem(actions, (unsigned)i);
        const config_setting_t *ps = config_setting_get_member(a, "params");
        return config_setting_get_elem(ps, (unsigned)k);
}

/* A target field means one thing per provider: one type, and never both a
 * value and an object holding other fields. */
static int check_param_agrees(struct loader *ld, const config_setting_t *ps,
                              const struct param *p,
                              const struct provider_action *b)
{
        static const char *const types[] = {"string", "integer", "string_list"};
        for (size_t m = 0; m < b->nparams; m++) {
                const struct param *q = &b->params[m];
                if (strcmp(p->field, q->field) == 0 && p->type != q->type)
                        return fail(ld, config_setting_get_member(ps, "type"),
                                    NULL,
                                    "field %s is a %s in action %s: a field "
                                    "has one type per provider",
                                    p->field, types[q->type], b->name);
                if (is_parent_of(p->field, q->field) ||
                    is_parent_of(q->field, p->field))
                        return fail(ld, config_setting_get_member(ps, "field"),
                                    NULL,
                                    "fields %s and %s (action %s) overlap",
                                    p->field, q->field, b->name);
        }
        return 0;
}

static int check_fields_agree(struct loader *ld,
                              const config_setting_t *actions,
                              const struct provider_def *d)
{
        for (size_t i = 0; i < d->nactions; i++) {
                const struct provider_action *a = &d->actions[i];
                for (size_t k = 0; k < a->nparams; k++) {
                        const config_setting_t *ps =
                            param_setting(actions, i, k);
                        for (size_t j = 0; j <= i; j++) {
                                if (check_param_agrees(ld, ps, &a->params[k],
                                                       &d->actions[j]) != 0)
                                        return -1;
                        }
                }
        }
        return 0;
}

static int load_provider(struct loader *ld, const config_setting_t *s,
                         struct provider_def *d)
{
        static const char *const keys[] = {"base_url", "vars", "auth",
                                           "actions", NULL};
        const char *base;

        if (check_keys(ld, s, keys) != 0 ||
            dup_into(ld, s, config_setting_name(s), &d->name) != 0 ||
            load_vars(ld, s, d) != 0 || load_auth(ld, s, d) != 0 ||
            need_string(ld, s, "base_url", &base) < 0)
                return -1;
        d->base_url_setting = config_setting_get_member(s, "base_url");
        if (tmpl_parse(ld, d->base_url_setting, base, find_var, d,
                       &d->base_url) != 0 ||
            load_actions(ld, s, d) != 0)
                return -1;
        return check_fields_agree(ld, config_setting_get_member(s, "actions"),
                                  d);
}

static void def_free(struct provider_def *d)
{
        free(d->name);
        tmpl_free(&d->base_url);
        for (size_t i = 0; i < d->nvars; i++) {
                free(d->vars[i].name);
                free(d->vars[i].pattern);
                if (d->vars[i].has_re)
                        regfree(&d->vars[i].re);
        }
        free(d->vars);
        for (size_t i = 0; i < d->nschemes; i++) {
                struct scheme *sc = &d->schemes[i];
                for (size_t j = 0; j < sc->n; j++) {
                        free(sc->headers[j].name);
                        free(sc->headers[j].prefix);
                        free(sc->headers[j].secret);
                        tmpl_free(&sc->headers[j].value);
                }
                free(sc->headers);
                free(sc->name);
        }
        free(d->schemes);
        for (size_t i = 0; i < d->nactions; i++)
                action_free(&d->actions[i]);
        free(d->actions);
}

static int load_providers(struct loader *ld, const config_t *cfg)
{
        const config_setting_t *ps = config_lookup(cfg, "providers");
        struct provider_registry *reg = ld->reg;
        if (!ps)
                return fail(ld, config_root_setting(cfg), "providers",
                            "missing");
        if (!config_setting_is_group(ps))
                return fail(ld, ps, NULL,
                            "must be a group { NAME = { ... }; "
                            "}");
        size_t n = (size_t)config_setting_length(ps);
        reg->defs = alloc_array(n, sizeof(*reg->defs));
        if (!reg->defs)
                return fail_nomem(ld, ps);
        for (size_t i = 0; i < n; i++) {
                reg->ndefs = i + 1;
                if (load_provider(ld, config_setting_get_elem(ps, (unsigned)i),
                                  &reg->defs[i]) != 0)
                        return -1;
        }
        return 0;
}

/* ---- limits ------------------------------------------------------------ */

enum limit_kind { LIMIT_DOUBLE, LIMIT_INT, LIMIT_INT64 };

struct limit_spec {
        const char *name;
        enum limit_kind kind;
        size_t offset;
        double lo, hi;
};

#define LIMIT(n, k, lo, hi)                                                    \
        {                                                                      \
#n, k, offsetof(struct provider_limits, n), lo, hi             \
        }

static const struct limit_spec limit_specs[] = {
    LIMIT(rate_per_s, LIMIT_DOUBLE, 0, 1e6),
    LIMIT(burst, LIMIT_DOUBLE, 1, 1e6),
    LIMIT(concurrency, LIMIT_INT, 1, 100000),
    LIMIT(timeout_ms, LIMIT_INT64, 1, 86400000),
    LIMIT(connect_timeout_ms, LIMIT_INT64, 1, 86400000),
    LIMIT(max_attempts, LIMIT_INT, 1, 1000),
    LIMIT(budget_ms, LIMIT_INT64, 1, 604800000),
    LIMIT(backoff_base_ms, LIMIT_INT64, 1, 86400000),
    LIMIT(backoff_max_ms, LIMIT_INT64, 1, 86400000),
};

#define NLIMITS (sizeof(limit_specs) / sizeof(limit_specs[0]))

static void limits_builtin(struct provider_limits *l)
{
        memset(l, 0, sizeof(*l));
        l->rate_per_s = 0.0;
        l->burst = 10.0;
        l->concurrency = 32;
        l->timeout_ms = 15000;
        l->connect_timeout_ms = 5000;
        l->max_attempts = 6;
        l->budget_ms = 300000;
        l->backoff_base_ms = 500;
        l->backoff_max_ms = 30000;
        l->tls_verify = 1;
}

static int limit_apply(struct loader *ld, const config_setting_t *s,
                       const struct limit_spec *sp, struct provider_limits *l)
{
        char *field = (char *)l + sp->offset;
        double d = 0;
        long long v = 0;
        int rc;

        if (sp->kind == LIMIT_DOUBLE) {
                rc = get_double(ld, s, sp->name, sp->lo, sp->hi, &d);
                if (rc > 0)
                        memcpy(field, &d, sizeof(d));
                return rc;
        }
        rc = get_int64(ld, s, sp->name, (long long)sp->lo, (long long)sp->hi,
                       &v);
        if (rc <= 0)
                return rc;
        if (sp->kind == LIMIT_INT) {
                int iv = (int)v;
                memcpy(field, &iv, sizeof(iv));
        } else {
                int64_t i64 = v;
                memcpy(field, &i64, sizeof(i64));
        }
        return rc;
}

/* Overrides l field by field from the group `limits` of s, if any. */
static int load_limits(struct loader *ld, const config_setting_t *s,
                       struct provider_limits *l)
{
        const char *keys[NLIMITS + 1];
        const config_setting_t *ls = config_setting_get_member(s, "limits");

        if (!ls)
                return 0;
        for (size_t i = 0; i < NLIMITS; i++)
                keys[i] = limit_specs[i].name;
        keys[NLIMITS] = NULL;
        if (check_keys(ld, ls, keys) != 0)
                return -1;
        for (size_t i = 0; i < NLIMITS; i++) {
                if (limit_apply(ld, ls, &limit_specs[i], l) < 0)
                        return -1;
        }
        if (l->backoff_max_ms < l->backoff_base_ms)
                return fail(ld, ls, NULL,
                            "backoff_max_ms (%lld) is below backoff_base_ms "
                            "(%lld)",
                            (long long)l->backoff_max_ms,
                            (long long)l->backoff_base_ms);
        return 0;
}

static int load_account_defaults(struct loader *ld, const config_t *cfg,
                                 struct provider_limits *l)
{
        static const char *const keys[] = {"limits", NULL};
        const config_setting_t *ds = config_lookup(cfg, "account_defaults");
        limits_builtin(l);
        if (!ds)
                return 0;
        if (check_keys(ld, ds, keys) != 0)
                return -1;
        return load_limits(ld, ds, l);
}

/* ---- accounts ---------------------------------------------------------- */

static const struct provider_def *find_def(const struct provider_registry *r,
                                           const char *name)
{
        for (size_t i = 0; i < r->ndefs; i++) {
                if (strcmp(r->defs[i].name, name) == 0)
                        return &r->defs[i];
        }
        return NULL;
}

static int add_secret(struct provider_registry *reg, const char *value)
{
        for (size_t i = 0; i < reg->nsecrets; i++) {
                if (strcmp(reg->secrets[i], value) == 0)
                        return 0;
        }
        char **v = realloc(reg->secrets, (reg->nsecrets + 2) * sizeof(*v));
        if (!v)
                return -1;
        reg->secrets = v;
        v[reg->nsecrets] = strdup(value);
        if (!v[reg->nsecrets])
                return -1;
        v[++reg->nsecrets] = NULL;
        return 0;
}

/* Values of the provider's vars, in the provider's order. Vars may end up
 * in a host name, so only [A-Za-z0-9._-] whatever the pattern says. */
static int load_account_vars(struct loader *ld, const config_setting_t *s,
                             const struct provider_def *d, const char **vals)
{
        const config_setting_t *vs = config_setting_get_member(s, "vars");
        if (vs && !config_setting_is_group(vs))
                return fail(ld, vs, NULL,
                            "must be a group { NAME = \"...\"; }");
        for (int i = 0; vs && i < config_setting_length(vs); i++) {
                const config_setting_t *e = config_setting_get_elem(vs, i);
                long k = find_var(d, config_setting_name(e));
                if (k < 0)
                        return fail(ld, e, NULL,
                                    "provider %s has no such variable",
                                    d->name);
                if (config_setting_type(e) != CONFIG_TYPE_STRING)
                        return fail(ld, e, NULL, "must be a string");
                const char *v = config_setting_get_string(e);
                if (has_ctl(v, strlen(v)))
                        return fail(ld, e, NULL,
                                    "contains a control character");
                if (!v[0] || strlen(v) > VAR_MAX_LENGTH ||
                    !all_chars(v, is_var_char))
                        return fail(ld, e, NULL,
                                    "must be 1..%d of [A-Za-z0-9._-]",
                                    VAR_MAX_LENGTH);
                if (d->vars[k].has_re &&
                    regexec(&d->vars[k].re, v, 0, NULL, 0) != 0)
                        return fail(ld, e, NULL, "does not match %s",
                                    d->vars[k].pattern);
                vals[k] = v;
        }
        for (size_t k = 0; k < d->nvars; k++) {
                char child[NAME_MAX_LEN + 8];
                if (vals[k])
                        continue;
                snprintf(child, sizeof(child), "%s%s", vs ? "" : "vars.",
                         d->vars[k].name);
                return fail(ld, vs ? vs : s, child, "missing");
        }
        return 0;
}

static char *render_vars(const struct tmpl *t, const char **vals, size_t max)
{
        struct sbuf b;
        sb_init(&b, max);
        for (size_t i = 0; i < t->n; i++)
                sb_adds(&b, t->v[i].text ? t->v[i].text : vals[t->v[i].ref]);
        return sb_take(&b);
}

static int check_base_url(struct loader *ld, const config_setting_t *s,
                          const char *url, int allow_http, const char *acct)
{
        const char *rest;
        if (strncmp(url, "https://", 8) == 0)
                rest = url + 8;
        else if (strncmp(url, "http://", 7) == 0 && allow_http)
                rest = url + 7;
        else if (strncmp(url, "http://", 7) == 0)
                return fail(ld, s, NULL,
                            "plain http:// is refused for %s (set "
                            "allow_plain_http = true, tests only)",
                            acct);
        else
                return fail(ld, s, NULL, "must start with https://");
        if (rest[0] == '\0' || rest[0] == '/')
                return fail(ld, s, NULL, "has no host");
        for (const char *p = url; *p; p++) {
                unsigned char c = (unsigned char)*p;
                if (is_ctl(c) || c == ' ' || c >= 0x80 ||
                    strchr("\"<>\\^`{|}?#", c))
                        return fail(ld, s, NULL,
                                    "character 0x%02X is not allowed", c);
        }
        if (url[strlen(url) - 1] == '/')
                return fail(ld, s, NULL, "must not end with /");
        return 0;
}

static int load_base_url(struct loader *ld, const config_setting_t *s,
                         struct provider_account *acct, const char **vals)
{
        const config_setting_t *us = config_setting_get_member(s, "base_url");
        const struct provider_def *d = acct->def;
        const struct tmpl *t = &d->base_url;
        struct tmpl own = {0};
        const char *src;
        int allow_http = 0;
        char where[64];

        if (get_bool(ld, s, "allow_plain_http", &allow_http) < 0)
                return -1;
        if (us) {
                if (need_string(ld, s, "base_url", &src) < 0 ||
                    tmpl_parse(ld, us, src, find_var, d, &own) != 0) {
                        tmpl_free(&own);
                        return -1;
                }
                t = &own;
        }
        acct->base_url = render_vars(t, vals, URL_MAX / 2);
        tmpl_free(&own);
        if (!acct->base_url)
                return fail(ld, us ? us : s, NULL, "too long");
        setting_path(s, where, sizeof(where));
        return check_base_url(ld, us ? us : d->base_url_setting, acct->base_url,
                              allow_http, where);
}

static int pick_scheme(struct loader *ld, const config_setting_t *s,
                       const struct provider_def *d, const struct scheme **out)
{
        const char *name = NULL;
        int rc = get_string(ld, s, "auth", &name);
        *out = NULL;
        if (rc < 0)
                return -1;
        if (rc == 0) {
                *out = d->nschemes ? &d->schemes[0] : NULL;
                return 0;
        }
        for (size_t i = 0; i < d->nschemes; i++) {
                if (strcmp(d->schemes[i].name, name) == 0) {
                        *out = &d->schemes[i];
                        return 0;
                }
        }
        return fail(ld, config_setting_get_member(s, "auth"), NULL,
                    "provider %s has no auth scheme %s", d->name, name);
}

static int slot_is_declared(const struct provider_def *d, const char *slot)
{
        for (size_t i = 0; i < d->nschemes; i++) {
                for (size_t j = 0; j < d->schemes[i].n; j++) {
                        const char *s = d->schemes[i].headers[j].secret;
                        if (s && strcmp(s, slot) == 0)
                                return 1;
                }
        }
        return 0;
}

static int env_name_ok(const char *v)
{
        if (!v[0] || (v[0] >= '0' && v[0] <= '9'))
                return 0;
        for (; *v; v++) {
                if (!is_alnum((unsigned char)*v) && *v != '_')
                        return 0;
        }
        return 1;
}

static int check_secrets_group(struct loader *ld, const config_setting_t *ss,
                               const struct provider_def *d)
{
        if (!ss)
                return 0;
        if (!config_setting_is_group(ss))
                return fail(ld, ss, NULL,
                            "must be a group { SLOT = \"ENV_VAR\"; }");
        for (int i = 0; i < config_setting_length(ss); i++) {
                const config_setting_t *e = config_setting_get_elem(ss, i);
                if (!slot_is_declared(d, config_setting_name(e)))
                        return fail(ld, e, NULL,
                                    "provider %s has no secret slot %s",
                                    d->name, config_setting_name(e));
                if (config_setting_type(e) != CONFIG_TYPE_STRING ||
                    !env_name_ok(config_setting_get_string(e)))
                        return fail(ld, e, NULL,
                                    "must name an environment variable");
        }
        return 0;
}

/* The secret's value from the environment; never quoted in errors. */
static int read_secret(struct loader *ld, const config_setting_t *s,
                       const char *scheme, const struct auth_header *h,
                       const char **out)
{
        const config_setting_t *ss = config_setting_get_member(s, "secrets");
        const config_setting_t *e =
            ss ? config_setting_get_member(ss, h->secret) : NULL;
        char child[NAME_MAX_LEN + 16];
        if (!e) {
                snprintf(child, sizeof(child), "%s%s", ss ? "" : "secrets.",
                         h->secret);
                return fail(ld, ss ? ss : s, child,
                            "missing (auth scheme %s needs it)", scheme);
        }
        const char *var = config_setting_get_string(e);
        const char *v = getenv(var);
        if (!v || !v[0]) {
                if (!ld->allow_missing_secrets)
                        return fail(ld, e, NULL,
                                    "environment variable %s is not set", var);
                *out = NULL;
                return 0;
        }
        if (has_ctl(v, strlen(v)))
                return fail(ld, e, NULL,
                            "environment variable %s contains a control "
                            "character",
                            var);
        *out = v;
        return add_secret(ld->reg, v) == 0 ? 0 : fail_nomem(ld, e);
}

static int build_auth_header(struct loader *ld, const config_setting_t *s,
                             const char *scheme, const struct auth_header *h,
                             const char **vals, struct provider_header *out)
{
        struct sbuf b;
        const char *secret = NULL;

        out->name = strdup(h->name);
        if (!out->name)
                return fail_nomem(ld, s);
        sb_init(&b, 8000);
        if (h->secret) {
                out->secret = 1;
                if (read_secret(ld, s, scheme, h, &secret) != 0)
                        return -1;
                if (secret) {
                        sb_adds(&b, h->prefix);
                        sb_adds(&b, secret);
                }
        } else {
                char *v = render_vars(&h->value, vals, 4000);
                sb_adds(&b, h->prefix);
                sb_adds(&b, v ? v : "");
                free(v);
        }
        out->value = sb_take(&b);
        if (!out->value)
                return fail(ld, h->where, NULL, "header value too long");
        /* Each part was checked already; this guards the whole line. */
        if (has_ctl(out->value, strlen(out->value)))
                return fail(ld, h->where, NULL,
                            "header value contains a control character");
        return 0;
}

static int load_auth_headers(struct loader *ld, const config_setting_t *s,
                             struct provider_account *acct, const char **vals)
{
        const struct provider_def *d = acct->def;
        const struct scheme *sc;

        if (pick_scheme(ld, s, d, &sc) != 0 ||
            check_secrets_group(ld, config_setting_get_member(s, "secrets"),
                                d) != 0)
                return -1;
        if (!sc)
                return 0;
        acct->headers = alloc_array(sc->n, sizeof(*acct->headers));
        if (!acct->headers)
                return fail_nomem(ld, s);
        for (size_t i = 0; i < sc->n; i++) {
                acct->nheaders = i + 1;
                if (build_auth_header(ld, s, sc->name, &sc->headers[i], vals,
                                      &acct->headers[i]) != 0)
                        return -1;
        }
        return 0;
}

static int load_account_tls(struct loader *ld, const config_setting_t *s,
                            struct provider_account *acct)
{
        const char *ca = NULL;
        if (get_bool(ld, s, "tls_verify", &acct->limits.tls_verify) < 0)
                return -1;
        int rc = get_string(ld, s, "ca_file", &ca);
        if (rc <= 0)
                return rc;
        const config_setting_t *cs = config_setting_get_member(s, "ca_file");
        if (!ca[0])
                return fail(ld, cs, NULL, "must not be empty");
        if (dup_into(ld, cs, ca, &acct->ca_file) != 0)
                return -1;
        acct->limits.ca_file = acct->ca_file;
        return 0;
}

static int load_account_identity(struct loader *ld, const config_setting_t *s,
                                 struct provider_account *acct)
{
        static const char *const keys[] = {
            "provider",         "name",       "auth",
            "secrets",          "vars",       "base_url",
            "allow_plain_http", "tls_verify", "ca_file",
            "limits",           NULL};
        const char *prov, *name = "default";
        const struct provider_registry *reg = ld->reg;

        if (check_keys(ld, s, keys) != 0 ||
            need_string(ld, s, "provider", &prov) < 0)
                return -1;
        acct->def = find_def(reg, prov);
        if (!acct->def)
                return fail(ld, config_setting_get_member(s, "provider"), NULL,
                            "no provider %s is defined", prov);
        if (get_string(ld, s, "name", &name) < 0)
                return -1;
        const config_setting_t *ns = config_setting_get_member(s, "name");
        if (!name[0] || !all_chars(name, is_var_char) || strlen(name) > 64)
                return fail(ld, ns, NULL, "must be 1..64 of [A-Za-z0-9._-]");
        for (size_t i = 0; i < acct->index; i++) {
                const struct provider_account *o = &reg->accounts[i];
                if (o->def == acct->def && strcmp(o->name, name) == 0)
                        return fail(ld, ns ? ns : s, NULL,
                                    "duplicate account %s for provider %s",
                                    name, prov);
        }
        return dup_into(ld, s, name, &acct->name);
}

static int load_account(struct loader *ld, const config_setting_t *s,
                        const struct provider_limits *defaults,
                        struct provider_account *acct)
{
        const char **vals;
        int rc;

        if (!config_setting_is_group(s))
                return fail(ld, s, NULL, "must be a group { provider = ...; }");
        if (load_account_identity(ld, s, acct) != 0)
                return -1;
        vals = alloc_array(acct->def->nvars, sizeof(*vals));
        if (!vals)
                return fail_nomem(ld, s);
        acct->limits = *defaults;
        acct->limits.ca_file = NULL;
        rc = load_account_vars(ld, s, acct->def, vals);
        if (rc == 0)
                rc = load_base_url(ld, s, acct, vals);
        if (rc == 0)
                rc = load_auth_headers(ld, s, acct, vals);
        if (rc == 0)
                rc = load_account_tls(ld, s, acct);
        if (rc == 0)
                rc = load_limits(ld, s, &acct->limits);
        free(vals);
        return rc;
}

static void account_free(struct provider_account *a)
{
        free(a->name);
        free(a->base_url);
        for (size_t i = 0; i < a->nheaders; i++) {
                free(a->headers[i].name);
                free(a->headers[i].value);
        }
        free(a->headers);
        free(a->ca_file);
}

static int load_accounts(struct loader *ld, const config_t *cfg)
{
        struct provider_limits defaults;
        struct provider_registry *reg = ld->reg;
        const config_setting_t *as = config_lookup(cfg, "accounts");

        if (load_account_defaults(ld, cfg, &defaults) != 0)
                return -1;
        if (!as)
                return 0;
        if (!config_setting_is_list(as))
                return fail(ld, as, NULL, "must be a list ( { ... }, ... )");
        size_t n = (size_t)config_setting_length(as);
        reg->accounts = alloc_array(n, sizeof(*reg->accounts));
        if (!reg->accounts)
                return fail_nomem(ld, as);
        for (size_t i = 0; i < n; i++) {
                reg->naccounts = i + 1;
                reg->accounts[i].index = i;
                if (load_account(ld, config_setting_get_elem(as, (unsigned)i),
                                 &defaults, &reg->accounts[i]) != 0)
                        return -1;
        }
        return 0;
}

/* ---- registry ---------------------------------------------------------- */

struct provider_registry *provider_registry_load(const config_t *cfg,
                                                 int allow_missing_secrets,
                                                 char *errstr,
                                                 size_t errstr_size)
{
        struct loader ld = {NULL, allow_missing_secrets, errstr, errstr_size};

        if (errstr && errstr_size)
                errstr[0] = '\0';
        ld.reg = calloc(1, sizeof(*ld.reg));
        if (!ld.reg) {
                if (errstr && errstr_size)
                        snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (load_providers(&ld, cfg) != 0 || load_accounts(&ld, cfg) != 0) {
                provider_registry_free(ld.reg);
                return NULL;
        }
        return ld.reg;
}

void provider_registry_free(struct provider_registry *reg)
{
        if (!reg)
                return;
        for (size_t i = 0; i < reg->naccounts; i++)
                account_free(&reg->accounts[i]);
        free(reg->accounts);
        for (size_t i = 0; i < reg->ndefs; i++)
                def_free(&reg->defs[i]);
        free(reg->defs);
        for (size_t i = 0; i < reg->nsecrets; i++) {
                /* Secrets should not linger in freed memory. */
                memset(reg->secrets[i], 0, strlen(reg->secrets[i]));
                free(reg->secrets[i]);
        }
        free(reg->secrets);
        free(reg);
}

size_t provider_account_count(const struct provider_registry *reg)
{
        return reg->naccounts;
}

const struct provider_account *
provider_account_at(const struct provider_registry *reg, size_t i)
{
        return i < reg->naccounts ? &reg->accounts[i] : NULL;
}

size_t provider_account_index(const struct provider_account *acct)
{
        return acct->index;
}

const char *provider_account_provider(const struct provider_account *acct)
{
        return acct->def->name;
}

const char *provider_account_name(const struct provider_account *acct)
{
        return acct->name;
}

const struct provider_limits *
provider_account_limits(const struct provider_account *acct)
{
        return &acct->limits;
}

const char *provider_secret_at(const struct provider_registry *reg, size_t i)
{
        return i < reg->nsecrets ? reg->secrets[i] : NULL;
}

/* ---- planning: checking a target --------------------------------------- */

/* Per-call error context: which target, and where to write. */
struct planner {
        const struct provider_registry *reg;
        size_t target;
        char *errstr;
        size_t errstr_size;
        struct provider_plan *plan;
        size_t cap;
};

__attribute__((format(printf, 3, 4))) static enum request_error
plan_fail(struct planner *pl, enum request_error err, const char *fmt, ...)
{
        va_list ap;
        if (!pl->errstr || pl->errstr_size == 0)
                return err;
        va_start(ap, fmt);
        vsnprintf(pl->errstr, pl->errstr_size, fmt, ap);
        va_end(ap);
        return err;
}

static json_t *lookup_field(json_t *obj, const char *field)
{
        const char *p = field;
        json_t *cur = obj;
        for (;;) {
                size_t n = strcspn(p, ".");
                if (!json_is_object(cur))
                        return NULL;
                cur = json_object_getn(cur, p, n);
                if (!cur || p[n] == '\0')
                        return cur;
                p += n + 1;
        }
}

static enum request_error check_string(struct planner *pl,
                                       const struct param *p, json_t *v,
                                       const char *path)
{
        if (!json_is_string(v))
                return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                 "%s: must be a string", path);
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n == 0)
                return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                 "%s: must not be empty", path);
        if (strlen(s) != n || has_ctl(s, n))
                return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                 "%s: contains a control character", path);
        if (n > p->max_length)
                return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                 "%s: longer than %zu bytes", path,
                                 p->max_length);
        if (p->has_re && regexec(&p->re, s, 0, NULL, 0) != 0)
                return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                 "%s: does not match %s", path, p->pattern);
        return REQUEST_OK;
}

static enum request_error check_integer(struct planner *pl,
                                        const struct param *p, json_t *v,
                                        const char *path)
{
        if (!json_is_integer(v))
                return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                 "%s: must be an integer", path);
        json_int_t i = json_integer_value(v);
        if (i < p->min || i > p->max)
                return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                 "%s: must be between %lld and %lld", path,
                                 (long long)p->min, (long long)p->max);
        return REQUEST_OK;
}

static enum request_error check_list(struct planner *pl, const struct param *p,
                                     json_t *v, const char *path)
{
        char item[512];
        if (!json_is_array(v))
                return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                 "%s: must be a list of strings", path);
        size_t n = json_array_size(v);
        if (n == 0)
                return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                 "%s: must not be empty", path);
        if (n > p->max_items)
                return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                 "%s: more than %zu items", path, p->max_items);
        for (size_t i = 0; i < n; i++) {
                snprintf(item, sizeof(item), "%s[%zu]", path, i);
                enum request_error rc =
                    check_string(pl, p, json_array_get(v, i), item);
                if (rc != REQUEST_OK)
                        return rc;
        }
        return REQUEST_OK;
}

static enum request_error check_value(struct planner *pl, const struct param *p,
                                      json_t *v)
{
        char path[256];
        snprintf(path, sizeof(path), "targets[%zu].%s", pl->target, p->field);
        switch (p->type) {
        case PARAM_STRING:
                return check_string(pl, p, v, path);
        case PARAM_INTEGER:
                return check_integer(pl, p, v, path);
        case PARAM_STRING_LIST:
                return check_list(pl, p, v, path);
        }
        return REQUEST_ERR_BAD_FIELD;
}

/* 1 if some action declares exactly this field, checking v against each
 * declaration; 2 if it is the parent of declared fields; 0 if unknown. */
static int classify_field(struct planner *pl, const struct provider_def *d,
                          const char *field, json_t *v, enum request_error *rc)
{
        int kind = 0;
        *rc = REQUEST_OK;
        for (size_t i = 0; i < d->nactions; i++) {
                const struct provider_action *a = &d->actions[i];
                for (size_t k = 0; k < a->nparams; k++) {
                        const struct param *p = &a->params[k];
                        if (strcmp(p->field, field) == 0) {
                                kind = 1;
                                *rc = check_value(pl, p, v);
                                if (*rc != REQUEST_OK)
                                        return kind;
                        } else if (is_parent_of(field, p->field)) {
                                kind = 2;
                        }
                }
        }
        return kind;
}

static enum request_error unknown_field(struct planner *pl, const char *prefix,
                                        const char *key, size_t len)
{
        char esc[ECHO_MAX * 4 + 8];
        escape_text(esc, sizeof(esc), key, len, ECHO_MAX);
        return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                         "targets[%zu].%s%s: unknown field", pl->target, prefix,
                         esc);
}

/* Every field of the target must be declared by some action of its
 * provider (strict: a typo must not silently skip a deletion), and every
 * declared field present must be valid, used by this request or not. */
static enum request_error check_object(struct planner *pl,
                                       const struct provider_def *d,
                                       json_t *obj, const char *prefix)
{
        const char *key;
        size_t klen;
        json_t *v;
        enum request_error rc;

        json_object_keylen_foreach(obj, key, klen, v)
        {
                char full[NAME_MAX_LEN + 2];
                if (!prefix[0] && (strcmp(key, "provider") == 0 ||
                                   strcmp(key, "account") == 0))
                        continue;
                if (strlen(key) != klen || strchr(key, '.') ||
                    strlen(prefix) + klen > NAME_MAX_LEN)
                        return unknown_field(pl, prefix, key, klen);
                snprintf(full, sizeof(full), "%s%s", prefix, key);
                int kind = classify_field(pl, d, full, v, &rc);
                if (kind == 0)
                        return unknown_field(pl, prefix, key, klen);
                if (rc != REQUEST_OK)
                        return rc;
                if (kind == 1)
                        continue;
                if (!json_is_object(v))
                        return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                         "targets[%zu].%s: must be an object",
                                         pl->target, full);
                strcat(full, ".");
                rc = check_object(pl, d, v, full);
                if (rc != REQUEST_OK)
                        return rc;
        }
        return REQUEST_OK;
}

static int triggers(const struct provider_action *a, json_t *target)
{
        return lookup_field(target, a->when) != NULL;
}

struct item_ref {
        const char *s;
        size_t i;
};

static int item_cmp(const void *x, const void *y)
{
        const struct item_ref *a = x, *b = y;
        int c = strcmp(a->s, b->s);
        if (c != 0)
                return c;
        return a->i < b->i ? -1 : a->i > b->i;
}

/* Indices of the first occurrence of each distinct string of arr, in
 * order: deleting twice is deleting once, and two calls must never share
 * an idempotency key. Returns the count, or -1 without memory. */
static long unique_items(json_t *arr, size_t *order)
{
        size_t n = json_array_size(arr), m = 0;
        struct item_ref *refs = alloc_array(n, sizeof(*refs));
        unsigned char *keep = alloc_array(n, 1);
        if (!refs || !keep) {
                free(refs);
                free(keep);
                return -1;
        }
        for (size_t i = 0; i < n; i++) {
                refs[i].s = json_string_value(json_array_get(arr, i));
                refs[i].i = i;
        }
        qsort(refs, n, sizeof(*refs), item_cmp);
        for (size_t i = 0; i < n; i++) {
                if (i == 0 || strcmp(refs[i].s, refs[i - 1].s) != 0)
                        keep[refs[i].i] = 1;
        }
        for (size_t i = 0; i < n; i++) {
                if (keep[i])
                        order[m++] = i;
        }
        free(refs);
        free(keep);
        return (long)m;
}

static enum request_error nomem(struct planner *pl)
{
        /* request.h has no internal-error code; the request is too big for
         * the memory we have. */
        return plan_fail(pl, REQUEST_ERR_OVERSIZE,
                         "out of memory while planning");
}

/* Calls one triggered action makes for this target. */
static enum request_error count_action_calls(struct planner *pl,
                                             const struct provider_action *a,
                                             json_t *target, size_t *count)
{
        for (size_t k = 0; k < a->nparams; k++) {
                const struct param *p = &a->params[k];
                if (!p->optional && !lookup_field(target, p->field))
                        return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                         "targets[%zu].%s: missing (action "
                                         "%s needs it)",
                                         pl->target, p->field, a->name);
        }
        if (a->expand == EXPAND_NONE) {
                *count = 1;
                return REQUEST_OK;
        }
        json_t *list = lookup_field(target, a->params[a->expand_param].field);
        size_t *order = alloc_array(json_array_size(list), sizeof(*order));
        long m = order ? unique_items(list, order) : -1;
        free(order);
        if (m < 0)
                return nomem(pl);
        *count = a->expand == EXPAND_FOR_EACH
                     ? (size_t)m
                     : ((size_t)m + a->chunk_size - 1) / a->chunk_size;
        return REQUEST_OK;
}

static enum request_error find_account(struct planner *pl,
                                       const struct request_target *t,
                                       const struct provider_account **out)
{
        char esc[ECHO_MAX * 4 + 8];
        const char *prov = t->provider ? t->provider : "";
        const char *name = t->account ? t->account : "default";
        const struct provider_def *d = find_def(pl->reg, prov);

        if (!d) {
                escape_text(esc, sizeof(esc), prov, strlen(prov), ECHO_MAX);
                return plan_fail(pl, REQUEST_ERR_UNKNOWN_PROVIDER,
                                 "targets[%zu].provider: unknown provider "
                                 "\"%s\"",
                                 pl->target, esc);
        }
        for (size_t i = 0; i < pl->reg->naccounts; i++) {
                const struct provider_account *a = &pl->reg->accounts[i];
                if (a->def == d && strcmp(a->name, name) == 0) {
                        *out = a;
                        return REQUEST_OK;
                }
        }
        escape_text(esc, sizeof(esc), name, strlen(name), ECHO_MAX);
        return plan_fail(pl, REQUEST_ERR_UNKNOWN_ACCOUNT,
                         "targets[%zu].account: provider %s has no account "
                         "\"%s\"",
                         pl->target, d->name, esc);
}

static enum request_error
check_target(struct planner *pl, const struct request_target *t, size_t *ncalls)
{
        const struct provider_account *acct;
        enum request_error rc = find_account(pl, t, &acct);
        size_t fired = 0;

        if (rc != REQUEST_OK)
                return rc;
        if (!json_is_object(t->json))
                return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                 "targets[%zu]: must be an object", pl->target);
        rc = check_object(pl, acct->def, t->json, "");
        for (size_t i = 0; rc == REQUEST_OK && i < acct->def->nactions; i++) {
                const struct provider_action *a = &acct->def->actions[i];
                size_t n = 0;
                if (!triggers(a, t->json))
                        continue;
                fired++;
                rc = count_action_calls(pl, a, t->json, &n);
                *ncalls += n;
        }
        if (rc == REQUEST_OK && fired == 0)
                return plan_fail(pl, REQUEST_ERR_NO_ACTION,
                                 "targets[%zu]: no field of provider %s's "
                                 "actions is present (nothing to delete)",
                                 pl->target, acct->def->name);
        return rc;
}

/* ---- planning: rendering calls ----------------------------------------- */

static void sb_add_value(struct sbuf *b, json_t *v, int encode)
{
        char num[32];
        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                if (encode)
                        sb_add_encoded(b, s, strlen(s));
                else
                        sb_adds(b, s);
        } else if (json_is_integer(v)) {
                snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                         json_integer_value(v));
                sb_adds(b, num);
        } else if (json_is_array(v)) {
                for (size_t i = 0; i < json_array_size(v); i++) {
                        if (i > 0)
                                sb_add(b, ",", 1);
                        sb_add_value(b, json_array_get(v, i), encode);
                }
        }
}

static enum request_error sb_error(struct planner *pl, struct sbuf *b,
                                   const char *what)
{
        enum sb_state st = b->state;
        size_t max = b->max;
        sb_free(b);
        if (st == SB_NOMEM)
                return nomem(pl);
        return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                         "targets[%zu]: %s longer than %zu bytes", pl->target,
                         what, max);
}

static void render_query(struct sbuf *b, const struct provider_action *a,
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
                sb_add(b, first ? "?" : "&", 1);
                first = 0;
                sb_add_encoded(b, q->name, strlen(q->name));
                sb_add(b, "=", 1);
                for (size_t k = 0; k < q->value.n; k++) {
                        const struct piece *pc = &q->value.v[k];
                        if (pc->text)
                                sb_add_encoded(b, pc->text, strlen(pc->text));
                        else
                                sb_add_value(b, vals[pc->ref], 1);
                }
        }
}

static enum request_error render_url(struct planner *pl,
                                     const struct provider_account *acct,
                                     const struct provider_action *a,
                                     json_t *const *vals, char **out)
{
        struct sbuf b;
        size_t path_start = strlen(acct->base_url);

        sb_init(&b, URL_MAX);
        sb_adds(&b, acct->base_url);
        for (size_t i = 0; i < a->path.n; i++) {
                const struct piece *pc = &a->path.v[i];
                if (pc->text)
                        sb_adds(&b, pc->text);
                else
                        sb_add_value(&b, vals[pc->ref], 1);
        }
        if (b.state != SB_OK)
                return sb_error(pl, &b, "URL");
        /* The config's path has none, so a value made it. */
        if (has_dot_segment(b.p + path_start)) {
                sb_free(&b);
                return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                 "targets[%zu]: a value would make a . or .. "
                                 "segment in the path of action %s",
                                 pl->target, a->name);
        }
        render_query(&b, a, vals);
        if (b.state != SB_OK)
                return sb_error(pl, &b, "URL");
        *out = sb_take(&b);
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
        json_t *v = vals[find_param(a, name)];
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
                int skip;
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
                return nomem(pl);
        *out = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        if (!*out)
                return nomem(pl);
        if (strlen(*out) > BODY_MAX)
                return plan_fail(pl, REQUEST_ERR_BAD_FIELD,
                                 "targets[%zu]: body longer than %d bytes",
                                 pl->target, BODY_MAX);
        return REQUEST_OK;
}

static enum request_error render_resource(struct planner *pl,
                                          const struct provider_action *a,
                                          json_t *const *vals, char **out)
{
        struct sbuf b;
        sb_init(&b, RESOURCE_MAX);
        for (size_t i = 0; i < a->resource.n; i++) {
                const struct piece *pc = &a->resource.v[i];
                if (pc->text)
                        sb_adds(&b, pc->text);
                else if (vals[pc->ref])
                        sb_add_value(&b, vals[pc->ref], 0);
        }
        if (b.state != SB_OK)
                return sb_error(pl, &b, "resource");
        *out = sb_take(&b);
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
                return nomem(pl);
        for (size_t i = 0; i < acct->nheaders; i++) {
                const struct provider_header *h = &acct->headers[i];
                c->nheaders++;
                if (copy_header(&c->headers[i], h->name, h->value, h->secret))
                        return nomem(pl);
        }
        if (c->body) {
                c->nheaders++;
                if (copy_header(&c->headers[n - 1], "Content-Type",
                                "application/json", 0))
                        return nomem(pl);
        }
        return REQUEST_OK;
}

static void call_free(struct provider_call *c)
{
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

static enum request_error add_call(struct planner *pl,
                                   const struct provider_account *acct,
                                   const struct provider_action *a,
                                   json_t *const *vals)
{
        struct provider_plan *plan = pl->plan;
        if (plan->ncalls == pl->cap)
                return nomem(pl); /* sized from the count: cannot happen */
        struct provider_call *c = &plan->calls[plan->ncalls];
        memset(c, 0, sizeof(*c));
        c->account = acct;
        c->action = a;
        c->provider = acct->def->name;
        c->account_name = acct->name;
        c->action_name = a->name;
        c->method = a->method;
        enum request_error rc = render_url(pl, acct, a, vals, &c->url);
        if (rc == REQUEST_OK)
                rc = render_body(pl, a, vals, &c->body);
        if (rc == REQUEST_OK)
                rc = render_resource(pl, a, vals, &c->resource);
        if (rc == REQUEST_OK)
                rc = render_headers(pl, acct, c);
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
        long m = order ? unique_items(list, order) : -1;
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
                        rc = add_call(pl, acct, a, vals);
                else
                        rc = nomem(pl);
                json_decref(chunk);
        }
        vals[a->expand_param] = list;
        free(order);
        return m < 0 ? nomem(pl) : rc;
}

static enum request_error build_target(struct planner *pl,
                                       const struct request_target *t)
{
        const struct provider_account *acct;
        enum request_error rc = find_account(pl, t, &acct);

        for (size_t i = 0; rc == REQUEST_OK && i < acct->def->nactions; i++) {
                const struct provider_action *a = &acct->def->actions[i];
                if (!triggers(a, t->json))
                        continue;
                json_t **vals = alloc_array(a->nparams, sizeof(*vals));
                if (!vals)
                        return nomem(pl);
                for (size_t k = 0; k < a->nparams; k++)
                        vals[k] = lookup_field(t->json, a->params[k].field);
                if (a->expand == EXPAND_NONE)
                        rc = add_call(pl, acct, a, vals);
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
                return nomem(pl);
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
        struct planner pl = {reg, 0, errstr, errstr_size, plan, 0};
        enum request_error rc = REQUEST_OK;
        size_t total = 0;

        plan->calls = NULL;
        plan->ncalls = 0;
        if (errstr && errstr_size)
                errstr[0] = '\0';
        /* Everything is checked before anything is built: all or nothing. */
        for (size_t i = 0; rc == REQUEST_OK && i < req->ntargets; i++) {
                pl.target = i;
                rc = check_target(&pl, &req->targets[i], &total);
        }
        if (rc != REQUEST_OK)
                return rc;
        if (max_calls > 0 && total > max_calls)
                return plan_fail(&pl, REQUEST_ERR_TOO_MANY_CALLS,
                                 "targets: %zu calls needed, at most %zu "
                                 "allowed",
                                 total, max_calls);
        plan->calls = alloc_array(total, sizeof(*plan->calls));
        if (!plan->calls)
                return nomem(&pl);
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
 * (message, ERROR, detail[0].msg, …), else the start of the raw body. */
static void provider_text(json_t *doc, const char *body, size_t len, char *out,
                          size_t cap)
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
        if (s)
                escape_text(out, cap, s, strlen(s), PROVIDER_TEXT_MAX);
        else
                escape_text(out, cap, body ? body : "", body ? len : 0,
                            PROVIDER_TEXT_MAX);
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

/* "HTTP <status>[: why][: provider text]", the text cut to fit. */
static void write_error(struct provider_verdict *out, long status,
                        const char *why, json_t *doc, const char *body,
                        size_t body_len)
{
        size_t cap = sizeof(out->error);
        int n = snprintf(out->error, cap, "HTTP %ld%s%s", status,
                         why[0] ? ": " : "", why);
        if (n < 0 || (size_t)n + 3 >= cap)
                return;
        char *text = out->error + n + 2;
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
