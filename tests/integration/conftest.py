import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import harness  # noqa: E402
from kafka_env import MockCluster, RealBroker  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "real_kafka: needs a real Apache Kafka broker (never skipped)")


@pytest.fixture
def workdir():
    d = harness.new_workdir()
    yield d
    if os.environ.get("ERASURE_KEEP_TMP") != "1":
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def provider(workdir):
    s = harness.ProviderServer(
        workdir, ["--missing-agent", "agt_gone", "--unlocked-agent", "20999"])
    yield s
    s.stop()


@pytest.fixture
def mock_kafka():
    c = MockCluster(topics={harness.TOPIC_REQUESTS: 3,
                            harness.TOPIC_OUTCOMES: 3,
                            harness.TOPIC_DLQ: 1}).start()
    yield c
    c.close()


@pytest.fixture(scope="module")
def broker(request):
    """A real Kafka broker (tests/kafka/broker.sh) for one test module. A
    broker that cannot start fails the test: the real tier never skips."""
    b = RealBroker().start()
    harness.report(f"broker start ({request.module.__name__}): "
                   f"{b.start_seconds:.1f} s")
    yield b
    b.close()
