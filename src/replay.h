/* replay — copy dead-lettered requests back to the request topic.
 *
 * For the operator, once a vendor outage is over: requests whose calls
 * ran out of retries (erasure-error-code "retries_exhausted", by default)
 * are produced again, byte for byte with their key and headers, minus our
 * erasure-* headers. Re-executing a deletion is harmless. The replay
 * consumer group (GROUP.replay) commits what it copied, so running the
 * command twice does not copy the same message twice. */
#ifndef ERASURE_REPLAY_H
#define ERASURE_REPLAY_H

#include <stddef.h>
#include <stdint.h>

struct settings;

struct replay_options {
        const char *const *codes; /* error codes to copy; NULL: default */
        size_t ncodes;
        int all;         /* copy every dead-lettered message */
        int dry_run;     /* count, copy nothing, commit nothing */
        int64_t idle_ms; /* stop after this long with nothing new */
};

struct replay_result {
        size_t copied;
        size_t skipped;      /* not wanted (error code) */
        size_t unproducible; /* Kafka refused the copy: reported, skipped */
};

/* Runs one replay pass to the end of the dead-letter topic. 0 on success,
 * -1 with errstr. A copy Kafka refuses for itself (too large, invalid) is
 * logged, counted in unproducible and passed over; the pass still commits.
 * Other produce errors stop it before the commit. */
int replay_run(const struct settings *s, const struct replay_options *o,
               struct replay_result *res, char *errstr, size_t errstr_size);

#endif
