/* log — JSON log lines with registered secrets masked. */
#include "log.h"

#include "clock.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* A handful of providers times a handful of accounts; the bound keeps a
 * misconfiguration from turning every line into a quadratic scan. */
#define LOG_MAX_SECRETS 64
/* Shorter values would mask ordinary words (see log.h). */
#define LOG_MIN_SECRET_LEN 4
/* A message longer than this is cut and ends in an ellipsis: a line must
 * stay readable and cheap even when it quotes a whole response body. */
#define LOG_MSG_MAX 2048
/* request_id and provider are identifiers; anything longer is garbage from
 * a rejected message and only needs to be recognisable. */
#define LOG_FIELD_MAX 256

static const char log_ellipsis[] = "\xe2\x80\xa6"; /* U+2026 */

static enum log_level log_min_level = LOG_INFO;
static FILE *log_out; /* NULL: stderr, which is not a constant initialiser */
struct log_secret {
        char *value;
        size_t len;
        int plain; /* see log_secret_plain() */
};

static struct log_secret log_secrets[LOG_MAX_SECRETS];
static size_t log_nsecrets;
static int log_secrets_overflowed;

void log_set_level(enum log_level level)
{
        log_min_level = level;
}

int log_level_parse(const char *name, enum log_level *out)
{
        static const struct {
                const char *name;
                enum log_level level;
        } levels[] = {
            {"debug", LOG_DEBUG},
            {"info", LOG_INFO},
            {"warn", LOG_WARN},
            {"error", LOG_ERROR},
        };

        if (!name || !out)
                return -1;
        for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
                if (strcmp(name, levels[i].name) == 0) {
                        *out = levels[i].level;
                        return 0;
                }
        }
        return -1;
}

void log_set_output(FILE *fp)
{
        log_out = fp;
}

static const char *log_level_name(enum log_level level)
{
        switch (level) {
        case LOG_DEBUG:
                return "debug";
        case LOG_INFO:
                return "info";
        case LOG_WARN:
                return "warn";
        case LOG_ERROR:
                return "error";
        }
        return "error";
}

/* Secrets masked again in the encoded line: only those that can appear
 * verbatim inside a JSON string. One with a quote, backslash, control or
 * non-ASCII byte could only match structure (the field values were masked
 * before encoding) and masking that would break the line. */
static int log_secret_plain(const char *s, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
                        return 0;
        }
        return 1;
}

static int log_secret_known(const char *value, size_t len)
{
        for (size_t i = 0; i < log_nsecrets; i++) {
                if (log_secrets[i].len == len &&
                    memcmp(log_secrets[i].value, value, len) == 0)
                        return 1;
        }
        return 0;
}

void log_add_secret(const char *value)
{
        if (!value)
                return;
        size_t len = strlen(value);
        if (len < LOG_MIN_SECRET_LEN || log_secret_known(value, len))
                return;
        if (log_nsecrets == LOG_MAX_SECRETS) {
                /* Say so once instead of failing silently: an operator
                 * must learn that some secret is not being masked. */
                if (!log_secrets_overflowed) {
                        log_secrets_overflowed = 1;
                        log_emit(LOG_ERROR, NULL, NULL,
                                 "more than %d secrets registered; "
                                 "further ones are not redacted",
                                 LOG_MAX_SECRETS);
                }
                return;
        }
        char *copy = malloc(len + 1);
        if (!copy)
                return;
        memcpy(copy, value, len + 1);
        log_secrets[log_nsecrets].value = copy;
        log_secrets[log_nsecrets].len = len;
        log_secrets[log_nsecrets].plain = log_secret_plain(copy, len);
        log_nsecrets++;
}

void log_clear_secrets(void)
{
        for (size_t i = 0; i < log_nsecrets; i++) {
                free(log_secrets[i].value);
                log_secrets[i].value = NULL;
                log_secrets[i].len = 0;
        }
        log_nsecrets = 0;
        log_secrets_overflowed = 0;
}

/* Longest registered secret (only plain ones if plain_only) starting at s,
 * or 0. */
static size_t log_match_at(const char *s, size_t avail, int plain_only)
{
        size_t best = 0;
        for (size_t i = 0; i < log_nsecrets; i++) {
                const struct log_secret *sec = &log_secrets[i];
                if (sec->len > avail || sec->len <= best)
                        continue;
                if (plain_only && !sec->plain)
                        continue;
                if (memcmp(s, sec->value, sec->len) == 0)
                        best = sec->len;
        }
        return best;
}

/* One pass that decides on the original bytes before masking them, so
 * overlapping secrets ("abcdef", "defghi") are both masked completely. A
 * byte is overwritten only once every match starting at or before it has
 * been looked for. */
static void log_redact_n(char *s, size_t n, int plain_only)
{
        size_t mask_end = 0;
        for (size_t i = 0; i < n; i++) {
                size_t m = log_match_at(s + i, n - i, plain_only);
                if (m > 0 && i + m > mask_end)
                        mask_end = i + m;
                if (i < mask_end)
                        s[i] = '*';
        }
}

void log_redact(char *s)
{
        if (!s || log_nsecrets == 0)
                return;
        log_redact_n(s, strlen(s), 0);
}

/* After a cut, the text may end in the first bytes of a secret whose rest
 * was cut off; those bytes are masked too. */
static void log_redact_cut_tail(char *s, size_t n)
{
        size_t mask_from = n;
        for (size_t i = 0; i < log_nsecrets; i++) {
                const struct log_secret *sec = &log_secrets[i];
                size_t k = sec->len - 1 < n ? sec->len - 1 : n;
                for (; k > 0; k--) {
                        if (memcmp(s + n - k, sec->value, k) == 0)
                                break;
                }
                if (k > 0 && n - k < mask_from)
                        mask_from = n - k;
        }
        memset(s + mask_from, '*', n - mask_from);
}

/* Length of the valid UTF-8 sequence at s (at most avail bytes), 0 if the
 * bytes there are not one (overlong forms and surrogates included). */
static size_t log_utf8_seq(const unsigned char *s, size_t avail)
{
        size_t need;
        unsigned int cp;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                need = 2;
                cp = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                need = 3;
                cp = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                need = 4;
                cp = s[0] & 0x07;
        } else {
                return 0;
        }
        if (need > avail)
                return 0;
        for (size_t i = 1; i < need; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return need;
}

/* jansson only accepts valid UTF-8; a message quoting a binary body must
 * still be logged, so stray bytes become '?'. */
void log_fix_utf8(char *s, size_t n)
{
        size_t i = 0;
        while (i < n) {
                size_t len = log_utf8_seq((unsigned char *)s + i, n - i);
                if (len == 0) {
                        s[i] = '?';
                        len = 1;
                }
                i += len;
        }
}

/* Where to cut at most `max` bytes of s without splitting a character. */
size_t log_utf8_cut(const char *s, size_t max)
{
        size_t n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
                n--;
        return n;
}

/* Copies at most `max` bytes of `src` (with an ellipsis when cut) into dst
 * (of size max + 1), masks secrets and makes it valid UTF-8. */
static void log_prepare(char *dst, size_t max, const char *src)
{
        size_t n = strlen(src);
        int cut = n > max;
        if (cut)
                n = log_utf8_cut(src, max - (sizeof(log_ellipsis) - 1));
        memcpy(dst, src, n);
        dst[n] = '\0';
        log_redact_n(dst, n, 0);
        if (cut) {
                log_redact_cut_tail(dst, n);
                memcpy(dst + n, log_ellipsis, sizeof(log_ellipsis));
                n += sizeof(log_ellipsis) - 1;
        }
        log_fix_utf8(dst, n);
}

static int log_set_str(json_t *obj, const char *key, const char *value,
                       size_t max)
{
        char buf[LOG_MSG_MAX + 1];
        log_prepare(buf, max, value);
        return json_object_set_new(obj, key, json_string(buf));
}

static json_t *log_build(enum log_level level, const char *request_id,
                         const char *provider, const char *msg)
{
        char ts[32];
        clock_format_rfc3339(clock_wall_ms(), ts);

        json_t *obj = json_object();
        if (!obj)
                return NULL;
        int rc = json_object_set_new(obj, "ts", json_string(ts));
        rc |= json_object_set_new(obj, "level",
                                  json_string(log_level_name(level)));
        rc |= log_set_str(obj, "msg", msg, LOG_MSG_MAX);
        if (request_id)
                rc |= log_set_str(obj, "request_id", request_id, LOG_FIELD_MAX);
        if (provider)
                rc |= log_set_str(obj, "provider", provider, LOG_FIELD_MAX);
        if (rc != 0) {
                json_decref(obj);
                return NULL;
        }
        return obj;
}

static void log_write(json_t *obj)
{
        char *text = json_dumps(obj, JSON_COMPACT);
        if (!text)
                return;
        size_t n = strlen(text);
        char *line = realloc(text, n + 2);
        if (!line) {
                free(text);
                return;
        }
        log_redact_n(line, n, 1);
        line[n] = '\n';
        line[n + 1] = '\0';

        FILE *fp = log_out ? log_out : stderr;
        fwrite(line, 1, n + 1, fp);
        fflush(fp);
        free(line);
}

void log_emit(enum log_level level, const char *request_id,
              const char *provider, const char *fmt, ...)
{
        if (level < log_min_level || !fmt)
                return;

        /* One byte more than kept, so log_prepare() sees that it must cut
         * and add the ellipsis. */
        char msg[LOG_MSG_MAX + 2];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;

        json_t *obj = log_build(level, request_id, provider, msg);
        if (!obj)
                return;
        log_write(obj);
        json_decref(obj);
}
