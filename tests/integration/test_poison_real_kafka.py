"""Poison messages on a real Apache Kafka broker (issue 11): the broker
enforces sizes the mock cluster does not, so a copy can pass the client's
own checks and still be refused in its delivery report."""

import hashlib
import json
import os
import time
import uuid

import pytest

import harness
from harness import Worker, committed_offsets, run_cli, worker_config
from kafka_env import Collector, produce
from test_pipeline import wait_summaries

pytestmark = pytest.mark.real_kafka

MIB = 1024 * 1024


@pytest.fixture
def provider(workdir):
    s = harness.ProviderServer(workdir, [])
    yield s
    s.stop()


def topics(broker, request_config=None, dlq_config=None):
    tag = uuid.uuid4().hex[:6]
    t = (f"req-{tag}", f"out-{tag}", f"dlq-{tag}")
    broker.create_topic(t[0], 1, config=request_config)
    broker.create_topic(t[1], 1)
    broker.create_topic(t[2], 1, config=dlq_config)
    return t


def test_copy_refused_by_the_broker_becomes_a_stub(broker, provider, workdir):
    # The request topic takes 2 MB, the dead-letter topic 1 000 000 bytes: a
    # 1 060 000-byte message is oversize, its copy passes the producer's own
    # limit (max_message_bytes + 64 KiB) and the broker refuses it.
    t = topics(broker, request_config={"max.message.bytes": "2000000"},
               dlq_config={"max.message.bytes": "1000000"})
    cfg = worker_config(os.path.join(workdir, "w.conf"), broker.bootstrap,
                        provider.port, group=f"grp-{t[0]}", topics=t)
    w = Worker(cfg, workdir)
    raw = os.urandom(1_060_000)  # incompressible: the producer uses lz4
    good = harness.request("r-after", {"provider": "vectara", "agent_id": "agt_ok",
                                       "session_ids": ["ase_ok"]})
    with Collector(broker.bootstrap, t[2]) as dlq, Collector(broker.bootstrap, t[1]) as col:
        (_, off), (_, goff) = produce(broker.bootstrap, t[0], [raw, good],
                                      config={"message.max.bytes": 4 * MIB})
        [stub] = dlq.wait_count(1, timeout=90)
        wait_summaries(col, ["r-after"], timeout=90)
    deadline = time.monotonic() + 30
    while committed_offsets(broker.bootstrap, f"grp-{t[0]}", t[0]).get(0, -1) < goff + 1:
        assert time.monotonic() < deadline, "offset never committed"
        time.sleep(0.5)
    assert w.alive(), w.log_text()[-3000:]
    assert stub.headers["erasure-error-code"] == "too_large_for_dlq"
    assert stub.headers["erasure-original-error-code"] == "oversize"
    body = json.loads(stub.raw_value)
    assert body["size"] == len(raw) and body["source_offset"] == off
    assert body["sha256"] == hashlib.sha256(raw).hexdigest()
    assert "MSG_SIZE_TOO_LARGE" in w.log_text() or "too large" in w.log_text()
    assert w.terminate() == 0


def test_replay_skips_a_copy_the_request_topic_refuses(broker, provider, workdir):
    # A dead-lettered request larger than the request topic now accepts.
    t = topics(broker, request_config={"max.message.bytes": "100000"})
    # The broker refuses a whole batch for one message too large: one
    # message per batch here, so only the big one is refused.
    cfg = worker_config(os.path.join(workdir, "r.conf"), broker.bootstrap,
                        provider.port, group=f"grp-{t[0]}", topics=t,
                        extra_kafka=("batch.num.messages=1",))
    hdr = {"erasure-error-code": "retries_exhausted"}
    small = harness.request("r-small", {"provider": "vectara", "agent_id": "agt_s",
                                        "session_ids": ["ase_s"]})
    big = dict(small, request_id="r-big", pad="p" * 200_000)
    produce(broker.bootstrap, t[2], [big, small], headers=hdr)
    r = run_cli("replay", "-c", cfg, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "copied 1 dead-lettered request(s)" in r.stdout, r.stdout
    assert "could not copy 1" in r.stdout, r.stdout
    assert "replay: Kafka refused the copy of 0@0" in r.stderr, r.stderr
    # Committed: a second pass finds nothing new.
    again = run_cli("replay", "-c", cfg, timeout=120)
    assert again.returncode == 0 and "copied 0" in again.stdout, again.stdout
