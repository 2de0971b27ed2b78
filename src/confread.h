/* confread — reading libconfig settings, every error in one form:
 * "FILE:LINE: SETTING.PATH: message" (the operator finds the line, the
 * path says which setting even when @include hides the file's context).
 *
 * Shared by settings (the worker's own settings) and the provider loader
 * (definitions and accounts) so both report errors alike. */
#ifndef ERASURE_CONFREAD_H
#define ERASURE_CONFREAD_H

#include <stddef.h>
#include <libconfig.h>

/* Where errors go. errstr may be NULL (errors are then only counted by
 * the return codes). */
struct confread {
        char *errstr;
        size_t errstr_size;
};

/* Writes "FILE:LINE: PATH[.child]: message" and returns -1. child names a
 * setting missing from s (s then gives the place). */
__attribute__((format(printf, 4, 5))) int
confread_fail(struct confread *cr, const config_setting_t *s, const char *child,
              const char *fmt, ...);
int confread_fail_nomem(struct confread *cr, const config_setting_t *s);

/* "providers.vectara.actions.[0].path": names, and [i] for list items. */
void confread_path(const config_setting_t *s, char *buf, size_t size);

/* The getters return 1 (found), 0 (absent) or -1 (wrong, reported). */
int confread_string(struct confread *cr, const config_setting_t *group,
                    const char *name, const char **out);
/* Like confread_string, but absent or "" is an error (returns -1). */
int confread_need_string(struct confread *cr, const config_setting_t *group,
                         const char *name, const char **out);
int confread_bool(struct confread *cr, const config_setting_t *group,
                  const char *name, int *out);
/* Integers within [lo, hi]. */
int confread_int64(struct confread *cr, const config_setting_t *group,
                   const char *name, long long lo, long long hi,
                   long long *out);
/* Integers or floats within [lo, hi]; never NaN or infinite. */
int confread_double(struct confread *cr, const config_setting_t *group,
                    const char *name, double lo, double hi, double *out);
int confread_is_int(const config_setting_t *s);

/* group must be a group holding only the names in allowed (NULL-ended):
 * a typo must not pass silently. 0 or -1. */
int confread_check_keys(struct confread *cr, const config_setting_t *group,
                        const char *const *allowed);

/* *out = strdup(src); 0, or -1 reported as out of memory at s. */
int confread_strdup(struct confread *cr, const config_setting_t *s,
                    const char *src, char **out);

#endif
