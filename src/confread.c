/* confread — reading libconfig settings with one error form. */
#include "confread.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFREAD_DEPTH_MAX 32

static int is_key(const char *name, const char *const *allowed)
{
        for (; *allowed; allowed++) {
                if (strcmp(name, *allowed) == 0)
                        return 1;
        }
        return 0;
}

void confread_path(const config_setting_t *s, char *buf, size_t size)
{
        const config_setting_t *chain[CONFREAD_DEPTH_MAX];
        size_t n = 0, o = 0;

        buf[0] = '\0';
        while (s && !config_setting_is_root(s) && n < CONFREAD_DEPTH_MAX) {
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

int confread_fail(struct confread *cr, const config_setting_t *s,
                  const char *child, const char *fmt, ...)
{
        char path[512], msg[512];
        const char *file;
        unsigned line;
        va_list ap;

        if (!cr->errstr || cr->errstr_size == 0)
                return -1;
        confread_path(s, path, sizeof(path));
        setting_where(s, &file, &line);
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(cr->errstr, cr->errstr_size, "%s:%u: %s%s%s: %s", file, line,
                 path, child && path[0] ? "." : "", child ? child : "", msg);
        return -1;
}

int confread_fail_nomem(struct confread *cr, const config_setting_t *s)
{
        return confread_fail(cr, s, NULL, "out of memory");
}

int confread_string(struct confread *cr, const config_setting_t *group,
                    const char *name, const char **out)
{
        const config_setting_t *s = config_setting_get_member(group, name);
        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return confread_fail(cr, s, NULL, "must be a string");
        *out = config_setting_get_string(s);
        return 1;
}

int confread_need_string(struct confread *cr, const config_setting_t *group,
                         const char *name, const char **out)
{
        int rc = confread_string(cr, group, name, out);
        if (rc == 0)
                return confread_fail(cr, group, name, "missing");
        if (rc > 0 && (*out)[0] == '\0') {
                return confread_fail(cr, config_setting_get_member(group, name),
                                     NULL, "must not be empty");
        }
        return rc;
}

int confread_bool(struct confread *cr, const config_setting_t *group,
                  const char *name, int *out)
{
        const config_setting_t *s = config_setting_get_member(group, name);
        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                return confread_fail(cr, s, NULL, "must be true or false");
        *out = config_setting_get_bool(s);
        return 1;
}

int confread_is_int(const config_setting_t *s)
{
        int t = config_setting_type(s);
        return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

int confread_int64(struct confread *cr, const config_setting_t *group,
                   const char *name, long long lo, long long hi, long long *out)
{
        const config_setting_t *s = config_setting_get_member(group, name);
        if (!s)
                return 0;
        if (!confread_is_int(s))
                return confread_fail(cr, s, NULL, "must be an integer");
        long long v = config_setting_get_int64(s);
        if (v < lo || v > hi)
                return confread_fail(cr, s, NULL,
                                     "must be between %lld and %lld", lo, hi);
        *out = v;
        return 1;
}

int confread_double(struct confread *cr, const config_setting_t *group,
                    const char *name, double lo, double hi, double *out)
{
        const config_setting_t *s = config_setting_get_member(group, name);
        double v;
        if (!s)
                return 0;
        if (confread_is_int(s))
                v = (double)config_setting_get_int64(s);
        else if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
                v = config_setting_get_float(s);
        else
                return confread_fail(cr, s, NULL, "must be a number");
        if (!isfinite(v) || v < lo || v > hi)
                return confread_fail(cr, s, NULL, "must be between %g and %g",
                                     lo, hi);
        *out = v;
        return 1;
}

int confread_check_keys(struct confread *cr, const config_setting_t *group,
                        const char *const *allowed)
{
        if (!config_setting_is_group(group))
                return confread_fail(cr, group, NULL,
                                     "must be a group { ... }");
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
                return confread_fail(cr, e, NULL, "unknown setting (known: %s)",
                                     list);
        }
        return 0;
}

int confread_strdup(struct confread *cr, const config_setting_t *s,
                    const char *src, char **out)
{
        *out = strdup(src);
        return *out ? 0 : confread_fail_nomem(cr, s);
}
