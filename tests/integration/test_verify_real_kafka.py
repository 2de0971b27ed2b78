"""Discover → delete → verify on a real Apache Kafka broker (issue 12):
the provider server's state after the erasure, the read-backs in the
outcomes, and a kill -9 redelivery that repeats the same keys."""

import os
import uuid

import pytest

import harness
from harness import (Worker, call_outcomes, idempotency_key, request, summaries,
                     worker_config)
from kafka_env import Collector, produce
from test_verify import conv

pytestmark = pytest.mark.real_kafka


@pytest.fixture
def provider(workdir):
    s = harness.ProviderServer(workdir, [])
    yield s
    s.stop()


def test_erasure_verified_and_redelivery_repeats_keys(broker, provider, workdir):
    tag = uuid.uuid4().hex[:6]
    t = (f"req-{tag}", f"out-{tag}", f"dlq-{tag}")
    for name in t:
        broker.create_topic(name, 1)
    provider.set_data(
        algolia_users={
            "user-a": {"conversations": [conv("alg_cnv_a1", "ag1", "m1"),
                                         conv("alg_cnv_a2", "ag2", "m2", "m3")]},
            "user-b": {"conversations": [conv("alg_cnv_b1", "ag1", "m4")]}},
        convai_sessions={"ch1": ["s-a", "s-keep"]})
    rid = "r-real-verify"
    targets = [{"provider": "algolia", "user_token": "user-a"},
               {"provider": "vectara", "agent_id": "agt_r", "session_ids": ["ase_1"]},
               {"provider": "convai", "character_id": "ch1", "session_ids": ["s-a"]}]
    group = f"grp-{tag}"
    # No commit by itself: the kill -9 lands after the work, before its
    # offset is committed, so the request is delivered again.
    cfg = worker_config(os.path.join(workdir, "w1.conf"), broker.bootstrap,
                        provider.port, group=group, topics=t,
                        worker={"commit_interval_ms": 600000})
    w = Worker(cfg, workdir, name="w1")
    with Collector(broker.bootstrap, t[1]) as col:
        produce(broker.bootstrap, t[0], [request(rid, *targets)])
        col.wait_for(lambda ms: len(summaries(ms)) == 1, 60, what="first summary")
        # The provider's own state: user A has nothing left, B is untouched.
        users = provider.data()["algolia_users"]
        assert users["user-a"]["conversations"] == []
        assert [c["id"] for c in users["user-b"]["conversations"]] == ["alg_cnv_b1"]
        assert users["user-b"]["conversations"][0]["messages"][0]["id"] == "m4"
        assert provider.data()["convai_sessions"] == {"ch1": ["s-keep"]}
        w.kill()
        cfg2 = worker_config(os.path.join(workdir, "w2.conf"), broker.bootstrap,
                             provider.port, group=group, topics=t)
        w2 = Worker(cfg2, workdir, name="w2")
        msgs = col.wait_for(lambda ms: len(summaries(ms)) == 2, 90,
                            what="the redelivery's summary")
    assert w2.terminate() == 0
    first_sum, second_sum = [m.value for m in summaries(msgs)]
    assert first_sum["idempotency_key"] == second_sum["idempotency_key"]
    assert first_sum["status"] == "completed"
    evs = [m.value for m in call_outcomes(msgs)]
    first = {}
    for v in evs:
        k = (v["provider"], v["action"], v["resource"])
        assert v["idempotency_key"] == idempotency_key(rid, k[0], "default", k[1], k[2])
        first.setdefault(k, v)
    # First run: everything; every Vectara and Convai deletion read back absent.
    assert first[("algolia", "discover_conversations", "user-a")]["items"] == 2
    assert ("algolia", "delete_conversation", "ag1/alg_cnv_a1") in first
    assert ("algolia", "delete_conversation", "ag2/alg_cnv_a2") in first
    for k, v in first.items():
        if k[0] in ("vectara", "convai") or k[1] == "delete_user_data":
            assert v["verification"]["status"] == "absent", v
    # The repeat finds nothing left to discover: the same keys for what
    # is still named (the read, the user data, the sessions), no others.
    second = evs[len(first):]
    keys2 = {(v["provider"], v["action"], v["resource"]) for v in second}
    assert keys2 == set(first) - {("algolia", "delete_conversation", "ag1/alg_cnv_a1"),
                                  ("algolia", "delete_conversation", "ag2/alg_cnv_a2")}
    assert [v["items"] for v in second if v["action"] == "discover_conversations"] == [0]
