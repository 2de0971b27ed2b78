"""deploy/validate.sh passes on a pristine copy of the repository and fails
on copies broken in the ways that matter: a schema violation, an unknown
field, a grace period shorter than the drain deadline (changed on either
side), probe paths or ports that no longer match the code or the config,
a ScaledObject allowed more replicas than partitions, invalid KEDA fields,
broken YAML, a Dockerfile that drifted from the README's build, a
PrometheusRule that drifted from deploy/prometheus/'s rules.

Each case copies deploy/, config/, src/, scripts/ and .dockerignore into a
temporary directory, applies one textual edit (asserting it applied), runs
the copy's deploy/validate.sh and asserts it fails naming the problem.

Environment (set by ctest): ERASURE_SOURCE_DIR, ERASURE_BUILD_DIR (holds
the built erasure-worker, for the library and check-config checks),
DEPLOY_VENV (the validator's virtualenv, shared with deploy.validate).
"""
import json
import os
import re
import shutil
import subprocess

import pytest

SRC = os.environ.get("ERASURE_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("ERASURE_BUILD_DIR") or os.path.join(SRC, "build")
VENV = os.environ.get("DEPLOY_VENV") or os.path.join(BUILD, "deploy-venv")
BINARY = os.path.join(BUILD, "erasure-worker")


def _have_kustomize():
    if shutil.which("kustomize"):
        return True
    if not shutil.which("kubectl"):
        return False
    out = subprocess.run(["kubectl", "version", "--client", "-o", "json"],
                         capture_output=True, text=True)
    try:
        ver = json.loads(out.stdout).get("kustomizeVersion", "")
    except ValueError:
        return False
    m = re.match(r"v?(\d+)", ver)
    return bool(m and int(m.group(1)) >= 4)


# DEPLOY_VALIDATE_MODE=files runs the whole suite as on a machine without
# kustomize.
MODE = os.environ.get("DEPLOY_VALIDATE_MODE", "auto")
KUSTOMIZE = MODE != "files" and _have_kustomize()
needs_kustomize = pytest.mark.skipif(not KUSTOMIZE, reason="no kustomize >= 4 on PATH")
needs_binary = pytest.mark.skipif(not os.access(BINARY, os.X_OK),
                                  reason=f"no built {BINARY}")

B = "deploy/kubernetes/base/"
P = "deploy/kubernetes/overlays/production/"


@pytest.fixture(scope="session", autouse=True)
def tools():
    out = subprocess.run(["bash", os.path.join(SRC, "deploy/validate.sh"), "--setup-only"],
                         env=dict(os.environ, DEPLOY_VENV=VENV),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture
def tree(tmp_path):
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for d in ("deploy", "config", "src", "scripts"):
        shutil.copytree(os.path.join(SRC, d), tmp_path / d, ignore=ignore)
    shutil.copy(os.path.join(SRC, ".dockerignore"), tmp_path / ".dockerignore")
    return tmp_path


def validate(tree, mode=MODE):
    env = dict(os.environ, DEPLOY_VENV=VENV, ERASURE_BUILD_DIR=BUILD,
               DEPLOY_VALIDATE_MODE=mode)
    out = subprocess.run(["bash", str(tree / "deploy/validate.sh")], env=env,
                         capture_output=True, text=True, timeout=300)
    return out.returncode, out.stdout + out.stderr


def edit(tree, rel, old, new, count=1):
    path = tree / rel
    text = path.read_text()
    assert text.count(old) >= count, f"{rel}: {old!r} not found: the test is stale"
    path.write_text(text.replace(old, new, count))


def test_pristine_copy_passes(tree):
    rc, out = validate(tree)
    assert rc == 0, out
    assert " 0 failed" in out
    if KUSTOMIZE:
        assert "2 kustomization(s) rendered, mode kustomize" in out, out


def test_pristine_copy_passes_without_kustomize(tree):
    rc, out = validate(tree, mode="files")
    assert rc == 0, out
    assert "mode files" in out and "not rendered" in out


LIVENESS = "path: /healthz\n              port: metrics\n            periodSeconds: 10"

# (id, file, old text, new text, expected words in a FAIL line, marks)
BREAKS = [
    ("deployment-field-type", B + "deployment.yaml",
     "terminationGracePeriodSeconds: 35", 'terminationGracePeriodSeconds: "35"',
     "is not of type 'integer'", ()),
    ("deployment-unknown-field", B + "deployment.yaml",
     "revisionHistoryLimit: 5", "revisionHistoryLimits: 5",
     "revisionHistoryLimits", ()),
    ("container-port-not-int", B + "deployment.yaml",
     "containerPort: 9464", "containerPort: metrics",
     "schema (Kubernetes", ()),
    ("grace-shorter-than-drain", B + "deployment.yaml",
     "terminationGracePeriodSeconds: 35", "terminationGracePeriodSeconds: 29",
     "terminationGracePeriodSeconds 29s is too short", ()),
    ("drain-raised-in-config", "config/erasure-worker.conf",
     "drain_timeout_ms = 25000;", "drain_timeout_ms = 41000;",
     "worker.drain_timeout_ms 41000 ms", ()),
    ("prestop-eats-the-grace", B + "deployment.yaml",
     "          ports:\n",
     "          lifecycle:\n            preStop:\n              exec:\n"
     "                command: [\"sleep\", \"16\"]\n          ports:\n",
     "preStop 16000 ms", ()),
    ("liveness-wrong-path", B + "deployment.yaml",
     LIVENESS, LIVENESS.replace("/healthz", "/health"),
     "livenessProbe path is '/health'", ()),
    ("readiness-on-healthz", B + "deployment.yaml",
     "path: /readyz", "path: /healthz",
     "readinessProbe path is '/healthz'", ()),
    ("route-renamed-in-code", "src/metrics_http.c",
     'strcmp(url, "/readyz")', 'strcmp(url, "/ready")',
     "serves readyz on '/ready'", ()),
    ("config-the-worker-rejects", "config/erasure-worker.conf",
     "max_targets = 100;", "max_targets = 0;",
     "check-config rejects the ConfigMap", ()),
    ("metrics-port-moved-in-config", "config/erasure-worker.conf",
     "port = 9464;", "port = 9465;",
     "metrics.port 9465", ()),
    ("metrics-bound-to-loopback", B + "deployment.yaml",
     'args: ["--metrics-bind", "0.0.0.0"]', "",
     "metrics.bind is '127.0.0.1'", ()),
    ("static-membership-env-renamed", "config/erasure-worker.conf",
     'static_membership_env = "POD_NAME";', 'static_membership_env = "MY_POD";',
     "kafka.static_membership_env is MY_POD", ()),
    ("secret-missing-from-template", B + "secret.template.yaml",
     "  AVAAMO_ACCESS_TOKEN: REPLACE_ME\n", "",
     "AVAAMO_ACCESS_TOKEN: Secret erasure-worker-credentials", ()),
    ("new-secret-in-config", "config/erasure-worker.conf",
     'api_key = "VECTARA_API_KEY";', 'api_key = "VECTARA_API_KEY_V2";',
     "the config reads VECTARA_API_KEY_V2", ()),
    ("scaledobject-max-over-partitions", P + "scaledobject-patch.yaml",
     "maxReplicaCount: 24", "maxReplicaCount: 30",
     "maxReplicaCount 30 > 24 partitions", (needs_kustomize,)),
    ("scaledobject-max-over-partitions-base", B + "scaledobject.yaml",
     'request-topic-partitions: "6"', 'request-topic-partitions: "4"',
     "maxReplicaCount 6 > 4 partitions", ()),
    ("keda-unknown-field", B + "scaledobject.yaml",
     "pollingInterval: 30", "pollingIntervall: 30",
     "pollingIntervall", ()),
    ("keda-metadata-not-string", B + "scaledobject.yaml",
     'lagThreshold: "500"', "lagThreshold: 500",
     "500 is not of type 'string'", ()),
    ("keda-unknown-kafka-parameter", B + "scaledobject.yaml",
     "offsetResetPolicy: earliest", "offsetResetPolicy: earliest\n        lagTreshold: \"5\"",
     "lagTreshold", ()),
    ("keda-topic-not-the-request-topic", B + "scaledobject.yaml",
     "topic: erasure.requests", "topic: erasure.outcomes",
     "is not the request topic", ()),
    ("keda-offset-policy-differs", B + "scaledobject.yaml",
     "offsetResetPolicy: earliest", "offsetResetPolicy: latest",
     "offsetResetPolicy 'latest' differs", ()),
    ("networkpolicy-opens-http", B + "networkpolicy.yaml",
     "port: 443", "port: 80",
     "egress TCP/80 is neither", ()),
    ("rollout-would-stall", B + "deployment.yaml",
     "maxSurge: 0\n      maxUnavailable: 1", "maxSurge: 1\n      maxUnavailable: 0",
     "stalls when replicas = partitions", ()),
    ("pdb-blocks-drains", B + "poddisruptionbudget.yaml",
     "  unhealthyPodEvictionPolicy: AlwaysAllow\n", "",
     "unhealthyPodEvictionPolicy AlwaysAllow", ()),
    ("yaml-duplicate-key", B + "poddisruptionbudget.yaml",
     "  maxUnavailable: 1\n", "  maxUnavailable: 1\n  maxUnavailable: 2\n",
     "duplicate key 'maxUnavailable'", ()),
    ("yaml-syntax", B + "serviceaccount.yaml",
     "automountServiceAccountToken: false", "automountServiceAccountToken: [false",
     "YAML", ()),
    ("dockerfile-build-drifts-from-readme", "deploy/Dockerfile",
     "RUN BUILD_DIR=build scripts/build.sh", "RUN cmake -S . -B build && cmake --build build",
     "must RUN `BUILD_DIR=build scripts/build.sh` exactly", ()),
    ("dockerfile-runs-as-root", "deploy/Dockerfile",
     "USER 10001:10001", "USER root",
     "USER must be numeric", ()),
    ("dockerfile-missing-runtime-library", "deploy/Dockerfile",
     " libjansson4", "",
     "runtime stage lacks ['libjansson4']", (needs_binary,)),
    ("dockerfile-other-config-path", "deploy/Dockerfile",
     '"-c", "/etc/erasure-worker/erasure-worker.conf"]\nLABEL',
     '"-c", "/etc/worker/erasure-worker.conf"]\nLABEL',
     "the config directory /etc/worker", ()),
    ("prometheusrule-drifts-from-rules-file", P + "prometheusrule.yaml",
     "    - alert: ErasureProducerUnhealthy\n      expr: erasure_producer_healthy == 0",
     "    - alert: ErasureProducerUnhealthy\n      expr: erasure_producer_healthy < 0",
     "PrometheusRule spec.groups differ", ()),
    ("rules-file-drifts-from-prometheusrule", "deploy/prometheus/erasure-worker-rules.yaml",
     "        for: 5m\n", "        for: 6m\n",
     "PrometheusRule spec.groups differ", ()),
    ("prometheusrule-unknown-field", P + "prometheusrule.yaml",
     "    - alert: ErasureLoopStalled\n", "    - alert: ErasureLoopStalled\n      severity: page\n",
     "PrometheusRule/erasure-worker: schema", ()),
]


@pytest.mark.parametrize(
    "rel,old,new,expect",
    [pytest.param(f, o, n, e, id=i, marks=m) for i, f, o, n, e, m in BREAKS])
def test_broken_copy_fails(tree, rel, old, new, expect):
    edit(tree, rel, old, new)
    rc, out = validate(tree)
    assert rc != 0, f"validate.sh passed a broken copy:\n{out}"
    fails = [ln for ln in out.splitlines() if ln.startswith("FAIL ") or "FAILED" in ln]
    assert any(expect in ln for ln in fails), \
        f"expected a failure mentioning {expect!r}, got:\n{out}"
