"""Tests of tests/integration/kafka_env.py against both Kafkas: the real
broker (marked real_kafka) and the mock-kafka cluster (unmarked). Neither is
ever skipped: a Kafka that cannot start fails the test."""

import os
import socket
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from kafka_env import (BROKER_SH, BrokerStartError, Collector,
                       KafkaEnvError, MockCluster, RealBroker, committed_lag,
                       produce)

N = 100
PARTITIONS = 3


def batch(start, n=N):
    return [{"id": i, "body": f"message {i}"} for i in range(start, start + n)]


def produce_batch(bootstrap, topic, start):
    msgs = batch(start)
    delivered = produce(bootstrap, topic, msgs,
                        key_fn=lambda m: f"key-{m['id']}",
                        headers=lambda m: {"id": str(m["id"]), "src": "test"})
    assert len(delivered) == N
    return dict(zip((m["id"] for m in msgs), delivered))


def check_collected(collector, delivered, total):
    """Waits for every id in DELIVERED and checks what was decoded."""
    want = set(delivered)
    msgs = collector.wait_for(
        lambda ms: want <= {m.value["id"] for m in ms}, timeout=60,
        what=f"ids {min(want)}..{max(want)}")
    assert len(msgs) == total, "duplicates or strays"
    seen = {m.value["id"]: m for m in msgs if m.value["id"] in want}
    for i, m in seen.items():
        assert m.key == f"key-{i}"
        assert m.value == {"id": i, "body": f"message {i}"}
        assert m.headers == {"id": str(i), "src": "test"}
        assert (m.partition, m.offset) == delivered[i]
        assert m.timestamp and m.timestamp > 0
    # Keyed messages spread over all partitions.
    assert {m.partition for m in seen.values()} == set(range(PARTITIONS))


def check_lag(bootstrap, topic, total):
    group = f"lag-{uuid.uuid4()}"
    assert committed_lag(bootstrap, group, topic) == total
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        _, high0 = c.get_watermark_offsets(TopicPartition(topic, 0), 10)
        c.commit(offsets=[TopicPartition(topic, 0, high0)],
                 asynchronous=False)
    finally:
        c.close()
    assert committed_lag(bootstrap, group, topic) == total - high0


def roundtrip(bootstrap, topic, start, total, collector):
    delivered = produce_batch(bootstrap, topic, start)
    check_collected(collector, delivered, total)
    with Collector(bootstrap, topic) as fresh:
        check_collected(fresh, delivered, total)
    with Collector(bootstrap, topic, group=f"grp-{uuid.uuid4()}") as member:
        check_collected(member, delivered, total)
    check_lag(bootstrap, topic, total)


@pytest.fixture(scope="module")
def real_broker(tmp_path_factory):
    broker = RealBroker(str(tmp_path_factory.mktemp("real-kafka")))
    broker.start()
    print(f"\nreal broker up at {broker.bootstrap} in "
          f"{broker.start_seconds:.1f}s")
    yield broker
    broker.stop()


@pytest.mark.real_kafka
def test_real_broker_roundtrip_and_restart(real_broker):
    topic = "kafka-env.real"
    real_broker.create_topic(topic, PARTITIONS)
    with Collector(real_broker.bootstrap, topic) as collector:
        roundtrip(real_broker.bootstrap, topic, 0, N, collector)

        real_broker.restart()
        print(f"\nreal broker restarted in {real_broker.start_seconds:.1f}s")
        # Same address, same data; the running collector reconnects.
        roundtrip(real_broker.bootstrap, topic, N, 2 * N, collector)


@pytest.mark.real_kafka
def test_real_broker_runs_the_requested_kafka_version(real_broker):
    """KAFKA_VERSION (CI: 3.9.2 and 4.1.2) picks the jars the broker runs,
    from a cache of that version's own."""
    want = os.environ.get("KAFKA_VERSION", "3.9.2")
    with open(os.path.join(real_broker.workdir, "jars")) as f:
        cache = f.read().strip()
    assert cache.endswith(f"kafka-jars-{want}")
    jars = os.listdir(cache)
    assert f"kafka_2.13-{want}.jar" in jars, sorted(jars)
    assert not [j for j in jars if j.startswith("kafka_2.13-")
                and j != f"kafka_2.13-{want}.jar"]
    pid = int(open(os.path.join(real_broker.workdir, "broker.pid")).read())
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f"kafka_2.13-{want}.jar".encode() in f.read()


def test_broker_sh_refuses_a_malformed_kafka_version(tmp_path):
    env = dict(os.environ, KAFKA_VERSION="4.1;rm")
    r = subprocess.run([BROKER_SH, "fetch", "--cache", str(tmp_path / "j")],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "KAFKA_VERSION must be MAJOR.MINOR.PATCH" in r.stderr
    assert not (tmp_path / "j").exists()


@pytest.mark.real_kafka
def test_real_broker_start_failure_carries_log_tail(tmp_path):
    broker = RealBroker(str(tmp_path / "kafka"), start_timeout=60)
    broker.start()
    broker.stop()
    port = int(broker.bootstrap.rsplit(":", 1)[1])
    # Someone else now holds the broker's port: it must fail, loudly.
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        t0 = time.monotonic()
        with pytest.raises(BrokerStartError) as err:
            broker.restart()
        assert time.monotonic() - t0 < 60, "failure not detected promptly"
    text = str(err.value)
    assert "last lines of" in text and "broker.log" in text
    assert "----- errors of this run" in text
    assert "Address already in use" in text or "BindException" in text, text
    broker.stop()


def test_mock_cluster_roundtrip_and_restart(tmp_path):
    topic = "kafka-env.mock"
    mock = MockCluster({topic: PARTITIONS}, workdir=str(tmp_path))
    mock.start()
    try:
        with Collector(mock.bootstrap, topic) as collector:
            roundtrip(mock.bootstrap, topic, 0, N, collector)
        mock.stop()

        # A new cluster: the pre-created topic again, but empty.
        mock.start()
        with Collector(mock.bootstrap, topic) as collector:
            roundtrip(mock.bootstrap, topic, N, N, collector)

        produce(mock.bootstrap, topic, ["a", "b"], partition=1)
        with Collector(mock.bootstrap, topic) as c:
            msgs = c.wait_count(N + 2)
        assert [m.value for m in msgs if m.partition == 1][-2:] == ["a", "b"]
        with pytest.raises(KafkaEnvError, match="CreateTopics"):
            mock.create_topic("kafka-env.mock.other", 2)
    finally:
        mock.close()


def test_mock_cluster_several_brokers(tmp_path):
    topic = "kafka-env.mock3"
    with MockCluster([(topic, PARTITIONS)], brokers=3,
                     workdir=str(tmp_path)) as mock:
        assert len(mock.bootstrap.split(",")) == 3
        with Collector(mock.bootstrap, topic) as collector:
            roundtrip(mock.bootstrap, topic, 0, N, collector)
