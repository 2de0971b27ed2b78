"""pytest setup for the operations kit's tests (tests/ops): the alert rules
and the dashboard against promtool and a live worker's /metrics."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# harness and kafka_env live with the integration suites that use them.
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
