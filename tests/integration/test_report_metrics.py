"""The worker watches deadlines (issue 15): while it holds a request asked
40 days ago, /metrics shows erasure_oldest_open_request_age_seconds of at
least 40 days and erasure_open_requests_past_deadline 1 (a request of
yesterday beside it is not counted); once both are finished, 0 and 0.
Over the mock cluster; the vendor is slowed so the requests stay open."""

import os
import time

import harness
from harness import TOPIC_OUTCOMES, TOPIC_REQUESTS, Worker, request, worker_config
from kafka_env import Collector, produce

DAY = 86400


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


OPEN = ("erasure_oldest_open_request_age_seconds",
        "erasure_open_requests_past_deadline")


def scrape(port):
    return harness.scrape_gauges(port, OPEN)


def wait_metrics(port, worker, pred, timeout=30):
    return harness.wait_gauges(port, worker, OPEN, pred, timeout)


def test_open_request_past_deadline_is_counted_until_finished(
        workdir, provider, mock_kafka):
    provider.add_fault(provider="vectara", latency_ms=6000)
    port = harness.free_port()
    cfg = worker_config(os.path.join(workdir, "w.conf"), mock_kafka.bootstrap,
                        provider.port, group="erasure-deadline",
                        metrics_port=port, worker={"deadline_days": 30})
    w = Worker(cfg, workdir)
    harness.wait_ready(port, w)
    assert scrape(port) == {"erasure_oldest_open_request_age_seconds": 0,
                            "erasure_open_requests_past_deadline": 0}
    asked = time.time() - 40 * DAY
    reqs = [request("r-old", {"provider": "vectara", "agent_id": "agt_d",
                              "session_ids": ["ase_old"]}, requested_at=iso(asked)),
            request("r-new", {"provider": "vectara", "agent_id": "agt_d",
                              "session_ids": ["ase_new"]},
                    requested_at=iso(time.time() - DAY))]
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, reqs, partition=0)
        got = wait_metrics(port, w, lambda g: g.get(
            "erasure_open_requests_past_deadline") == 1)
        assert got["erasure_oldest_open_request_age_seconds"] >= 40 * DAY - 5
        col.wait_for(lambda ms: {"r-old", "r-new"} <= harness.summary_ids(ms), 60,
                     what="both summaries")
    wait_metrics(port, w, lambda g: g == {
        "erasure_oldest_open_request_age_seconds": 0,
        "erasure_open_requests_past_deadline": 0})
    assert w.terminate() == 0
