/* retry — backoff with full jitter, Retry-After, attempt and time budget. */
#include "retry.h"

#include <stddef.h>
#include <string.h>

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

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), so no time_t or timezone is involved. */
static int64_t retry_days_from_civil(int64_t y, int m, int d)
{
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t mp = (m + 9) % 12;
        int64_t doy = (153 * mp + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static int retry_days_in_month(int y, int m)
{
        static const int days[] = {31, 28, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31};
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return m == 2 && leap ? 29 : days[m - 1];
}

/* A cursor over the header value; every take_* either consumes what it
 * expects and returns nonzero, or leaves `bad` set. */
struct retry_scan {
        const char *p;
        int bad;
};

static int take_lit(struct retry_scan *s, const char *lit)
{
        size_t n = strlen(lit);
        if (s->bad || strncmp(s->p, lit, n) != 0) {
                s->bad = 1;
                return 0;
        }
        s->p += n;
        return 1;
}

static int take_num(struct retry_scan *s, int digits)
{
        int v = 0;
        for (int i = 0; i < digits && !s->bad; i++) {
                if (!retry_is_digit(s->p[i])) {
                        s->bad = 1;
                        return -1;
                }
                v = v * 10 + (s->p[i] - '0');
        }
        if (s->bad)
                return -1;
        s->p += digits;
        return v;
}

/* Index of the first of names[] found at the cursor, consumed. */
static int take_name(struct retry_scan *s, const char *const names[], int count)
{
        for (int i = 0; i < count && !s->bad; i++) {
                size_t n = strlen(names[i]);
                if (strncmp(s->p, names[i], n) == 0) {
                        s->p += n;
                        return i;
                }
        }
        s->bad = 1;
        return -1;
}

static const char *const retry_months[] = {"Jan", "Feb", "Mar", "Apr",
                                           "May", "Jun", "Jul", "Aug",
                                           "Sep", "Oct", "Nov", "Dec"};
/* Long names first: "Sun" is a prefix of "Sunday". */
static const char *const retry_days_long[] = {
    "Monday", "Tuesday",  "Wednesday", "Thursday",
    "Friday", "Saturday", "Sunday"};
static const char *const retry_days_short[] = {"Mon", "Tue", "Wed", "Thu",
                                               "Fri", "Sat", "Sun"};

struct retry_date {
        int year, month, day, hour, min, sec; /* month 1-12 */
};

static void take_time(struct retry_scan *s, struct retry_date *d)
{
        d->hour = take_num(s, 2);
        take_lit(s, ":");
        d->min = take_num(s, 2);
        take_lit(s, ":");
        d->sec = take_num(s, 2);
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (after the day name). */
static void parse_imf(struct retry_scan *s, struct retry_date *d)
{
        take_lit(s, ", ");
        d->day = take_num(s, 2);
        take_lit(s, " ");
        d->month = take_name(s, retry_months, 12) + 1;
        take_lit(s, " ");
        d->year = take_num(s, 4);
        take_lit(s, " ");
        take_time(s, d);
        take_lit(s, " GMT");
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" (after the day name). The
 * century is the one that puts the date at most 50 years ahead of now
 * (RFC 7231 §7.1.1.1). */
static void parse_rfc850(struct retry_scan *s, struct retry_date *d,
                         int now_year)
{
        take_lit(s, ", ");
        d->day = take_num(s, 2);
        take_lit(s, "-");
        d->month = take_name(s, retry_months, 12) + 1;
        take_lit(s, "-");
        int yy = take_num(s, 2);
        take_lit(s, " ");
        take_time(s, d);
        take_lit(s, " GMT");
        d->year = now_year - now_year % 100 + yy;
        if (d->year > now_year + 50)
                d->year -= 100;
}

/* asctime: "Sun Nov  6 08:49:37 1994" (after the day name). */
static void parse_asctime(struct retry_scan *s, struct retry_date *d)
{
        take_lit(s, " ");
        d->month = take_name(s, retry_months, 12) + 1;
        take_lit(s, " ");
        if (!s->bad && s->p[0] == ' ') {
                s->p++;
                d->day = take_num(s, 1);
        } else {
                d->day = take_num(s, 2);
        }
        take_lit(s, " ");
        take_time(s, d);
        take_lit(s, " ");
        d->year = take_num(s, 4);
}

static int retry_date_valid(const struct retry_date *d)
{
        /* An RFC 850 century guessed from a strange "now" can leave the
         * four-digit range, where the arithmetic below is not meant to go. */
        return d->year >= 0 && d->year <= 9999 && d->month >= 1 &&
               d->month <= 12 && d->day >= 1 &&
               d->day <= retry_days_in_month(d->year, d->month) &&
               d->hour >= 0 && d->hour <= 23 && d->min >= 0 && d->min <= 59 &&
               d->sec >= 0 && d->sec <= 60;
}

static int retry_year_of(int64_t wall_ms)
{
        /* Close enough for choosing an RFC 850 century. */
        int64_t days = wall_ms / 86400000;
        return (int)(1970 + days * 400 / 146097);
}

/* Parses the HTTP-date in the n bytes at p to Unix ms in *out; -1 if it
 * is none. */
static int retry_parse_date(const char *p, size_t n, int64_t now_wall_ms,
                            int64_t *out)
{
        char buf[64];
        if (n >= sizeof(buf))
                return -1;
        memcpy(buf, p, n);
        buf[n] = '\0';

        struct retry_scan s = {buf, 0};
        struct retry_date d = {0, 0, 0, 0, 0, 0};
        if (take_name(&s, retry_days_long, 7) >= 0) {
                parse_rfc850(&s, &d, retry_year_of(now_wall_ms));
        } else {
                s.bad = 0;
                take_name(&s, retry_days_short, 7);
                if (!s.bad && s.p[0] == ',')
                        parse_imf(&s, &d);
                else
                        parse_asctime(&s, &d);
        }
        if (s.bad || *s.p != '\0' || !retry_date_valid(&d))
                return -1;
        int64_t days = retry_days_from_civil(d.year, d.month, d.day);
        int64_t secs = days * 86400 + d.hour * 3600 + d.min * 60 + d.sec;
        *out = secs * 1000;
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
        if (retry_parse_date(value, n, now_wall_ms, &at) != 0)
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
