"""The container image, built from deploy/Dockerfile by scripts/image.sh and
run the way the Kubernetes manifests run it: read-only root filesystem, uid
and gid 10001, no capabilities, no-new-privileges, an emptyDir-like /tmp,
the config mounted read-only where the ConfigMap goes, secrets as
environment variables. It works against a real Kafka broker
(tests/kafka/broker.sh) and the provider test server, both on loopback
(host network).

Never skipped: an image that cannot be built, a broker that cannot start
or a container that cannot run fails the tier. Figures (image size, build
time, start-to-ready) go to $ERASURE_BUILD_DIR/image-report.txt."""

import os
import re
import resource
import shutil
import subprocess
import time
import urllib.request
import uuid

import pytest
import yaml

import harness
from harness import (SECRETS, SECRET_SENTINEL, TOPIC_DLQ, TOPIC_OUTCOMES,
                     TOPIC_REQUESTS, call_outcomes, summaries, summary_ids,
                     worker_config)
from kafka_env import Collector, RealBroker, committed_lag, produce

SOURCE_DIR = harness.SOURCE_DIR
REPORT = os.path.join(harness.BUILD_DIR, "image-report.txt")
DEPLOYMENT = os.path.join(SOURCE_DIR, "deploy", "kubernetes", "base",
                          "deployment.yaml")
GROUP = "erasure-image"
ALGOLIA_AGENT = "76710f1b-8231-42e5-b0d1-f43aac618e15"
N_REQUESTS = 20
N_DRAIN = 10
PODMAN = ["podman", "--runtime", "runc"]


def report(line):
    print(line)
    with open(REPORT, "a") as f:
        f.write(line + "\n")


def manifest():
    """The Deployment's pod spec and its worker container."""
    with open(DEPLOYMENT) as f:
        dep = next(d for d in yaml.safe_load_all(f)
                   if d and d.get("kind") == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


def ulimits():
    """The limits scripts/image.sh builds with: podman's default nofile can
    exceed this host's hard limit."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 20000 if hard == resource.RLIM_INFINITY else min(hard, 20000)
    return ["--ulimit", f"nofile={nofile}:{nofile}",
            "--ulimit", "nproc=32768:32768"]


@pytest.fixture(scope="module")
def image():
    """Builds the image; a failed build fails every test of the tier."""
    try:
        r = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "image.sh")],
                           capture_output=True, text=True, timeout=1800,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.fail(f"scripts/image.sh did not complete: {e}")
    if r.returncode != 0:
        pytest.fail(f"scripts/image.sh failed (exit {r.returncode}):\n"
                    f"{r.stderr[-6000:]}")
    facts = dict(line.split("=", 1) for line in r.stdout.splitlines()
                 if "=" in line)
    report(f"image {facts['image']}: {facts['size_mb']} MB, built in "
           f"{facts['build_seconds']} s (base image made in "
           f"{facts['base_seconds']} s, 0 = reused)")
    return facts


@pytest.fixture(scope="module")
def broker():
    b = RealBroker().start()
    for name, parts in ((TOPIC_REQUESTS, 3), (TOPIC_OUTCOMES, 3),
                        (TOPIC_DLQ, 1)):
        b.create_topic(name, parts)
    yield b
    b.close()


@pytest.fixture
def provider(workdir):
    s = harness.ProviderServer(workdir)
    yield s
    s.stop()


def config_dir(workdir, bootstrap, provider_port, metrics_port):
    """What the ConfigMap holds: erasure-worker.conf and providers.conf, as
    plain files readable by uid 10001 (no symlinks out of the mount)."""
    d = os.path.join(workdir, "config")
    os.makedirs(d)
    shutil.copy(os.path.join(SOURCE_DIR, "config", "providers.conf"), d)
    worker_config(os.path.join(d, "erasure-worker.conf"), bootstrap,
                  provider_port, group=GROUP, metrics_port=metrics_port)
    os.chmod(workdir, 0o755)
    os.chmod(d, 0o755)
    for n in os.listdir(d):
        os.chmod(os.path.join(d, n), 0o644)
    return d


class Container:
    """The worker's container, started detached with podman."""

    def __init__(self, image, conf_dir, config_path):
        self.name = f"erasure-image-{uuid.uuid4().hex[:12]}"
        # Secrets by name only: podman copies the values from its own
        # environment, so they never appear on a command line.
        secrets = [a for k in SECRETS for a in ("--env", k)]
        args = [
            *PODMAN, "run", "--detach", "--name", self.name,
            "--network", "host",
            "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp",
            "--user", "10001:10001", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges",
            *ulimits(),
            "--volume", f"{conf_dir}:{os.path.dirname(config_path)}:ro",
            *secrets, image,
        ]
        env = dict(os.environ)
        env.update(SECRETS)
        self.t_start = time.monotonic()
        r = subprocess.run(args, capture_output=True, text=True, env=env,
                           timeout=120)
        assert r.returncode == 0, f"podman run failed: {r.stderr}"

    def podman(self, *args, timeout=60):
        return subprocess.run([*PODMAN, *args], capture_output=True,
                              text=True, timeout=timeout)

    def running(self):
        r = self.podman("inspect", "--format", "{{.State.Running}}",
                        self.name)
        return r.stdout.strip() == "true"

    def inspect(self, fmt):
        return self.podman("inspect", "--format", fmt, self.name).stdout.strip()

    def logs(self):
        r = self.podman("logs", self.name)
        return r.stdout + r.stderr

    def terminate(self, timeout):
        """SIGTERM to PID 1 (the worker); (exit code, seconds to exit)."""
        t0 = time.monotonic()
        r = self.podman("kill", "--signal", "TERM", self.name)
        assert r.returncode == 0, r.stderr
        r = self.podman("wait", self.name, timeout=timeout)
        return int(r.stdout.strip()), time.monotonic() - t0

    def remove(self):
        self.podman("rm", "--force", "--time", "0", self.name)


def wait_ready(container, port, timeout=90.0):
    """Seconds from `podman run` to /readyz 200. Polls: the probe is the
    worker's only readiness signal, as it is for the kubelet."""
    url = f"http://127.0.0.1:{port}/readyz"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.monotonic() - container.t_start
        except OSError:
            pass
        if not container.running():
            pytest.fail(f"container exited before ready:\n{container.logs()}")
        if time.monotonic() >= deadline:
            pytest.fail(f"not ready in {timeout}s:\n{container.logs()[-4000:]}")
        time.sleep(0.05)


def gauge(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                timeout=5) as r:
        text = r.read().decode()
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    assert m, f"{name} missing from /metrics"
    return float(m.group(1))


def wait_gauge(port, name, want, container, timeout=30.0):
    deadline = time.monotonic() + timeout
    while gauge(port, name) != want:
        assert container.running(), container.logs()
        assert time.monotonic() < deadline, f"{name} never reached {want}"
        time.sleep(0.05)


def all_five(i):
    return harness.request(
        f"img-{i:04d}",
        {"provider": "vectara", "agent_id": "agt_support",
         "session_ids": [f"ase_{i}_a", f"ase_{i}_b"]},
        {"provider": "convai", "character_id": f"c{i}",
         "session_ids": [f"s{i}a", f"s{i}b"]},
        {"provider": "algolia", "agent_id": ALGOLIA_AGENT,
         "user_token": f"user-{i}"},
        {"provider": "algolia", "scope": "agent", "agent_id": ALGOLIA_AGENT,
         "conversations": {"start_date": "2026-01-01",
                           "end_date": "2026-11-01"}},
        {"provider": "avaamo", "scope": "agent", "agent_id": 20123,
         "data_types": ["conversation_sessions"]})


def check_outcomes(msgs, ids):
    by_rid = {}
    for m in call_outcomes(msgs):
        by_rid.setdefault(m.value["request_id"], []).append(m.value)
    for rid in ids:
        calls = by_rid.get(rid, [])
        # Six deletions, and the Algolia user's discover read (nothing
        # seeded on the test server, so it finds no conversation).
        assert len(calls) == 7, (rid, calls)
        assert sorted(c["status"] for c in calls) == \
            ["deleted"] * 6 + ["discovered"], calls
    done = {m.value["request_id"]: m.value for m in summaries(msgs)}
    assert {done[r]["status"] for r in ids} == {"completed"}


def test_image_runs_hardened_against_real_kafka(image, broker, provider,
                                                workdir):
    pod, spec = manifest()
    grace = pod["terminationGracePeriodSeconds"]
    entry = spec.get("command") or []
    port = harness.free_port()
    conf = config_dir(workdir, broker.bootstrap, provider.port, port)
    config_path = "/etc/erasure-worker/erasure-worker.conf"
    mounts = {m["mountPath"] for m in spec["volumeMounts"]}
    assert os.path.dirname(config_path) in mounts and not entry

    c = Container(image["image"], conf, config_path)
    try:
        assert c.inspect("{{.Config.User}}") == "10001:10001"
        assert c.inspect("{{.HostConfig.ReadonlyRootfs}}") == "true"
        ready = wait_ready(c, port)
        report(f"container start to /readyz 200: {ready:.2f} s")

        ids = [f"img-{i:04d}" for i in range(N_REQUESTS)]
        with Collector(broker.bootstrap, TOPIC_OUTCOMES) as col:
            produce(broker.bootstrap, TOPIC_REQUESTS,
                    [all_five(i) for i in range(N_REQUESTS)],
                    key_fn=lambda m: m["request_id"])
            msgs = col.wait_for(lambda ms: set(ids) <= summary_ids(ms), 90,
                                what="summaries of the first batch")
            check_outcomes(msgs, ids)

            # Drain: SIGTERM while every request of a batch is in flight
            # (one vendor slowed down); all must finish and be committed.
            provider.add_fault(provider="vectara", latency_ms=2000)
            drain = [f"img-{i:04d}" for i in range(1000, 1000 + N_DRAIN)]
            produce(broker.bootstrap, TOPIC_REQUESTS,
                    [all_five(i) for i in range(1000, 1000 + N_DRAIN)],
                    key_fn=lambda m: m["request_id"])
            wait_gauge(port, "erasure_requests_in_flight", N_DRAIN, c)
            rc, took = c.terminate(grace + 30)
            report(f"SIGTERM with {N_DRAIN} requests in flight: exit {rc} "
                   f"in {took:.1f} s (grace period {grace} s)")
            assert rc == 0, c.logs()[-4000:]
            assert took < grace
            msgs = col.wait_for(lambda ms: set(drain) <= summary_ids(ms), 30,
                                what="summaries of the drained batch")
            check_outcomes(msgs, drain)
        assert committed_lag(broker.bootstrap, GROUP, TOPIC_REQUESTS) == 0
        logs = c.logs()
        assert SECRET_SENTINEL not in logs
    finally:
        c.remove()
