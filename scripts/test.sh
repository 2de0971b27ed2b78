#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. install dependencies (Debian packages; Kafka jars come via Maven),
#   2. formatting check,
#   3. release build: unit tests, integration over librdkafka's mock
#      cluster, deploy and ops checks side by side (ctest -j, see below);
#      then, one at a time, the real-Kafka tier (a Kafka 3.9 broker, KRaft
#      mode), the container image and the benchmark's smoke run,
#   4. AddressSanitizer + UBSan build: unit and mock-cluster integration,
#      side by side again,
#   5. valgrind over the unit tests and over the worker itself,
#   6. the libFuzzer harnesses, 30 s each (ERASURE_FUZZ_SECONDS; the
#      README's longer local run is scripts/fuzz.sh 600).
# Any failure fails the run. The real-broker tier never skips: if the
# broker cannot start, its tests fail with the broker's log tail.
#
# Why side by side: the mock-cluster tests spend most of their time
# waiting (the mock's 3 s first-join delay, drains, retry back-off), so
# ERASURE_TEST_JOBS of them (default 3) share the two cores without
# slowing each other much. The tests that time a real broker, the image
# and the benchmark are RUN_SERIAL in tests/CMakeLists.txt and run after,
# alone.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

scripts/install-deps.sh

step() { printf '\n==== %s ====\n' "$*"; }

step "clang-format check"
scripts/check-format.sh

step "build (RelWithDebInfo)"
BUILD_DIR=build scripts/build.sh

JOBS=${ERASURE_TEST_JOBS:-3}
SERIAL='real_kafka|image|bench'
failed=0

step "unit + integration (mock cluster) + deploy + ops, ctest -j$JOBS"
rm -f build/real-kafka-report.txt
(cd build && ctest --output-on-failure --timeout 1500 -j"$JOBS" -LE "$SERIAL") ||
  failed=1

# Runs even when the tier above failed: one CI run reports every failure.
step "real Kafka + image + benchmark smoke, one at a time"
(cd build && ctest --output-on-failure --timeout 1500 -L "$SERIAL") || failed=1
[ "$failed" = 0 ] || { echo "release-build tests failed (see above)" >&2; exit 1; }

step "build (ASan + UBSan)"
BUILD_DIR=build-asan scripts/build.sh -DERASURE_SANITIZE=ON

step "unit + integration (mock cluster) under ASan/UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -L 'unit|integration' -j"$JOBS" --timeout 900)
unset ASAN_OPTIONS UBSAN_OPTIONS

step "valgrind (unit tests)"
scripts/valgrind-unit.sh build

step "valgrind (the worker: all five endpoints, every kind of bad input)"
ERASURE_WORKER_WRAPPER="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
ERASURE_SOURCE_DIR=$ROOT ERASURE_BUILD_DIR=$ROOT/build \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_pipeline.py \
  -k "all_five or bad_input or exhausted"

step "fuzzing (libFuzzer, ${ERASURE_FUZZ_SECONDS:-30} s per harness)"
scripts/fuzz.sh "${ERASURE_FUZZ_SECONDS:-30}"

if [ -f build/real-kafka-report.txt ]; then
  step "real-Kafka figures"
  cat build/real-kafka-report.txt
fi

echo
echo "all test tiers passed"
