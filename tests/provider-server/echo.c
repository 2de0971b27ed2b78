#include "echo.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Every header any of the four vendors authenticates with. */
static const char *const credential_headers[] = {
    "authorization",     "x-api-key",
    "convai-api-key",    "x-algolia-application-id",
    "x-algolia-api-key", "access-token",
};

static const char *const mode_names[] = {
    [ECHO_NONE] = "none",
    [ECHO_RAW] = "raw",
    [ECHO_PERCENT] = "percent",
    [ECHO_BASE64] = "base64",
};

bool echo_mode_parse(const char *name, enum echo_mode *out)
{
        for (int m = ECHO_RAW; m <= ECHO_BASE64; m++) {
                if (strcmp(name, mode_names[m]) == 0) {
                        *out = (enum echo_mode)m;
                        return true;
                }
        }
        return false;
}

const char *echo_mode_name(enum echo_mode m)
{
        return mode_names[m];
}

static bool unreserved(unsigned char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               (c >= '0' && c <= '9') || strchr("-._~", c) != NULL;
}

static char *percent_encode(const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(s);
        char *out = xmalloc(3 * n + 1);
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];

                if (unreserved(c)) {
                        out[o++] = (char)c;
                        continue;
                }
                out[o++] = '%';
                out[o++] = hex[c >> 4];
                out[o++] = hex[c & 0x0f];
        }
        out[o] = '\0';
        return out;
}

static char *base64_encode(const char *s)
{
        size_t n = strlen(s);
        char *out = xmalloc(4 * (n / 3 + 1) + 1);

        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
        return out;
}

static char *encode(const char *value, enum echo_mode mode)
{
        switch (mode) {
        case ECHO_PERCENT:
                return percent_encode(value);
        case ECHO_BASE64:
                return base64_encode(value);
        case ECHO_RAW:
        case ECHO_NONE:
                break;
        }
        return xstrdup(value);
}

/* Appends s to the growing string *buf of length *len. */
static void append(char **buf, size_t *len, const char *s)
{
        size_t n = strlen(s);

        *buf = xrealloc(*buf, *len + n + 1);
        memcpy(*buf + *len, s, n + 1);
        *len += n;
}

char *echo_credentials(json_t *headers, enum echo_mode mode, unsigned int pad)
{
        size_t len = pad;
        char *buf = xmalloc(pad + 1);

        memset(buf, '.', pad);
        buf[pad] = '\0';
        append(&buf, &len, "credentials received:");
        for (size_t i = 0; i < sizeof(credential_headers) / sizeof(char *);
             i++) {
                const char *name = credential_headers[i];
                const char *v =
                    json_string_value(json_object_get(headers, name));
                if (v == NULL)
                        continue;
                char *enc = encode(v, mode);
                append(&buf, &len, " ");
                append(&buf, &len, name);
                append(&buf, &len, "=");
                append(&buf, &len, enc);
                append(&buf, &len, ";");
                free(enc);
        }
        return buf;
}
