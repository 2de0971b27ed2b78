#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. install dependencies (Debian packages; Kafka jars come via Maven),
#   2. formatting check,
#   3. release and AddressSanitizer + UBSan builds,
#   4. unit tests, integration over librdkafka's mock cluster, deploy and
#      ops checks, release and ASan side by side (ctest -j, see below);
#      then, one at a time, the real-Kafka tier (Kafka 3.9 and 4.1 brokers,
#      KRaft mode), the container image and the benchmark's smoke run,
#   5. valgrind over the unit tests and over the worker itself,
#   6. the libFuzzer harnesses, all three at once for 45 s
#      (ERASURE_FUZZ_SECONDS): on two cores, 30 s of a core each. The
#      README's longer local run is scripts/fuzz.sh 600.
# Any failure fails the run. The real-broker tier never skips: if the
# broker cannot start, its tests fail with the broker's log tail.
#
# Why side by side: the mock-cluster tests spend most of their time
# waiting (the mock's 3 s first-join delay, drains, retry back-off; the
# load stays under one core), so ERASURE_TEST_JOBS of them (default 3) per
# build share the two cores without slowing each other much. The tests
# that time a real broker, the image and the benchmark are RUN_SERIAL in
# tests/CMakeLists.txt and run after, alone.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

scripts/install-deps.sh

step() { printf '\n==== %s ====\n' "$*"; }

step "clang-format check"
scripts/check-format.sh

step "build (RelWithDebInfo)"
BUILD_DIR=build scripts/build.sh

step "build (ASan + UBSan)"
BUILD_DIR=build-asan scripts/build.sh -DERASURE_SANITIZE=ON

JOBS=${ERASURE_TEST_JOBS:-3}
# Run after the side-by-side tiers, one test at a time: the real broker's,
# the image's, the benchmark's, and mock-cluster files marked
# "# ctest: alone" (tests/CMakeLists.txt).
SERIAL='real_kafka|image|bench|alone'
LOGS=build/ctest-logs
mkdir -p "$LOGS"
rm -f build/real-kafka-report.txt

release_tier() {
  cd build && ctest --output-on-failure --timeout 1500 -j"$JOBS" -LE "$SERIAL"
}
asan_tier() {
  cd build-asan &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure --timeout 900 -j"$JOBS" -L 'unit|integration' \
      -LE alone
}

step "unit + integration (mock cluster) + deploy + ops, release and ASan/UBSan side by side, ctest -j$JOBS each"
# A run stopped here (Ctrl-C, a CI timeout) stops both tiers too.
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
(release_tier) >"$LOGS/release.log" 2>&1 &
release_pid=$!
(asan_tier) >"$LOGS/asan.log" 2>&1 &
asan_pid=$!
failed=0
wait "$release_pid" || failed=1
wait "$asan_pid" || failed=1
trap - EXIT
echo "---- release build ----"
cat "$LOGS/release.log"
echo "---- ASan + UBSan build ----"
cat "$LOGS/asan.log"

# Runs even when the tiers above failed: one CI run reports every failure.
step "real Kafka + image + benchmark smoke (+ any \"ctest: alone\" file), one at a time"
(cd build && ctest --output-on-failure --timeout 1500 -L "$SERIAL") || failed=1
(cd build-asan &&
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure --timeout 900 -L alone) || failed=1
[ "$failed" = 0 ] || { echo "ctest tiers failed (see above)" >&2; exit 1; }

step "valgrind (unit tests)"
scripts/valgrind-unit.sh build

step "valgrind (the worker: all five endpoints, every kind of bad input)"
ERASURE_WORKER_WRAPPER="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
ERASURE_SOURCE_DIR=$ROOT ERASURE_BUILD_DIR=$ROOT/build \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_pipeline.py \
  -k "all_five or bad_input or exhausted"

step "fuzzing (libFuzzer, every harness for ${ERASURE_FUZZ_SECONDS:-45} s at once)"
scripts/fuzz.sh "${ERASURE_FUZZ_SECONDS:-45}"

if [ -f build/real-kafka-report.txt ]; then
  step "real-Kafka figures"
  cat build/real-kafka-report.txt
fi

echo
echo "all test tiers passed"
