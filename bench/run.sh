#!/usr/bin/env bash
# bench/run.sh — the erasure-worker benchmark in one command.
#
#   bench/run.sh [--smoke] [-n N] [--mix ...] [--latencies 0,20,100]
#                [--caps 64,512,2048,8192] [--no-build] [...]
#   bench/run.sh --help            all flags (bench/bench.py)
#   bench/run.sh --peer none       without the Go peer (bench/peers/go);
#                                  by default it is built with `go build`
#                                  and run beside erasure-worker
#   bench/run.sh --soak [--rate R] [--minutes M] [--faults] [--step R,R,...]
#                                  a paced load instead (bench/soak.py;
#                                  --soak --help for its flags)
#
# Installs wrk and gnuplot when missing (apt, via sudo when not root),
# builds into $BUILD_DIR (default build/, RelWithDebInfo) unless --no-build,
# raises the open-file limit (thousands of loopback connections), then runs
# bench/bench.py with Debian's python3. Results: the table on stdout,
# $BUILD_DIR/bench/results.csv, results.json and throughput.png
# ($BUILD_DIR/bench/smoke/ for --smoke). See bench/README.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

BUILD_DIR="${BUILD_DIR:-${ERASURE_BUILD_DIR:-build}}"
build=1
script="$HERE/bench.py"
args=()
smoke=0
peer=""
prev=""
for a in "$@"; do
	case "$a" in
	--no-build) build=0 ;;
	--soak) script="$HERE/soak.py" ;;
	-h | --help)
		exec /usr/bin/python3 "$script" --help
		;;
	--smoke)
		smoke=1
		args+=("$a")
		;;
	--peer=*)
		peer="${a#--peer=}"
		args+=("$a")
		;;
	*) args+=("$a") ;;
	esac
	[ "$prev" = "--peer" ] && peer="$a"
	prev="$a"
done
# bench.py's default: the Go peer, except in --smoke (CI needs no Go).
if [ -z "$peer" ]; then
	if [ "$smoke" = 1 ]; then peer=none; else peer=go; fi
fi

# Tools: wrk (HTTP limit) and gnuplot (plot), from Debian. python3 and the
# Kafka client come with the test dependencies (scripts/install-deps.sh).
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v gnuplot >/dev/null 2>&1 || missing+=(gnuplot-nox)
[ -x /usr/bin/python3 ] || missing+=(python3)
/usr/bin/python3 -c 'import confluent_kafka' 2>/dev/null || missing+=(python3-confluent-kafka)
if [ "${#missing[@]}" -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	echo "bench: installing ${missing[*]}" >&2
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >&2
fi

if [ "$build" = 1 ]; then
	BUILD_DIR="$BUILD_DIR" scripts/build.sh >/dev/null
fi
BUILD_DIR="$(cd "$BUILD_DIR" && pwd)"

# The Go peer (bench/peers/go), built with the module proxy into
# $BUILD_DIR/peer-go. Without Go its side of the table fails, loudly:
# a comparison that silently lost its peer would read as a win.
if [ "$peer" = go ] && [ "$script" = "$HERE/bench.py" ]; then
	if ! command -v go >/dev/null 2>&1; then
		msg="Go not found on PATH: install Go >= 1.25 to build the peer (bench/peers/go), or pass --peer none"
		echo "bench: $msg" >&2
		args+=(--peer-error "$msg")
	elif ! (cd "$HERE/peers/go" && GOFLAGS=-mod=mod go build -o "$BUILD_DIR/peer-go" .) >&2; then
		msg="go build of bench/peers/go failed (output above)"
		echo "bench: $msg" >&2
		args+=(--peer-error "$msg")
	fi
fi

# One descriptor per connection on both ends of up to 10 000 loopback
# connections, plus Kafka's: ask for 65536, settle for the hard limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

export ERASURE_SOURCE_DIR="$ROOT" ERASURE_BUILD_DIR="$BUILD_DIR"
exec /usr/bin/python3 "$script" --build-dir "$BUILD_DIR" "${args[@]}"
