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


def pytest_sessionfinish(session, exitstatus):
    # tests/CMakeLists.txt runs the mock tier one file per ctest test (so
    # ctest -j can run them side by side); a file whose tests all need a
    # real broker then selects none, which is no failure of that tier.
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED \
            and os.environ.get("ERASURE_IT_EMPTY_OK") == "1":
        session.exitstatus = pytest.ExitCode.OK
    # Whatever a session-scoped fixture left running.
    harness.kill_spawned()


def _reap(mark, what):
    killed = harness.kill_spawned(since=mark)
    if killed:
        # Not an error of its own: the test has usually failed already,
        # and its own report says why.
        print(f"\nconftest: killed {len(killed)} process(es) {what} left "
              f"running: {[os.path.basename(a[0]) for a in killed]}")


@pytest.fixture(autouse=True)
def _reap_test_processes(request):
    """Kills the workers and provider servers a test started and left
    running (it failed before stopping them): orphans would spin and slow
    every later test."""
    mark = harness.spawned_mark()
    yield
    _reap(mark, request.node.nodeid)


@pytest.fixture(autouse=True, scope="module")
def _reap_module_processes(request):
    """The same for module-scoped fixtures (a shared world of workers)."""
    mark = harness.spawned_mark()
    yield
    _reap(mark, request.module.__name__)


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
