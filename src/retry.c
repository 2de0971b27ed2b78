/* retry — backoff with full jitter, Retry-After, attempt and time budget. */
#include "retry.h"

#include <regex.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

/* A hostile or broken server must not park a call (or, through the
 * cool-down, a whole provider account) for longer than this. */
#define RETRY_AFTER_MAX_S  3600
#define RETRY_AFTER_MAX_MS (RETRY_AFTER_MAX_S * 1000LL)
/* Any nonzero seed works; this one only replaces a forbidden 0 state. */
#define RETRY_RNG_RESEED 0x9e3779b97f4a7c15ULL

/* xorshift64* (Vigna): small, fast and plenty for spreading retries. */
static uint64_t retry_rand(uint64_t *state)
{
        uint64_t x = *state;
        /* 0 is a fixed point that would make every delay 0. */
        if (x == 0)
                x = RETRY_RNG_RESEED;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        return x * 0x2545f4914f6cdd1dULL;
}

/* min(max_ms, base_ms * 2^(attempt-1)) without overflowing. */
static int64_t retry_ceiling(const struct retry_policy *p, int attempt)
{
        int64_t base = p->base_ms > 0 ? p->base_ms : 0;
        int64_t max = p->max_ms > 0 ? p->max_ms : 0;
        int shift = attempt > 1 ? attempt - 1 : 0;

        /* base <= max >> shift implies base << shift <= max, so the shift
         * cannot overflow. */
        if (shift >= 63 || base > (max >> shift))
                return max;
        return base << shift;
}

int64_t retry_backoff_ms(const struct retry_policy *p, int attempt,
                         uint64_t *rng)
{
        int64_t ceiling = retry_ceiling(p, attempt);
        if (ceiling <= 0)
                return 0;
        /* The modulo bias is below ceiling / 2^64: nothing at these
         * magnitudes. */
        return (int64_t)(retry_rand(rng) % ((uint64_t)ceiling + 1));
}

static int retry_is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static int retry_is_ows(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

#define RETRY_DAY3  "(Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
#define RETRY_DAY   "(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
#define RETRY_MONTH "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
#define RETRY_TIME  "[0-9]{2}:[0-9]{2}:[0-9]{2}"

/* The three HTTP-date forms of RFC 7231 §7.1.1.1, exactly. curl_getdate()
 * does the calendar arithmetic but also takes what HTTP does not allow
 * (a missing zone, trailing junk, ISO dates), so the shape is checked
 * first. Each names the submatch holding the day of the month. */
static const struct retry_form {
        const char *re;
        int day_group;
} retry_forms[] = {
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    {"^" RETRY_DAY3 ", ([0-9]{2}) " RETRY_MONTH " [0-9]{4} " RETRY_TIME " GMT$",
     2},
    /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
    {"^" RETRY_DAY ", ([0-9]{2})-" RETRY_MONTH "-[0-9]{2} " RETRY_TIME " GMT$",
     2},
    /* asctime: "Sun Nov  6 08:49:37 1994" */
    {"^" RETRY_DAY3 " " RETRY_MONTH " ( [0-9]|[0-9]{2}) " RETRY_TIME
     " [0-9]{4}$",
     3},
};

/* The day of the month written in s, if s has one of the three forms; 0
 * otherwise. */
static int retry_date_form(const char *s)
{
        for (size_t i = 0; i < sizeof(retry_forms) / sizeof(retry_forms[0]);
             i++) {
                regex_t re;
                regmatch_t m[4];
                if (regcomp(&re, retry_forms[i].re, REG_EXTENDED) != 0)
                        return 0;
                int rc = regexec(&re, s, 4, m, 0);
                regfree(&re);
                if (rc != 0)
                        continue;
                const char *d = s + m[retry_forms[i].day_group].rm_so;
                return atoi(d[0] == ' ' ? d + 1 : d);
        }
        return 0;
}

/* Parses the HTTP-date in the n bytes at p to Unix ms in *out; -1 if it
 * is none. */
static int retry_parse_date(const char *p, size_t n, int64_t *out)
{
        char buf[64];
        if (n >= sizeof(buf))
                return -1;
        memcpy(buf, p, n);
        buf[n] = '\0';

        int mday = retry_date_form(buf);
        if (mday == 0)
                return -1;
        time_t t = curl_getdate(buf, NULL);
        struct tm tm;
        /* curl rolls "31 Nov" over to 1 Dec: a day that does not exist in
         * its month comes back as another day. */
        if (t == (time_t)-1 || !gmtime_r(&t, &tm) || tm.tm_mday != mday)
                return -1;
        *out = (int64_t)t * 1000;
        return 0;
}

/* delta-seconds: digits only, saturating at the cap so a 30-digit value
 * neither overflows nor counts as garbage. */
static int64_t retry_parse_delta(const char *p, size_t n)
{
        int64_t secs = 0;
        for (size_t i = 0; i < n; i++) {
                if (!retry_is_digit(p[i]))
                        return -1;
                if (secs <= RETRY_AFTER_MAX_S)
                        secs = secs * 10 + (p[i] - '0');
        }
        if (secs > RETRY_AFTER_MAX_S)
                secs = RETRY_AFTER_MAX_S;
        return secs * 1000;
}

int64_t retry_after_ms(const char *value, int64_t now_wall_ms)
{
        if (!value)
                return -1;
        /* Header values may carry optional whitespace (RFC 7230 OWS). */
        while (retry_is_ows(*value))
                value++;
        size_t n = strlen(value);
        while (n > 0 && retry_is_ows(value[n - 1]))
                n--;
        if (n == 0)
                return -1;
        if (retry_is_digit(value[0]))
                return retry_parse_delta(value, n);

        int64_t at;
        if (retry_parse_date(value, n, &at) != 0)
                return -1;
        /* Subtracting only when the two are close: now_wall_ms is any
         * int64 a caller passes, at is within years 0-9999. */
        if (now_wall_ms <= at - RETRY_AFTER_MAX_MS)
                return RETRY_AFTER_MAX_MS;
        if (now_wall_ms >= at)
                return 0;
        return at - now_wall_ms;
}

/* a + b, saturating instead of overflowing. */
static int64_t retry_sat_add(int64_t a, int64_t b)
{
        if (b > 0 && a > INT64_MAX - b)
                return INT64_MAX;
        if (b < 0 && a < INT64_MIN - b)
                return INT64_MIN;
        return a + b;
}

int64_t retry_next_delay(const struct retry_policy *p, int attempts_done,
                         int64_t first_ms, int64_t now_ms, int64_t retry_after,
                         uint64_t *rng)
{
        if (attempts_done >= p->max_attempts)
                return -1;
        int64_t delay = retry_backoff_ms(p, attempts_done, rng);
        if (retry_after >= 0 && retry_after > delay)
                delay = retry_after;
        int64_t deadline = retry_sat_add(first_ms, p->budget_ms);
        if (deadline < retry_sat_add(now_ms, delay))
                return -1;
        return delay;
}
