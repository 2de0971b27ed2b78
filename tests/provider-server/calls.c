#include "calls.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_STATUS 600

/* Records are kept serialised: about a third of the memory of jansson
 * trees, and a dump is then plain concatenation. */
struct record {
        uint64_t seq;
        char *json;
        size_t len;
};

static struct {
        pthread_mutex_t mu;
        struct record *ring;
        size_t cap;
        size_t max;
        size_t head; /* index of the oldest record */
        size_t n;
        uint64_t last_seq;
        uint64_t dropped;
        /* stats */
        uint64_t requests;
        uint64_t by_provider[PROVIDER_COUNT + 1]; /* last: unrouted */
        /* Arrived and not yet answered, and the most seen at once. */
        uint64_t in_flight[PROVIDER_COUNT + 1];
        uint64_t max_in_flight[PROVIDER_COUNT + 1];
        uint64_t by_status[MAX_STATUS];
        uint64_t connections;
        uint64_t active;
        uint64_t max_active;
        uint64_t next_connection_id;
} cl = {.mu = PTHREAD_MUTEX_INITIALIZER};

void calls_init(size_t max_records)
{
        cl.max = max_records != 0 ? max_records : 1;
}

static struct record *at(size_t i)
{
        return &cl.ring[(cl.head + i) % cl.cap];
}

static void drop_all(void)
{
        for (size_t i = 0; i < cl.n; i++)
                free(at(i)->json);
        cl.head = 0;
        cl.n = 0;
}

void calls_free(void)
{
        drop_all();
        free(cl.ring);
        cl.ring = NULL;
        cl.cap = 0;
}

/* Grows by doubling (unrolling the ring) until the configured maximum. */
static void grow(void)
{
        size_t cap = cl.cap != 0 ? cl.cap * 2 : 1024;
        struct record *ring;

        if (cap > cl.max)
                cap = cl.max;
        ring = xmalloc(cap * sizeof(*ring));
        for (size_t i = 0; i < cl.n; i++)
                ring[i] = *at(i);
        free(cl.ring);
        cl.ring = ring;
        cl.cap = cap;
        cl.head = 0;
}

static void append(struct record rec)
{
        if (cl.n == cl.cap && cl.cap < cl.max)
                grow();
        if (cl.n == cl.cap) {
                free(at(0)->json);
                cl.head = (cl.head + 1) % cl.cap;
                cl.n--;
                cl.dropped++;
        }
        *at(cl.n) = rec;
        cl.n++;
}

static int slot_of(enum provider p)
{
        return p >= 0 && p < PROVIDER_COUNT ? (int)p : PROVIDER_COUNT;
}

void calls_arrived(enum provider p)
{
        int i = slot_of(p);

        pthread_mutex_lock(&cl.mu);
        cl.requests++;
        cl.by_provider[i]++;
        if (++cl.in_flight[i] > cl.max_in_flight[i])
                cl.max_in_flight[i] = cl.in_flight[i];
        pthread_mutex_unlock(&cl.mu);
}

void calls_answered(enum provider p)
{
        int i = slot_of(p);

        pthread_mutex_lock(&cl.mu);
        if (cl.in_flight[i] > 0)
                cl.in_flight[i]--;
        pthread_mutex_unlock(&cl.mu);
}

void calls_record(json_t *rec, unsigned int status)
{
        char *rest = json_dumps(rec, JSON_COMPACT);
        size_t rest_len;
        struct record r;

        json_decref(rec);
        if (rest == NULL || rest[0] != '{' || rest[1] == '}')
                abort();
        rest_len = strlen(rest);
        r.json = xmalloc(rest_len + 32);
        pthread_mutex_lock(&cl.mu);
        r.seq = ++cl.last_seq;
        /* seq goes in front: "{" + "\"seq\":N," + the rest after "{". */
        r.len = (size_t)snprintf(r.json, rest_len + 32, "{\"seq\":%llu,%s",
                                 (unsigned long long)r.seq, rest + 1);
        append(r);
        if (status < MAX_STATUS)
                cl.by_status[status]++;
        pthread_mutex_unlock(&cl.mu);
        free(rest);
}

/* Index of the first record with seq > since (records are in seq order). */
static size_t first_after(uint64_t since)
{
        size_t lo = 0;
        size_t hi = cl.n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (at(mid)->seq <= since)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

char *calls_dump(uint64_t since, size_t limit, size_t *len)
{
        size_t start, end, total = 96;
        uint64_t next = since;
        char *out, *p;

        pthread_mutex_lock(&cl.mu);
        start = first_after(since);
        end = limit != 0 && cl.n - start > limit ? start + limit : cl.n;
        for (size_t i = start; i < end; i++)
                total += at(i)->len + 1;
        out = xmalloc(total);
        p = out;
        memcpy(p, "{\"calls\":[", 10);
        p += 10;
        for (size_t i = start; i < end; i++) {
                if (i != start)
                        *p++ = ',';
                memcpy(p, at(i)->json, at(i)->len);
                p += at(i)->len;
                next = at(i)->seq;
        }
        p += snprintf(p, 80, "],\"next\":%llu,\"dropped\":%llu}",
                      (unsigned long long)next, (unsigned long long)cl.dropped);
        pthread_mutex_unlock(&cl.mu);
        *len = (size_t)(p - out);
        return out;
}

void calls_clear(void)
{
        /* seq keeps counting, so a poller's "since" stays meaningful. */
        pthread_mutex_lock(&cl.mu);
        drop_all();
        cl.dropped = 0;
        pthread_mutex_unlock(&cl.mu);
}

uint64_t calls_connection_opened(void)
{
        uint64_t id;

        pthread_mutex_lock(&cl.mu);
        id = ++cl.next_connection_id;
        cl.connections++;
        cl.active++;
        if (cl.active > cl.max_active)
                cl.max_active = cl.active;
        pthread_mutex_unlock(&cl.mu);
        return id;
}

void calls_connection_closed(void)
{
        pthread_mutex_lock(&cl.mu);
        if (cl.active > 0)
                cl.active--;
        pthread_mutex_unlock(&cl.mu);
}

static json_t *provider_counts(const uint64_t *counts)
{
        json_t *j = json_object();

        for (int p = 0; p < PROVIDER_COUNT; p++)
                json_object_set_new(j, provider_name((enum provider)p),
                                    json_integer((json_int_t)counts[p]));
        json_object_set_new(j, "none",
                            json_integer((json_int_t)counts[PROVIDER_COUNT]));
        return j;
}

static json_t *status_counts(void)
{
        json_t *j = json_object();
        char key[8];

        for (unsigned int s = 0; s < MAX_STATUS; s++) {
                if (cl.by_status[s] == 0)
                        continue;
                snprintf(key, sizeof(key), "%u", s);
                json_object_set_new(j, key,
                                    json_integer((json_int_t)cl.by_status[s]));
        }
        return j;
}

json_t *calls_stats(void)
{
        json_t *j;

        pthread_mutex_lock(&cl.mu);
        j = json_pack(
            "{s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:I, s:I}", "requests",
            (json_int_t)cl.requests, "connections", (json_int_t)cl.connections,
            "active_connections", (json_int_t)cl.active,
            "max_active_connections", (json_int_t)cl.max_active, "by_provider",
            provider_counts(cl.by_provider), "in_flight_by_provider",
            provider_counts(cl.in_flight), "max_in_flight_by_provider",
            provider_counts(cl.max_in_flight), "by_status", status_counts(),
            "recorded_calls", (json_int_t)cl.n, "dropped_calls",
            (json_int_t)cl.dropped);
        pthread_mutex_unlock(&cl.mu);
        return j;
}

void calls_stats_reset(void)
{
        /* Connection ids keep counting so they stay unique. */
        pthread_mutex_lock(&cl.mu);
        cl.requests = 0;
        memset(cl.by_provider, 0, sizeof(cl.by_provider));
        memcpy(cl.max_in_flight, cl.in_flight, sizeof(cl.max_in_flight));
        memset(cl.by_status, 0, sizeof(cl.by_status));
        cl.connections = 0;
        cl.max_active = cl.active;
        pthread_mutex_unlock(&cl.mu);
}
