"""Steady load on a real Apache Kafka broker: an upstream pipeline feeding
300 mixed requests per second (1-6 calls each) for 60 s, the way production
does, instead of a backlog loaded before the worker starts.

The worker must keep up while it runs, not catch up afterwards: the
group's committed lag stays within about one second of input, every request
is summarised, and the produce -> summary latency stays near the vendor's
latency plus a few commit intervals. Never skipped: a broker that cannot
start fails the tier.

Figures are appended to $ERASURE_BUILD_DIR/real-kafka-report.txt."""

import os
import uuid

import pytest

import harness
from harness import report
from steady import SteadyLoad, percentile

pytestmark = pytest.mark.real_kafka

RATE = float(os.environ.get("ERASURE_STEADY_RATE", "300"))
SECONDS = float(os.environ.get("ERASURE_STEADY_SECONDS", "60"))
PARTITIONS = 4
VENDOR_LATENCY_MS = 20
COMMIT_INTERVAL_MS = 200
# The first seconds include the group join and the first commit (a
# partition without a committed offset counts from its start).
WARMUP_S = 5.0
@pytest.fixture
def provider(workdir):
    s = harness.ProviderServer(workdir, [
        "--latency-ms", str(VENDOR_LATENCY_MS), "--threads", "2",
        "--max-calls", "1000"])
    yield s
    s.stop()


def test_keeps_up_with_a_steady_rate(broker, provider, workdir):
    tag = uuid.uuid4().hex[:6]
    topics = (f"steady-req-{tag}", f"steady-out-{tag}", f"steady-dlq-{tag}")
    for t, n in zip(topics, (PARTITIONS, PARTITIONS, 1)):
        broker.create_topic(t, n)
    group = f"steady-{tag}"
    mport = harness.free_port()
    cfg = harness.worker_config(
        os.path.join(workdir, "worker.conf"), broker.bootstrap, provider.port,
        group=group, topics=topics, metrics_port=mport,
        worker={"max_calls_in_flight": 512, "max_requests_in_flight": 1000,
                "commit_interval_ms": COMMIT_INTERVAL_MS},
        limits={"concurrency": 128})
    w = harness.Worker(cfg, workdir, args=["-l", "info"])
    load = None
    try:
        harness.wait_ready(mport, w, timeout=60)
        load = SteadyLoad(broker.bootstrap, topics, group, RATE, SECONDS,
                          tag).start()
        load.wait_produced(SECONDS + 60)
        load.wait_all_summarised(30)
        assert w.alive(), w.log_text()[-3000:]
        lat = load.latencies_ms()
        steady_lags = [lag for t, lag in load.lag_samples if t >= WARMUP_S]
        max_lag = max(steady_lags)
        p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
        report(f"steady load: {RATE:.0f} requests/s for {SECONDS:.0f} s, "
               f"{len(load.sent)} requests, {load.calls} calls: max committed "
               f"lag {max_lag} (after {WARMUP_S:.0f} s), produce->summary "
               f"p50 {p50:.0f} ms p99 {p99:.0f} ms")
        assert len(lat) == len(load.sent)
        assert len(steady_lags) >= SECONDS - WARMUP_S - 5, load.lag_samples
        # Never more than one second of input waiting in Kafka.
        assert max_lag <= RATE, (
            f"lag reached {max_lag} (> 1 s of input at {RATE:.0f}/s): "
            f"{load.lag_samples}")
        bound = VENDOR_LATENCY_MS + 3 * COMMIT_INTERVAL_MS
        assert p99 <= bound, (
            f"p99 produce->summary {p99:.0f} ms > {bound} ms (vendor "
            f"latency + 3 commit intervals); p50 {p50:.0f} ms")
    finally:
        if load is not None:
            load.close()
        if w.alive():
            assert w.terminate() == 0, w.log_text()[-3000:]

