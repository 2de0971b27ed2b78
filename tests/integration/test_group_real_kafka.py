"""A consumer group of workers on a real Apache Kafka 3.9 broker (KRaft):
2 000 requests over all five endpoints, with a kill -9, a SIGTERM and a
broker restart in the middle. Every request must end with its full set of
outcomes and a summary, repeats must carry the first copy's keys, and the
group's lag must return to 0. Never skipped: a broker that cannot start
fails the tier.

Figures (broker start, durations, re-executed requests, duplicates) are
appended to $ERASURE_BUILD_DIR/real-kafka-report.txt."""

import collections
import os
import time
import uuid

import pytest
from confluent_kafka import KafkaError, KafkaException

import harness
from harness import (Worker, idempotency_key, report, summaries,
                     worker_config)
from kafka_env import Collector, committed_lag, produce

pytestmark = pytest.mark.real_kafka

N_REQUESTS = int(os.environ.get("ERASURE_GROUP_REQUESTS", "2000"))
PARTITIONS = 6
WORKERS = 3
@pytest.fixture
def provider(workdir):
    s = harness.ProviderServer(workdir, ["--threads", "4"])
    yield s
    s.stop()


def make_request(i):
    """Request i of the mix; returns (request, expected (provider, action,
    resource) set). Identifiers are unique per request, so a repeat is the
    only way a call can meet already-deleted data."""
    rid = f"req-{i:05d}"
    kind = i % 6
    ag = "76710f1b-8231-42e5-b0d1-f43aac618e15"
    t = {
        0: [{"provider": "vectara", "agent_id": f"agt_g{i % 7}",
             "session_ids": [f"ase_{i}_a", f"ase_{i}_b"]}],
        1: [{"provider": "convai", "character_id": f"c{i}",
             "session_ids": [f"s{i}a", f"s{i}b"]}],
        2: [{"provider": "algolia", "agent_id": ag, "user_token": f"user-{i}"}],
        3: [{"provider": "algolia", "scope": "agent", "agent_id": f"ag{i}",
             "conversations": {"start_date": "2026-01-01"}}],
        4: [{"provider": "avaamo", "scope": "agent", "agent_id": 20000 + i, "data_types": ["storage"]}],
    }
    targets = t[kind] if kind < 5 else [x for k in range(5) for x in t[k]]
    exp = set()
    for x in targets:
        p = x["provider"]
        if p == "vectara":
            exp |= {("vectara", "delete_session", f"{x['agent_id']}/{s}") for s in x["session_ids"]}
        elif p == "convai":
            exp.add(("convai", "delete_sessions", f"{x['character_id']}/{','.join(x['session_ids'])}"))
        elif "user_token" in x:
            # Nothing seeded: the read finds no conversation to delete.
            exp.add(("algolia", "discover_conversations", x["user_token"]))
            exp.add(("algolia", "delete_user_data", x["user_token"]))
        elif p == "algolia":
            exp.add(("algolia", "delete_conversations", f"{x['agent_id']}/2026-01-01.."))
        else:
            exp.add(("avaamo", "clear_data", f"{x['agent_id']}/storage"))
    return harness.request(rid, *targets), exp


class Group:
    """Topics, a provider server and WORKERS workers in one group."""

    def __init__(self, broker, provider, workdir, name):
        tag = f"{name}-{uuid.uuid4().hex[:6]}"
        self.topics = (f"req-{tag}", f"out-{tag}", f"dlq-{tag}")
        broker.create_topic(self.topics[0], PARTITIONS)
        broker.create_topic(self.topics[1], PARTITIONS)
        broker.create_topic(self.topics[2], 1)
        self.broker, self.provider, self.workdir = broker, provider, workdir
        self.group = f"grp-{tag}"
        self.config = worker_config(
            os.path.join(workdir, "worker.conf"), broker.bootstrap, provider.port,
            group=self.group, topics=self.topics,
            # One loop per process: the group is read as one member per
            # pod (pod-i), as a single-loop deployment runs.
            worker={"commit_interval_ms": 500, "max_requests_in_flight": 300,
                    "threads": 1},
            extra_kafka=())
        self.workers_seen = []
        self.workers = [self.start(i) for i in range(WORKERS)]

    def start(self, i, generation=0):
        w = Worker(self.config, self.workdir, name=f"worker{i}-{generation}",
                   env={"ERASURE_TEST_INSTANCE": f"pod-{i}"},
                   args=["-l", "info"])
        self.workers_seen.append(w)
        return w

    def stop_all(self):
        for w in self.workers:
            if w.alive():
                assert w.terminate() == 0, w.log_text()[-3000:]


def load(group):
    reqs = [make_request(i) for i in range(N_REQUESTS)]
    produce(group.broker.bootstrap, group.topics[0], [r for r, _ in reqs],
            key_fn=lambda r: r["request_id"], timeout=120)
    return {r["request_id"]: exp for r, exp in reqs}


def worker_log_tails(group, n=40):
    """The last N lines of every worker's log: a stalled group is
    otherwise gone with its workdir before anyone can read why."""
    out = []
    for w in group.workers_seen:
        lines = w.log_text().splitlines()[-n:]
        out.append(f"--- {w.name} ---\n" + "\n".join(l[:300] for l in lines))
    return "\n".join(out)


def wait_all(col, expected, timeout=240, group=None):
    ids = set(expected)

    def done(ms):
        return ids <= {m.value["request_id"] for m in summaries(ms)}
    try:
        return col.wait_for(done, timeout,
                            what=f"summaries of all {len(ids)} requests")
    except AssertionError as e:
        if group is None:
            raise
        raise AssertionError(f"{e}\n{worker_log_tails(group)}") from None


def wait_summary_count(col, n, timeout=120):
    return col.wait_for(lambda ms: len(summaries(ms)) >= n, timeout,
                        what=f">= {n} summaries")


def group_members(desc, group):
    """{group.instance.id: partitions} from describe-group's member table."""
    out = {}
    for line in desc.splitlines():
        f = line.split()
        if len(f) == 6 and f[0] == group and f[3].startswith("/") and f[5].isdigit():
            out[f[2]] = int(f[5])
    return out


def group_state(desc, group):
    for line in desc.splitlines():
        f = line.split()
        if len(f) >= 6 and f[0] == group and f[-2] in (
                "Stable", "PreparingRebalance", "CompletingRebalance", "Empty", "Dead"):
            return f[-3], f[-2]  # strategy, state
    return None, None


def wait_group_stable(group, timeout=60):
    """Until the coordinator reports the group Stable with every member
    holding partitions (asks the broker; nothing to subscribe to)."""
    deadline = time.monotonic() + timeout
    desc = ""
    while time.monotonic() < deadline:
        desc = group.broker.describe_group(group.group)
        members = group_members(desc, group.group)
        if group_state(desc, group.group)[1] == "Stable" and \
                len(members) == WORKERS and all(members.values()):
            return desc
    raise AssertionError(f"group not stable within {timeout}s:\n{desc}")


COORDINATOR_MOVING = (KafkaError.NOT_COORDINATOR,
                      KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                      KafkaError.COORDINATOR_NOT_AVAILABLE)


def wait_lag_zero(group, timeout=60):
    deadline = time.monotonic() + timeout
    lag = None
    while time.monotonic() < deadline:
        try:
            lag = committed_lag(group.broker.bootstrap, group.group,
                                group.topics[0])
        except KafkaException as e:
            # Right after a broker restart the group's coordinator may
            # still be loading (NOT_COORDINATOR): ask again, not fail.
            err = e.args[0]
            if not (err.retriable() or err.code() in COORDINATOR_MOVING):
                raise
            lag = str(e)
        if lag == 0:
            return
        time.sleep(0.25)
    raise AssertionError(f"consumer lag still {lag} after {timeout}s\n"
                         f"{worker_log_tails(group)}")


def check_complete(msgs, expected):
    """Every request: all expected calls reported, a summary, repeats with
    the first copy's key. Returns (re-executed requests, max duplicate
    outcomes of one call)."""
    keys = collections.defaultdict(set)
    copies = collections.Counter()
    seen = collections.defaultdict(set)
    sums = collections.Counter()
    for m in msgs:
        v = m.value
        if m.headers.get("ce_type") == "erasure.request.completed.v1":
            sums[v["request_id"]] += 1
            assert v["status"] == "completed", v
            continue
        k = (v["request_id"], v["provider"], v["action"], v["resource"])
        keys[k].add(v["idempotency_key"])
        copies[k] += 1
        seen[v["request_id"]].add(k[1:])
        if v["action"] == "discover_conversations":
            assert v["status"] == "discovered" and v["items"] == 0, v
        else:
            assert v["status"] in ("deleted", "already_absent"), v
    for rid, exp in expected.items():
        assert seen[rid] == exp, (rid, seen[rid] ^ exp)
        assert sums[rid] >= 1, rid
    for k, ks in keys.items():
        assert ks == {idempotency_key(k[0], k[1], "default", k[2], k[3])}, k
    return sum(1 for c in sums.values() if c > 1), max(copies.values())


def assert_no_call_lost(provider, expected):
    """The provider server saw every expected call succeed at least once."""
    ok = collections.Counter()
    for c in provider.calls():
        if c["status"] in (200, 204, 404):
            ok[c["provider"]] += 1
    want = collections.Counter(p for exp in expected.values() for p, _, _ in exp)
    for p, n in want.items():
        assert ok[p] >= n, (p, ok[p], n)


def test_three_workers_complete_everything(broker, provider, workdir):
    t0 = time.monotonic()
    g = Group(broker, provider, workdir, "base")
    with Collector(broker.bootstrap, g.topics[1]) as col:
        expected = load(g)
        msgs = wait_all(col, expected, group=g)
        wait_lag_zero(g)
    desc = wait_group_stable(g)
    g.stop_all()
    reexec, maxdup = check_complete(msgs, expected)
    assert_no_call_lost(provider, expected)
    # The coordinator runs the group on cooperative-sticky, and every
    # member joined with its pod name as group.instance.id, sharing the
    # partitions evenly.
    assert group_state(desc, g.group) == ("cooperative-sticky", "Stable"), desc
    assert group_members(desc, g.group) == {f"pod-{i}": PARTITIONS // WORKERS
                                            for i in range(WORKERS)}, desc
    report(f"3 workers, {N_REQUESTS} requests: {time.monotonic() - t0:.1f} s, "
           f"re-executed {reexec}, max duplicates per call {maxdup}")


def test_kill_9_then_restart_loses_nothing(broker, provider, workdir):
    t0 = time.monotonic()
    g = Group(broker, provider, workdir, "kill")
    with Collector(broker.bootstrap, g.topics[1]) as col:
        expected = load(g)
        wait_summary_count(col, N_REQUESTS // 4)
        g.workers[1].kill()
        g.workers[1] = g.start(1, generation=1)
        msgs = wait_all(col, expected, group=g)
        wait_lag_zero(g)
    g.stop_all()
    reexec, maxdup = check_complete(msgs, expected)
    assert_no_call_lost(provider, expected)
    report(f"kill -9 + restart: {time.monotonic() - t0:.1f} s, re-executed "
           f"{reexec} request(s), max duplicates per call {maxdup}")


def test_sigterm_drains_and_hands_over_without_repeats(broker, provider, workdir):
    t0 = time.monotonic()
    g = Group(broker, provider, workdir, "term")
    # SIGTERM in steady state: a commit made while the group is still
    # forming can fail (stale generation), which is Kafka's at-least-once,
    # not what this test is about.
    wait_group_stable(g)
    with Collector(broker.bootstrap, g.topics[1]) as col:
        expected = load(g)
        wait_summary_count(col, N_REQUESTS // 4)
        assert g.workers[1].terminate() == 0
        msgs = wait_all(col, expected, group=g)
        wait_lag_zero(g)
    g.stop_all()
    reexec, maxdup = check_complete(msgs, expected)
    assert_no_call_lost(provider, expected)
    report(f"SIGTERM one worker: {time.monotonic() - t0:.1f} s, re-executed "
           f"{reexec} request(s), max duplicates per call {maxdup}")
    assert reexec == 0 and maxdup == 1


def test_broker_restart_in_the_middle(broker, provider, workdir):
    t0 = time.monotonic()
    g = Group(broker, provider, workdir, "bounce")
    with Collector(broker.bootstrap, g.topics[1]) as col:
        expected = load(g)
        wait_summary_count(col, N_REQUESTS // 4)
        broker.restart()
        report(f"broker restart: {broker.start_seconds:.1f} s")
        msgs = wait_all(col, expected, group=g)
        wait_lag_zero(g)
    assert all(w.alive() for w in g.workers)
    g.stop_all()
    reexec, maxdup = check_complete(msgs, expected)
    assert_no_call_lost(provider, expected)
    report(f"broker restart mid-run: {time.monotonic() - t0:.1f} s, re-executed "
           f"{reexec} request(s), max duplicates per call {maxdup}")
