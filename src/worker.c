/* worker — the event loop (DESIGN §1).
 *
 * A request becomes a job; a job's planned calls wait in their provider
 * account's queue until the account's concurrency, token bucket and
 * cool-down allow them out; failed attempts wait in a timer heap. When
 * every call is final the summary is produced, and when every message of
 * the job is acknowledged by Kafka its offset may be committed.
 *
 * The map, in the order a request travels (turn() serves each step).
 * Consume, parse and plan live in worker_intake.c, outcome and commit in
 * worker_outcome.c, the structures they share in worker_model.h:
 *
 *   consume   worker_consume_some()  kafka_consume(): a message, or none
 *   parse     on_message()           request_parse(): envelope checked
 *   plan      parse_and_plan()       provider_plan(), then plan_calls();
 *                                    the parsed tree is freed at once
 *   execute   dispatch()             call_start(): http_start() per
 *                                    account; fire_timers(): due retries
 *   classify  on_http_done()         provider_classify(), retry_or_fail()
 *   outcome   call_finalize()        worker_produce_event() per call;
 *             worker_job_calls_finished()  the summary, and the
 *                                    dead-letter copy when a call ran out
 *                                    of retries; reject() for bad input;
 *                                    a full producer queue parks messages
 *                                    in the outbox (worker_flush_outbox())
 *   commit    worker_on_delivered()  every delivery back: the job's
 *                                    offset is stored (offsets_finish())
 *                                    and librdkafka auto-commits it
 *
 * Intake never waits on the caps of work in flight: messages consumed
 * while requests, planned calls or bytes in flight are at their caps wait
 * in a local backlog (worker_intake.c) and start the moment room appears,
 * instead of the loop pausing and then idling while librdkafka re-fetches
 * what a pause discarded. Flow control (worker_flow_control()) pauses
 * every partition only while that backlog is full (worker.max_backlog_
 * requests, or a quarter of max_bytes_in_flight), all bytes held reach
 * max_bytes_in_flight, or the outbox holds anything, and resumes while
 * half the backlog is left; the re-entry rules are in worker.h. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "acctlimit.h"
#include "clock.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"
#include "outcome.h"
#include "provider.h"
#include "request.h"
#include "retry.h"
#include "settings.h"
#include "text.h"
#include "worker_model.h"

#define NOT_IN_HEAP     ((size_t)-1)
#define MAX_WAIT_MS     1000
#define RESUME_FRACTION 0.9 /* resume below 90 % of the cap: hysteresis */
/* Resume while half the backlog is left: the fetch after a resume costs a
 * round trip, which the other half covers. */
#define BACKLOG_RESUME_FRACTION 0.5
#define BACKLOG_BYTES_SHARE     4 /* of max_bytes_in_flight */
#define OUTBOX_RETRY_MS         50

/* ---- timer heap of calls waiting to retry ---- */

static void heap_swap(struct worker *w, size_t a, size_t b)
{
        struct call *t = w->heap[a];
        w->heap[a] = w->heap[b];
        w->heap[b] = t;
        w->heap[a]->heap_idx = a;
        w->heap[b]->heap_idx = b;
}

static void heap_up(struct worker *w, size_t i)
{
        while (i > 0) {
                size_t p = (i - 1) / 2;
                if (w->heap[p]->due_mono <= w->heap[i]->due_mono)
                        break;
                heap_swap(w, i, p);
                i = p;
        }
}

static void heap_down(struct worker *w, size_t i)
{
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                if (l < w->heap_len &&
                    w->heap[l]->due_mono < w->heap[m]->due_mono)
                        m = l;
                if (r < w->heap_len &&
                    w->heap[r]->due_mono < w->heap[m]->due_mono)
                        m = r;
                if (m == i)
                        return;
                heap_swap(w, i, m);
                i = m;
        }
}

static int heap_push(struct worker *w, struct call *c)
{
        if (w->heap_len == w->heap_cap) {
                size_t n = w->heap_cap ? w->heap_cap * 2 : 64;
                struct call **nh = realloc(w->heap, n * sizeof(*nh));
                if (!nh)
                        return -1;
                w->heap = nh;
                w->heap_cap = n;
        }
        c->heap_idx = w->heap_len;
        w->heap[w->heap_len++] = c;
        heap_up(w, c->heap_idx);
        return 0;
}

static void heap_remove(struct worker *w, struct call *c)
{
        size_t i = c->heap_idx;
        if (i == NOT_IN_HEAP)
                return;
        w->heap_len--;
        if (i != w->heap_len) {
                w->heap[i] = w->heap[w->heap_len];
                w->heap[i]->heap_idx = i;
                heap_down(w, i);
                heap_up(w, i);
        }
        c->heap_idx = NOT_IN_HEAP;
}

/* ---- account queues ---- */

static void queue_push(struct account_state *a, struct call *c)
{
        TAILQ_INSERT_TAIL(&a->queue, c, qlink);
        c->queued = 1;
}

static void queue_remove(struct account_state *a, struct call *c)
{
        if (!c->queued)
                return;
        TAILQ_REMOVE(&a->queue, c, qlink);
        c->queued = 0;
}

/* ---- account limits, shared by every loop of the process ---- */

static size_t account_index(const struct worker *w,
                            const struct account_state *a)
{
        return (size_t)(a - w->accounts);
}

/* A call of a gives back its account slot (other loops may be woken). */
static void account_release(struct worker *w, struct account_state *a)
{
        a->in_flight--;
        acctlimit_release(w->limits, account_index(w, a), w->loop_index);
}

void worker_fatal(struct worker *w, const char *fmt, ...)
{
        va_list ap;
        if (w->fatal)
                return;
        w->fatal = 1;
        va_start(ap, fmt);
        vsnprintf(w->fatal_err, sizeof(w->fatal_err), fmt, ap);
        va_end(ap);
        log_error(NULL, NULL, "%s", w->fatal_err);
}

/* ---- finishing calls ---- */

void worker_job_calls_finished(struct worker *w, struct job *j)
{
        if (j->exhausted)
                worker_produce_dead_letter(
                    w, j, "retries_exhausted",
                    "a provider call ran out of retries");
        worker_produce_summary(w, j, REQUEST_OK, NULL);
}

/* ---- ordering: `after` ---- */

struct blocker {
        const struct call *c;
        int blocked;
};

static void check_blocker(struct call *x, void *arg)
{
        struct blocker *b = arg;
        const struct provider_call *pc = b->c->pc;
        if (!x->final && x->pc->target_index == pc->target_index &&
            (long)x->pc->action_index == pc->after)
                b->blocked = 1;
}

/* Whether an unfinished call of the action c waits for (same target) is
 * still there, discovered ones included. */
static int call_blocked(struct job *j, const struct call *c)
{
        struct blocker b = {c, 0};
        if (c->pc->after < 0)
                return 0;
        worker_job_each_call(j, check_blocker, &b);
        return b.blocked;
}

struct release_ctx {
        struct worker *w;
        struct job *j;
};

static void release_one(struct call *c, void *arg)
{
        struct release_ctx *r = arg;
        if (c->held && !call_blocked(r->j, c)) {
                c->held = 0;
                r->j->nheld--;
                queue_push(c->acct, c);
        }
}

static void release_held(struct worker *w, struct job *j)
{
        struct release_ctx r = {w, j};
        if (j->nheld > 0)
                worker_job_each_call(j, release_one, &r);
}

/* Queues a planned call, or holds it until what it comes after is done. */
void worker_call_enqueue(struct worker *w, struct job *j, struct call *c,
                         const struct provider_call *pc)
{
        c->job = j;
        c->pc = pc;
        c->heap_idx = NOT_IN_HEAP;
        c->acct = &w->accounts[provider_account_index(pc->account)];
        if (call_blocked(j, c)) {
                c->held = 1;
                j->nheld++;
        } else
                queue_push(c->acct, c);
}

/* What the outcome says about a read-back: the one made, or why none. */
static struct outcome_verification verification_of(const struct call *c,
                                                   enum outcome_status st)
{
        struct outcome_verification v = c->check;
        if (c->verifying)
                return v;
        v.status = st == OUTCOME_FAILED || c->pc->discover
                       ? OUTCOME_VERIFY_NONE
                       : OUTCOME_VERIFY_NOT_SUPPORTED;
        return v;
}

static void release_held(struct worker *w, struct job *j);

static void call_finalize(struct worker *w, struct call *c,
                          enum outcome_status st, int retryable,
                          long http_status, const char *error)
{
        struct job *j = c->job;
        const struct provider_call *pc = c->pc;
        struct outcome_verification ver = verification_of(c, st);
        c->final = 1;
        j->verify_counts[ver.status]++;
        j->calls_open--;
        w->calls_planned--;
        j->counts[st]++;
        if (st == OUTCOME_FAILED && retryable)
                j->exhausted = 1;
        free(c->last_error);
        c->last_error = NULL;
        if (error) {
                c->last_error = strdup(error);
                if (c->last_error)
                        log_redact(c->last_error);
        }
        struct outcome_call oc = {
            .request_id = j->request_id,
            .provider = pc->provider,
            .account = pc->account_name,
            .action = pc->action_name,
            .resource = pc->resource,
            .status = st,
            .retryable = retryable,
            .http_status = http_status,
            .attempts = c->attempts,
            .error = c->last_error,
            .started_at_ms = c->started_wall,
            .finished_at_ms = clock_wall_ms(),
            .agent_scope = pc->agent_scope,
            .verification = ver,
            .items = (long)c->found,
        };
        metrics_call_finished(
            w->m, pc->provider, pc->action_name, outcome_status_name(st),
            (double)(clock_mono_ms() - c->attempt_mono) / 1e3);
        char key[OUTCOME_KEY_LEN + 1];
        char *json = outcome_call_json(&oc, key);
        worker_produce_event(w, j, json, key, OUTCOME_CE_TYPE_CALL,
                             oc.finished_at_ms);
        if (st == OUTCOME_FAILED)
                log_warn(j->request_id, pc->provider,
                         "call %s %s failed after %d attempt(s): %s",
                         pc->action_name, pc->resource, c->attempts,
                         c->last_error ? c->last_error : "");
        release_held(w, j);
        if (j->calls_open == 0)
                worker_job_calls_finished(w, j);
}

/* ---- starting calls ---- */

static void retry_or_fail(struct worker *w, struct call *c, long status,
                          int64_t retry_after, const char *error);

static void call_start(struct worker *w, struct call *c, int64_t now)
{
        char err[256];
        struct account_state *a = c->acct;
        if (c->verifying) {
                c->check.attempts++;
        } else if (++c->attempts == 1) {
                c->first_mono = now;
                c->started_wall = clock_wall_ms();
        }
        c->attempt_mono = now;
        const struct provider_call *pc = c->verifying ? c->pc->verify : c->pc;
        struct provider_header token;
        struct http_request rq = {
            .method = pc->method,
            .url = pc->url,
            .headers = pc->headers,
            .nheaders = pc->nheaders,
            .extra = &token,
            .nextra = (size_t)worker_auth_header(a, &token, &c->auth_gen),
            .body = pc->body,
            .body_len = pc->body ? strlen(pc->body) : 0,
        };
        a->in_flight++; /* its slot was taken by account_can_start() */
        c->xfer = http_start_request(w->http, &rq, a->lim, c, err, sizeof(err));
        if (!c->xfer) {
                account_release(w, a);
                retry_or_fail(w, c, 0, -1, err);
                return;
        }
        w->calls_running++;
}

/* The account cannot get a token: its waiting calls fail now, retryable,
 * rather than wait for an endpoint that keeps refusing. */
static void fail_queued(struct worker *w, struct account_state *a,
                        const char *why)
{
        struct call *c;
        while ((c = TAILQ_FIRST(&a->queue)) != NULL) {
                queue_remove(a, c);
                call_finalize(w, c, OUTCOME_FAILED, 1, 0, why);
        }
}

static int account_can_start(struct worker *w, struct account_state *a,
                             int64_t now)
{
        const char *why = NULL;
        if (TAILQ_EMPTY(&a->queue) ||
            w->calls_running >= w->s->max_calls_in_flight)
                return 0;
        int gate = worker_auth_gate(w, a, now, &why);
        if (gate < 0)
                fail_queued(w, a, why);
        if (gate <= 0)
                return 0;
        /* Slot and token at once, for the account across all loops; a
         * full account wakes this loop when another frees a slot. */
        int64_t wait = acctlimit_acquire(w->limits, account_index(w, a),
                                         w->loop_index, now);
        if (wait == ACCTLIMIT_FULL)
                return 0;
        if (wait > 0) {
                if (now + wait < w->account_wake)
                        w->account_wake = now + wait;
                return 0;
        }
        return 1;
}

/* Round-robin over accounts, one call each per round, so one busy
 * provider cannot take every global slot from the others. */
static void dispatch(struct worker *w, int64_t now)
{
        w->account_wake = INT64_MAX;
        int progressed = 1;
        while (progressed && w->calls_running < w->s->max_calls_in_flight) {
                progressed = 0;
                for (size_t k = 0; k < w->naccounts; k++) {
                        struct account_state *a =
                            &w->accounts[(w->rr + k) % w->naccounts];
                        if (!account_can_start(w, a, now))
                                continue;
                        struct call *c = TAILQ_FIRST(&a->queue);
                        queue_remove(a, c);
                        call_start(w, c, now);
                        progressed = 1;
                }
                w->rr++;
        }
}

static void fire_timers(struct worker *w, int64_t now)
{
        while (w->heap_len > 0 && w->heap[0]->due_mono <= now) {
                struct call *c = w->heap[0];
                heap_remove(w, c);
                queue_push(c->acct, c);
        }
}

static void schedule(struct worker *w, struct call *c, int64_t due)
{
        c->due_mono = due;
        if (heap_push(w, c) != 0)
                worker_fatal(w, "%s", "out of memory");
}

static void retry_or_fail(struct worker *w, struct call *c, long status,
                          int64_t retry_after, const char *error);

/* A deletion the vendor confirmed is read back before it is reported,
 * after verify.delay_ms (vendors that delete asynchronously). */
static void verify_start(struct worker *w, struct call *c,
                         enum outcome_status st, long http_status)
{
        c->verifying = 1;
        c->deleted_as = st;
        c->deleted_http = http_status;
        c->check.status = OUTCOME_VERIFY_UNVERIFIED;
        schedule(w, c, clock_mono_ms() + c->pc->verify_delay_ms);
}

/* Present or unreadable: look again after the delay (or the account's
 * backoff base) until verify.attempts are spent. */
static void verify_result(struct worker *w, struct call *c,
                          enum provider_check k, long http_status)
{
        c->check.http_status = http_status;
        c->check.checked_at_ms = clock_wall_ms();
        if (k == PROVIDER_CHECK_ABSENT) {
                c->check.status = OUTCOME_VERIFY_ABSENT;
                call_finalize(w, c, c->deleted_as, 0, c->deleted_http, NULL);
                return;
        }
        if (k == PROVIDER_CHECK_PRESENT)
                c->check.status = OUTCOME_VERIFY_PRESENT;
        if (c->check.attempts < c->pc->verify_attempts) {
                int64_t d = c->pc->verify_delay_ms;
                schedule(w, c,
                         clock_mono_ms() +
                             (d > 0 ? d : c->acct->lim->backoff_base_ms));
                return;
        }
        if (c->check.status != OUTCOME_VERIFY_PRESENT) {
                call_finalize(w, c, c->deleted_as, 0, c->deleted_http, NULL);
                return;
        }
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "the provider answered HTTP %ld (deleted) but a read-back "
                 "still finds the data after %d attempt(s)",
                 c->deleted_http, c->check.attempts);
        call_finalize(w, c, OUTCOME_FAILED, 0, c->deleted_http, msg);
}

static void retry_or_fail(struct worker *w, struct call *c, long status,
                          int64_t retry_after, const char *error)
{
        if (c->verifying) {
                verify_result(w, c, PROVIDER_CHECK_RETRY, status);
                return;
        }
        const struct provider_limits *lim = c->acct->lim;
        struct retry_policy p = {lim->max_attempts, lim->budget_ms,
                                 lim->backoff_base_ms, lim->backoff_max_ms};
        int64_t now = clock_mono_ms();
        int64_t delay = retry_next_delay(&p, c->attempts, c->first_mono, now,
                                         retry_after, &w->rng);
        if (delay < 0) {
                char msg[400];
                snprintf(msg, sizeof(msg),
                         "retries exhausted after %d attempt(s): %s",
                         c->attempts, error);
                call_finalize(w, c, OUTCOME_FAILED, 1, status, msg);
                return;
        }
        metrics_call_retried(w->m, c->pc->provider, c->pc->action_name);
        log_debug(c->job->request_id, c->pc->provider,
                  "retry %s in %lld ms: %s", c->pc->action_name,
                  (long long)delay, error);
        schedule(w, c, now + delay);
}

static enum outcome_status verdict_status(enum provider_verdict_kind k)
{
        switch (k) {
        case PROVIDER_DELETED:
                return OUTCOME_DELETED;
        case PROVIDER_ALREADY_ABSENT:
                return OUTCOME_ALREADY_ABSENT;
        default:
                return OUTCOME_FAILED;
        }
}

/* A discover read answered: its items become calls of the job, and the
 * read itself an outcome ("discovered", with the count). */
static void discover_done(struct worker *w, struct call *c, long status,
                          const char *body, size_t body_len)
{
        struct job *j = c->job;
        char err[256];
        struct call_block *b = calloc(1, sizeof(*b));
        if (!b) {
                worker_fatal(w, "%s", "out of memory expanding a discover");
                return;
        }
        if (provider_expand(c->pc, body, body_len, &b->plan, &c->found, err,
                            sizeof(err)) != 0) {
                free(b);
                call_finalize(w, c, OUTCOME_FAILED, 0, status, err);
                return;
        }
        b->calls =
            calloc(b->plan.ncalls ? b->plan.ncalls : 1, sizeof(*b->calls));
        if (!b->calls) {
                provider_plan_clear(&b->plan);
                free(b);
                worker_fatal(w, "%s", "out of memory expanding a discover");
                return;
        }
        b->next = j->blocks;
        j->blocks = b;
        j->calls_open += b->plan.ncalls;
        w->calls_planned += b->plan.ncalls;
        for (size_t i = 0; i < b->plan.ncalls; i++)
                b->calls[i].pc = &b->plan.calls[i];
        for (size_t i = 0; i < b->plan.ncalls; i++)
                worker_call_enqueue(w, j, &b->calls[i], &b->plan.calls[i]);
        call_finalize(w, c, OUTCOME_DISCOVERED, 0, status, NULL);
}

static void on_http_done(void *arg, void *opaque, const struct http_result *res)
{
        struct worker *w = arg;
        if (worker_auth_done(w, opaque, res))
                return;
        struct call *c = opaque;
        struct account_state *a = c->acct;
        int64_t now = clock_mono_ms();
        c->xfer = NULL;
        account_release(w, a);
        w->calls_running--;
        if (res->status == 401 && worker_auth_on_401(w, c)) {
                queue_push(a, c);
                return;
        }
        struct provider_verdict v = {0};
        if (c->verifying) {
                verify_result(w, c,
                              res->status == 0 ? PROVIDER_CHECK_RETRY
                                               : provider_classify_verify(
                                                     c->pc, res->status,
                                                     res->body, res->body_len),
                              res->status);
                return;
        }
        if (res->status == 0) {
                v.kind = PROVIDER_RETRY;
                snprintf(v.error, sizeof(v.error), "transport: %s", res->error);
        } else {
                provider_classify(c->pc->action, res->status, res->body,
                                  res->body_len, &v);
        }
        enum outcome_status st = verdict_status(v.kind);
        if (v.kind != PROVIDER_RETRY && st != OUTCOME_FAILED &&
            c->pc->discover) {
                discover_done(w, c, res->status, res->body, res->body_len);
                return;
        }
        if (v.kind != PROVIDER_RETRY && st != OUTCOME_FAILED && c->pc->verify) {
                verify_start(w, c, st, res->status);
                return;
        }
        if (v.kind != PROVIDER_RETRY) {
                call_finalize(w, c, st, v.retryable, res->status,
                              v.error[0] ? v.error : NULL);
                return;
        }
        int64_t ra = res->retry_after
                         ? retry_after_ms(res->retry_after, clock_wall_ms())
                         : -1;
        /* A 429 speaks for the whole account: nobody calls it before the
         * provider said so. */
        if (res->status == 429 && ra >= 0)
                acctlimit_cooldown(w->limits, account_index(w, a), now + ra);
        retry_or_fail(w, c, res->status, ra, v.error);
}

/* ---- abandoning work (revoke deadline, stop deadline) ---- */

static void call_abandon(struct call *c, void *arg)
{
        struct worker *w = arg;
        if (c->final)
                return;
        if (c->xfer) {
                http_cancel(w->http, c->xfer);
                c->xfer = NULL;
                account_release(w, c->acct);
                w->calls_running--;
        }
        heap_remove(w, c);
        queue_remove(c->acct, c);
}

static void job_abandon(struct worker *w, struct job *j)
{
        worker_job_each_call(j, call_abandon, w);
        if (!j->abandoned) {
                j->abandoned = 1;
                w->njobs--;
                w->calls_planned -= j->calls_open;
        }
        worker_job_maybe_done(w, j);
}

/* ---- Kafka callbacks ---- */

static void on_assigned(void *arg, const rd_kafka_topic_partition_list_t *p)
{
        struct worker *w = arg;
        /* A partition coming back starts afresh from its committed offset. */
        for (int i = 0; i < p->cnt; i++)
                offsets_drop(w->offsets, p->elems[i].partition);
}

static int in_parts(const rd_kafka_topic_partition_list_t *p, int32_t part)
{
        for (int i = 0; i < p->cnt; i++)
                if (p->elems[i].partition == part)
                        return 1;
        return 0;
}

/* Jobs of the revoked partitions whose every call is final but whose
 * outcomes are not all acknowledged yet. */
static size_t jobs_delivering(struct worker *w,
                              const rd_kafka_topic_partition_list_t *p)
{
        size_t n = 0;
        struct job *j;
        LIST_FOREACH(j, &w->jobs, link)
        n += !j->abandoned && j->calls_open == 0 && j->deliveries_pending &&
             in_parts(p, j->partition);
        return n;
}

/* Runs inside kafka_consume() (the rebalance callback), so it never turns
 * the loop (worker.h, re-entry rules): jobs whose calls are all final get
 * up to rebalance_grace_ms for their outcomes to be acknowledged, serving
 * only delivery reports, so their offsets are committed by the kafka
 * module right after; the rest are abandoned at once and go to the next
 * owner (deletions are idempotent, outcome keys the same). */
static void on_revoking(void *arg, const rd_kafka_topic_partition_list_t *p,
                        int lost)
{
        struct worker *w = arg;
        int64_t deadline =
            clock_mono_ms() + (lost ? 0 : w->s->rebalance_grace_ms);
        for (int64_t now = clock_mono_ms();
             now < deadline && !w->fatal && jobs_delivering(w, p) > 0;
             now = clock_mono_ms()) {
                worker_flush_outbox(w);
                kafka_wait_producer(
                    w->kafka,
                    (int)(deadline - now < 100 ? deadline - now : 100));
        }
        size_t abandoned = 0;
        struct job *j, *next;
        for (j = LIST_FIRST(&w->jobs); j; j = next) {
                next = LIST_NEXT(j, link);
                if (!j->abandoned && in_parts(p, j->partition)) {
                        abandoned++;
                        job_abandon(w, j);
                }
        }
        for (int i = 0; i < p->cnt; i++)
                offsets_drop(w->offsets, p->elems[i].partition);
        size_t dropped = worker_backlog_drop(w, p);
        if (dropped)
                log_info(NULL, NULL,
                         "%zu backlog request(s) of revoked partitions "
                         "dropped, uncommitted, for the next owner",
                         dropped);
        if (abandoned)
                log_warn(NULL, NULL,
                         "%zu request(s) of revoked partitions left to the "
                         "next owner",
                         abandoned);
}

/* ---- the loop ---- */

static int wait_ms(struct worker *w, int consume, int64_t now)
{
        if (consume && w->more_messages)
                return 0;
        int64_t until = now + MAX_WAIT_MS;
        if (w->heap_len > 0 && w->heap[0]->due_mono < until)
                until = w->heap[0]->due_mono;
        if (w->account_wake < until)
                until = w->account_wake;
        /* Delivery reports wake us through the producer's pipe; this only
         * bounds the wait should room appear without one. */
        if (w->outbox_len > 0 && now + OUTBOX_RETRY_MS < until)
                until = now + OUTBOX_RETRY_MS;
        return until > now ? (int)(until - now) : 0;
}

/* Whether the backlog reaches backlog_fraction of its bounds, all bytes
 * held bytes_fraction of max_bytes_in_flight, or messages wait for room
 * in the producer's queue. */
static int intake_full(const struct worker *w, double backlog_fraction,
                       double bytes_fraction)
{
        const struct settings *s = w->s;
        double backlog_bytes =
            (double)s->max_bytes_in_flight / BACKLOG_BYTES_SHARE;
        return w->outbox_len > 0 ||
               (double)w->backlog_len >=
                   (double)s->max_backlog_requests * backlog_fraction ||
               (double)w->backlog_bytes >= backlog_bytes * backlog_fraction ||
               (double)w->bytes_in_flight >=
                   (double)s->max_bytes_in_flight * bytes_fraction;
}

void worker_flow_control(struct worker *w)
{
        if (!kafka_paused(w->kafka) && intake_full(w, 1.0, 1.0))
                kafka_set_paused(w->kafka, 1);
        else if (kafka_paused(w->kafka) && !w->stopping &&
                 !intake_full(w, BACKLOG_RESUME_FRACTION, RESUME_FRACTION))
                kafka_set_paused(w->kafka, 0);
}

/* Once a second: the oldest requested_at among the requests held, and
 * how many of them are past worker.deadline_days (issue 15). */
static void update_deadline_metrics(struct worker *w, int64_t now)
{
        if (!metrics_open_requests_due(w->m, now))
                return;
        int64_t oldest = -1, at, wall = clock_wall_ms();
        int64_t limit = (int64_t)w->s->deadline_days * 86400000;
        size_t past = 0;
        const struct job *j;
        LIST_FOREACH(j, &w->jobs, link)
        {
                if (j->abandoned || j->summary_sent || j->requested_at_ms < 0)
                        continue;
                at = j->requested_at_ms;
                oldest = oldest < 0 || at < oldest ? at : oldest;
                past += wall - at > limit;
        }
        metrics_set_open_requests(w->m, oldest, past);
}

static void update_metrics(struct worker *w, int64_t now)
{
        update_deadline_metrics(w, now);
        metrics_set_in_flight(w->m, w->njobs, w->calls_running);
        metrics_set_paused_partitions(
            w->m, kafka_paused(w->kafka) ? kafka_assigned_count(w->kafka) : 0);
        metrics_set_backlog(w->m, w->backlog_len, w->backlog_bytes);
        metrics_set_assigned_partitions(w->m, kafka_assigned_count(w->kafka));
        char err[256];
        metrics_set_producer_healthy(
            w->m,
            !kafka_producer_fatal(w->kafka, err, sizeof(err)) && !w->fatal);
        metrics_loop_heartbeat(w->m, now);
}

/* The pipe also carries wake-ups (a slot freed by another loop): only
 * the flag says stop. */
static void check_stop_pipe(struct worker *w)
{
        char buf[16];
        if (read(w->stop_pipe[0], buf, sizeof(buf)) > 0 &&
            atomic_load(&w->stop_flag) && !w->stopping) {
                w->stopping = 1;
                /* Not started, so not ours to finish: the next owner. */
                worker_backlog_drop(w, NULL);
                w->stop_deadline = clock_mono_ms() + w->s->drain_timeout_ms;
                log_info(NULL, NULL, "stop requested: draining %zu request(s)",
                         w->njobs);
        }
}

static void turn(struct worker *w, int consume)
{
        int64_t now = clock_mono_ms();
        fire_timers(w, now);
        dispatch(w, now);
        int fds[3] = {w->stop_pipe[0], kafka_consumer_fd(w->kafka),
                      kafka_producer_fd(w->kafka)};
        http_wait(w->http, fds, 3, wait_ms(w, consume, now));
        check_stop_pipe(w);
        http_collect(w->http, on_http_done, w);
        kafka_poll_producer(w->kafka);
        worker_flush_outbox(w);
        if (consume)
                worker_consume_some(w);
        char err[256];
        if (kafka_producer_fatal(w->kafka, err, sizeof(err)))
                worker_fatal(w, "producer: %s", err);
        worker_flow_control(w);
        update_metrics(w, clock_mono_ms());
}

/* A commit made while the group rebalances fails (illegal generation,
 * rebalance in progress), and the close's own commit may meet the same
 * rebalance: then whoever takes our partitions repeats finished work. So
 * commit here, letting the rebalance finish between tries, until it holds
 * or the drain deadline passes. */
static void commit_before_close(struct worker *w, int64_t deadline)
{
        int64_t t0 = clock_mono_ms();
        for (;;) {
                rd_kafka_resp_err_t err = kafka_commit_start(w->kafka);
                /* Served while it waits: the rebalance it waits for needs
                 * our polls to finish. */
                while (!err && !w->fatal && clock_mono_ms() < deadline &&
                       !kafka_commit_done(w->kafka, &err))
                        turn(w, 1);
                if (!err && !kafka_commit_done(w->kafka, &err))
                        err = RD_KAFKA_RESP_ERR__TIMED_OUT;
                if (!err)
                        log_info(NULL, NULL, "final commit in %lld ms",
                                 (long long)(clock_mono_ms() - t0));
                if (!err || w->fatal)
                        return;
                if (clock_mono_ms() >= deadline) {
                        log_warn(NULL, NULL,
                                 "final commit failed: %s; the next owner "
                                 "may repeat finished requests",
                                 rd_kafka_err2str(err));
                        return;
                }
                log_info(NULL, NULL, "final commit: %s; retrying",
                         rd_kafka_err2str(err));
                turn(w, 1);
        }
}

/* Of the drain deadline, what the consumer close (revocation, leaving the
 * group) and the producer flush keep for themselves: a fifth, 1..5 s. */
static int64_t close_reserve_ms(const struct settings *s)
{
        int64_t r = s->drain_timeout_ms / 5;
        return r < 1000 ? 1000 : r > 5000 ? 5000 : r;
}

static void drain(struct worker *w)
{
        kafka_set_paused(w->kafka, 1);
        int64_t deadline = w->stop_deadline - close_reserve_ms(w->s);
        while (w->njobs > 0 && !w->fatal && clock_mono_ms() < deadline)
                turn(w, 1);
        if (w->njobs > 0)
                log_warn(NULL, NULL,
                         "drain deadline passed: %zu request(s) left for the "
                         "next owner",
                         w->njobs);
        struct job *j, *next;
        for (j = LIST_FIRST(&w->jobs); j; j = next) {
                next = LIST_NEXT(j, link);
                if (!j->abandoned)
                        job_abandon(w, j);
        }
        commit_before_close(w, deadline);
        log_info(NULL, NULL, "drain over, %lld ms left of the drain deadline",
                 (long long)(w->stop_deadline - clock_mono_ms()));
}

/* 1 while this loop should not leave the group yet: the process's other
 * loops still drain (worker.h, struct worker_loop), or its consumer has
 * not joined (kafka_joined(): leaving then aborts in librdkafka 2.0). */
static int must_stay(struct worker *w)
{
        return !kafka_joined(w->kafka) ||
               (w->loop.all_drained && !w->loop.all_drained(w->loop.arg));
}

static void wait_for_loops(struct worker *w)
{
        if (w->loop.drained)
                w->loop.drained(w->loop.arg);
        while (!w->fatal && must_stay(w) && clock_mono_ms() < w->stop_deadline)
                turn(w, 1);
}

int worker_run(struct worker *w, char *errstr, size_t errstr_size)
{
        if (kafka_subscribe(w->kafka, errstr, errstr_size))
                return -1;
        log_info(NULL, NULL, "consuming %s as group %s", w->s->topic_requests,
                 w->s->group_id);
        while (!w->stopping && !w->fatal)
                turn(w, 1);
        if (!w->fatal)
                drain(w);
        wait_for_loops(w);
        /* Even after a fatal error the stored offsets cover only requests
         * whose every outcome was acknowledged, so committing them is
         * right. */
        if (!w->stopping)
                w->stop_deadline = clock_mono_ms() + w->s->drain_timeout_ms;
        /* The drain, the final commit, leaving the group and the flush
         * all end by the deadline. */
        int64_t t0 = clock_mono_ms();
        int rc = kafka_close(w->kafka, w->stop_deadline);
        log_info(NULL, NULL, "closed in %lld ms (%lld ms before the deadline)",
                 (long long)(clock_mono_ms() - t0),
                 (long long)(w->stop_deadline - clock_mono_ms()));
        if (w->fatal) {
                snprintf(errstr, errstr_size, "%s", w->fatal_err);
                return -1;
        }
        if (rc != 0) {
                snprintf(errstr, errstr_size,
                         "some outcomes were not delivered before exit");
                return -1;
        }
        log_info(NULL, NULL, "stopped cleanly");
        return 0;
}

void worker_request_stop(struct worker *w)
{
        /* A lock-free atomic: async-signal-safe. Set before the write, so
         * the loop that reads the byte sees it. A full pipe still wakes. */
        atomic_store(&w->stop_flag, 1);
        ssize_t n = write(w->stop_pipe[1], "s", 1);
        (void)n;
}

void worker_wake(struct worker *w)
{
        ssize_t n = write(w->stop_pipe[1], "w", 1);
        (void)n;
}

/* acctlimit's waker: a slot of an account this loop waits for is free. */
static void wake_for_slot(void *arg)
{
        worker_wake(arg);
}

static int init_accounts(struct worker *w)
{
        const struct provider_registry *reg = w->s->providers;
        w->naccounts = provider_account_count(reg);
        w->accounts =
            calloc(w->naccounts ? w->naccounts : 1, sizeof(*w->accounts));
        if (!w->accounts)
                return -1;
        int64_t now = clock_mono_ms();
        for (size_t i = 0; i < w->naccounts; i++) {
                struct account_state *a = &w->accounts[i];
                a->acct = provider_account_at(reg, i);
                a->lim = provider_account_limits(a->acct);
                TAILQ_INIT(&a->queue);
                if (w->own_limits)
                        acctlimit_set(w->limits, i, a->lim->concurrency,
                                      a->lim->rate_per_s, a->lim->burst, now);
                if (worker_auth_init(w, a) != 0)
                        return -1;
                if (!a->lim->tls_verify)
                        log_warn(NULL, provider_account_provider(a->acct),
                                 "TLS verification is OFF for account %s",
                                 provider_account_name(a->acct));
        }
        return 0;
}

static int init_pipe(struct worker *w)
{
        if (pipe(w->stop_pipe) != 0)
                return -1;
        for (int i = 0; i < 2; i++) {
                fcntl(w->stop_pipe[i], F_SETFL,
                      fcntl(w->stop_pipe[i], F_GETFL) | O_NONBLOCK);
                fcntl(w->stop_pipe[i], F_SETFD, FD_CLOEXEC);
        }
        return 0;
}

/* Its own limits for a loop alone (no pool), else the pool's. */
static int init_limits(struct worker *w, const struct worker_loop *loop)
{
        if (loop)
                w->loop = *loop;
        w->loop_index = loop ? loop->index : 0;
        w->limits = loop ? loop->limits : NULL;
        if (!w->limits) {
                w->own_limits = 1;
                w->loop_index = 0;
                w->limits =
                    acctlimit_new(provider_account_count(w->s->providers), 1);
        }
        if (!w->limits)
                return -1;
        acctlimit_set_waker(w->limits, w->loop_index, wake_for_slot, w);
        return 0;
}

/* Static membership: with several loops each consumer is a member of
 * its own, "<id>-<index>" (docs/operations.md). */
static const char *instance_id(const struct settings *s,
                               const struct worker_loop *loop, char *buf,
                               size_t size)
{
        const char *id =
            s->static_membership_env ? getenv(s->static_membership_env) : NULL;
        if (!id || !*id || !loop || loop->count <= 1)
                return id;
        snprintf(buf, size, "%s-%u", id, loop->index);
        return buf;
}

struct worker *worker_new(const struct settings *s, struct metrics *m,
                          const struct worker_loop *loop, char *errstr,
                          size_t errstr_size)
{
        struct worker *w = calloc(1, sizeof(*w));
        if (!w) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        w->s = s;
        w->m = m;
        w->stop_pipe[0] = w->stop_pipe[1] = -1;
        LIST_INIT(&w->jobs);
        TAILQ_INIT(&w->backlog);
        TAILQ_INIT(&w->outbox);
        w->rng = (uint64_t)clock_wall_ms() ^ ((uint64_t)getpid() << 32) ^
                 0x9e3779b97f4a7c15ULL ^
                 ((uint64_t)(loop ? loop->index : 0) << 48);
        if (init_pipe(w) || init_limits(w, loop) || init_accounts(w) ||
            !(w->offsets = offsets_new())) {
                snprintf(errstr, errstr_size, "cannot initialise: %s",
                         strerror(errno));
                worker_free(w);
                return NULL;
        }
        w->http = http_new(s->max_calls_in_flight, errstr, errstr_size);
        if (!w->http) {
                worker_free(w);
                return NULL;
        }
        char iid[512];
        const char *instance = instance_id(s, loop, iid, sizeof(iid));
        struct kafka_callbacks cb = {w, on_assigned, on_revoking,
                                     worker_on_delivered};
        w->kafka = kafka_new(s, instance, &cb, errstr, errstr_size);
        if (!w->kafka) {
                worker_free(w);
                return NULL;
        }
        if (instance && *instance)
                log_info(NULL, NULL, "static membership: group.instance.id=%s",
                         instance);
        return w;
}

void worker_free(struct worker *w)
{
        if (!w)
                return;
        /* Destroying the clients first: no callback may see a freed job.
         * Their last delivery reports only free what they point to. */
        w->closing = 1;
        kafka_free(w->kafka);
        http_free(w->http);
        struct delivery *d;
        while ((d = TAILQ_FIRST(&w->outbox)) != NULL) {
                TAILQ_REMOVE(&w->outbox, d, link);
                worker_delivery_free(d);
        }
        worker_backlog_drop(w, NULL);
        struct job *j;
        while ((j = LIST_FIRST(&w->jobs)) != NULL) {
                LIST_REMOVE(j, link);
                worker_job_free(j);
        }
        offsets_free(w->offsets);
        free(w->heap);
        for (size_t i = 0; w->accounts && i < w->naccounts; i++)
                worker_auth_free(&w->accounts[i]);
        free(w->accounts);
        if (w->own_limits)
                acctlimit_free(w->limits);
        for (int i = 0; i < 2; i++)
                if (w->stop_pipe[i] >= 0)
                        close(w->stop_pipe[i]);
        free(w);
}
