#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. install dependencies (Debian packages; Kafka jars come via Maven),
#   2. formatting check,
#   3. release build: unit tests, integration over librdkafka's mock
#      cluster, and the real-Kafka tier (a Kafka 3.9 broker, KRaft mode),
#   4. AddressSanitizer + UBSan build: unit and mock-cluster integration,
#   5. valgrind over the unit tests and over the worker itself,
#   6. the libFuzzer harnesses, 60 s each (ERASURE_FUZZ_SECONDS).
# Any failure fails the run. The real-broker tier never skips: if the
# broker cannot start, its tests fail with the broker's log tail.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

scripts/install-deps.sh

step() { printf '\n==== %s ====\n' "$*"; }

step "clang-format check"
scripts/check-format.sh

step "build (RelWithDebInfo)"
BUILD_DIR=build scripts/build.sh

step "unit + integration (mock cluster) + real Kafka"
rm -f build/real-kafka-report.txt
(cd build && ctest --output-on-failure --timeout 1500)

step "build (ASan + UBSan)"
BUILD_DIR=build-asan scripts/build.sh -DERASURE_SANITIZE=ON

step "unit + integration (mock cluster) under ASan/UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -L 'unit|integration' --timeout 900)
unset ASAN_OPTIONS UBSAN_OPTIONS

step "valgrind (unit tests)"
scripts/valgrind-unit.sh build

step "valgrind (the worker: all five endpoints, every kind of bad input)"
ERASURE_WORKER_WRAPPER="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
ERASURE_SOURCE_DIR=$ROOT ERASURE_BUILD_DIR=$ROOT/build \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_pipeline.py \
  -k "all_five or bad_input or exhausted"

step "fuzzing (libFuzzer, ${ERASURE_FUZZ_SECONDS:-60} s per harness)"
scripts/fuzz.sh "${ERASURE_FUZZ_SECONDS:-60}"

if [ -f build/real-kafka-report.txt ]; then
  step "real-Kafka figures"
  cat build/real-kafka-report.txt
fi

echo
echo "all test tiers passed"
