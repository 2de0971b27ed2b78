"""pytest setup for the Kafka tooling's own tests (tests/kafka)."""

import os
import sys


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "real_kafka: needs the real Apache Kafka broker (tests/kafka/broker.sh)")


# kafka_env lives with the integration suites that use it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
