/* offsets — contiguous commit points over out-of-order completion. */
#include "offsets.h"

#include <stdlib.h>
#include <string.h>

/* Kafka allows far fewer partitions per topic than this; the bound keeps a
 * corrupt partition number from sizing an array. */
#define OFFSETS_MAX_PARTITION 1000000

struct pending {
        int64_t offset;
        int done;
};

/* A ring of in-flight offsets in arrival (= offset) order. */
struct partition_ring {
        struct pending *items;
        size_t cap;
        size_t head;
        size_t len;
};

struct offsets {
        struct partition_ring *parts;
        size_t nparts;
};

struct offsets *offsets_new(void)
{
        return calloc(1, sizeof(struct offsets));
}

void offsets_free(struct offsets *o)
{
        if (!o)
                return;
        for (size_t i = 0; i < o->nparts; i++)
                free(o->parts[i].items);
        free(o->parts);
        free(o);
}

static struct partition_ring *ring_get(const struct offsets *o, int32_t p)
{
        if (p < 0 || (size_t)p >= o->nparts)
                return NULL;
        return &o->parts[p];
}

static struct partition_ring *ring_get_or_add(struct offsets *o, int32_t p)
{
        if (p < 0 || p > OFFSETS_MAX_PARTITION)
                return NULL;
        if ((size_t)p >= o->nparts) {
                size_t n = (size_t)p + 1;
                struct partition_ring *np = realloc(o->parts, n * sizeof(*np));
                if (!np)
                        return NULL;
                memset(np + o->nparts, 0, (n - o->nparts) * sizeof(*np));
                o->parts = np;
                o->nparts = n;
        }
        return &o->parts[p];
}

static struct pending *ring_at(const struct partition_ring *r, size_t i)
{
        return &r->items[(r->head + i) % r->cap];
}

static int ring_grow(struct partition_ring *r)
{
        size_t ncap = r->cap ? r->cap * 2 : 16;
        struct pending *n = malloc(ncap * sizeof(*n));
        if (!n)
                return -1;
        for (size_t i = 0; i < r->len; i++)
                n[i] = *ring_at(r, i);
        free(r->items);
        r->items = n;
        r->cap = ncap;
        r->head = 0;
        return 0;
}

int offsets_begin(struct offsets *o, int32_t partition, int64_t offset)
{
        struct partition_ring *r = ring_get_or_add(o, partition);
        if (!r)
                return -1;
        if (r->len > 0 && ring_at(r, r->len - 1)->offset >= offset)
                return -1;
        if (r->len == r->cap && ring_grow(r) != 0)
                return -1;
        struct pending *slot = &r->items[(r->head + r->len) % r->cap];
        slot->offset = offset;
        slot->done = 0;
        r->len++;
        return 0;
}

/* Binary search: offsets in the ring are strictly increasing. */
static struct pending *ring_find(const struct partition_ring *r, int64_t offset)
{
        size_t lo = 0, hi = r->len;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                struct pending *p = ring_at(r, mid);
                if (p->offset == offset)
                        return p;
                if (p->offset < offset)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

int64_t offsets_finish(struct offsets *o, int32_t partition, int64_t offset)
{
        struct partition_ring *r = ring_get(o, partition);
        if (!r || r->len == 0)
                return -1;
        struct pending *p = ring_find(r, offset);
        if (!p || p->done)
                return -1;
        p->done = 1;
        int64_t next = -1;
        while (r->len > 0 && r->items[r->head].done) {
                next = r->items[r->head].offset + 1;
                r->head = (r->head + 1) % r->cap;
                r->len--;
        }
        return next;
}

size_t offsets_pending(const struct offsets *o, int32_t partition)
{
        const struct partition_ring *r = ring_get(o, partition);
        return r ? r->len : 0;
}

void offsets_drop(struct offsets *o, int32_t partition)
{
        struct partition_ring *r = ring_get(o, partition);
        if (!r)
                return;
        free(r->items);
        memset(r, 0, sizeof(*r));
}
