/* text — UTF-8 repair and cuts, escaping, deceptive characters. */
#include "text.h"

#include <stdio.h>
#include <string.h>

static int text_ctl(unsigned char c)
{
        return c < 0x20 || c == 0x7f;
}

/* Lead byte: how many bytes the sequence has and the payload bits it
 * carries; 0 for a byte that cannot start one. */
static size_t text_utf8_lead(unsigned char c, unsigned int *cp)
{
        if (c >= 0xc2 && c <= 0xdf) {
                *cp = c & 0x1f;
                return 2;
        }
        if (c >= 0xe0 && c <= 0xef) {
                *cp = c & 0x0f;
                return 3;
        }
        if (c >= 0xf0 && c <= 0xf4) {
                *cp = c & 0x07;
                return 4;
        }
        return 0;
}

/* Decodes the sequence at s into *cp; returns its length or 0. */
static size_t text_utf8_decode(const unsigned char *s, size_t avail,
                               unsigned int *cp)
{
        if (avail == 0)
                return 0;
        if (s[0] < 0x80) {
                *cp = s[0];
                return 1;
        }
        size_t need = text_utf8_lead(s[0], cp);
        if (need == 0 || need > avail)
                return 0;
        for (size_t i = 1; i < need; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                *cp = (*cp << 6) | (s[i] & 0x3f);
        }
        if ((need == 3 && *cp < 0x800) || (need == 4 && *cp < 0x10000) ||
            *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
                return 0;
        return need;
}

size_t text_utf8_seq(const char *s, size_t avail)
{
        unsigned int cp;
        return text_utf8_decode((const unsigned char *)s, avail, &cp);
}

void text_fix_utf8(char *s, size_t n)
{
        size_t i = 0;
        while (i < n) {
                size_t len = text_utf8_seq(s + i, n - i);
                if (len == 0) {
                        s[i] = '?';
                        len = 1;
                }
                i += len;
        }
}

size_t text_utf8_cut(const char *s, size_t len, size_t max)
{
        if (len <= max)
                return len;
        size_t n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
                n--;
        return n;
}

size_t text_escape(char *dst, size_t cap, const char *src, size_t len,
                   size_t max_in, unsigned flags)
{
        size_t o = 0, i = 0;
        size_t n = len < max_in ? len : max_in;

        if (cap == 0)
                return 0;
        for (; i < n; i++) {
                unsigned char c = (unsigned char)src[i];
                int quote =
                    (flags & TEXT_ESCAPE_QUOTES) && (c == '"' || c == '\\');
                char tmp[8];
                size_t tl = 1;
                if (c >= 0x20 && c < 0x7f && !quote)
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
        return o;
}

int text_has_ctl(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (text_ctl((unsigned char)s[i]))
                        return 1;
        }
        return 0;
}

int text_is_printable_ascii(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c > 0x7e)
                        return 0;
        }
        return 1;
}

/* The code points text_has_deceptive() refuses, beyond C0 and DEL. */
static int text_deceptive_cp(unsigned int cp)
{
        return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
               (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

int text_has_deceptive(const char *s, size_t n)
{
        const unsigned char *u = (const unsigned char *)s;
        size_t i = 0;
        while (i < n) {
                unsigned int cp;
                size_t len = text_utf8_decode(u + i, n - i, &cp);
                if (len == 0 || text_ctl(u[i]) || text_deceptive_cp(cp))
                        return 1;
                i += len;
        }
        return 0;
}
