#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo need.
# Idempotent: packages already present are left alone, so CI pays for
# apt only on a fresh machine.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PKGS=(
  build-essential cmake pkg-config
  librdkafka-dev libcurl4-openssl-dev libjansson-dev libconfig-dev
  libmicrohttpd-dev libssl-dev libcmocka-dev
  python3 python3-pytest python3-confluent-kafka
  openjdk-17-jre-headless maven
  valgrind clang clang-format cppcheck openssl
  kafkacat wrk gnuplot-nox
)
# The image tier (scripts/image.sh, tests/image): podman with runc (crun
# fails on hybrid cgroup hosts), mmdebstrap for the base image, and
# promtool (Debian's prometheus package) for the alert rules. A container
# build of the worker itself needs none of them, so deploy/Dockerfile sets
# INSTALL_DEPS_NO_IMAGE_TOOLS=1.
if [ "${INSTALL_DEPS_NO_IMAGE_TOOLS:-0}" != 1 ]; then
  PKGS+=(podman runc mmdebstrap prometheus)
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A JDK already on PATH (a newer one, or one not from Debian) is fine for
# the broker; only install Debian's when there is no java at all.
if command -v java >/dev/null 2>&1; then
  missing=("${missing[@]/openjdk-17-jre-headless}")
fi
if command -v mvn >/dev/null 2>&1; then
  missing=("${missing[@]/maven}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present" >&2
fi
