"""pytest setup for the image tier (tests/image): the container image built
from deploy/Dockerfile, run with podman."""

import os
import shutil
import sys

import pytest

# harness and kafka_env live with the integration suites that use them.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))

import harness  # noqa: E402


@pytest.fixture
def workdir():
    d = harness.new_workdir("erasure-image-")
    yield d
    if os.environ.get("ERASURE_KEEP_TMP") != "1":
        shutil.rmtree(d, ignore_errors=True)
