/* report_book — requests of a period joined with their outcomes. */
#include "report_book.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "outcome.h"

#define DAY_MS 86400000LL

struct report_book {
        struct report_entry **entries;
        size_t n, cap;
        /* Open addressing: request id, and "@PARTITION@OFFSET" for every
         * request message (the dead letter of a message without a
         * readable id names only its position), to an index in entries.
         * "@" cannot start a request id, so the two never collide; the
         * "@" keys are owned here, the ids are the entries' own strings. */
        char **keys;
        size_t *vals;
        size_t nkeys, kcap;
        struct report_totals totals;
        char *only_id;
};

static const char *const status_names[REPORT_NSTATUS] = {
    "open", "completed", "partially_failed", "failed", "rejected"};

const char *report_status_name(enum report_status s)
{
        return s < REPORT_NSTATUS ? status_names[s] : "unknown";
}

/* ---- the index ---- */

static size_t hash(const char *s)
{
        size_t h = 1469598103934665603ULL; /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        return h;
}

static int find(const struct report_book *b, const char *key, size_t *idx)
{
        if (!b->kcap)
                return 0;
        for (size_t i = hash(key) & (b->kcap - 1); b->keys[i];
             i = (i + 1) & (b->kcap - 1))
                if (strcmp(b->keys[i], key) == 0) {
                        *idx = b->vals[i];
                        return 1;
                }
        return 0;
}

static void place(char **keys, size_t *vals, size_t cap, char *key, size_t v)
{
        size_t i = hash(key) & (cap - 1);
        while (keys[i])
                i = (i + 1) & (cap - 1);
        keys[i] = key;
        vals[i] = v;
}

static int grow_index(struct report_book *b)
{
        size_t cap = b->kcap ? b->kcap * 2 : 1024;
        char **keys = calloc(cap, sizeof(*keys));
        size_t *vals = calloc(cap, sizeof(*vals));
        if (!keys || !vals) {
                free(keys);
                free(vals);
                return -1;
        }
        for (size_t i = 0; i < b->kcap; i++)
                if (b->keys[i])
                        place(keys, vals, cap, b->keys[i], b->vals[i]);
        free(b->keys);
        free(b->vals);
        b->keys = keys;
        b->vals = vals;
        b->kcap = cap;
        return 0;
}

/* key is copied when it is a position, else borrowed from the entry. */
static int index_add(struct report_book *b, char *key, size_t v)
{
        if ((b->nkeys + 1) * 10 > b->kcap * 7 && grow_index(b))
                return -1;
        char *k = key[0] == '@' ? strdup(key) : key;
        if (!k)
                return -1;
        place(b->keys, b->vals, b->kcap, k, v);
        b->nkeys++;
        return 0;
}

/* ---- life cycle ---- */

struct report_book *report_book_new(const char *only_id)
{
        struct report_book *b = calloc(1, sizeof(*b));
        if (b && only_id && !(b->only_id = strdup(only_id))) {
                free(b);
                return NULL;
        }
        return b;
}

static void failure_clear(struct report_failure *f)
{
        free(f->key);
        free(f->provider);
        free(f->action);
        free(f->resource);
        free(f->error);
}

static void entry_free(struct report_entry *e)
{
        if (!e)
                return;
        for (size_t i = 0; i < e->nfailures; i++)
                failure_clear(&e->failures[i]);
        free(e->failures);
        free(e->request_id);
        free(e->error_code);
        free(e->error);
        free(e->dead_letter_code);
        free(e);
}

void report_book_free(struct report_book *b)
{
        if (!b)
                return;
        /* Keys first: telling owned from borrowed reads the ids. */
        for (size_t i = 0; i < b->kcap; i++)
                if (b->keys[i] && b->keys[i][0] == '@')
                        free(b->keys[i]);
        for (size_t i = 0; i < b->n; i++)
                entry_free(b->entries[i]);
        free(b->entries);
        free(b->keys);
        free(b->vals);
        free(b->only_id);
        free(b);
}

/* ---- requests ---- */

static const char *str_member(json_t *obj, const char *name)
{
        json_t *v = json_object_get(obj, name);
        return json_is_string(v) ? json_string_value(v) : NULL;
}

static int64_t time_member(json_t *obj, const char *name)
{
        int64_t ms;
        return clock_parse_rfc3339(str_member(obj, name), &ms) ? -1 : ms;
}

static struct report_entry *entry_new(struct report_book *b, const char *id)
{
        if (b->n == b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 256;
                void *p = realloc(b->entries, cap * sizeof(*b->entries));
                if (!p)
                        return NULL;
                b->entries = p;
                b->cap = cap;
        }
        struct report_entry *e = calloc(1, sizeof(*e));
        if (!e || (id && !(e->request_id = strdup(id)))) {
                free(e);
                return NULL;
        }
        e->finished_at_ms = -1;
        e->requested_at_ms = -1;
        e->first_seen_ms = -1;
        b->entries[b->n] = e;
        if (id && index_add(b, e->request_id, b->n)) {
                entry_free(e);
                return NULL;
        }
        b->n++;
        return e;
}

int report_book_add_request(struct report_book *b, int32_t partition,
                            int64_t offset, int64_t ts_ms, const void *value,
                            size_t len)
{
        json_t *doc = json_loadb(value, len, 0, NULL);
        const char *id = str_member(doc, "request_id");
        if (id && (!*id || *id == '@'))
                id = NULL;
        int64_t requested = time_member(doc, "requested_at");
        if (b->only_id && (!id || strcmp(id, b->only_id) != 0)) {
                json_decref(doc);
                return 0;
        }
        size_t idx;
        struct report_entry *e = NULL;
        int rc = -1;
        char pos[40];
        snprintf(pos, sizeof(pos), "@%d@%lld", (int)partition,
                 (long long)offset);
        /* A request seen twice (replayed, re-sent) is one row. */
        if (id && find(b, id, &idx)) {
                e = b->entries[idx];
        } else if ((e = entry_new(b, id))) {
                idx = b->n - 1;
                snprintf(e->source, sizeof(e->source), "%d@%lld",
                         (int)partition, (long long)offset);
        }
        size_t seen;
        if (!e || (!find(b, pos, &seen) && index_add(b, pos, idx)))
                goto out;
        if (e->first_seen_ms < 0 || ts_ms < e->first_seen_ms)
                e->first_seen_ms = ts_ms;
        if (e->requested_at_ms < 0)
                e->requested_at_ms = requested;
        rc = 0;
out:
        json_decref(doc);
        return rc;
}

/* ---- outcomes ---- */

static const char *const call_names[REPORT_NCALLS] = {
    "deleted", "already_absent", "failed", "rejected"};
static const char *const verif_names[REPORT_NVERIF] = {
    "absent", "present", "unverified", "not_supported"};

static int name_index(const char *const *names, size_t n, const char *s)
{
        for (size_t i = 0; s && i < n; i++)
                if (strcmp(names[i], s) == 0)
                        return (int)i;
        return -1;
}

static int dup_field(char **dst, const char *src)
{
        free(*dst);
        *dst = src ? strdup(src) : NULL;
        return src && !*dst ? -1 : 0;
}

/* The summary's verification counts, wherever the worker puts them: an
 * object "verification" or top-level members; "verified" for "absent". */
static void summary_verif(struct report_entry *e, json_t *doc)
{
        json_t *v = json_object_get(doc, "verification");
        json_t *from = json_is_object(v) ? v : doc;
        for (int i = 0; i < REPORT_NVERIF; i++) {
                json_t *c = json_object_get(from, verif_names[i]);
                if (i == REPORT_VERIFIED && !c)
                        c = json_object_get(from, "verified");
                if (json_is_integer(c) && json_integer_value(c) >= 0) {
                        e->verif[i] = (size_t)json_integer_value(c);
                        e->summary_verif = 1;
                }
        }
}

static int fold_summary(struct report_entry *e, json_t *doc)
{
        int64_t fin = time_member(doc, "finished_at");
        /* Redelivery produces a second summary: the latest one counts. */
        if (e->has_summary && fin < e->finished_at_ms)
                return 0;
        e->has_summary = 1;
        e->finished_at_ms = fin;
        const char *st = str_member(doc, "status");
        int s = name_index(status_names, REPORT_NSTATUS, st);
        /* An overall status we do not know is not a success. */
        e->status = s > REPORT_OPEN ? (enum report_status)s : REPORT_FAILED;
        json_t *counts = json_object_get(doc, "counts");
        for (int i = 0; i < REPORT_NCALLS; i++) {
                json_t *c = json_object_get(counts, call_names[i]);
                e->calls[i] = json_is_integer(c) && json_integer_value(c) > 0
                                  ? (size_t)json_integer_value(c)
                                  : 0;
        }
        memset(e->verif, 0, sizeof(e->verif));
        e->summary_verif = 0;
        summary_verif(e, doc);
        if (e->status != REPORT_REJECTED)
                return 0;
        return dup_field(&e->error_code, str_member(doc, "error_code")) ||
               dup_field(&e->error, str_member(doc, "error"));
}

static struct report_failure *failure_find(struct report_entry *e,
                                           const char *key)
{
        for (size_t i = 0; key && i < e->nfailures; i++)
                if (strcmp(e->failures[i].key, key) == 0)
                        return &e->failures[i];
        return NULL;
}

static int failure_fill(struct report_failure *f, json_t *doc, const char *key)
{
        json_t *hs = json_object_get(doc, "http_status");
        f->http_status = json_is_integer(hs) ? (long)json_integer_value(hs) : 0;
        f->retryable = json_is_true(json_object_get(doc, "retryable"));
        return dup_field(&f->key, key) ||
               dup_field(&f->provider, str_member(doc, "provider")) ||
               dup_field(&f->action, str_member(doc, "action")) ||
               dup_field(&f->resource, str_member(doc, "resource")) ||
               dup_field(&f->error, str_member(doc, "error"));
}

static int failure_add(struct report_entry *e, json_t *doc, const char *key)
{
        struct report_failure *f = failure_find(e, key);
        if (!f && e->nfailures == REPORT_BOOK_FAILURES_MAX) {
                e->failures_dropped++;
                return 0;
        }
        if (!f) {
                void *p = realloc(e->failures,
                                  (e->nfailures + 1) * sizeof(*e->failures));
                if (!p)
                        return -1;
                e->failures = p;
                f = &e->failures[e->nfailures++];
                memset(f, 0, sizeof(*f));
        }
        return failure_fill(f, doc, key ? key : "");
}

/* A call that failed once and succeeded on redelivery is not failed. */
static void failure_drop(struct report_entry *e, const char *key)
{
        struct report_failure *f = failure_find(e, key);
        if (!f)
                return;
        failure_clear(f);
        *f = e->failures[--e->nfailures];
}

static int fold_call(struct report_entry *e, json_t *doc)
{
        const char *key = str_member(doc, "idempotency_key");
        const char *status = str_member(doc, "status");
        /* A discover read deletes nothing: it is no call to count. */
        if (status && strcmp(status, "discovered") == 0)
                return 0;
        int st = name_index(call_names, REPORT_NCALLS, status);
        if (st < 0)
                st = REPORT_CALL_FAILED;
        e->seen_calls[st]++;
        /* The worker's verification is an object {status, ...}. */
        json_t *ver = json_object_get(doc, "verification");
        int v =
            name_index(verif_names, REPORT_NVERIF,
                       json_is_object(ver) ? str_member(ver, "status")
                                           : str_member(doc, "verification"));
        if (v >= 0)
                e->seen_verif[v]++;
        if (st == REPORT_CALL_FAILED)
                return failure_add(e, doc, key);
        failure_drop(e, key);
        return 0;
}

int report_book_add_outcome(struct report_book *b, const char *ce_type,
                            const void *value, size_t len)
{
        b->totals.events++;
        json_t *doc = json_loadb(value, len, 0, NULL);
        const char *id = str_member(doc, "request_id");
        size_t idx;
        int rc = 0;
        if (!id)
                b->totals.events_bad++;
        else if (!find(b, id, &idx))
                b->totals.events_ignored++;
        else if (ce_type ? strcmp(ce_type, OUTCOME_CE_TYPE_SUMMARY) == 0
                         : json_object_get(doc, "counts") != NULL)
                rc = fold_summary(b->entries[idx], doc);
        else
                rc = fold_call(b->entries[idx], doc);
        json_decref(doc);
        return rc;
}

int report_book_add_dead_letter(struct report_book *b, const char *request_id,
                                const char *source_partition,
                                const char *source_offset, const char *code,
                                const char *reason)
{
        char pos[40];
        snprintf(pos, sizeof(pos), "@%s@%s",
                 source_partition ? source_partition : "",
                 source_offset ? source_offset : "");
        size_t idx;
        if (!(request_id && find(b, request_id, &idx)) && !find(b, pos, &idx))
                return 0;
        struct report_entry *e = b->entries[idx];
        b->totals.dead_letters++;
        if (dup_field(&e->dead_letter_code, code))
                return -1;
        /* Exhausted retries are told by the call outcomes; any other code
         * means the request itself was refused. */
        if (code && strcmp(code, "retries_exhausted") == 0)
                return 0;
        if (!e->error_code && dup_field(&e->error_code, code))
                return -1;
        return e->error ? 0 : dup_field(&e->error, reason);
}

/* ---- settling ---- */

int report_entry_unverified(const struct report_entry *e)
{
        size_t ok = e->calls[REPORT_CALL_DELETED] +
                    e->calls[REPORT_CALL_ALREADY_ABSENT];
        return ok > e->verif[REPORT_VERIFIED];
}

static void settle(struct report_entry *e, int64_t now_ms, int deadline_days)
{
        if (!e->has_summary) {
                memcpy(e->calls, e->seen_calls, sizeof(e->calls));
                e->status = e->error_code ? REPORT_REJECTED : REPORT_OPEN;
        }
        if (!e->summary_verif)
                memcpy(e->verif, e->seen_verif, sizeof(e->verif));
        for (int i = 0; i < REPORT_NVERIF; i++)
                if (e->seen_verif[i] || e->verif[i])
                        e->verif_known = 1;
        int64_t start =
            e->requested_at_ms >= 0 ? e->requested_at_ms : e->first_seen_ms;
        e->deadline_ms = start + deadline_days * DAY_MS;
        int in_time = e->status == REPORT_COMPLETED && e->finished_at_ms >= 0 &&
                      e->finished_at_ms <= e->deadline_ms;
        e->overdue = !in_time && now_ms > e->deadline_ms;
}

static int64_t sort_time(const struct report_entry *e)
{
        return e->requested_at_ms >= 0 ? e->requested_at_ms : e->first_seen_ms;
}

static int by_time(const void *pa, const void *pb)
{
        const struct report_entry *a = *(struct report_entry *const *)pa;
        const struct report_entry *b = *(struct report_entry *const *)pb;
        int64_t ta = sort_time(a), tb = sort_time(b);
        if (ta != tb)
                return ta < tb ? -1 : 1;
        return strcmp(a->request_id ? a->request_id : a->source,
                      b->request_id ? b->request_id : b->source);
}

void report_book_finish(struct report_book *b, int64_t now_ms,
                        int deadline_days)
{
        struct report_totals *t = &b->totals;
        t->requests = b->n;
        memset(t->by_status, 0, sizeof(t->by_status));
        memset(t->calls, 0, sizeof(t->calls));
        t->overdue = t->unverified = 0;
        for (size_t i = 0; i < b->n; i++) {
                struct report_entry *e = b->entries[i];
                settle(e, now_ms, deadline_days);
                t->by_status[e->status]++;
                t->overdue += (size_t)e->overdue;
                t->unverified += (size_t)report_entry_unverified(e);
                for (int c = 0; c < REPORT_NCALLS; c++)
                        t->calls[c] += e->calls[c];
        }
        /* The index holds positions in entries: sorting comes last. */
        if (b->n)
                qsort(b->entries, b->n, sizeof(*b->entries), by_time);
}

size_t report_book_count(const struct report_book *b)
{
        return b->n;
}

const struct report_entry *report_book_at(const struct report_book *b, size_t i)
{
        return i < b->n ? b->entries[i] : NULL;
}

const struct report_totals *report_book_totals(const struct report_book *b)
{
        return &b->totals;
}
