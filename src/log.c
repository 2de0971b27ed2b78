/* log — JSON log lines with registered secrets masked. */
#include "log.h"

#include "clock.h"
#include "text.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* A handful of providers times a handful of accounts; the bound keeps a
 * misconfiguration from turning every line into a quadratic scan. */
#define LOG_MAX_SECRETS 64
/* Shorter values would mask ordinary words (see log.h). */
#define LOG_MIN_SECRET_LEN 4
/* An encoded form shorter than this stands for a few bytes of the secret
 * only and would match ordinary text by chance. */
#define LOG_MIN_FORM_LEN 8
/* The value itself, percent-encoded with upper and with lower-case hex,
 * and base64 and base64url at each of the three byte alignments. */
#define LOG_FORMS_PER_SECRET 9
/* A message longer than this is cut and ends in an ellipsis: a line must
 * stay readable and cheap even when it quotes a whole response body. */
#define LOG_MSG_MAX 2048
/* request_id and provider are identifiers; anything longer is garbage from
 * a rejected message and only needs to be recognisable. */
#define LOG_FIELD_MAX 256

static const char log_ellipsis[] = "\xe2\x80\xa6"; /* U+2026 */

static enum log_level log_min_level = LOG_INFO;
static FILE *log_out; /* NULL: stderr, which is not a constant initialiser */

/* One byte string to mask: a registered secret or one encoding of it. */
struct log_secret {
        char *value;
        size_t len;
        int plain;           /* see log_secret_plain() */
        unsigned long owner; /* which log_add_secret() added it */
        unsigned refs;       /* log_add_secret()s not yet forgotten */
};

/* Worker loops run in threads of their own and register OAuth tokens as
 * they fetch them, while others log: the registry, and the redaction that
 * reads it, are under this lock. It also keeps lines whole and in order.
 * Functions named *_locked expect it held. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static struct log_secret log_secrets[LOG_MAX_SECRETS * LOG_FORMS_PER_SECRET];
static size_t log_nsecrets; /* entries of log_secrets[] in use */
static size_t log_nvalues;  /* secrets registered, counted for the bound */
static int log_secrets_overflowed;
static unsigned long log_owner; /* of the value being added */
/* One bit per pair of bytes some entry starts with: most positions of a
 * line start none, and are passed over without comparing each entry. */
static unsigned char log_pairs[65536 / 8];

static unsigned log_pair(const char *s)
{
        return (unsigned)(unsigned char)s[0] << 8 | (unsigned char)s[1];
}

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

/* The owner of the entry equal to value, or 0. */
static unsigned long log_secret_owner(const char *value, size_t len)
{
        for (size_t i = 0; i < log_nsecrets; i++) {
                if (log_secrets[i].len == len &&
                    memcmp(log_secrets[i].value, value, len) == 0)
                        return log_secrets[i].owner;
        }
        return 0;
}

static int log_secret_known(const char *value, size_t len)
{
        return log_secret_owner(value, len) != 0;
}

/* Two loops may be given the same token: each forgets it once, and it is
 * masked until both have. */
static void log_secret_ref(unsigned long owner, int delta)
{
        for (size_t i = 0; i < log_nsecrets; i++)
                if (log_secrets[i].owner == owner)
                        log_secrets[i].refs += (unsigned)delta;
}

/* Adds one byte string to mask, unless it is already there. */
static void log_add_form(const char *value, size_t len)
{
        if (log_secret_known(value, len) ||
            log_nsecrets == sizeof(log_secrets) / sizeof(log_secrets[0]))
                return;
        char *copy = malloc(len + 1);
        if (!copy)
                return;
        memcpy(copy, value, len);
        copy[len] = '\0';
        log_secrets[log_nsecrets].value = copy;
        log_secrets[log_nsecrets].len = len;
        log_secrets[log_nsecrets].plain = log_secret_plain(copy, len);
        log_secrets[log_nsecrets].owner = log_owner;
        log_secrets[log_nsecrets].refs = 1;
        log_nsecrets++;
        log_pairs[log_pair(copy) / 8] |=
            (unsigned char)(1u << log_pair(copy) % 8);
}

static int log_unreserved(unsigned char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
               c == '~';
}

/* The secret as a URL or form body would carry it (RFC 3986 §2.3: all but
 * the unreserved characters encoded), with either case of hex digit. */
static void log_add_percent(const char *value, size_t len, const char *hex)
{
        char *enc = malloc(3 * len + 1);
        if (!enc)
                return;
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)value[i];
                if (log_unreserved(c)) {
                        enc[o++] = (char)c;
                        continue;
                }
                enc[o++] = '%';
                enc[o++] = hex[c >> 4];
                enc[o++] = hex[c & 0x0f];
        }
        if (o != len && o >= LOG_MIN_FORM_LEN)
                log_add_form(enc, o);
        free(enc);
}

static void log_to_base64url(char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '+')
                        s[i] = '-';
                else if (s[i] == '/')
                        s[i] = '_';
        }
}

/* Base64 of a secret depends on where it starts in the encoded data (a
 * Basic credential is "user:secret"): `shift` bytes before it. Only the
 * characters made of the secret's bits alone are kept. */
static void log_add_base64(const char *value, size_t len, size_t shift)
{
        size_t in_len = shift + len;
        unsigned char *in = calloc(1, in_len);
        char *out = malloc(4 * (in_len / 3 + 1) + 1);
        if (in && out) {
                memcpy(in + shift, value, len);
                EVP_EncodeBlock((unsigned char *)out, in, (int)in_len);
                size_t from = (8 * shift + 5) / 6;
                size_t to = 8 * in_len / 6;
                if (to >= from + LOG_MIN_FORM_LEN) {
                        log_add_form(out + from, to - from);
                        log_to_base64url(out + from, to - from);
                        log_add_form(out + from, to - from);
                }
        }
        free(in);
        free(out);
}

/* A vendor may echo the credential as it received it: in a URL, in a
 * form body, inside a Basic header. */
static void log_add_encodings(const char *value, size_t len)
{
        log_add_percent(value, len, "0123456789ABCDEF");
        log_add_percent(value, len, "0123456789abcdef");
        for (size_t shift = 0; shift < 3; shift++)
                log_add_base64(value, len, shift);
}

/* 1 if the bound was hit for the first time: the caller says so. */
static int log_add_secret_locked(const char *value)
{
        size_t len = strlen(value);
        unsigned long owner = log_secret_owner(value, len);
        if (len < LOG_MIN_SECRET_LEN)
                return 0;
        if (owner) {
                log_secret_ref(owner, 1);
                return 0;
        }
        if (log_nvalues == LOG_MAX_SECRETS) {
                int first = !log_secrets_overflowed;
                log_secrets_overflowed = 1;
                return first;
        }
        log_nvalues++;
        log_owner++;
        log_add_form(value, len);
        log_add_encodings(value, len);
        return 0;
}

void log_add_secret(const char *value)
{
        if (!value)
                return;
        pthread_mutex_lock(&log_lock);
        int overflowed = log_add_secret_locked(value);
        pthread_mutex_unlock(&log_lock);
        /* Said once instead of failing silently: an operator must learn
         * that some secret is not being masked. */
        if (overflowed)
                log_emit(LOG_ERROR, NULL, NULL,
                         "more than %d secrets registered; further ones are "
                         "not redacted",
                         LOG_MAX_SECRETS);
}

static void log_forget_secret_locked(const char *value)
{
        size_t len = strlen(value), i = 0, o = 0;
        unsigned long owner = log_secret_owner(value, len);
        if (!owner)
                return;
        for (i = 0; i < log_nsecrets; i++)
                if (log_secrets[i].owner == owner && log_secrets[i].refs > 1) {
                        log_secret_ref(owner, -1);
                        return;
                }
        /* The pair bits stay set: they only speed up the scan. */
        for (i = 0; i < log_nsecrets; i++) {
                if (log_secrets[i].owner == owner)
                        free(log_secrets[i].value);
                else
                        log_secrets[o++] = log_secrets[i];
        }
        log_nsecrets = o;
        log_nvalues--;
}

void log_forget_secret(const char *value)
{
        if (!value)
                return;
        pthread_mutex_lock(&log_lock);
        log_forget_secret_locked(value);
        pthread_mutex_unlock(&log_lock);
}

void log_clear_secrets(void)
{
        pthread_mutex_lock(&log_lock);
        for (size_t i = 0; i < log_nsecrets; i++) {
                free(log_secrets[i].value);
                log_secrets[i].value = NULL;
                log_secrets[i].len = 0;
        }
        log_nsecrets = 0;
        log_nvalues = 0;
        memset(log_pairs, 0, sizeof(log_pairs));
        log_secrets_overflowed = 0;
        pthread_mutex_unlock(&log_lock);
}

/* Longest registered secret (only plain ones if plain_only) starting at s,
 * or 0. */
static size_t log_match_at(const char *s, size_t avail, int plain_only)
{
        size_t best = 0;
        /* Every entry is at least LOG_MIN_SECRET_LEN bytes long. */
        if (avail < 2 ||
            !(log_pairs[log_pair(s) / 8] & (1u << log_pair(s) % 8)))
                return 0;
        for (size_t i = 0; i < log_nsecrets; i++) {
                const struct log_secret *sec = &log_secrets[i];
                if (sec->len > avail || sec->len <= best ||
                    sec->value[0] != s[0])
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
static void log_redact_n(char *s, size_t n)
{
        size_t mask_end = 0;
        for (size_t i = 0; i < n; i++) {
                size_t m = log_match_at(s + i, n - i, 0);
                if (m > 0 && i + m > mask_end)
                        mask_end = i + m;
                if (i < mask_end)
                        s[i] = '*';
        }
}

void log_redact(char *s)
{
        if (!s)
                return;
        log_redact_len(s, strlen(s));
}

void log_redact_len(char *s, size_t n)
{
        if (!s)
                return;
        pthread_mutex_lock(&log_lock);
        if (log_nsecrets > 0)
                log_redact_n(s, n);
        pthread_mutex_unlock(&log_lock);
}

static void log_redact_cut_locked(char *s, size_t n)
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

void log_redact_cut(char *s, size_t n)
{
        if (!s)
                return;
        pthread_mutex_lock(&log_lock);
        log_redact_cut_locked(s, n);
        pthread_mutex_unlock(&log_lock);
}

/* Length of the JSON escape starting with the backslash at s[0]. */
static size_t log_escape_len(const char *s, size_t avail)
{
        size_t len = avail > 1 && s[1] == 'u' ? 6 : 2;
        return len < avail ? len : avail;
}

/* The pass over the encoded line, for secrets the encoding itself forms:
 * "\n" + "fzSECRET" reads "nfzSECRET" in the line. A match may start inside
 * an escape ("\n", "\u001b"); masking from there would leave a lone
 * backslash or a broken \u and the line would no longer be JSON, so the
 * whole escape is masked with it (and a match that ends inside the escape
 * it started in masks to the escape's end). Plain secrets hold no
 * backslash, so no match spans the start of another escape. Bytes before
 * i are final when a match at i is found, so the escape's head is
 * overwritten at once; bytes from i on are masked as the pass reaches
 * them, so overlapping matches are still all found on the original. */
static void log_redact_encoded(char *s, size_t n)
{
        size_t mask_end = 0, esc_start = 0, esc_end = 0;
        for (size_t i = 0; i < n; i++) {
                if (i >= esc_end && s[i] == '\\') {
                        esc_start = i;
                        esc_end = i + log_escape_len(s + i, n - i);
                }
                int in_esc = i < esc_end;
                size_t m = log_match_at(s + i, n - i, 1);
                if (m > 0) {
                        size_t end = i + m;
                        if (in_esc) {
                                memset(s + esc_start, '*', i - esc_start);
                                if (end < esc_end)
                                        end = esc_end;
                        }
                        if (end > mask_end)
                                mask_end = end;
                }
                if (i < mask_end)
                        s[i] = '*';
        }
}

/* Copies `src` (at most LOG_MSG_MAX + 1 bytes: longer was cut before)
 * into dst (of size max + 1), with an ellipsis when it must be cut to max
 * bytes; masks secrets and makes it valid UTF-8. Masking runs on all of
 * src before the cut, so a secret straddling the cut is masked whole. */
static void log_prepare(char *dst, size_t max, const char *src)
{
        char work[LOG_MSG_MAX + 2];
        size_t n = strnlen(src, sizeof(work) - 1);
        int cut = n > max;

        memcpy(work, src, n);
        work[n] = '\0';
        log_redact_n(work, n);
        if (cut) {
                /* src may itself end where a longer text was cut. */
                log_redact_cut_locked(work, n);
                n = text_utf8_cut(work, n, max - (sizeof(log_ellipsis) - 1));
        }
        memcpy(dst, work, n);
        if (cut) {
                memcpy(dst + n, log_ellipsis, sizeof(log_ellipsis) - 1);
                n += sizeof(log_ellipsis) - 1;
        }
        dst[n] = '\0';
        text_fix_utf8(dst, n);
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
        log_redact_encoded(line, n);
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

        pthread_mutex_lock(&log_lock);
        json_t *obj = log_build(level, request_id, provider, msg);
        if (obj)
                log_write(obj);
        pthread_mutex_unlock(&log_lock);
        json_decref(obj);
}
