/* metrics — counters the worker keeps, served as Prometheus text on
 * /metrics, with /healthz and /readyz, by libmicrohttpd's own thread.
 *
 * Updates come from the worker loops' threads, renders from the server's,
 * so every function here takes the module's mutex. Each loop reports
 * through a handle of its own (metrics_loop_new()): counters go to the
 * one set of series, gauges to the loop's slot, and what is rendered and
 * probed is the process: in-flight and partition gauges summed, the
 * oldest heartbeat and open request of any loop, the producer healthy
 * only if every loop's is. Label values (provider,
 * action, status, reason) come from configuration and fixed vocabularies,
 * never from request content, so the series count stays bounded. */
#ifndef ERASURE_METRICS_H
#define ERASURE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;

struct metrics *metrics_new(void);
/* The root stops the server too; a loop's handle only leaves its slot
 * (then no longer counted). Handles are freed before their root. */
void metrics_free(struct metrics *m);
/* A handle for one more worker loop of root: updates through it count
 * in root; its gauges are the loop's share. The root itself is the
 * first loop's. NULL if out of memory or root is a handle. */
struct metrics *metrics_loop_new(struct metrics *root);

/* What one slow or hostile client may hold of the HTTP server, so that the
 * kubelet's probes still get answered. A zero field keeps its default. */
struct metrics_limits {
        unsigned int connections;     /* at once, all clients (128) */
        unsigned int per_ip;          /* at once, one client address (16) */
        unsigned int idle_timeout_ms; /* silence before closing (3000),
                                       * rounded up to whole seconds */
        unsigned int deadline_ms;     /* whole request, response included
                                       * (5000) */
};

/* Before metrics_serve(); not thread-safe with it. */
void metrics_set_limits(struct metrics *m, const struct metrics_limits *l);

/* Starts the HTTP server on bind:port (port 0 = ephemeral). */
int metrics_serve(struct metrics *m, const char *bind, int port, char *errstr,
                  size_t errstr_size);
/* The port actually bound (after metrics_serve), else 0. */
int metrics_port(const struct metrics *m);

/* Updates: each accepts m == NULL (no metrics) and then does nothing, so
 * callers need no guard. */
void metrics_request_consumed(struct metrics *m);
void metrics_request_rejected(struct metrics *m, const char *reason);
void metrics_request_finished(struct metrics *m, const char *overall);
void metrics_request_dead_lettered(struct metrics *m, const char *reason);
void metrics_call_finished(struct metrics *m, const char *provider,
                           const char *action, const char *status,
                           double latency_s);
void metrics_call_retried(struct metrics *m, const char *provider,
                          const char *action);
/* A token fetch ended; result "ok", "rejected" or "error". On "ok",
 * fetched_mono_ms (when it was requested) starts the token age. */
void metrics_token_fetched(struct metrics *m, const char *provider,
                           const char *account, const char *result,
                           int64_t fetched_mono_ms);
void metrics_set_in_flight(struct metrics *m, size_t requests, size_t calls);
void metrics_set_paused_partitions(struct metrics *m, size_t n);
/* Requests consumed and waiting in the loop's backlog for room to start,
 * and the bytes they hold (counted in max_bytes_in_flight too). */
void metrics_set_backlog(struct metrics *m, size_t requests, size_t bytes);
void metrics_set_assigned_partitions(struct metrics *m, size_t n);
void metrics_offset_committed(struct metrics *m, int32_t partition,
                              int64_t offset);
void metrics_set_producer_healthy(struct metrics *m, int healthy);
/* Called every loop turn; /healthz fails when the loop stalls longer
 * than stall_ms (default 30 s). */
void metrics_loop_heartbeat(struct metrics *m, int64_t mono_ms);
void metrics_set_stall_limit(struct metrics *m, int64_t stall_ms);
/* Deadlines of the requests this worker holds: requested_at (wall ms) of
 * the oldest one not finished (-1: none holds one), and how many are past
 * worker.deadline_days. The age is rendered against the wall clock, so it
 * grows between updates. */
void metrics_set_open_requests(struct metrics *m, int64_t oldest_requested_ms,
                               size_t past_deadline);
/* 1 at most once a second (mono_ms): when the worker should rescan its
 * requests for metrics_set_open_requests. */
int metrics_open_requests_due(struct metrics *m, int64_t mono_ms);

/* The /metrics document; caller frees. */
char *metrics_render(struct metrics *m);
/* 1 if /healthz / /readyz would answer 200 at mono_ms. */
int metrics_healthy(struct metrics *m, int64_t mono_ms);
int metrics_ready(struct metrics *m);
/* Why /readyz would answer 503 (a line of text), or NULL when ready. */
const char *metrics_unready_reason(struct metrics *m);

#endif
