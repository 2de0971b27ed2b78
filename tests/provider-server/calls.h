/* The record of provider calls and the server's counters. */
#ifndef PS_CALLS_H
#define PS_CALLS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "providers.h"

void calls_init(size_t max_records);
void calls_free(void);

/* Counts a request when it has fully arrived, before any delay, so that
 * a test can see a slow call in flight. */
void calls_arrived(enum provider p);
/* The answer to a counted request was sent, or none will be (reset, hang
 * given up, client gone): it is no longer in flight. */
void calls_answered(enum provider p);

/* Stores rec (the reference is taken) with the next seq number and counts
 * its status. */
void calls_record(json_t *rec, unsigned int status);

/* {"calls":[records with seq > since, at most limit (0: all)],
 *  "next": seq, "dropped": n}; malloc'd. */
char *calls_dump(uint64_t since, size_t limit, size_t *len);
void calls_clear(void);

/* Returns the new connection's id (1, 2, ...). */
uint64_t calls_connection_opened(void);
void calls_connection_closed(void);

json_t *calls_stats(void);
void calls_stats_reset(void);

#endif
