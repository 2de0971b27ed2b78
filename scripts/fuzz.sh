#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/) with clang and runs them all at
# once for a bounded time: scripts/fuzz.sh [SECONDS]   (default 60; CI,
# scripts/test.sh, runs 45).
#
# Each harness starts from a copy of its seed corpus (fuzz/corpus/NAME), so
# the repository is never written; new inputs and any crash, leak or
# timeout reproducer land in $FUZZ_BUILD_DIR/fuzz-run/ (default
# build-fuzz/). Prints executions, exec/s and corpus growth per harness.
# Exits non-zero on any finding, naming the reproducer; replay one with
#   build-fuzz/fuzz_NAME path/to/crash-file
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${1:-60}
if ! [[ "$DURATION" =~ ^[1-9][0-9]*$ ]]; then
  # 0 would mean "forever" to libFuzzer: never what CI wants.
  echo "usage: $0 [SECONDS]   (a positive number of seconds per harness)" >&2
  exit 2
fi
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
HARNESSES=(fuzz_request fuzz_plan fuzz_response)
declare -A CORPUS=([fuzz_request]=request [fuzz_plan]=plan
                   [fuzz_response]=response)
declare -A DICT=([fuzz_request]=request [fuzz_plan]=request
                 [fuzz_response]=response)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# libFuzzer's runtime ships apart from clang on Debian
# (libclang-rt-N-dev, only recommended), so test for it by linking.
have_libfuzzer() {
  local tmp rc=0
  command -v clang >/dev/null 2>&1 || return 1
  tmp=$(mktemp -d)
  printf '%s\n' \
    'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);' \
    'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)' \
    '{ (void)d; (void)n; return 0; }' >"$tmp/probe.c"
  clang -fsanitize=fuzzer,address,undefined "$tmp/probe.c" -o "$tmp/probe" \
    >/dev/null 2>&1 || rc=1
  rm -rf "$tmp"
  return $rc
}

if ! have_libfuzzer; then
  echo "fuzz: installing clang and its libFuzzer runtime" >&2
  $SUDO apt-get update -qq
  if ! command -v clang >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
      --no-install-recommends clang
  fi
  major=$(clang -dumpversion | cut -d. -f1)
  if apt-cache show "libclang-rt-$major-dev" >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
      --no-install-recommends "libclang-rt-$major-dev"
  fi
  if ! have_libfuzzer; then
    echo "fuzz: clang cannot link -fsanitize=fuzzer programs" >&2
    exit 1
  fi
fi

echo "fuzz: building ${HARNESSES[*]} in $BUILD_DIR" >&2
cmake -S . -B "$BUILD_DIR" -DCMAKE_C_COMPILER=clang -DERASURE_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} >/dev/null
# Only the harnesses: the rest of the tree is built and tested with gcc by
# scripts/test.sh.
cmake --build "$BUILD_DIR" --target "${HARNESSES[@]}" -j"$(nproc)" >/dev/null

# Absolute, so the reproducer paths printed below work from anywhere.
WORK="$(cd "$BUILD_DIR" && pwd)/fuzz-run"
rm -rf "$WORK"
mkdir -p "$WORK"

count_files() { find "$1" -type f | wc -l; }
stat_of() { # stat_of LOG NAME: libFuzzer's final "stat::NAME: value"
  sed -n "s/^stat::$2: *//p" "$1" | tail -n1
}

# One harness: libFuzzer's exit status lands in $WORK/NAME.rc.
run_harness() {
  local h=$1 rc=0
  # fuzz_plan and fuzz_response read config/providers.conf from the tree
  # being tested.
  ERASURE_SOURCE_DIR="$ROOT" \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$BUILD_DIR/$h" \
    -max_total_time="$DURATION" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -dict="fuzz/${DICT[$h]}.dict" -print_final_stats=1 \
    -artifact_prefix="$WORK/artifacts/$h/" "$WORK/corpus/${CORPUS[$h]}" \
    >"$WORK/$h.log" 2>&1 || rc=$?
  echo "$rc" >"$WORK/$h.rc"
}

# All harnesses at once: each libFuzzer process is single-threaded, so on
# a machine with fewer cores than harnesses each gets its share of them
# for the whole DURATION (2 cores, 3 harnesses: 2/3 of a core each).
declare -A BEFORE
pids=()
for h in "${HARNESSES[@]}"; do
  corpus="$WORK/corpus/${CORPUS[$h]}"
  mkdir -p "$corpus" "$WORK/artifacts/$h"
  cp -R "fuzz/corpus/${CORPUS[$h]}/." "$corpus/"
  BEFORE[$h]=$(count_files "$corpus")
  echo "fuzz: running $h for ${DURATION}s (log: $WORK/$h.log)" >&2
  run_harness "$h" &
  pids+=($!)
done
wait "${pids[@]}"

failed=()
summary=()
for h in "${HARNESSES[@]}"; do
  corpus="$WORK/corpus/${CORPUS[$h]}"
  artifacts="$WORK/artifacts/$h"
  log="$WORK/$h.log"
  rc=$(cat "$WORK/$h.rc")
  after=$(count_files "$corpus")
  execs=$(stat_of "$log" number_of_executed_units)
  rate=$(stat_of "$log" average_exec_per_sec)
  line="$h: ${execs:-?} executions, ${rate:-?} exec/s, corpus ${BEFORE[$h]} -> $after files ($(du -sh "$corpus" | cut -f1))"
  summary+=("$line")
  echo "$line"

  findings=$(find "$artifacts" -type f | sort)
  if [ "$rc" -ne 0 ] || [ -n "$findings" ]; then
    failed+=("$h")
    echo "fuzz: $h FAILED (libFuzzer exit $rc); report:" >&2
    # The sanitizer or invariant report, without the mutation chatter.
    grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse|RELOAD)' "$log" | tail -n 60 >&2
    for f in $findings; do
      echo "fuzz: reproducer: $f  (replay: $BUILD_DIR/$h $f)"
    done
  fi
done

echo
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}; reproducers under $WORK/artifacts/"
  exit 1
fi
echo "fuzz: no findings"
