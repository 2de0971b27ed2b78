#!/usr/bin/env bash
# image.sh - builds deploy/Dockerfile with podman, on a machine without a
# registry.
#
# Usage: scripts/image.sh [--tag NAME] [--no-cache] [--base-only]
#
# The Dockerfile's FROM names a Debian image (ARG DEBIAN_IMAGE, e.g.
# debian:bookworm-slim). When podman has no image of that name, one is made
# here with `mmdebstrap --variant=minbase SUITE` and `podman import`, and
# tagged with exactly that name, so the Dockerfile stays an ordinary one that
# builds unchanged where a registry exists. An existing base image is reused,
# so only the first run on a machine pays for it (~15 s).
#
# Prints, on stdout, `key=value` lines: image, base_seconds, build_seconds,
# size_bytes, size_mb. Progress goes to stderr.
#
# --tag NAME   image name (default erasure-worker:VERSION, the project's
#              VERSION in CMakeLists.txt)
# --no-cache   rebuild every layer (a cold build; the base image is kept)
# --base-only  only make sure the base image exists
#
# podman runs with runc (crun fails on hybrid-cgroup hosts) and explicit
# ulimits: podman's defaults ask for more open files than some hosts' hard
# limit allows. IMAGE_NOFILE (default: the hard limit, at most 20000) and
# IMAGE_NPROC (default 32768) override them. Needs root (podman's rootful
# storage); scripts/install-deps.sh installs podman, runc and mmdebstrap.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKERFILE="$REPO/deploy/Dockerfile"

die() {
	echo "image.sh: $*" >&2
	exit 1
}
note() {
	echo "image.sh: $*" >&2
}
now() {
	date +%s.%N
}
since() { # since START -> seconds, one decimal
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f\n", b - a }'
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

tag=""
no_cache=()
base_only=0
while [ $# -gt 0 ]; do
	case "$1" in
	--tag)
		tag="$2"
		shift 2
		;;
	--no-cache)
		no_cache=(--no-cache)
		shift
		;;
	--base-only)
		base_only=1
		shift
		;;
	*) usage ;;
	esac
done

[ "$(id -u)" -eq 0 ] || die "needs root (rootful podman storage)"
for tool in podman runc mmdebstrap; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "$tool missing: run scripts/install-deps.sh"
done

hard_nofile="$(ulimit -Hn)"
[ "$hard_nofile" = unlimited ] && hard_nofile=20000
NOFILE="${IMAGE_NOFILE:-$((hard_nofile < 20000 ? hard_nofile : 20000))}"
NPROC="${IMAGE_NPROC:-32768}"
PODMAN=(podman --runtime runc)
ULIMITS=(--ulimit "nofile=$NOFILE:$NOFILE" --ulimit "nproc=$NPROC:$NPROC")

# The base image the Dockerfile's first FROM resolves to with its default
# build args: docker.io/library/NAME:TAG, the name a short name resolves to.
base_image() {
	local ref
	ref="$(sed -n 's/^ARG DEBIAN_IMAGE=//p' "$DOCKERFILE" | head -n 1)"
	[ -n "$ref" ] || die "no ARG DEBIAN_IMAGE=... in $DOCKERFILE"
	case "$ref" in
	*/*/*) echo "$ref" ;;
	*/*) echo "docker.io/$ref" ;;
	*) echo "docker.io/library/$ref" ;;
	esac
}

# debian:bookworm-slim -> bookworm
base_suite() {
	local t="${1##*:}"
	echo "${t%-slim}"
}

ensure_base() {
	local base="$1" suite t0
	if "${PODMAN[@]}" image exists "$base"; then
		note "base image $base present, reused"
		echo 0
		return
	fi
	suite="$(base_suite "$base")"
	note "making $base: mmdebstrap --variant=minbase $suite | podman import"
	t0="$(now)"
	# minbase: essential packages and apt, the same set the slim images
	# start from. No apt lists are kept: every Dockerfile stage runs
	# apt-get update itself.
	mmdebstrap --variant=minbase --quiet \
		--customize-hook='rm -rf "$1"/var/lib/apt/lists/*' \
		"$suite" - |
		"${PODMAN[@]}" import --quiet --change 'CMD ["bash"]' - "$base" >/dev/null
	"${PODMAN[@]}" image exists "$base" || die "podman import of $base failed"
	since "$t0"
}

project_version() {
	sed -n 's/^project(erasure-worker VERSION \([0-9.]*\).*/\1/p' \
		"$REPO/CMakeLists.txt"
}

base="$(base_image)"
base_seconds="$(ensure_base "$base")"
[ "$base_only" = 1 ] && {
	echo "base=$base"
	echo "base_seconds=$base_seconds"
	exit 0
}

[ -n "$tag" ] || tag="erasure-worker:$(project_version)"
note "building $tag from deploy/Dockerfile"
t0="$(now)"
# --pull=never: the base exists locally now, and there is no registry.
# Host network: RUN apt-get reaches the archive without podman's bridge
# and its iptables rules.
"${PODMAN[@]}" build "${ULIMITS[@]}" "${no_cache[@]}" --pull=never \
	--network host -f "$DOCKERFILE" -t "$tag" "$REPO" >&2
build_seconds="$(since "$t0")"
# Each source change leaves the previous build's layers untagged. Dropping
# them keeps a CI machine's disk flat. The build stage is tagged first (all
# its layers are cached by now): the runtime stage does not descend from
# it, so untagged its layers -- the apt install, the expensive part of the
# next build's cache -- would be pruned too.
"${PODMAN[@]}" build "${ULIMITS[@]}" --pull=never --network host \
	--target build -f "$DOCKERFILE" -t "${tag%%:*}-build:cache" "$REPO" \
	>/dev/null
"${PODMAN[@]}" image prune --force >/dev/null
size="$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$tag")"
note "built $tag in ${build_seconds}s, $((size / 1000000)) MB"
echo "image=$tag"
echo "base_seconds=$base_seconds"
echo "build_seconds=$build_seconds"
echo "size_bytes=$size"
echo "size_mb=$((size / 1000000))"
