/* log — JSON log lines on stderr, with secrets redacted from every line.
 *
 * One line per event: {"ts":"…","level":"info","msg":"…",
 * "request_id":"…","provider":"…"}. request_id and provider may be NULL
 * and are then omitted. Thread-safe: worker loops in several threads log
 * and register secrets (OAuth tokens) at once; lines are never mixed. */
#ifndef ERASURE_LOG_H
#define ERASURE_LOG_H

#include <stddef.h>
#include <stdio.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Lines below `level` are dropped. Default LOG_INFO. */
void log_set_level(enum log_level level);
/* "debug", "info", "warn", "error" -> 0, else -1. */
int log_level_parse(const char *name, enum log_level *out);
/* Where lines go; default stderr. Tests point it at a tmpfile. */
void log_set_output(FILE *fp);

/* Registers a secret value (copied). Every later log line, and every string
 * passed to log_redact(), has its occurrences overwritten with '*': the
 * value itself and the forms a vendor may echo it in, percent-encoded
 * (either hex case) and base64/base64url (at any byte alignment, as
 * inside a Basic credential). Values shorter than 4 bytes are ignored:
 * masking them would mangle ordinary text and they are no secret anyway.
 * At most 64 values are kept; one more is reported once with log_error.
 * A value added again is counted, not stored twice. */
void log_add_secret(const char *value);
/* Forgets one value and its encodings (a replaced OAuth token), so that
 * short-lived secrets do not use up the bound; a value added n times is
 * masked until it is forgotten n times (loops that got the same token). */
void log_forget_secret(const char *value);
/* Forgets all registered secrets (tests, and process exit for valgrind). */
void log_clear_secrets(void);
/* Overwrites in place every registered secret (or form of one) in s. */
void log_redact(char *s);
/* The same for the n bytes at s, which may hold NULs (a response body). */
void log_redact_len(char *s, size_t n);
/* For text cut at n bytes: overwrites the end of s[0..n) where it is the
 * first bytes of a registered secret whose rest was cut off. Redact the
 * whole text before cutting it where the whole text is at hand. */
void log_redact_cut(char *s, size_t n);

void log_emit(enum log_level level, const char *request_id,
              const char *provider, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(...) log_emit(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_emit(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_emit(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_emit(LOG_ERROR, __VA_ARGS__)

#endif
