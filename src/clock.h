/* clock — the two clocks the worker needs, in milliseconds. */
#ifndef ERASURE_CLOCK_H
#define ERASURE_CLOCK_H

#include <stdint.h>

/* Monotonic: timers, budgets, rate limits. */
int64_t clock_mono_ms(void);
/* Wall clock (Unix epoch): event timestamps. */
int64_t clock_wall_ms(void);
/* RFC 3339 UTC with milliseconds, "2026-11-22T10:00:00.123Z". */
void clock_format_rfc3339(int64_t wall_ms, char out[32]);
/* "2026-11-22T10:00:00Z" (fraction and numeric offsets allowed) to wall
 * ms; a bare "2026-11-22" is midnight UTC. 0, or -1 if s is none. */
int clock_parse_rfc3339(const char *s, int64_t *out_ms);

#endif
