#!/usr/bin/env bash
# The embedded demo: install, build, and run the worker against
# librdkafka's mock cluster and the provider test server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
BUILD_DIR=build scripts/build.sh
ERASURE_SOURCE_DIR=$(pwd) ERASURE_BUILD_DIR=$(pwd)/build /usr/bin/python3 scripts/demo.py
