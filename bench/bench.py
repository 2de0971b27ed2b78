#!/usr/bin/python3
"""erasure-worker benchmark (bench/run.sh drives this; see bench/README.md).

One run does, in this order, so the quiet measurements come first:

  1. plan_bench: parse+plan on one core, no network;
  2. wrk against the provider test server: the loopback HTTP limit;
  3. a real Kafka broker (tests/kafka/broker.sh) and, per point, a fresh
     provider test server, fresh topics and one erasure-worker:
       main   the default request mix over all five endpoints;
       paced  the same mix at half the rate main reached, for latency
              without a backlog;
       sweep  provider latency x in-flight cap, Vectara requests with many
              sessions (for_each: one call per session);
       rss    a high in-flight cap against slow answers, for peak RSS with
              that many calls really in flight;
       cmp    side by side: the main mix at the issue's points, run by
              erasure-worker (without read-backs) and then by the Go peer
              (bench/peers/go), the same requests, for the ratio of both;
  4. a table on stdout, OUT/results.csv, OUT/results.json and
     OUT/throughput.png (gnuplot).

Per point the worker is started and waits for its partitions (/readyz);
then every request is produced at once ("burst"), and the point ends when
the worker's group has committed every request offset (the worker commits
only once all outcomes of a request are acknowledged). The outcome topic is
read afterwards, so the reading costs the worker no CPU:

  calls/s          call outcomes / (last - first call outcome timestamp)
  steady calls/s   the same between the 10th and 90th percentile outcome,
                   without ramp-up and drain; Little's law uses this one
  req latency      summary outcome timestamp - produce timestamp, per
                   request. Under a burst this includes the wait behind
                   the backlog: it is time-to-drain, not service time.
  call latency     finished_at - started_at of each call outcome (the W
                   of Little's law, as the worker sees it)
  mean in flight   steady calls/s x mean call latency (Little's law, L)
  Little ratio     steady calls/s / (cap / provider latency)
  calls/conn       provider server requests / TCP connections accepted
  CPU, RSS         /proc/PID/stat utime+stime over the run (from /readyz
                   to completion) and VmHWM from /proc/PID/status

Everything listens on 127.0.0.1 only. Nothing here is a pass/fail test of
performance: the exit status is non-zero only when the harness itself
fails (a point does not complete, outcomes are missing or wrong, a tool
cannot run).
"""

import argparse
import csv
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))


def die(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(1)


def note(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# arguments

ENDPOINTS = ("vectara", "convai", "algolia_user", "algolia_conv", "avaamo")


def parse_mix(text):
    """"vectara=2,avaamo=1" -> {endpoint: targets per request}."""
    mix = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, n = part.partition("=")
        if name not in ENDPOINTS:
            raise argparse.ArgumentTypeError(
                f"unknown endpoint {name!r} (one of {', '.join(ENDPOINTS)})")
        mix[name] = int(n or "1")
        if mix[name] < 0:
            raise argparse.ArgumentTypeError(f"{name}: negative count")
    if not any(mix.values()):
        raise argparse.ArgumentTypeError("the mix has no target")
    return mix


def int_list(text):
    return [int(x) for x in text.split(",") if x.strip()]


def cmp_list(text):
    """"0:256,100:2048" -> [(0, 256), (100, 2048)]."""
    out = []
    for part in text.split(","):
        if not part.strip():
            continue
        lat, sep, cap = part.partition(":")
        if not sep or int(lat) < 0 or int(cap) < 1:
            raise argparse.ArgumentTypeError(f"{part!r}: want LATENCY_MS:CAP")
        out.append((int(lat), int(cap)))
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bench/run.sh",
        description="Throughput, latency, CPU and memory of erasure-worker "
                    "against a real Kafka broker and the provider test "
                    "server (loopback only).")
    p.add_argument("-n", "--requests", type=int, default=4000,
                   help="requests in the main run (default 4000)")
    p.add_argument("--mix", type=parse_mix,
                   default=parse_mix(",".join(f"{e}=1" for e in ENDPOINTS)),
                   help="targets per request of the main run, e.g. "
                        "'vectara=2,convai=1,algolia_user=1,algolia_conv=1,"
                        "avaamo=1' (default: one of each endpoint)")
    p.add_argument("--sessions", type=int, default=4,
                   help="session ids per Vectara target (one call each) in "
                        "the main run (default 4)")
    p.add_argument("--convai-sessions", type=int, default=4,
                   help="session ids per Convai target (one call per 100) "
                        "(default 4)")
    p.add_argument("--main-cap", type=int, default=1024,
                   help="in-flight cap of the main run (default 1024)")
    p.add_argument("--main-latency-ms", type=int, default=0,
                   help="provider latency in the main run (default 0)")
    p.add_argument("--paced-seconds", type=float, default=10.0,
                   help="after the main run, the same mix produced at an "
                        "even rate for this long, for latency without a "
                        "backlog; 0 to skip (default 10)")
    p.add_argument("--paced-fraction", type=float, default=0.5,
                   help="rate of the paced run as a fraction of the main "
                        "run's requests/s (default 0.5)")
    p.add_argument("--latencies", type=int_list, default=None,
                   help="sweep: provider latencies in ms (default 0,20,100; "
                        "smoke: 20)")
    p.add_argument("--caps", type=int_list, default=None,
                   help="sweep: in-flight caps (default 64,512,2048,8192; "
                        "smoke: 256)")
    p.add_argument("--sweep-sessions", type=int, default=50,
                   help="sweep: Vectara sessions (calls) per request "
                        "(default 50)")
    p.add_argument("--sweep-calls", type=int_list, default=[2000, 40000],
                   help="sweep: calls per point are 4 x cap or what "
                        "--sweep-seconds take at the expected rate, "
                        "whichever is more, clamped to MIN,MAX "
                        "(default 2000,40000)")
    p.add_argument("--sweep-seconds", type=float, default=2.0,
                   help="sweep: size points to last about this long at "
                        "min(cap/latency, 10000 calls/s) (default 2)")
    p.add_argument("--rss-cap", type=int, default=10000,
                   help="calls in flight for the peak-RSS point, 0 to skip "
                        "(default 10000)")
    p.add_argument("--rss-latency-ms", type=int, default=1500,
                   help="provider latency of the peak-RSS point, long "
                        "enough for the cap to fill (default 1500)")
    p.add_argument("--wrk-seconds", type=float, default=5.0,
                   help="duration of each wrk run, 0 to skip wrk "
                        "(default 5)")
    p.add_argument("--wrk-connections", type=int_list, default=None,
                   help="wrk connection counts; the best is the limit "
                        "(default 64,512; smoke: 32)")
    p.add_argument("--plan-seconds", type=float, default=2.0,
                   help="seconds per plan_bench phase, 0 to skip "
                        "(default 2)")
    p.add_argument("--server-threads", type=int, default=2,
                   help="provider server thread pool (default 2)")
    p.add_argument("--worker-threads", type=int, default=0,
                   help="erasure-worker's worker.threads: event loops "
                        "(default 0: one per CPU it may use)")
    p.add_argument("--partitions", type=int, default=3,
                   help="partitions of the request and outcome topics "
                        "(default 3)")
    p.add_argument("--point-timeout", type=float, default=120.0,
                   help="seconds a point may take before it is abandoned "
                        "(default 120)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny run for CI: 200 requests, one sweep point, "
                        "a 2 s wrk run, no RSS point")
    p.add_argument("--no-plot", action="store_true", help="skip gnuplot")
    p.add_argument("--build-dir", default=os.environ.get(
        "ERASURE_BUILD_DIR", os.path.join(SOURCE_DIR, "build")))
    p.add_argument("--out", default=None,
                   help="output directory (default BUILD_DIR/bench, "
                        "BUILD_DIR/bench/smoke with --smoke)")
    p.add_argument("--perf", action="store_true",
                   help="record a perf profile of the worker per point "
                        "(OUT/perf-KIND-LAT-CAP.data, perf report -i ...)")
    p.add_argument("--only", choices=("main", "paced", "sweep", "rss", "cmp"),
                   default=None,
                   help="run only these worker points (and skip plan_bench; "
                        "cmp keeps wrk, whose limit is the 0 ms bound)")
    p.add_argument("--peer", choices=("go", "none"), default=None,
                   help="side-by-side points also run this peer worker "
                        "(bench/peers/go, built by run.sh); default go, "
                        "smoke: none")
    p.add_argument("--peer-bin", default=None,
                   help="the Go peer's binary (default BUILD_DIR/peer-go)")
    p.add_argument("--peer-error", default="", help=argparse.SUPPRESS)
    p.add_argument("--cmp-points", type=cmp_list, default=None,
                   help="side-by-side points LATENCY_MS:CAP,... (default "
                        "0:256,100:256,100:2048,100:8192,1500:10000; smoke: "
                        "none), the main run's mix, each run by "
                        "erasure-worker and then by the peer")
    p.add_argument("--cmp-seconds", type=float, default=3.0,
                   help="side-by-side: size points to last about this long "
                        "at min(bound, 20000 calls/s), at least 4 x cap "
                        "calls (default 3)")
    p.add_argument("--readback", action="store_true",
                   help="side-by-side: run erasure-worker with the shipped "
                        "providers.conf, read-backs included (default: "
                        "without them, as the peer does; bench/README.md)")
    p.add_argument("--keep", action="store_true",
                   help="keep the work directory (logs, configs)")
    a = p.parse_args(argv)
    if a.smoke:
        # Small enough for CI (well under a minute with the broker start),
        # big enough that every part of the harness runs.
        a.requests = min(a.requests, 200)
        a.latencies = (a.latencies or [20])[:1]
        a.caps = (a.caps or [256])[:1]
        a.sweep_calls = [500, 1000]
        a.rss_cap = 0
        a.wrk_seconds = min(a.wrk_seconds, 2.0)
        a.wrk_connections = (a.wrk_connections or [32])[:1]
        a.plan_seconds = min(a.plan_seconds, 0.5)
        a.point_timeout = min(a.point_timeout, 60.0)
        a.paced_seconds = 0
        # CI must not need Go: the side-by-side points are opt-in here.
        a.peer = a.peer or "none"
        a.cmp_points = a.cmp_points or []
    a.peer = a.peer or "go"
    if a.cmp_points is None:
        a.cmp_points = [(0, 256), (100, 256), (100, 2048), (100, 8192),
                        (1500, 10000)]
    if a.peer_bin is None:
        a.peer_bin = os.path.join(a.build_dir, "peer-go")
    a.latencies = a.latencies or [0, 20, 100]
    a.caps = a.caps or [64, 512, 2048, 8192]
    a.wrk_connections = a.wrk_connections or [64, 512]
    if a.out is None:
        a.out = os.path.join(a.build_dir, "bench", "smoke" if a.smoke else "")
    a.out = os.path.abspath(a.out)
    return a


# ---------------------------------------------------------------------------
# processes

def proc_cpu_s(pid):
    """utime + stime of PID in seconds (children not included)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def proc_status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def csv_number(v):
    """Floats as plain decimals a spreadsheet reads (no 1.4e+04)."""
    if not isinstance(v, float):
        return v
    if v != v:
        return ""
    return f"{v:.1f}" if abs(v) >= 100 else f"{v:.4g}"


def percentile(sorted_vals, q):
    if not sorted_vals:
        return float("nan")
    k = (len(sorted_vals) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def rfc3339_ms(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00"))
               .timestamp() * 1000)


# ---------------------------------------------------------------------------
# requests

def mix_request(i, tag, mix, sessions, convai_sessions):
    rid = f"req_{tag}_{i:07d}"
    targets = []
    for k in range(mix.get("vectara", 0)):
        targets.append({"provider": "vectara", "agent_id": "agt_bench",
                        "session_ids": [f"ase_{tag}_{i}_{k}_{s}"
                                        for s in range(sessions)]})
    for k in range(mix.get("convai", 0)):
        targets.append({"provider": "convai", "character_id": "char_bench",
                        "session_ids": [f"s-{tag}-{i}-{k}-{s}"
                                        for s in range(convai_sessions)]})
    for k in range(mix.get("algolia_user", 0)):
        targets.append({"provider": "algolia",
                        "agent_id": "76710f1b-8231-42e5-b0d1-f43aac618e15",
                        "user_token": f"user-{tag}-{i}-{k}"})
    for k in range(mix.get("algolia_conv", 0)):
        # Distinct date ranges keep the calls (and keys) of one request
        # apart when the mix asks for several.
        targets.append({"provider": "algolia", "scope": "agent",
                        "agent_id": f"agent-{k}",
                        "conversations": {"start_date": "2026-01-01",
                                          "end_date": "2026-11-01"}})
    for k in range(mix.get("avaamo", 0)):
        targets.append({"provider": "avaamo", "scope": "agent", "agent_id": 20123 + k,
                        "data_types": ["conversation_sessions"]})
    return rid, {"version": 1, "request_id": rid,
                 "requested_at": "2026-11-22T10:00:00Z", "targets": targets}


def mix_calls_per_request(mix, sessions, convai_sessions):
    """Call outcomes per request: one per deletion, plus the discover read
    of each Algolia user (read-backs are inside their call's outcome)."""
    return (mix.get("vectara", 0) * sessions
            + mix.get("convai", 0) * ((convai_sessions + 99) // 100)
            + 2 * mix.get("algolia_user", 0) + mix.get("algolia_conv", 0)
            + mix.get("avaamo", 0))


def vectara_request(i, tag, sessions):
    rid = f"req_{tag}_{i:07d}"
    return rid, {"version": 1, "request_id": rid, "targets": [
        {"provider": "vectara", "agent_id": "agt_bench",
         "session_ids": [f"ase_{tag}_{i}_{s}" for s in range(sessions)]}]}


# ---------------------------------------------------------------------------
# one point

def strip_readback(text):
    """providers.conf without its actions' `verify = { ... };` read-backs:
    erasure-worker then makes exactly the calls the peer makes."""
    out = []
    depth = 0
    for line in text.splitlines(keepends=True):
        if depth == 0 and line.lstrip().startswith("verify = {"):
            depth = line.count("{") - line.count("}")
            continue
        if depth > 0:
            depth += line.count("{") - line.count("}")
            continue
        out.append(line)
    if depth != 0:
        raise RuntimeError("providers.conf: unbalanced verify block")
    return "".join(out)


def write_providers_without_readback(path):
    with open(os.path.join(SOURCE_DIR, "config", "providers.conf")) as f:
        text = strip_readback(f.read())
    with open(path, "w") as f:
        f.write(text)


class Point:
    """Parameters and results of one worker run."""

    def __init__(self, kind, latency_ms, cap, requests, calls_expected,
                 make_request, label):
        self.kind = kind
        self.calls_per_request = calls_expected / max(requests, 1)
        # The shipped default (1000), or more when the cap needs more
        # requests' calls to fill it. Far fewer makes the worker pause and
        # resume its partitions all the time, and each pause throws away
        # what librdkafka prefetched (see bench/README.md).
        self.max_requests = max(1000, math.ceil(2 * cap /
                                                self.calls_per_request))
        self.latency_ms = latency_ms
        self.cap = cap
        self.requests = requests
        self.calls_expected = calls_expected
        self.make_request = make_request
        self.label = label
        self.load1 = None  # machine load average when the point started
        self.runner = "erasure-worker"  # or "go": the peer
        self.readback = True  # erasure-worker: the shipped read-backs
        self.req_tag = None  # request ids' tag, shared by a side-by-side pair
        self.rate = 0.0    # requests/s to produce at; 0: all at once
        self.r = {}  # results
        self.ok = False
        self.error = ""


class Bench:
    def __init__(self, args):
        self.a = args
        # The test helpers read these when imported.
        os.environ["ERASURE_BUILD_DIR"] = args.build_dir
        os.environ.setdefault("ERASURE_SOURCE_DIR", SOURCE_DIR)
        import harness
        import kafka_env
        self.harness = harness
        self.kafka_env = kafka_env
        self.work = harness.new_workdir("erasure-bench-")
        self.broker = None
        self.results = {"points": [], "wrk": None, "plan": None,
                        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "smoke": args.smoke, "cpus": os.cpu_count()}
        self.failures = []
        self.point_no = 0

    # -- provider server ----------------------------------------------------

    def start_server(self, latency_ms, name):
        d = os.path.join(self.work, name)
        os.makedirs(d, exist_ok=True)
        return self.harness.ProviderServer(d, [
            "--latency-ms", str(latency_ms),
            "--threads", str(self.a.server_threads),
            "--connection-limit", "60000",
            # The call record is not needed (stats count connections), so
            # keep it small: it would grow by every call otherwise.
            "--max-calls", "1000"])

    # -- parse+plan ----------------------------------------------------------

    def run_plan_bench(self):
        if self.a.plan_seconds <= 0:
            return
        exe = os.path.join(self.a.build_dir, "plan_bench")
        if not os.access(exe, os.X_OK):
            self.failures.append(f"{exe} missing: build the plan_bench target")
            return
        note("parse+plan micro-benchmark (plan_bench, one thread)")
        r = subprocess.run([exe, "-j", "-t", str(self.a.plan_seconds)],
                           capture_output=True, text=True, timeout=120,
                           env=dict(os.environ,
                                    ERASURE_SOURCE_DIR=SOURCE_DIR))
        if r.returncode != 0:
            self.failures.append(f"plan_bench failed: {r.stderr.strip()}")
            return
        self.results["plan"] = json.loads(r.stdout)

    # -- wrk -----------------------------------------------------------------

    def run_wrk(self):
        if self.a.wrk_seconds <= 0:
            return
        wrk = shutil.which("wrk")
        if not wrk:
            self.failures.append("wrk not found (bench/run.sh installs it)")
            return
        server = self.start_server(0, "wrk")
        best = None
        runs = []
        try:
            for conns in self.a.wrk_connections:
                note(f"wrk: {conns} connections, {self.a.wrk_seconds:g} s")
                cmd = [wrk, "-t", "2", "-c", str(conns),
                       "-d", f"{self.a.wrk_seconds:g}s",
                       "-s", os.path.join(HERE, "wrk_delete.lua"),
                       f"{server.base}/vectara"]
                env = dict(os.environ,
                           VECTARA_API_KEY=self.harness.SECRETS[
                               "VECTARA_API_KEY"])
                server._req("DELETE", "/_control/stats")
                t0 = time.monotonic()
                cpu0 = proc_cpu_s(server.proc.pid)
                r = subprocess.run(cmd, capture_output=True, text=True,
                                   env=env,
                                   timeout=self.a.wrk_seconds + 60)
                wall = time.monotonic() - t0
                srv_cpu = proc_cpu_s(server.proc.pid) - cpu0
                if r.returncode != 0:
                    self.failures.append(f"wrk failed: {r.stderr.strip()}")
                    continue
                rps = None
                non2xx = 0
                for line in r.stdout.splitlines():
                    if line.startswith("Requests/sec:"):
                        rps = float(line.split()[1])
                    if "Non-2xx" in line:
                        non2xx = int(line.split()[-1])
                st = server.stats()
                run = {"connections": conns, "requests_per_s": rps,
                       "non_2xx": non2xx, "server_cpu_s": srv_cpu,
                       "wall_s": wall,
                       "server_statuses": st.get("by_status")}
                runs.append(run)
                if rps is not None and (best is None or rps > best):
                    best = rps
        finally:
            server.stop()
        self.results["wrk"] = {"runs": runs, "limit_per_s": best}

    # -- Kafka ---------------------------------------------------------------

    def start_broker(self):
        note("starting the Kafka broker (tests/kafka/broker.sh)")
        t0 = time.monotonic()
        self.broker = self.kafka_env.RealBroker(
            workdir=os.path.join(self.work, "kafka"))
        self.broker.start()
        note(f"broker up at {self.broker.bootstrap} in "
             f"{time.monotonic() - t0:.1f} s")

    def produce_burst(self, topic, reqs, rate=0.0):
        """Produces every request as fast as the client goes, or at RATE
        requests/s; returns {request_id: produce timestamp ms}."""
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": self.broker.bootstrap,
                      "enable.idempotence": True, "linger.ms": 5,
                      "compression.type": "lz4",
                      "queue.buffering.max.messages": 1000000})
        sent = {}
        errors = []

        def cb(err, msg):
            if err is not None:
                errors.append(err)

        t0 = time.monotonic()
        for i, (rid, body) in enumerate(reqs):
            if rate > 0:
                wait = t0 + i / rate - time.monotonic()
                if wait > 0:
                    p.poll(wait)
            ts = int(time.time() * 1000)
            sent[rid] = ts
            while True:
                try:
                    p.produce(topic, key=rid.encode(), value=body,
                              timestamp=ts, on_delivery=cb)
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
        left = p.flush(60)
        if left or errors:
            raise RuntimeError(f"produce: {left} undelivered, "
                               f"errors {errors[:3]}")
        return sent

    def read_topic(self, topic, timeout=60.0):
        """Every message of TOPIC as (timestamp, key, ce_type, value,
        idempotency-key header)."""
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.broker.bootstrap,
                      "group.id": f"bench-reader-{topic}",
                      "enable.auto.commit": False,
                      "enable.partition.eof": True})
        out = []
        try:
            md = c.list_topics(topic, timeout=10)
            parts = sorted(md.topics[topic].partitions)
            highs, lows = {}, {}
            for p in parts:
                lo, hi = c.get_watermark_offsets(TopicPartition(topic, p),
                                                 timeout=10)
                if hi > lo:
                    highs[p], lows[p] = hi, lo
            c.assign([TopicPartition(topic, p, lows[p]) for p in highs])
            done = set()
            deadline = time.monotonic() + timeout
            while len(done) < len(highs) and time.monotonic() < deadline:
                for m in c.consume(2000, 0.5):
                    if m.error():
                        continue
                    hdrs = {k: v.decode() for k, v in m.headers() or []}
                    out.append((m.timestamp()[1], m.key(),
                                hdrs.get("ce_type"), m.value(),
                                hdrs.get("idempotency-key")))
                    if m.offset() + 1 >= highs[m.partition()]:
                        done.add(m.partition())
            if len(done) < len(highs):
                raise RuntimeError(f"read {topic}: timed out")
        finally:
            c.close()
        return out

    # -- a worker run --------------------------------------------------------

    def run_point(self, pt):
        a = self.a
        self.point_no += 1
        tag = f"p{self.point_no}"
        t_req, t_out, t_dlq = (f"bench.{tag}.requests", f"bench.{tag}.outcomes",
                               f"bench.{tag}.dlq")
        pt.load1 = os.getloadavg()[0]
        note(f"[{pt.kind} {pt.runner}] {pt.label}: {pt.requests} requests, "
             f"{pt.calls_expected} calls, latency {pt.latency_ms} ms, "
             f"cap {pt.cap}")
        for t, n in ((t_req, a.partitions), (t_out, a.partitions),
                     (t_dlq, 1)):
            self.broker.create_topic(t, n)
        reqs = [pt.make_request(i, pt.req_tag or tag)
                for i in range(pt.requests)]
        reqs = [(rid, json.dumps(body, separators=(",", ":")).encode())
                for rid, body in reqs]
        server = None
        worker = None
        mport = free_port()
        wdir = os.path.join(self.work, tag)
        os.makedirs(wdir, exist_ok=True)
        try:
            server = self.start_server(pt.latency_ms, f"server-{tag}")
            worker = self.start_runner(pt, wdir, server, mport, tag,
                                       (t_req, t_out, t_dlq))
        except Exception as e:  # noqa: BLE001 - reported, run continues
            if server is not None:
                server.stop()
            self.point_failed(pt, str(e))
            return
        perf = None
        sampler_stop = threading.Event()
        peak = {"calls": 0, "requests": 0}

        def sampler():
            url = f"http://127.0.0.1:{mport}/metrics"
            while not sampler_stop.wait(0.1):
                try:
                    _, body = http_get(url, 1.0)
                    for line in body.decode().splitlines():
                        if line.startswith("erasure_calls_in_flight "):
                            peak["calls"] = max(peak["calls"],
                                                int(float(line.split()[1])))
                        elif line.startswith("erasure_requests_in_flight "):
                            peak["requests"] = max(
                                peak["requests"], int(float(line.split()[1])))
                except Exception:  # noqa: BLE001 - sampling is best effort
                    pass

        try:
            # Ready = partitions assigned and producer healthy.
            deadline = time.monotonic() + 60
            while True:
                if not worker.alive():
                    raise RuntimeError(f"worker exited "
                                       f"{worker.proc.returncode}: see "
                                       f"{worker.log_path}")
                try:
                    if http_get(f"http://127.0.0.1:{mport}/readyz")[0] == 200:
                        break
                except Exception:  # noqa: BLE001 - not up yet
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("worker not ready within 60 s")
                time.sleep(0.05)
            server._req("DELETE", "/_control/stats")
            pid = worker.proc.pid
            cpu0 = proc_cpu_s(pid)
            scpu0 = proc_cpu_s(server.proc.pid)
            bpid = self.broker_pid()
            bcpu0 = proc_cpu_s(bpid) if bpid else float("nan")
            th = threading.Thread(target=sampler, daemon=True)
            th.start()
            perf = self.start_perf(pt, pid)
            t0 = time.time()
            sent = self.produce_burst(t_req, reqs, pt.rate)
            t_produced = time.time()
            # Done when the group committed every request offset.
            deadline = time.monotonic() + a.point_timeout
            while True:
                lag = self.kafka_env.committed_lag(self.broker.bootstrap,
                                                   f"bench-{tag}", t_req)
                if lag == 0:
                    break
                if not worker.alive():
                    raise RuntimeError(f"worker exited "
                                       f"{worker.proc.returncode}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"timed out with {lag} requests left")
                time.sleep(0.2)
            t_done = time.time()
            self.stop_perf(perf)
            perf = None
            cpu = proc_cpu_s(pid) - cpu0
            scpu = proc_cpu_s(server.proc.pid) - scpu0
            bcpu = proc_cpu_s(bpid) - bcpu0 if bpid else float("nan")
            hwm = proc_status_kib(pid, "VmHWM")
            rss_end = proc_status_kib(pid, "VmRSS")
            sampler_stop.set()
            th.join(5)
            stats = server.stats()
            rc = worker.terminate(60)
            worker = None
            if rc != 0:
                raise RuntimeError(f"worker exited {rc} on SIGTERM")
            outcomes = self.read_topic(t_out)
            dlq = self.read_topic(t_dlq)
            self.analyse(pt, sent, outcomes, dlq, stats, peak, t0,
                         t_produced, t_done, cpu, scpu, hwm, rss_end)
            pt.r["broker_cpu_s"] = bcpu
        except Exception as e:  # noqa: BLE001 - reported, run continues
            pt.error = str(e)
            pt.ok = False
        finally:
            sampler_stop.set()
            self.stop_perf(perf)
            if worker is not None:
                worker.kill()
            server.stop()
        if not pt.ok:
            self.point_failed(pt, pt.error)
            return
        r = pt.r
        note(f"  req latency p50/p95/p99 {r['req_p50_ms']:.0f}/"
             f"{r['req_p95_ms']:.0f}/{r['req_p99_ms']:.0f} ms")
        note(f"  {r['calls_per_s']:.0f} calls/s (steady "
             f"{r['steady_calls_per_s']:.0f}), {r['requests_per_s']:.0f} "
             f"req/s, call p99 {r['call_p99_ms']:.0f} ms, worker CPU "
             f"{r['worker_cpu_s']:.1f} s, peak RSS "
             f"{r['worker_peak_rss_mib']:.1f} MiB, peak in flight "
             f"{r['peak_calls_in_flight']}")
        self.results["points"].append(self.point_row(pt))

    def point_failed(self, pt, error):
        pt.ok, pt.error = False, error
        self.failures.append(f"{pt.kind} {pt.runner} {pt.label}: {error}")
        note(f"  FAILED: {error}")
        self.results["points"].append(self.point_row(pt))

    def start_runner(self, pt, wdir, server, mport, tag, topics):
        """erasure-worker or the peer, on the point's broker, server,
        topics and caps; both answer /readyz and /metrics on MPORT."""
        a = self.a
        if pt.runner == "go":
            if a.peer_error:
                raise RuntimeError(a.peer_error)
            if not os.access(a.peer_bin, os.X_OK):
                raise RuntimeError(f"{a.peer_bin} missing: bench/run.sh "
                                   f"builds it (needs Go)")
            return self.harness.Process([
                a.peer_bin,
                "-brokers", self.broker.bootstrap, "-group", f"bench-{tag}",
                "-requests", topics[0], "-outcomes", topics[1],
                "-base", server.base, "-cap", str(pt.cap),
                "-metrics", f"127.0.0.1:{mport}",
                "-algolia-app-id", self.harness.ALGOLIA_APP_ID,
                # erasure-worker's limits below, in the peer's terms.
                "-max-attempts", "3", "-backoff-base", "100ms",
                "-backoff-max", "1s", "-timeout", "60s", "-budget", "120s",
                "-commit-interval", "100ms", "-drain-timeout", "30s"],
                wdir, "peer-go")
        if not pt.readback:
            write_providers_without_readback(
                os.path.join(wdir, "providers.conf"))
        cfg = self.harness.worker_config(
            os.path.join(wdir, "worker.conf"), self.broker.bootstrap,
            server.port, group=f"bench-{tag}",
            worker={"max_requests_in_flight": pt.max_requests,
                    "max_calls_in_flight": pt.cap,
                    "max_calls_per_request": 100000,
                    # Out of the way: each run is about the caps above.
                    "max_calls_planned": 10000000,
                    "commit_interval_ms": 100,
                    "drain_timeout_ms": 30000,
                    "threads": self.a.worker_threads},
            limits={"concurrency": pt.cap, "rate_per_s": 0.0,
                    "timeout_ms": 60000, "connect_timeout_ms": 20000,
                    "max_attempts": 3, "budget_ms": 120000,
                    "backoff_base_ms": 100, "backoff_max_ms": 1000},
            metrics_port=mport, topics=topics)
        # The harness writes log level debug for the tests; a benchmark
        # runs the production default.
        return self.harness.Worker(cfg, wdir, args=("-l", "info"))

    def broker_pid(self):
        try:
            with open(os.path.join(self.broker.workdir, "broker.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def start_perf(self, pt, pid):
        if not self.a.perf:
            return None
        path = os.path.join(self.a.out, f"perf-{pt.kind}-{pt.latency_ms}-"
                                        f"{pt.cap}.data")
        return subprocess.Popen(
            ["perf", "record", "-q", "-F", "499", "--call-graph",
             "dwarf,16384", "-p", str(pid), "-o", path],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @staticmethod
    def stop_perf(perf):
        if perf is None or perf.poll() is not None:
            return
        perf.send_signal(signal.SIGINT)
        try:
            perf.wait(60)
        except subprocess.TimeoutExpired:
            perf.kill()
            perf.wait()

    def analyse(self, pt, sent, outcomes, dlq, stats, peak, t0, t_produced,
                t_done, cpu, scpu, hwm, rss_end):
        call_ts = []
        call_lat = []
        req_lat = []
        bad = 0
        bad_keys = 0
        summaries = 0
        ikey = self.harness.idempotency_key
        for ts, key, ce, value, idem in outcomes:
            if ce == "erasure.call.completed.v1":
                call_ts.append(ts)
                ev = json.loads(value)
                # Both workers: the header, the body and the key's recipe
                # agree (docs/design.md), so consumers can deduplicate.
                if idem != ev["idempotency_key"] or idem != ikey(
                        ev["request_id"], ev["provider"], ev["account"],
                        ev["action"], ev["resource"]):
                    bad_keys += 1
                if ev["status"] not in ("deleted", "already_absent",
                                        "discovered"):
                    bad += 1
                call_lat.append(rfc3339_ms(ev["finished_at"])
                                - rfc3339_ms(ev["started_at"]))
            elif ce == "erasure.request.completed.v1":
                summaries += 1
                ev = json.loads(value)
                if idem != ev["idempotency_key"] or idem != ikey(
                        ev["request_id"], "", "", "summary", ""):
                    bad_keys += 1
                if ev["status"] != "completed":
                    bad += 1
                rid = key.decode()
                if rid in sent:
                    req_lat.append(ts - sent[rid])
        problems = []
        if summaries != pt.requests:
            problems.append(f"{summaries} summaries for {pt.requests} "
                            f"requests")
        if len(call_ts) != pt.calls_expected:
            problems.append(f"{len(call_ts)} call outcomes, expected "
                            f"{pt.calls_expected}")
        if bad:
            problems.append(f"{bad} outcomes not deleted/completed")
        if bad_keys:
            problems.append(f"{bad_keys} outcomes without a matching "
                            f"idempotency-key header")
        if dlq:
            problems.append(f"{len(dlq)} dead letters")
        call_ts.sort()
        call_lat.sort()
        req_lat.sort()
        n = len(call_ts)
        span = (call_ts[-1] - call_ts[0]) / 1000 if n > 1 else float("nan")
        i10, i90 = int(n * 0.1), max(int(n * 0.9) - 1, 0)
        steady_span = (call_ts[i90] - call_ts[i10]) / 1000 if n > 10 else 0
        steady = (i90 - i10) / steady_span if steady_span > 0 \
            else float("nan")
        first_send = min(sent.values()) if sent else 0
        last_summary = max((ts for ts, _, ce, _, _ in outcomes
                            if ce == "erasure.request.completed.v1"),
                           default=first_send)
        wall = (last_summary - first_send) / 1000
        mean_lat_s = statistics.fmean(call_lat) / 1000 if call_lat else 0
        bound = pt.cap / (pt.latency_ms / 1000) if pt.latency_ms else None
        requests_total = stats.get("requests", 0)
        conns = stats.get("connections", 0)
        pt.r = {
            "calls": n,
            "wall_s": wall,
            "calls_per_s": (n - 1) / span if span and span > 0 else 0,
            "steady_calls_per_s": steady,
            "requests_per_s": pt.requests / wall if wall > 0 else 0,
            "little_bound_per_s": bound,
            "little_ratio": steady / bound if bound else None,
            "mean_in_flight": steady * mean_lat_s,
            "peak_calls_in_flight": peak["calls"],
            "peak_requests_in_flight": peak["requests"],
            "call_p50_ms": percentile(call_lat, 0.5),
            "call_p99_ms": percentile(call_lat, 0.99),
            "call_mean_ms": mean_lat_s * 1000,
            "req_p50_ms": percentile(req_lat, 0.5),
            "req_p95_ms": percentile(req_lat, 0.95),
            "req_p99_ms": percentile(req_lat, 0.99),
            "worker_cpu_s": cpu,
            "cpu_us_per_call": cpu * 1e6 / n if n else 0,
            # Share of one core the worker used between the first produce
            # and the last summary: near 1, it is CPU-bound.
            "worker_core_share": cpu / wall if wall > 0 else 0,
            "server_us_per_call": scpu * 1e6 / n if n else 0,
            "worker_peak_rss_mib": hwm / 1024,
            "worker_end_rss_mib": rss_end / 1024,
            "server_cpu_s": scpu,
            "server_requests": requests_total,
            "connections": conns,
            "max_active_connections": stats.get("max_active_connections", 0),
            "calls_per_connection": requests_total / conns if conns else 0,
            # Every HTTP request the server saw (read-backs included), over
            # the same span as calls/s.
            "http_per_s": requests_total / span if span and span > 0
            else 0,
            "produce_s": t_produced - t0,
            "run_s": t_done - t0,
        }
        pt.ok = not problems
        pt.error = "; ".join(problems)

    @staticmethod
    def point_row(pt):
        row = {"kind": pt.kind, "runner": pt.runner,
               "readback": int(pt.readback) if pt.runner != "go" else 0,
               "label": pt.label, "load1": pt.load1,
               "provider_latency_ms": pt.latency_ms, "cap": pt.cap,
               "requests": pt.requests, "calls_expected": pt.calls_expected,
               "ok": int(pt.ok), "error": pt.error}
        row.update(pt.r)
        return row

    # -- the plan ------------------------------------------------------------

    def points(self):
        a = self.a
        pts = []
        cpr = mix_calls_per_request(a.mix, a.sessions, a.convai_sessions)
        mix, s, cs = a.mix, a.sessions, a.convai_sessions
        pts.append(Point(
            "main", a.main_latency_ms, a.main_cap, a.requests,
            a.requests * cpr,
            lambda i, tag: mix_request(i, tag, mix, s, cs),
            f"mix {' '.join(f'{k}={v}' for k, v in a.mix.items() if v)}; "
            f"{cpr} calls/request"))
        lo, hi = a.sweep_calls
        ss = a.sweep_sessions
        for lat in a.latencies:
            for cap in a.caps:
                # Long enough to measure more than the ramp-up: at least
                # four waves of the cap, and about --sweep-seconds at the
                # rate expected (the Little bound, or what one worker does
                # on two cores, ~10 000 calls/s).
                rate = min(cap * 1000 / lat, 10000) if lat else 10000
                calls = max(4 * cap, int(a.sweep_seconds * rate))
                calls = min(max(calls, lo), hi)
                nreq = max(1, (calls + ss - 1) // ss)
                pts.append(Point(
                    "sweep", lat, cap, nreq, nreq * ss,
                    lambda i, tag: vectara_request(i, tag, ss),
                    f"vectara x{ss}"))
        if a.rss_cap > 0:
            calls = 3 * a.rss_cap
            nreq = (calls + ss - 1) // ss
            pt = Point(
                "rss", a.rss_latency_ms, a.rss_cap, nreq, nreq * ss,
                lambda i, tag: vectara_request(i, tag, ss),
                f"vectara x{ss}")
            # Here the memory of the calls in flight is the point, not
            # that of a planned backlog: hold only 1.5 x the cap.
            pt.max_requests = math.ceil(1.5 * a.rss_cap / ss)
            pts.append(pt)
        pts += self.cmp_points(cpr)
        return pts

    def cmp_points(self, cpr):
        """The side-by-side points: the main mix, the same requests for
        erasure-worker and then for the peer."""
        a = self.a
        mix, s, cs = a.mix, a.sessions, a.convai_sessions
        pts = []
        for k, (lat, cap) in enumerate(a.cmp_points):
            rate = min(cap * 1000 / lat, 20000) if lat else 20000
            calls = max(4 * cap, int(a.cmp_seconds * rate))
            nreq = max(1, math.ceil(calls / cpr))
            runners = ["erasure-worker"] + (["go"] if a.peer == "go" else [])
            for runner in runners:
                pt = Point("cmp", lat, cap, nreq, nreq * cpr,
                           lambda i, tag: mix_request(i, tag, mix, s, cs),
                           f"mix; {cpr} calls/request")
                pt.runner = runner
                pt.readback = a.readback
                pt.req_tag = f"c{k}"
                # An Algolia user's calls run one after the other
                # (discover, its conversations, then the user data), so a
                # request of the mix holds its slot for three latencies
                # while holding fewer than its calls most of that time:
                # 1.5 x cap / calls per request (the rss point's) left the
                # cap a third empty at 1500 ms. Three times, the chain's
                # depth, is what a deployment would set for this mix (the
                # peer has no request cap at all).
                pt.max_requests = max(1000, math.ceil(3 * cap / cpr))
                pts.append(pt)
        return pts

    def run_paced(self, main):
        """The main run's mix at a fraction of the rate it reached, so the
        request latency is service time rather than time-to-drain."""
        a = self.a
        rps = main.r.get("requests_per_s") or 0
        if not main.ok or rps <= 0:
            rps = 100.0  # --only paced, or the main run failed
        rate = max(1.0, rps * a.paced_fraction)
        n = max(1, int(rate * a.paced_seconds))
        pt = Point("paced", main.latency_ms, main.cap, n,
                   n * int(main.calls_per_request), main.make_request,
                   f"{main.label}; {rate:.0f} req/s")
        pt.rate = rate
        self.run_point(pt)

    def run(self):
        os.makedirs(self.a.out, exist_ok=True)
        t0 = time.monotonic()
        if not self.a.only:
            self.run_plan_bench()
        if self.a.only in (None, "cmp"):
            self.run_wrk()
        try:
            self.start_broker()
            for pt in self.points():
                if self.a.only in (None, pt.kind):
                    self.run_point(pt)
                if pt.kind == "main" and self.a.paced_seconds > 0 and \
                        self.a.only in (None, "paced"):
                    self.run_paced(pt)
        finally:
            if self.broker is not None:
                try:
                    self.broker.stop()
                except Exception as e:  # noqa: BLE001
                    note(f"broker stop: {e}")
        self.results["total_s"] = time.monotonic() - t0
        self.write_outputs()
        self.print_report()
        if not self.a.keep and not self.failures:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            note(f"work directory kept: {self.work}")
        return 1 if self.failures else 0

    # -- outputs -------------------------------------------------------------

    CSV_FIELDS = [
        "kind", "runner", "readback", "label", "provider_latency_ms", "cap", "requests", "calls",
        "wall_s", "calls_per_s", "steady_calls_per_s", "requests_per_s",
        "little_bound_per_s", "little_ratio", "mean_in_flight",
        "peak_calls_in_flight", "call_p50_ms", "call_p99_ms", "req_p50_ms",
        "req_p95_ms", "req_p99_ms", "worker_cpu_s", "cpu_us_per_call",
        "worker_core_share", "worker_peak_rss_mib", "server_cpu_s",
        "server_us_per_call", "broker_cpu_s", "connections",
        "calls_per_connection", "http_per_s", "load1", "ok", "error"]

    def write_outputs(self):
        out = self.a.out
        with open(os.path.join(out, "results.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.CSV_FIELDS,
                               extrasaction="ignore")
            w.writeheader()
            for row in self.results["points"]:
                w.writerow({k: csv_number(v) for k, v in row.items()})
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump(self.results, f, indent=1, default=str)
        if not self.a.no_plot:
            self.plot()

    def plot(self):
        gp = shutil.which("gnuplot")
        if not gp:
            self.failures.append("gnuplot not found (bench/run.sh installs "
                                 "it)")
            return
        sweep = [r for r in self.results["points"]
                 if r["kind"] == "sweep" and r["ok"]]
        if not sweep:
            return
        lats = sorted({r["provider_latency_ms"] for r in sweep})
        data = os.path.join(self.a.out, "sweep.dat")
        with open(data, "w") as f:
            for lat in lats:
                f.write(f"# provider latency {lat} ms\n")
                for r in sorted((r for r in sweep
                                 if r["provider_latency_ms"] == lat),
                                key=lambda r: r["cap"]):
                    f.write(f"{r['cap']} {r['steady_calls_per_s']:.1f} "
                            f"{r['call_p99_ms']:.1f} {r['req_p99_ms']:.1f}\n")
                f.write("\n\n")
        wrk = (self.results.get("wrk") or {}).get("limit_per_s")
        png = os.path.join(self.a.out, "throughput.png")
        caps = sorted({r["cap"] for r in sweep})
        lines = [
            "set terminal pngcairo size 1100,900 noenhanced font 'sans,10'"
            if self.pngcairo() else "set terminal png size 1100,900",
            f"set output '{png}'",
            "set multiplot layout 2,1 title 'erasure-worker: Vectara calls, "
            "one worker, loopback'",
            "set logscale x 2", "set logscale y",
            f"set xrange [{caps[0] / 1.5}:{caps[-1] * 1.5}]",
            "set grid", "set key outside right",
            "set xlabel 'in-flight cap (max_calls_in_flight)'",
            "set ylabel 'calls/s (steady)'",
            "set title 'throughput; dashed: Little bound cap/latency'",
        ]
        plots = []
        for i, lat in enumerate(lats):
            plots.append(f"'{data}' index {i} using 1:2 with linespoints "
                         f"lw 2 lt {i + 1} title 'latency {lat} ms'")
            if lat > 0:
                plots.append(f"x/{lat / 1000} with lines dt 2 lt {i + 1} "
                             f"notitle")
        if wrk:
            plots.append(f"{wrk} with lines dt 3 lc rgb 'black' "
                         f"title 'wrk loopback limit'")
        lines.append("plot " + ", ".join(plots))
        lines += [
            "set ylabel 'p99 latency (ms)'",
            "set title 'p99 latency: solid per call (started..finished), "
            "dashed per request (produce..summary, burst)'",
        ]
        plots = []
        for i, lat in enumerate(lats):
            plots.append(f"'{data}' index {i} using 1:3 with linespoints "
                         f"lw 2 lt {i + 1} title 'call p99, {lat} ms'")
            plots.append(f"'{data}' index {i} using 1:4 with linespoints "
                         f"dt 2 lt {i + 1} title 'request p99, {lat} ms'")
        lines.append("plot " + ", ".join(plots))
        lines.append("unset multiplot")
        script = os.path.join(self.a.out, "throughput.gp")
        with open(script, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run([gp, script], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0 or not os.path.exists(png):
            self.failures.append(f"gnuplot failed: {r.stderr.strip()}")

    @staticmethod
    def pngcairo():
        try:
            r = subprocess.run(["gnuplot", "-e", "set terminal"],
                               capture_output=True, text=True, timeout=10)
            return "pngcairo" in (r.stdout + r.stderr)
        except (OSError, subprocess.SubprocessError):
            return False

    def print_report(self):
        res = self.results
        print()
        print("=" * 78)
        print(f"erasure-worker benchmark  ({res['cpus']} CPUs, "
              f"{'smoke' if self.a.smoke else 'full'} run, "
              f"{res.get('total_s', 0):.0f} s)")
        print("=" * 78)

        def f(v, fmt="{:.0f}"):
            if v is None or (isinstance(v, float) and v != v):
                return "-"
            return fmt.format(v)

        plan = res.get("plan")
        if plan:
            print("\nparse+plan, one thread, no network (plan_bench):")
            print(f"  {'requests':<26} {'calls/req':>9} {'req/s':>10} "
                  f"{'req/cpu-s':>10}   {'+outcome events req/cpu-s':>10}")
            for s in plan["sets"]:
                print(f"  {s['name'] + ' (' + str(s['avg_bytes']) + ' B)':<26}"
                      f" {s['calls_per_request']:>9.2f} "
                      f"{s['plan_req_per_wall_s']:>10.0f} "
                      f"{s['plan_req_per_cpu_s']:>10.0f}   "
                      f"{s['full_req_per_cpu_s']:>10.0f}")
        wrk = res.get("wrk")
        if wrk:
            print("\nloopback HTTP limit of the provider test server (wrk, "
                  "Vectara DELETE, 2 threads):")
            for r in wrk["runs"]:
                print(f"  {r['connections']:>5} connections: "
                      f"{f(r['requests_per_s'])} req/s "
                      f"(server CPU {r['server_cpu_s']:.1f} s in "
                      f"{r['wall_s']:.1f} s)")
        self.print_side_by_side(f)
        pts = [r for r in res["points"] if r["kind"] != "cmp"]
        if pts:
            self.print_points(pts, f)
        self.print_targets(pts, f)

    def print_points(self, pts, f):
        print("\nworker runs, throughput (burst load; definitions in "
              "bench/README.md):")
        print(f"  {'kind':<5} {'lat':>4} {'cap':>6} {'calls':>6} "
              f"{'calls/s':>8} {'steady':>8} {'req/s':>7} {'bound':>8} "
              f"{'ratio':>5} {'L=XW':>6} {'peak':>6} {'c/conn':>6} "
              f"{'load':>5}")
        for r in pts:
            if not r["ok"]:
                print(f"  {r['kind']:<5} {r['provider_latency_ms']:>4} "
                      f"{r['cap']:>6}  FAILED: {r['error']}")
                continue
            print(f"  {r['kind']:<5} {r['provider_latency_ms']:>4} "
                  f"{r['cap']:>6} {r['calls']:>6} {f(r['calls_per_s']):>8} "
                  f"{f(r['steady_calls_per_s']):>8} "
                  f"{f(r['requests_per_s']):>7} "
                  f"{f(r['little_bound_per_s']):>8} "
                  f"{f(r['little_ratio'], '{:.2f}'):>5} "
                  f"{f(r['mean_in_flight']):>6} "
                  f"{r['peak_calls_in_flight']:>6} "
                  f"{f(r['calls_per_connection'], '{:.1f}'):>6} "
                  f"{f(r['load1'], '{:.1f}'):>5}")
        print("\nworker runs, latency and resources:")
        print(f"  {'kind':<5} {'lat':>4} {'cap':>6} {'c.p50':>6} "
              f"{'c.p99':>6} {'r.p50':>6} {'r.p95':>6} {'r.p99':>6} "
              f"{'cpu s':>6} {'us/call':>7} {'core':>5} {'RSS MiB':>7} "
              f"{'srv us':>6} {'kafka s':>7}")
        for r in pts:
            if not r["ok"]:
                continue
            print(f"  {r['kind']:<5} {r['provider_latency_ms']:>4} "
                  f"{r['cap']:>6} "
                  f"{f(r['call_p50_ms']):>6} {f(r['call_p99_ms']):>6} "
                  f"{f(r['req_p50_ms']):>6} {f(r['req_p95_ms']):>6} "
                  f"{f(r['req_p99_ms']):>6} "
                  f"{f(r['worker_cpu_s'], '{:.2f}'):>6} "
                  f"{f(r['cpu_us_per_call']):>7} "
                  f"{f(r['worker_core_share'], '{:.2f}'):>5} "
                  f"{f(r['worker_peak_rss_mib'], '{:.1f}'):>7} "
                  f"{f(r['server_us_per_call']):>6} "
                  f"{f(r.get('broker_cpu_s'), '{:.1f}'):>7}")
        print("  lat: provider latency (ms); calls/s: first..last call "
              "outcome; steady: 10..90 %\n"
              "  of outcomes; bound: cap/latency (Little); ratio: "
              "steady/bound; L=XW: steady x mean\n"
              "  call latency = calls really in flight; peak: most calls in "
              "flight sampled;\n"
              "  c/conn: calls per TCP connection; load: 1-min load average "
              "at start;\n"
              "  c./r.: call (started..finished) and request (produce.."
              "summary, includes the\n"
              "  wait behind the burst's backlog) latency in ms; cpu s, "
              "us/call: worker CPU;\n"
              "  core: worker CPU / wall time; RSS: VmHWM; srv us: provider "
              "server CPU per call;\n"
              "  kafka s: broker CPU seconds over the point")

    def cmp_pairs(self):
        """[(latency, cap, erasure-worker row, peer row or None)]."""
        rows = [r for r in self.results["points"] if r["kind"] == "cmp"]
        pairs = []
        for lat, cap in self.a.cmp_points:
            mine = [r for r in rows if r["provider_latency_ms"] == lat
                    and r["cap"] == cap]
            ew = next((r for r in mine if r["runner"] != "go"), None)
            go = next((r for r in mine if r["runner"] == "go"), None)
            if ew is not None or go is not None:
                pairs.append((lat, cap, ew, go))
        return pairs

    def cmp_bound(self, lat, cap):
        """cap/latency (Little), or wrk's limit at 0 ms."""
        if lat:
            return cap * 1000 / lat
        return (self.results.get("wrk") or {}).get("limit_per_s")

    def print_side_by_side(self, f):
        pairs = self.cmp_pairs()
        if not pairs:
            return
        a = self.a
        cpr = mix_calls_per_request(a.mix, a.sessions, a.convai_sessions)
        print(f"\nside by side: erasure-worker (EW) and the Go peer (GO), "
              f"same broker, provider server and\nrequests (the main mix, "
              f"{cpr} calls/request); EW "
              f"{'with' if a.readback else 'without'} read-backs "
              f"(bench/README.md):")
        print(f"  {'':>4} {'':>6} {'':>7} | {'EW':<33} | {'GO':<33} | EW/GO")
        cols = (f"{'calls/s':>7} {'us/call':>7} {'core':>4} {'RSS':>6} "
                f"{'x bnd':>5}")
        print(f"  {'lat':>4} {'cap':>6} {'bound':>7} | {cols} | {cols} | "
              f"{'calls/s':>7} {'us/call':>7} {'RSS':>5}")

        def side(r, bound):
            if r is None:
                return f"{'not run':<33}"
            if not r["ok"]:
                return f"{('FAILED: ' + r['error'])[:33]:<33}"
            x = r["steady_calls_per_s"] / bound if bound else None
            return (f"{f(r['steady_calls_per_s']):>7} "
                    f"{f(r['cpu_us_per_call']):>7} "
                    f"{f(r['worker_core_share'], '{:.2f}'):>4} "
                    f"{f(r['worker_peak_rss_mib'], '{:.0f}M'):>6} "
                    f"{f(x, '{:.2f}'):>5}")

        def ratio(ew, go, key):
            if not (ew and go and ew["ok"] and go["ok"] and go.get(key)):
                return None
            return ew[key] / go[key]

        for lat, cap, ew, go in pairs:
            bound = self.cmp_bound(lat, cap)
            print(f"  {lat:>4} {cap:>6} {f(bound):>7} | {side(ew, bound)} | "
                  f"{side(go, bound)} | "
                  f"{f(ratio(ew, go, 'steady_calls_per_s'), '{:.2f}'):>7} "
                  f"{f(ratio(ew, go, 'cpu_us_per_call'), '{:.2f}'):>7} "
                  f"{f(ratio(ew, go, 'worker_peak_rss_mib'), '{:.2f}'):>5}")
        print(f"\n  {'lat':>4} {'cap':>6} {'who':>3} {'http/s':>7} "
              f"{'c.p50':>6} {'c.p99':>6} {'r.p99':>6} {'peak':>6} "
              f"{'srv us':>6} {'load':>5}")
        for lat, cap, ew, go in pairs:
            for who, r in (("EW", ew), ("GO", go)):
                if r is None or not r["ok"]:
                    continue
                print(f"  {lat:>4} {cap:>6} {who:>3} "
                      f"{f(r['http_per_s']):>7} {f(r['call_p50_ms']):>6} "
                      f"{f(r['call_p99_ms']):>6} {f(r['req_p99_ms']):>6} "
                      f"{r['peak_calls_in_flight']:>6} "
                      f"{f(r['server_us_per_call']):>6} "
                      f"{f(r['load1'], '{:.1f}'):>5}")
        print("  calls/s: steady (10..90 % of call outcomes); us/call, core: "
              "worker CPU per call\n"
              "  and per wall second; RSS: peak (VmHWM); bound and x bnd: "
              "cap/latency, wrk's\n"
              "  limit at 0 ms; http/s: every request the provider server "
              "saw, first to last\n"
              "  call outcome (read-backs included); the rest as in the "
              "tables below (bench/README.md)")

    def print_cmp_targets(self, f):
        for lat, cap, ew, go in self.cmp_pairs():
            if not (ew and go and ew["ok"] and go["ok"]):
                continue
            bound = self.cmp_bound(lat, cap)
            need = 1.5 * go["steady_calls_per_s"]
            if bound:
                need = min(need, 0.9 * bound)
            got = ew["steady_calls_per_s"]
            print(f"  {lat} ms, cap {cap}: EW >= min(1.5 x GO, 0.9 x bound) "
                  f"= {need:.0f} calls/s: {got:.0f}  "
                  f"[{'met' if got >= need else 'NOT met'}]")
            if lat >= 1000:
                rr = ew["worker_peak_rss_mib"] / go["worker_peak_rss_mib"]
                print(f"  {lat} ms, cap {cap}: EW peak RSS <= 0.4 x GO: "
                      f"{ew['worker_peak_rss_mib']:.0f} vs "
                      f"{go['worker_peak_rss_mib']:.0f} MiB = {rr:.2f}  "
                      f"[{'met' if rr <= 0.4 else 'NOT met'}]")

    def print_targets(self, pts, f):
        res = self.results
        wrk = res.get("wrk")
        plan = res.get("plan")
        print("\ntargets (goals, not asserts):")
        self.print_cmp_targets(f)
        ok_pts = [r for r in pts if r["ok"]]
        zero = [r for r in ok_pts if r["provider_latency_ms"] == 0]
        limit = (wrk or {}).get("limit_per_s")
        if zero and limit:
            best = max(zero, key=lambda r: r["steady_calls_per_s"])
            frac = best["steady_calls_per_s"] / limit
            print(f"  calls/s at 0 ms >= 0.5 x wrk limit: best "
                  f"{best['steady_calls_per_s']:.0f} ({best['kind']}, cap "
                  f"{best['cap']}) = {frac:.2f} x {limit:.0f}  "
                  f"[{'met' if frac >= 0.5 else 'NOT met'}]")
        slow = [r for r in ok_pts if r["kind"] == "sweep"
                and r["provider_latency_ms"] == 100]
        if slow:
            worst = min(slow, key=lambda r: r["little_ratio"])
            good = [r["cap"] for r in sorted(slow, key=lambda r: r["cap"])
                    if r["little_ratio"] >= 0.9]
            print(f"  100 ms: throughput >= 0.9 x cap/latency up to 8192: "
                  f"met for caps {good or 'none'}; worst ratio "
                  f"{worst['little_ratio']:.2f} at cap {worst['cap']}  "
                  f"[{'met' if worst['little_ratio'] >= 0.9 else 'NOT met'}]")
        rss = [r for r in ok_pts if r["kind"] == "rss"]
        if rss:
            r = rss[0]
            print(f"  peak RSS <= 40 MiB with {r['cap']} in flight: "
                  f"{r['worker_peak_rss_mib']:.1f} MiB, peak sampled in "
                  f"flight {r['peak_calls_in_flight']}  "
                  f"[{'met' if r['worker_peak_rss_mib'] <= 40 else 'NOT met'}"
                  f"{'' if r['peak_calls_in_flight'] >= 0.9 * r['cap'] else ', cap not filled'}]")
        if plan:
            for s in plan["sets"]:
                v = s["plan_req_per_cpu_s"]
                print(f"  parse+plan >= 200000 req/s on one core ({s['name']}"
                      f", {s['calls_per_request']:.0f} calls/req): {v:.0f} "
                      f"per CPU-second  [{'met' if v >= 200000 else 'NOT met'}]")
        print(f"\nCSV: {os.path.join(self.a.out, 'results.csv')}")
        if not self.a.no_plot:
            print(f"plot: {os.path.join(self.a.out, 'throughput.png')}")
        if self.failures:
            print("\nHARNESS FAILURES:")
            for x in self.failures:
                print(f"  {x}")


def main(argv):
    args = parse_args(argv)
    for exe in ("erasure-worker", "provider-server"):
        if not os.access(os.path.join(args.build_dir, exe), os.X_OK):
            die(f"{args.build_dir}/{exe} missing: build first "
                f"(BUILD_DIR={args.build_dir} scripts/build.sh)")
    b = Bench(args)

    def on_signal(sig, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    return b.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
