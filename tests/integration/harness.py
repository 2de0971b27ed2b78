"""Processes the integration tiers run: the provider test server and
erasure-worker itself, plus the config files that tie them together.

Tests assert through the outcome topic, the dead-letter topic and the
provider server's record of calls -- never through the worker's logs."""

import atexit
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

SOURCE_DIR = os.environ.get(
    "ERASURE_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.environ.get("ERASURE_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))

# Secrets the worker reads from its environment; the provider server is
# started with the same values. SECRET_SENTINEL must never appear in any
# log line, outcome or metric (tests grep for it).
SECRETS = {
    "VECTARA_API_KEY": "vk-SENTINEL-7f3a9c-vectara",
    "CONVAI_API_KEY": "ck-SENTINEL-51b2e0-convai",
    "ALGOLIA_API_KEY": "ak-SENTINEL-c0d3e4-algolia",
    "AVAAMO_ACCESS_TOKEN": "at-SENTINEL-9e8d7c-avaamo",
}
SECRET_SENTINEL = "SENTINEL"
ALGOLIA_APP_ID = "TESTAPP42"

TOPIC_REQUESTS = "erasure.requests"
TOPIC_OUTCOMES = "erasure.outcomes"
TOPIC_DLQ = "erasure.requests.dlq"


# Every child a test starts through this module, so that a failing test
# cannot leave it behind: conftest kills what a test or module left
# running, and the atexit hook below whatever a run without conftest
# (tests/ops, tests/image) left. An orphaned worker spins on a dead
# broker and starves the rest of the run.
_SPAWNED = []

# Children also die with the test process itself (a run killed by ctest's
# timeout): setpriv sets PR_SET_PDEATHSIG and execs the program, so the
# pid is the program's. It is used instead of a preexec_fn, which is not
# safe in a process with threads (Collector runs one).
_SETPRIV = shutil.which("setpriv")
DEATH_SIGNAL = ([_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else [])


def spawn(args, **kwargs):
    """subprocess.Popen(ARGS) that dies with this process and is tracked
    for kill_spawned(). Returns the Popen."""
    proc = subprocess.Popen([*DEATH_SIGNAL, *args], **kwargs)
    _SPAWNED.append(proc)
    return proc


def spawned_mark():
    """A mark for kill_spawned(since=...): children started after it."""
    return len(_SPAWNED)


def kill_spawned(since=0):
    """SIGKILLs every tracked child started after mark SINCE that still
    runs, reaps it, and returns the argument lists of those it killed."""
    killed = []
    for proc in _SPAWNED[since:]:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            killed.append(proc.args[len(DEATH_SIGNAL):])
    del _SPAWNED[since:]
    return killed


atexit.register(kill_spawned)


def wait_for_file(path, timeout, proc=None, what="file"):
    """Waits for a file a child process writes when it is ready. Polls the
    filesystem: the child offers no other signal to wait on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path) as f:
                return f.read().strip()
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        time.sleep(0.02)
    raise TimeoutError(f"{what}: {path} did not appear within {timeout}s")


def idempotency_key(request_id, provider, account, action, resource):
    h = hashlib.sha256()
    h.update("\0".join([request_id, provider, account, action, resource]).encode())
    return h.hexdigest()


class ProviderServer:
    """The test double of the five vendor APIs (tests/provider-server)."""

    def __init__(self, workdir, extra_args=()):
        self.workdir = workdir
        port_file = os.path.join(workdir, "provider-server.port")
        self.log_path = os.path.join(workdir, "provider-server.log")
        args = [
            os.path.join(BUILD_DIR, "provider-server"), "--port", "0",
            "--port-file", port_file,
            "--vectara-key", SECRETS["VECTARA_API_KEY"],
            "--convai-key", SECRETS["CONVAI_API_KEY"],
            "--algolia-app-id", ALGOLIA_APP_ID,
            "--algolia-key", SECRETS["ALGOLIA_API_KEY"],
            "--avaamo-token", SECRETS["AVAAMO_ACCESS_TOKEN"],
            *extra_args,
        ]
        self.log = open(self.log_path, "w")
        self.proc = spawn(args, stdout=self.log, stderr=self.log)
        self.port = int(wait_for_file(port_file, 10, self.proc, "provider-server"))
        self.base = f"http://127.0.0.1:{self.port}"

    def _req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def calls(self, since=0):
        return self._req("GET", f"/_control/calls?since={since}")["calls"]

    def clear_calls(self):
        self._req("DELETE", "/_control/calls")

    def stats(self):
        return self._req("GET", "/_control/stats")

    def add_fault(self, **rule):
        self._req("POST", "/_control/faults", rule)

    def clear_faults(self):
        self._req("DELETE", "/_control/faults")

    def set_state(self, **state):
        self._req("POST", "/_control/state", state)

    def set_data(self, **data):
        """Seeds end-user data and sets the deletion faults (README)."""
        return self._req("POST", "/_control/data", data)

    def data(self):
        return self._req("GET", "/_control/data")

    def reset_state(self):
        self._req("DELETE", "/_control/state")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def worker_config(path, bootstrap, provider_port, group="erasure-it",
                  worker=None, limits=None, account_limits=None, metrics_port=None,
                  extra_kafka=(), topics=None, agent_wide=True):
    """Writes a worker config that @includes the shipped providers.conf and
    points every account at the provider test server. agent_wide sets
    allow_agent_wide on the Algolia and Avaamo accounts (the only ones with
    agent-scoped actions)."""
    base = f"http://127.0.0.1:{provider_port}"
    w = {
        "max_requests_in_flight": 200, "max_calls_in_flight": 256,
        "drain_timeout_ms": 20000, "rebalance_grace_ms": 10000,
        "commit_interval_ms": 200,
    }
    w.update(worker or {})
    lim = {
        "rate_per_s": 0.0, "burst": 10.0, "concurrency": 32,
        "timeout_ms": 5000, "connect_timeout_ms": 2000, "max_attempts": 5,
        "budget_ms": 60000, "backoff_base_ms": 50, "backoff_max_ms": 1000,
    }
    lim.update(limits or {})
    account_limits = account_limits or {}

    def group_text(d):
        parts = []
        for k, v in d.items():
            if isinstance(v, bool):
                parts.append(f"{k} = {'true' if v else 'false'};")
            elif isinstance(v, float):
                parts.append(f"{k} = {v!r};")
            elif isinstance(v, int):
                parts.append(f"{k} = {v};")
            else:
                parts.append(f'{k} = "{v}";')
        return "{ " + " ".join(parts) + " }"

    def account(provider, prefix, secrets, extra=""):
        al = account_limits.get(provider)
        lim_text = f" limits = {group_text(al)};" if al else ""
        return (f'{{ provider = "{provider}"; name = "default"; '
                f'base_url = "{base}/{prefix}"; allow_plain_http = true; '
                f'secrets = {group_text(secrets)};{extra}{lim_text} }}')

    opt_in = " allow_agent_wide = true;" if agent_wide else ""
    accounts = [
        account("vectara", "vectara", {"api_key": "VECTARA_API_KEY"}),
        account("convai", "convai", {"api_key": "CONVAI_API_KEY"}),
        account("algolia", "algolia/agent-studio", {"api_key": "ALGOLIA_API_KEY"},
                f' vars = {{ application_id = "{ALGOLIA_APP_ID}"; }};{opt_in}'),
        account("avaamo", "avaamo", {"access_token": "AVAAMO_ACCESS_TOKEN"}, opt_in),
    ]
    kafka_props = [f"bootstrap.servers={bootstrap}", *extra_kafka]
    t_req, t_out, t_dlq = topics or (TOPIC_REQUESTS, TOPIC_OUTCOMES, TOPIC_DLQ)
    metrics = (f'metrics = {{ bind = "127.0.0.1"; port = {metrics_port}; }};'
               if metrics_port is not None else "")
    # libconfig 1.5 resolves every @include against the including file's
    # directory (absolute paths too), so the shipped file is linked there.
    link = os.path.join(os.path.dirname(os.path.abspath(path)), "providers.conf")
    if not os.path.exists(link):
        os.symlink(os.path.join(SOURCE_DIR, "config", "providers.conf"), link)
    text = f"""
@include "providers.conf"
kafka = {{
  properties = [ {", ".join(json.dumps(p) for p in kafka_props)} ];
  # Short session timeout: the mock cluster delays a rebalance after a
  # member dies by the session timeout, and tests kill members.
  consumer = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500" ];
  group_id = "{group}";
  static_membership_env = "ERASURE_TEST_INSTANCE";
}};
topics = {{ requests = "{t_req}"; outcomes = "{t_out}"; dead_letter = "{t_dlq}"; }};
worker = {group_text(w)};
{metrics}
log = {{ level = "debug"; }};
account_defaults = {{ limits = {group_text(lim)}; }};
accounts = (
  {(","+chr(10)+"  ").join(accounts)}
);
"""
    with open(path, "w") as f:
        f.write(text)
    return path


class Process:
    """A worker-like child (spawn()): its output in WORKDIR/NAME.log,
    stopped with SIGTERM, the secrets in its environment."""

    def __init__(self, argv, workdir, name, env=None):
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.log = open(self.log_path, "a")
        e = dict(os.environ)
        e.update(SECRETS)
        e.update(env or {})
        self.proc = spawn(argv, stdout=self.log, stderr=self.log, env=e)

    def alive(self):
        return self.proc.poll() is None

    def terminate(self, timeout=60):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.log.close()
        return rc

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


class Worker(Process):
    """One erasure-worker process."""

    def __init__(self, config, workdir, name="worker", env=None, args=()):
        # ERASURE_WORKER_WRAPPER runs the worker under a tool (valgrind).
        wrapper = os.environ.get("ERASURE_WORKER_WRAPPER", "").split()
        super().__init__(
            [*wrapper, os.path.join(BUILD_DIR, "erasure-worker"), "run", "-c",
             config, *args], workdir, name, env)

    def loops_with_partitions(self):
        """How many assignments of partitions the worker has logged: each
        loop's consumer logs its own "assigned N partition(s)"."""
        return len(re.findall(r'"assigned [1-9][0-9]* partition\(s\)',
                              self.log_text()))

    def wait_loops_assigned(self, partitions, timeout=60.0):
        """Waits until each of the worker's loops (as many as partitions
        allow) holds partitions of its own, so the group has settled.

        A test that expects no repeated work must not start it before:
        the loops of one process join one by one, and on a broker with
        group.initial.rebalance.delay.ms = 0 (the test broker), or a late
        join on the mock, the first loop takes every partition and hands
        some to the next a moment later; what it had in flight on those is
        left to the new owner, which repeats it (by design, under the same
        keys). Each loop logs its own "assigned N partition(s)"."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            m = re.search(r'"(\d+) worker loop\(s\)', text)
            if m:
                need = min(int(m.group(1)), partitions)
                if self.loops_with_partitions() >= need:
                    return
            if not self.alive():
                raise RuntimeError(f"{self.name} exited: {self.log_path}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name}: loops not all assigned "
                                   f"within {timeout}s: {text[-2000:]}")
            time.sleep(0.05)


def run_cli(*args, env=None, stdin=None, timeout=30):
    e = dict(os.environ)
    e.update(env if env is not None else SECRETS)
    return subprocess.run([os.path.join(BUILD_DIR, "erasure-worker"), *args],
                          input=stdin, capture_output=True, text=True, env=e,
                          timeout=timeout)


def new_workdir(prefix="erasure-it-"):
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("ERASURE_TMP"))


def committed_offsets(bootstrap, group, topic, timeout=10.0):
    """{partition: committed offset} of GROUP on TOPIC (-1001 = none)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        md = c.list_topics(topic, timeout=timeout)
        tps = [TopicPartition(topic, p) for p in sorted(md.topics[topic].partitions)]
        return {tp.partition: tp.offset for tp in c.committed(tps, timeout=timeout)}
    finally:
        c.close()


def summaries(messages):
    return [m for m in messages
            if m.headers.get("ce_type") == "erasure.request.completed.v1"]


def call_outcomes(messages):
    return [m for m in messages
            if m.headers.get("ce_type") == "erasure.call.completed.v1"]


def summary_ids(messages):
    return {m.value["request_id"] for m in summaries(messages)}


def request(request_id, *targets, **extra):
    r = {"version": 1, "request_id": request_id, "targets": list(targets)}
    r.update(extra)
    return r


def free_port():
    """A loopback TCP port free right now (for the worker's /metrics)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape_gauges(metrics_port, names):
    """The unlabelled samples called NAMES on the worker's /metrics, as
    floats (a name missing from the page is missing from the dict)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                timeout=2) as r:
        text = r.read().decode()
    pattern = "|".join(re.escape(n) for n in names)
    return {m.group(1): float(m.group(2))
            for m in re.finditer(rf"^({pattern}) (\S+)$", text, re.M)}


def wait_gauges(metrics_port, worker, names, pred, timeout=30.0):
    """Polls /metrics until pred(scrape_gauges(...)) holds and returns
    what it saw: the endpoint is the only signal."""
    deadline = time.monotonic() + timeout
    while True:
        assert worker.alive(), worker.log_text()[-3000:]
        got = scrape_gauges(metrics_port, names)
        if pred(got):
            return got
        assert time.monotonic() < deadline, f"metrics stayed {got}"
        time.sleep(0.1)


def wait_ready(metrics_port, worker, timeout=60.0):
    """Waits until the worker's /readyz answers 200 (partitions assigned,
    producer healthy). Polls: the probe is the worker's only signal."""
    url = f"http://127.0.0.1:{metrics_port}/readyz"
    deadline = time.monotonic() + timeout
    while True:
        if not worker.alive():
            raise RuntimeError(f"{worker.name} exited with "
                               f"{worker.proc.returncode}: {worker.log_path}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass  # not listening yet, or 503 (not assigned yet)
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{worker.name} not ready within {timeout}s")
        time.sleep(0.05)


REAL_KAFKA_REPORT = os.path.join(BUILD_DIR, "real-kafka-report.txt")


def report(line):
    """Prints a measured figure and appends it to the real-Kafka report
    that scripts/test.sh shows at the end of a CI run."""
    print(line)
    with open(REAL_KAFKA_REPORT, "a") as f:
        f.write(line + "\n")
