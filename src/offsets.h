/* offsets — which offset of a partition may be committed, when requests
 * finish out of order.
 *
 * Each partition keeps its in-flight offsets in arrival order; the commit
 * point only moves past an offset once it and every offset before it are
 * finished. A crash therefore re-delivers unfinished work, never skips it. */
#ifndef ERASURE_OFFSETS_H
#define ERASURE_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

struct offsets;

struct offsets *offsets_new(void);
void offsets_free(struct offsets *o);

/* Starts tracking a consumed offset. Offsets of a partition must be added
 * in increasing order (Kafka delivers them so). Returns 0, -1 on ENOMEM or
 * out-of-order offset. */
int offsets_begin(struct offsets *o, int32_t partition, int64_t offset);
/* Marks an offset finished. Returns the next offset to commit (the first
 * unfinished one, or last finished + 1) if the commit point moved, else -1. */
int64_t offsets_finish(struct offsets *o, int32_t partition, int64_t offset);
/* Offsets of a partition still held back: unfinished ones and finished
 * ones behind them (0 for unknown partitions). */
size_t offsets_pending(const struct offsets *o, int32_t partition);
/* Forgets a partition (revoked or lost). */
void offsets_drop(struct offsets *o, int32_t partition);

#endif
