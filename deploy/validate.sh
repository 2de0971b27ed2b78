#!/usr/bin/env bash
# Validates deploy/ offline: renders the kustomizations, checks every
# manifest against the Kubernetes schemas (kubernetes-validate, which ships
# them) and the KEDA objects against deploy/schemas/, and checks that the
# Dockerfile and manifests agree with config/ (as the built worker's
# `check-config --json` resolves it) and src/ (drain deadline vs grace
# period, probe paths, metrics port, secrets, KEDA trigger, ...).
# See deploy/validate.py for the full list. Exit 0 when all holds.
#
#   deploy/validate.sh               validate (installs its tools first)
#   deploy/validate.sh --setup-only  only install the tools
#
# Tools, installed idempotently:
#   * a virtualenv with deploy/requirements.txt (PyPI), at $DEPLOY_VENV,
#     default build/deploy-venv; reinstalled only when requirements change;
#   * python3-venv from Debian if the interpreter cannot make one;
#   * kustomize: `kustomize` or `kubectl kustomize` (>= v4) when on PATH;
#     otherwise the base is validated from its files and the overlays are
#     reported as not rendered.
# Environment:
#   ERASURE_BUILD_DIR    build tree holding erasure-worker (default build/);
#                        required: the config checks run its check-config
#   DEPLOY_VALIDATE_MODE auto (default), kustomize or files
#   KUBE_VERSIONS        Kubernetes versions to validate against
#                        (default "1.30 latest")
set -euo pipefail
DEPLOY_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$DEPLOY_DIR")
VENV=${DEPLOY_VENV:-$REPO/build/deploy-venv}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

setup() {
  local req="$DEPLOY_DIR/requirements.txt" stamp want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  stamp="$VENV/.requirements.sha256"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  mkdir -p "$(dirname "$VENV")"
  # One installer at a time (ctest -j, parallel CI steps).
  exec 9>"$VENV.lock"
  flock 9
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exec 9>&-
    return 0
  fi
  if ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "validate: installing python3-venv" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv
  fi
  echo "validate: creating $VENV" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --disable-pip-version-check --no-input -q -r "$req"
  echo "$want" >"$stamp"
  exec 9>&-
}

setup
if [ "${1:-}" = "--setup-only" ]; then
  exit 0
fi

BUILD_DIR=${ERASURE_BUILD_DIR:-$REPO/build}
args=(--repo "$REPO" --deploy "$DEPLOY_DIR" --mode "${DEPLOY_VALIDATE_MODE:-auto}"
      --kube-versions "${KUBE_VERSIONS:-1.30 latest}")
if [ -x "$BUILD_DIR/erasure-worker" ]; then
  args+=(--binary "$BUILD_DIR/erasure-worker")
fi
exec "$VENV/bin/python" "$DEPLOY_DIR/validate.py" "${args[@]}"
