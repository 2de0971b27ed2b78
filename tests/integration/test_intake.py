"""Intake: requests consumed while the caps of work in flight are reached
wait in the worker's backlog instead of pausing the partitions, start as
soon as room appears, and a revoke drops the revoked partitions' backlog
uncommitted, for the next owner.

Each worker here runs one loop (worker.threads = 1): the caps the tests
set are then the loop's own, not divided among loops (src/pool.h)."""

import json
import time

import harness
from harness import TOPIC_OUTCOMES, TOPIC_REQUESTS, request, summaries
from kafka_env import Collector, committed_lag, produce
from test_pipeline import (outcomes_of, provider_calls, single_call_request,
                           start_worker, wait_summaries)


def pauses(worker):
    return worker.log_text().count("intake paused")


def slot_gaps(calls, ids, slots):
    """For each request after the first `slots`: how long after the end of
    the request whose slot it took it reached the provider (ms). A
    request's calls (the deletion and its read-back) run one after the
    other, so with `slots` requests in flight request k + slots takes
    the slot of the k-th to end."""
    spans = []
    for rid in ids:
        mine = [c for c in calls if rid in json.dumps(c)]
        spans.append((min(c["received_ms"] for c in mine),
                      max(c["ts_ms"] for c in mine)))
    starts = sorted(s for s, _ in spans)
    ends = sorted(e for _, e in spans)
    return [s - e for s, e in zip(starts[slots:], ends)]


def test_requests_waiting_in_kafka_start_as_a_slot_frees(workdir, provider, mock_kafka):
    # Four requests in flight, 100 ms per call: every request after the
    # first four takes the slot of one that finished. Pausing the
    # partitions at the cap (the old intake) made each of them wait for a
    # resume and a new fetch; from the backlog the next one goes right
    # after the finished one's outcomes are acknowledged.
    provider.add_fault(provider="convai", latency_ms=100)
    w = start_worker(workdir, mock_kafka, provider, group="erasure-intake-slots",
                     worker={"max_requests_in_flight": 4, "threads": 1})
    ids = [f"r-in{i:02d}" for i in range(40)]
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, [
            request(rid, {"provider": "convai", "character_id": rid,
                          "session_ids": [rid]}) for rid in ids])
        msgs = wait_summaries(col, ids, timeout=60)
    assert all(summaries(outcomes_of(msgs, rid))[0].value["status"] == "completed"
               for rid in ids)
    calls = provider_calls(provider, "convai", reads=True)
    gaps = sorted(slot_gaps(calls, ids, 4))
    # The backlog (1000 by default) never filled, so nothing was paused.
    assert pauses(w) == 0, w.log_text()[-2000:]
    # Measured: 5-8 ms from the backlog (the outcomes' acknowledgement),
    # 300 ms with the old pause and re-fetch.
    median = gaps[len(gaps) // 2]
    assert median < 100, gaps
    assert w.terminate() == 0
    assert committed_lag(mock_kafka.bootstrap, "erasure-intake-slots",
                         TOPIC_REQUESTS) == 0


def test_a_full_backlog_pauses_and_every_request_still_finishes(workdir, provider, mock_kafka):
    # A backlog of 3 behind 1 request in flight: the partitions pause once
    # 3 wait and resume at 1 left; in order per partition, all committed.
    provider.add_fault(provider="convai", latency_ms=30)
    w = start_worker(workdir, mock_kafka, provider, group="erasure-intake-full",
                     worker={"max_requests_in_flight": 1,
                             "max_backlog_requests": 3, "threads": 1})
    ids = [f"r-full{i:02d}" for i in range(30)]
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                [single_call_request(i, "convai") for i in ids], partition=0)
        wait_summaries(col, ids, timeout=60)
    calls = sorted(provider_calls(provider, "convai"), key=lambda c: c["received_ms"])
    # One request in flight at a time, all in one partition: the calls
    # come in offset order, the order the backlog was filled in.
    assert [next(r for r in ids if r in json.dumps(c)) for c in calls] == ids
    assert pauses(w) > 0, w.log_text()[-2000:]
    assert w.terminate() == 0
    assert committed_lag(mock_kafka.bootstrap, "erasure-intake-full",
                         TOPIC_REQUESTS) == 0


def test_revoke_drops_the_backlog_uncommitted_and_nothing_is_lost(workdir, provider, mock_kafka):
    # One request in flight, the rest in a's backlog. A second member
    # takes some partitions: a drops their backlog without committing it,
    # b consumes those requests again from the committed offset, and every
    # request is summarised and committed.
    #
    # a's vendor hangs until b holds a partition, so a can finish nothing
    # before the revoke: every partition (8 requests each) still has a
    # backlog when one moves, however long b takes to join. With a slow
    # vendor alone a loaded machine let a finish the moved partition first.
    provider.add_fault(provider="convai", hang=True)
    group = "erasure-intake-revoke"
    cfg = dict(group=group, worker={"max_requests_in_flight": 1,
                                    "drain_timeout_ms": 5000, "threads": 1})
    a = start_worker(workdir, mock_kafka, provider, name="a", **cfg)
    ids = [f"r-rvb{i}" for i in range(24)]
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                [single_call_request(i, "convai") for i in ids])
        deadline = time.monotonic() + 60
        while not provider_calls(provider, "convai"):
            assert time.monotonic() < deadline, a.log_text()[-2000:]
            time.sleep(0.05)
        b = start_worker(workdir, mock_kafka, provider, name="b", **cfg)
        deadline = time.monotonic() + 60
        while not b.loops_with_partitions():
            assert time.monotonic() < deadline, b.log_text()[-2000:]
            time.sleep(0.05)
        # b holds a partition only once a has revoked it.
        assert "backlog request(s) of revoked partitions dropped" in a.log_text(), \
            a.log_text()[-3000:]
        provider.clear_faults()
        provider.add_fault(provider="convai", latency_ms=100)
        msgs = wait_summaries(col, ids, timeout=120)
    done = {rid for rid in ids
            if summaries(outcomes_of(msgs, rid))[0].value["status"] == "completed"}
    assert done == set(ids)
    # Both members commit what they finished (auto-commit, once a second):
    # the group's lag reaches 0 with both still running.
    deadline = time.monotonic() + 30
    while committed_lag(mock_kafka.bootstrap, group, TOPIC_REQUESTS) > 0:
        assert time.monotonic() < deadline, "offsets never committed"
        time.sleep(0.2)
    assert a.terminate() == 0
    assert b.terminate() == 0


BACKLOG = ("erasure_backlog_requests", "erasure_backlog_bytes",
           "erasure_requests_in_flight", "erasure_paused_partitions")


def wait_gauges(port, worker, pred, timeout=30):
    return harness.wait_gauges(port, worker, BACKLOG, pred, timeout)


def test_the_backlog_is_on_metrics(workdir, provider, mock_kafka):
    # One request in flight on a hung vendor: the other four wait in the
    # backlog, and /metrics says so (requests and bytes); once the vendor
    # answers they all finish and the gauges fall back to 0.
    provider.add_fault(provider="convai", hang=True)
    port = harness.free_port()
    w = start_worker(workdir, mock_kafka, provider, group="erasure-intake-gauge",
                     metrics_port=port,
                     worker={"max_requests_in_flight": 1, "threads": 1})
    harness.wait_ready(port, w)
    ids = [f"r-gauge{i}" for i in range(5)]
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        msgs = [single_call_request(i, "convai") for i in ids]
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, msgs)
        got = wait_gauges(port, w, lambda g: g.get("erasure_backlog_requests") == 4)
        assert got["erasure_requests_in_flight"] == 1
        assert got["erasure_paused_partitions"] == 0
        # Each waiting request holds at least its message, twice (the
        # dead-letter copy's headroom, src/worker_intake.c).
        assert got["erasure_backlog_bytes"] >= 2 * 4 * min(len(m) for m in msgs)
        provider.clear_faults()
        wait_summaries(col, ids, timeout=60)
    wait_gauges(port, w, lambda g: g.get("erasure_backlog_requests") == 0
                and g.get("erasure_backlog_bytes") == 0)
    assert w.terminate() == 0
