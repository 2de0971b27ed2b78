"""Several worker loops in one process (worker.threads, issue 17): the
per-account limits hold for the account as a whole, across the loops, and
commits stay contiguous per partition under out-of-order completion when
the process dies mid-run. Over the mock cluster (3 request partitions) and
the provider test server, which measures the concurrency it sees."""

import os
import time

from harness import (TOPIC_OUTCOMES, TOPIC_REQUESTS, Worker,
                     committed_offsets, request, summary_ids, worker_config)
from kafka_env import Collector, produce

GROUP_LIMITS = "erasure-threads-limits"


def start(workdir, kafka, provider, name="worker", **cfg):
    path = worker_config(os.path.join(workdir, f"{name}.conf"), kafka.bootstrap,
                         provider.port, **cfg)
    return Worker(path, workdir, name=name)


def vectara_request(rid, sessions):
    return request(rid, {"provider": "vectara", "agent_id": "agt_t",
                         "session_ids": [f"ase_{rid}_{i}" for i in range(sessions)]})


def produce_spread(kafka, reqs):
    """Round-robin over the three partitions, so every loop gets work."""
    offs = []
    for i, r in enumerate(reqs):
        offs += produce(kafka.bootstrap, TOPIC_REQUESTS, [r], partition=i % 3)
    return offs


def vectara_arrivals(provider):
    return sorted(c["received_ms"] for c in provider.calls()
                  if c["provider"] == "vectara")


def test_account_concurrency_holds_across_loops(workdir, provider, mock_kafka):
    # Four loops, three partitions, one Vectara account allowing 2 calls at
    # once: each loop alone would allow 2, together 6.
    provider.add_fault(provider="vectara", latency_ms=150)
    w = start(workdir, mock_kafka, provider, group=GROUP_LIMITS,
              worker={"threads": 4},
              account_limits={"vectara": {"concurrency": 2}})
    reqs = [vectara_request(f"c{i}", 4) for i in range(9)]
    ids = {r["request_id"] for r in reqs}
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce_spread(mock_kafka, reqs)
        col.wait_for(lambda ms: ids <= summary_ids(ms), 90, what="summaries")
    stats = provider.stats()
    assert w.terminate() == 0
    assert "4 worker loop(s)" in w.log_text()
    assert w.loops_with_partitions() >= 2, w.log_text()[-3000:]
    # 36 deletions and their read-backs, never more than 2 at once; and 2
    # were reached, so the cap (not a lack of work) is what bound it.
    assert stats["by_provider"]["vectara"] >= 72
    assert stats["max_in_flight_by_provider"]["vectara"] == 2, stats


def test_account_token_bucket_holds_across_loops(workdir, provider, mock_kafka):
    rate, burst = 10.0, 2.0
    w = start(workdir, mock_kafka, provider, group=GROUP_LIMITS + "-rate",
              worker={"threads": 4},
              account_limits={"vectara": {"concurrency": 32,
                                          "rate_per_s": rate, "burst": burst}})
    reqs = [vectara_request(f"t{i}", 2) for i in range(6)]
    ids = {r["request_id"] for r in reqs}
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce_spread(mock_kafka, reqs)
        col.wait_for(lambda ms: ids <= summary_ids(ms), 90, what="summaries")
    assert w.terminate() == 0
    assert w.loops_with_partitions() >= 2
    t = vectara_arrivals(provider)
    assert len(t) >= 24  # 12 deletions, 12 read-backs
    # Any run of calls fits the one bucket: at most burst + rate * span
    # (plus one for the server's millisecond clock).
    for i in range(len(t)):
        for j in range(i + 1, len(t)):
            allowed = burst + rate * (t[j] - t[i]) / 1000.0 + 1
            assert j - i + 1 <= allowed, (i, j, t[j] - t[i], t)
    # Four loops with buckets of their own would need a quarter of this.
    assert (t[-1] - t[0]) / 1000.0 >= (len(t) - burst) / rate - 0.2


def test_429_cool_down_holds_across_loops(workdir, provider, mock_kafka):
    provider.add_fault(provider="vectara", status=429, retry_after="2", times=1,
                       body='{"code":"rate_limit_exceeded"}')
    provider.add_fault(provider="vectara", latency_ms=100)
    w = start(workdir, mock_kafka, provider, group=GROUP_LIMITS + "-429",
              worker={"threads": 4})
    reqs = [vectara_request(f"q{i}", 5) for i in range(6)]
    ids = {r["request_id"] for r in reqs}
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce_spread(mock_kafka, reqs)
        col.wait_for(lambda ms: ids <= summary_ids(ms), 90, what="summaries")
    assert w.terminate() == 0
    calls = sorted((c for c in provider.calls() if c["provider"] == "vectara"),
                   key=lambda c: c["received_ms"])
    t429 = next(c for c in calls if c["status"] == 429)["ts_ms"]
    # Calls other loops sent before the worker read the 429 may still
    # arrive just after it; after that, no loop calls the account until
    # the 2 s it asked for are over.
    seen = 300
    early = [c["received_ms"] - t429 for c in calls
             if t429 + seen < c["received_ms"] < t429 + 1900]
    assert not early, early
    assert any(c["received_ms"] >= t429 + 1900 for c in calls)


def test_commits_contiguous_across_loops_after_kill(workdir, provider, mock_kafka):
    # Vendor latency varies per call (0, 300 or 1 500 ms), so requests of
    # every partition finish out of order; the process dies mid-run.
    provider.add_fault(provider="vectara", latency_ms=1500, rate=0.3)
    provider.add_fault(provider="vectara", latency_ms=300, rate=0.5)
    group = "erasure-threads-commit"
    w = start(workdir, mock_kafka, provider, group=group,
              worker={"threads": 2, "commit_interval_ms": 100})
    # Both loops hold partitions before the load starts (harness.py).
    w.wait_loops_assigned(3)
    reqs = [vectara_request(f"k{i}", 1) for i in range(90)]
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        offs = produce_spread(mock_kafka, reqs)
        by_pos = {po: r["request_id"] for po, r in zip(offs, reqs)}
        col.wait_for(lambda ms: len(summary_ids(ms)) >= 40, 60,
                     what="some summaries")
        w.kill()
        done = summary_ids(col.snapshot())
        committed = committed_offsets(mock_kafka.bootstrap, group, TOPIC_REQUESTS)
        assert len(done) < len(reqs), "the kill came too late to test anything"
        assert w.loops_with_partitions() >= 2
        # Nothing below a partition's committed offset lacks its outcomes.
        for (part, off), rid in by_pos.items():
            if off < committed.get(part, -1001):
                assert rid in done, (part, off, committed)
        # Out of order really happened: some request finished past the
        # commit point of its partition.
        assert any(rid in done and off >= committed.get(part, -1001)
                   for (part, off), rid in by_pos.items())
        # The rest is redelivered and finished by the next process.
        w2 = start(workdir, mock_kafka, provider, name="worker2", group=group,
                   worker={"threads": 2})
        col.wait_for(lambda ms: {r["request_id"] for r in reqs} <= summary_ids(ms),
                     90, what="every summary after the restart")
    assert w2.terminate() == 0


def check_config_threads(path, *prefix):
    import json
    import subprocess
    from harness import BUILD_DIR, SECRETS
    env = dict(os.environ)
    env.update(SECRETS)
    r = subprocess.run([*prefix, os.path.join(BUILD_DIR, "erasure-worker"),
                        "check-config", "-c", path, "--json"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    w = json.loads(r.stdout)["worker"]
    return w["threads"], w["threads_auto"]


def test_auto_threads_follow_the_cpus_the_process_may_use(workdir, provider):
    path = worker_config(os.path.join(workdir, "w.conf"), "127.0.0.1:9",
                         provider.port)
    # Pinned to one CPU, auto means one loop.
    assert check_config_threads(path, "taskset", "-c", "0") == (1, True)
    n, auto = check_config_threads(path)
    assert auto and 1 <= n <= len(os.sched_getaffinity(0))
    fixed = worker_config(os.path.join(workdir, "f.conf"), "127.0.0.1:9",
                          provider.port, worker={"threads": 3})
    assert check_config_threads(fixed, "taskset", "-c", "0") == (3, False)
