#!/usr/bin/env python3
"""bench/soak.py — erasure-worker under a steady, paced load.

Every other benchmark loads a backlog first; production trickles. This
runs one worker against a real Kafka broker (tests/kafka/broker.sh) and
the provider test server, feeds it --rate requests/s (the 1-6-call mix of
tests/integration/steady.py) for --minutes, optionally with light faults,
and prints per minute: requests/s in and out, committed lag (max and at the
end of the minute), worker RSS, open fds, CPU microseconds per call, and
p50/p99 produce -> summary latency of the requests produced that minute.

--step RATE,RATE,...: short runs (--step-seconds each) at increasing rates
on fresh topics, reporting for each whether the lag stayed bounded, and the
highest rate that did: "bounded" = after the first 5 s (group join, first
commit) the committed lag never exceeded one second of input plus
--lag-slack, and every request was summarised within --drain-seconds after
the load stopped.

Figures are informative; the exit status is non-zero only if the harness
fails (the worker exits, the broker does not start). bench/run.sh --soak
is the way in (it installs and builds first).
"""

import argparse
import json
import os
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
WARMUP_S = 5.0  # left out of "max lag", as in test_steady_real_kafka.py
SOURCE_DIR = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run.sh --soak",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=300.0,
                   help="requests/s of the soak run (default 300)")
    p.add_argument("--minutes", type=float, default=10.0,
                   help="length of the soak run (default 10)")
    p.add_argument("--faults", action="store_true",
                   help="10%% 503 on convai, 2%% 429 Retry-After: 1 on "
                        "algolia")
    p.add_argument("--latency-ms", type=int, default=20,
                   help="provider server latency (default 20)")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--cap", type=int, default=512,
                   help="worker.max_calls_in_flight (default 512; account "
                        "concurrency is a quarter of it)")
    p.add_argument("--step", default="",
                   help="comma-separated rates for the bounded-lag search "
                        "(e.g. 300,1000,2000,3000); empty: none")
    p.add_argument("--step-seconds", type=float, default=30.0)
    p.add_argument("--drain-seconds", type=float, default=30.0)
    p.add_argument("--lag-slack", type=int, default=200,
                   help="lag allowed above one second of input (commit "
                        "interval, batching)")
    p.add_argument("--no-soak", action="store_true",
                   help="only the --step search")
    p.add_argument("--build-dir", default=os.environ.get(
        "ERASURE_BUILD_DIR", os.path.join(SOURCE_DIR, "build")))
    p.add_argument("--json", default=None, help="write results here")
    return p.parse_args(argv)


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Run:
    """One worker, fresh topics and a provider server, under one rate."""

    def __init__(self, env, rate, seconds, faults, tag):
        import harness
        from steady import SteadyLoad
        self.h = harness
        self.a = env.a
        self.broker = env.broker
        self.rate, self.seconds = rate, seconds
        self.topics = (f"soak.{tag}.req", f"soak.{tag}.out", f"soak.{tag}.dlq")
        self.group = f"soak-{tag}"
        for t, n in zip(self.topics, (self.a.partitions, self.a.partitions, 1)):
            self.broker.create_topic(t, n)
        d = os.path.join(env.work, tag)
        os.makedirs(d, exist_ok=True)
        self.server = harness.ProviderServer(d, [
            "--latency-ms", str(self.a.latency_ms), "--threads", "2",
            "--connection-limit", "60000", "--max-calls", "1000"])
        if faults:
            self.server.add_fault(provider="convai", status=503, rate=0.1)
            self.server.add_fault(provider="algolia", status=429,
                                  retry_after="1", rate=0.02)
        self.mport = harness.free_port()
        cfg = harness.worker_config(
            os.path.join(d, "worker.conf"), self.broker.bootstrap,
            self.server.port, group=self.group, topics=self.topics,
            worker={"max_calls_in_flight": self.a.cap,
                    "max_requests_in_flight": 1000,
                    "commit_interval_ms": 200},
            limits={"concurrency": max(1, self.a.cap // 4)},
            metrics_port=self.mport)
        self.worker = harness.Worker(cfg, d, args=["-l", "info"])
        self.samples = []
        self.load = SteadyLoad(self.broker.bootstrap, self.topics, self.group,
                               rate, seconds, tag, sample_cb=self.on_sample)

    def on_sample(self, s):
        pid = self.worker.proc.pid
        try:
            s["cpu_s"] = proc_cpu_s(pid)
            s["rss_mib"] = proc_rss_mib(pid)
            s["fds"] = proc_fds(pid)
        except OSError:
            s["cpu_s"] = s["rss_mib"] = s["fds"] = float("nan")
        self.samples.append(s)

    def run(self):
        try:
            self.h.wait_ready(self.mport, self.worker, 60)
            self.cpu0 = proc_cpu_s(self.worker.proc.pid)
            self.load.start()
            self.load.wait_produced(self.seconds + 120)
            drained = True
            try:
                self.load.wait_all_summarised(self.a.drain_seconds)
            except AssertionError:
                drained = False
            if not self.worker.alive():
                raise RuntimeError(f"worker exited {self.worker.proc.returncode}")
            cpu = proc_cpu_s(self.worker.proc.pid) - self.cpu0
            return self.result(drained, cpu)
        finally:
            self.load.close()
            if self.worker.alive():
                self.worker.terminate(60)
            self.server.stop()

    def result(self, drained, cpu):
        from steady import percentile
        lat = self.load.latencies_ms()
        # The first seconds hold the group join and the first commit (a
        # partition without a committed offset counts from its start).
        lags = [lag for t, lag in self.load.lag_samples if t >= WARMUP_S]
        return {"rate": self.rate, "seconds": self.seconds,
                "requests": len(self.load.sent), "calls": self.load.calls,
                "summarised": len(lat), "drained": drained,
                "max_lag": max(lags) if lags else None,
                "p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99),
                "worker_cpu_s": cpu,
                "cpu_us_per_call": 1e6 * cpu / max(1, self.load.calls),
                "samples": self.samples,
                "per_minute": self.per_minute()}

    def per_minute(self):
        """Figures per minute of the load (the drain after it is its own
        row), from the once-a-second samples and the latencies of the
        requests produced in that minute."""
        from steady import percentile
        sent = self.load.sent
        done = self.load.summaries()
        t0_ms = min(sent.values()) if sent else 0
        rows = []
        minutes = int(self.seconds // 60) + 1
        prev_cpu = self.cpu0
        for m in range(minutes + 1):
            ss = [s for s in self.samples if m * 60 <= s["t"] < (m + 1) * 60]
            if not ss:
                continue
            lat = sorted(done[r] - ts for r, ts in sent.items()
                         if r in done and m * 60000 <= ts - t0_ms < (m + 1) * 60000)
            cpu = ss[-1]["cpu_s"]
            span = max(1e-9, ss[-1]["t"] - ss[0]["t"] + 1)
            out = sum(s["out_per_s"] for s in ss)
            rows.append({
                "minute": m + 1,
                "in_per_s": sum(s["in_per_s"] for s in ss) / span,
                "out_per_s": out / span,
                "max_lag": max((s["lag"] for s in ss if s["lag"] is not None),
                               default=None),
                "end_lag": ss[-1]["lag"],
                "rss_mib": ss[-1]["rss_mib"], "fds": ss[-1]["fds"],
                "cpu_s": cpu - prev_cpu,
                "p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99),
            })
            prev_cpu = cpu
        return rows


class Env:
    def __init__(self, a):
        self.a = a
        os.environ["ERASURE_BUILD_DIR"] = a.build_dir
        os.environ.setdefault("ERASURE_SOURCE_DIR", SOURCE_DIR)
        import harness
        from kafka_env import RealBroker
        self.work = harness.new_workdir("erasure-soak-")
        self.broker = RealBroker(workdir=os.path.join(self.work, "kafka"))

    def __enter__(self):
        self.broker.start()
        return self

    def __exit__(self, *exc):
        self.broker.close()


def bounded(r, a):
    return r["drained"] and r["max_lag"] is not None and \
        r["max_lag"] <= r["rate"] + a.lag_slack


def print_soak(r):
    print(f"\nsoak: {r['rate']:.0f} requests/s for {r['seconds'] / 60:.1f} min"
          f", {r['requests']} requests, {r['calls']} calls")
    print("  min   in/s  out/s  max lag  end lag  RSS MiB  fds  CPU s  "
          "us/call  p50 ms  p99 ms")
    calls_per_req = r["calls"] / max(1, r["requests"])
    for m in r["per_minute"]:
        calls = m["out_per_s"] * 60 * calls_per_req
        us = 1e6 * m["cpu_s"] / calls if calls else float("nan")
        print(f"  {m['minute']:3d} {m['in_per_s']:6.0f} {m['out_per_s']:6.0f} "
              f"{m['max_lag'] if m['max_lag'] is not None else '-':>8} "
              f"{m['end_lag'] if m['end_lag'] is not None else '-':>8} "
              f"{m['rss_mib']:8.1f} {m['fds']:4d} {m['cpu_s']:6.1f} "
              f"{us:8.0f} {m['p50_ms']:7.0f} {m['p99_ms']:7.0f}")
    print(f"  total: max lag {r['max_lag']}, all summarised: {r['drained']}, "
          f"p50/p99 {r['p50_ms']:.0f}/{r['p99_ms']:.0f} ms, worker CPU "
          f"{r['worker_cpu_s']:.1f} s = {r['cpu_us_per_call']:.0f} us/call")


def main(argv):
    a = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    results = {"soak": None, "step": []}
    with Env(a) as env:
        for rate in [float(x) for x in a.step.split(",") if x]:
            tag = f"s{int(rate)}-{uuid.uuid4().hex[:4]}"
            print(f"step: {rate:.0f} requests/s for {a.step_seconds:.0f} s",
                  flush=True)
            r = Run(env, rate, a.step_seconds, a.faults, tag).run()
            r["bounded"] = bounded(r, a)
            results["step"].append(r)
            print(f"  max lag {r['max_lag']}, p50/p99 {r['p50_ms']:.0f}/"
                  f"{r['p99_ms']:.0f} ms, {r['cpu_us_per_call']:.0f} us/call"
                  f", bounded: {r['bounded']}", flush=True)
            if not r["bounded"]:
                break
        if not a.no_soak:
            tag = f"soak-{uuid.uuid4().hex[:4]}"
            r = Run(env, a.rate, a.minutes * 60, a.faults, tag).run()
            r["bounded"] = bounded(r, a)
            results["soak"] = r
            print_soak(r)
    if results["step"]:
        ok = [r["rate"] for r in results["step"] if r["bounded"]]
        print(f"\nhighest steady rate with bounded lag: "
              f"{max(ok):.0f} requests/s" if ok else
              "\nno stepped rate kept the lag bounded")
        for r in results["step"]:
            print(f"  {r['rate']:6.0f}/s  max lag {r['max_lag']!s:>6}  "
                  f"p50 {r['p50_ms']:5.0f} ms  p99 {r['p99_ms']:6.0f} ms  "
                  f"{r['cpu_us_per_call']:4.0f} us/call  "
                  f"{'bounded' if r['bounded'] else 'NOT bounded'}")
    if a.json:
        for r in results["step"] + [results["soak"] or {}]:
            r.pop("samples", None)
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
