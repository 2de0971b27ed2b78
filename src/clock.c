/* clock — monotonic and wall-clock milliseconds, RFC 3339 formatting. */
#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* RFC 3339 has four-digit years only: 0000-01-01T00:00:00.000Z and
 * 9999-12-31T23:59:59.999Z bound what the formatter can express. */
#define CLOCK_MIN_MS (-62167219200000LL)
#define CLOCK_MAX_MS 253402300799999LL

static int64_t clock_read_ms(clockid_t id)
{
        struct timespec ts;

        /* Both clocks are mandatory on POSIX systems; a failure would be a
         * broken platform, and 0 keeps callers' arithmetic defined. */
        if (clock_gettime(id, &ts) != 0)
                return 0;
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
        return clock_read_ms(CLOCK_MONOTONIC);
}

int64_t clock_wall_ms(void)
{
        return clock_read_ms(CLOCK_REALTIME);
}

/* Writes v as exactly `width` decimal digits. */
static char *clock_put(char *p, unsigned int v, int width)
{
        for (int i = width - 1; i >= 0; i--) {
                p[i] = (char)('0' + v % 10);
                v /= 10;
        }
        return p + width;
}

void clock_format_rfc3339(int64_t wall_ms, char out[32])
{
        if (wall_ms < CLOCK_MIN_MS)
                wall_ms = CLOCK_MIN_MS;
        if (wall_ms > CLOCK_MAX_MS)
                wall_ms = CLOCK_MAX_MS;

        /* Floor division, so instants before 1970 keep a positive
         * millisecond part instead of a negative one. */
        int64_t secs = wall_ms / 1000;
        int64_t ms = wall_ms % 1000;
        if (ms < 0) {
                ms += 1000;
                secs -= 1;
        }

        time_t t = (time_t)secs;
        struct tm tm;
        if (!gmtime_r(&t, &tm)) {
                memcpy(out, "1970-01-01T00:00:00.000Z", 25);
                return;
        }
        /* The clamp above keeps every field within its width. */
        char *p = clock_put(out, (unsigned int)(tm.tm_year + 1900), 4);
        *p++ = '-';
        p = clock_put(p, (unsigned int)(tm.tm_mon + 1), 2);
        *p++ = '-';
        p = clock_put(p, (unsigned int)tm.tm_mday, 2);
        *p++ = 'T';
        p = clock_put(p, (unsigned int)tm.tm_hour, 2);
        *p++ = ':';
        p = clock_put(p, (unsigned int)tm.tm_min, 2);
        *p++ = ':';
        p = clock_put(p, (unsigned int)tm.tm_sec, 2);
        *p++ = '.';
        p = clock_put(p, (unsigned int)ms, 3);
        *p++ = 'Z';
        *p = '\0';
}

/* ---- parsing (report --since, requested_at) ---- */

static int parse_zone(const char *p, int64_t *offset_ms)
{
        int hh, mm, n = 0;
        if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
                *offset_ms = 0;
                return 0;
        }
        if ((p[0] != '+' && p[0] != '-') ||
            sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 || p[1 + n] != '\0')
                return -1;
        *offset_ms = (hh * 60LL + mm) * 60000LL * (p[0] == '-' ? -1 : 1);
        return 0;
}

int clock_parse_rfc3339(const char *s, int64_t *out_ms)
{
        struct tm tm = {0};
        int n = 0, frac_ms = 0;
        if (!s || sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon,
                         &tm.tm_mday, &n) != 3)
                return -1;
        const char *p = s + n;
        int64_t zone = 0;
        if (*p != '\0') {
                if ((*p != 'T' && *p != 't') ||
                    sscanf(p + 1, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min,
                           &tm.tm_sec, &n) != 3)
                        return -1;
                p += 1 + n;
                if (*p == '.') {
                        int scale = 100;
                        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
                                frac_ms += (*p - '0') * scale;
                }
                if (parse_zone(p, &zone))
                        return -1;
        }
        if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
            tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
            tm.tm_sec > 60)
                return -1;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        time_t t = timegm(&tm);
        *out_ms = (int64_t)t * 1000 + frac_ms - zone;
        return 0;
}
