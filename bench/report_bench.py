#!/usr/bin/env python3
"""bench/report_bench.py — time and peak RSS of `erasure-worker report`.

Starts a real Kafka broker (tests/kafka/broker.sh), produces --requests
synthetic erasure requests and --calls call outcome events per request plus
one summary each (the documented schema, as the worker publishes them;
every 20th request partially failed, every 50th left open), then runs the
report over the period once per --format and prints wall time, CPU time and
the report process's peak RSS (wait4's ru_maxrss), first for reading alone
(--request-id matching nothing: every event parsed, nothing kept). The report's rows are checked
against what was produced, so a fast wrong answer does not pass.

Defaults: 100 000 requests, 5 calls each: 600 000 outcome events.

    ERASURE_BUILD_DIR=build /usr/bin/python3 bench/report_bench.py
"""

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402
from kafka_env import RealBroker  # noqa: E402
from confluent_kafka import Producer  # noqa: E402

TOPICS = ("bench-req", "bench-out", "bench-dlq")


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def producer(bootstrap):
    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 50,
                     "batch.num.messages": 10000, "compression.type": "lz4",
                     "queue.buffering.max.messages": 500000})


def send(p, topic, key, value, headers=None):
    while True:
        try:
            p.produce(topic, key=key, value=value, headers=headers)
            return
        except BufferError:
            p.poll(0.05)


def load(bootstrap, n, calls):
    """Produces the data set; returns the expected status counts."""
    p = producer(bootstrap)
    t = time.time()
    expect = {"completed": 0, "partially_failed": 0, "open": 0}
    call_h = [("ce_type", b"erasure.call.completed.v1")]
    sum_h = [("ce_type", b"erasure.request.completed.v1")]
    for i in range(n):
        rid = f"req-{i:07d}"
        key = rid.encode()
        req = {"version": 1, "request_id": rid, "requested_at": iso(t - 86400),
               "targets": [{"provider": "vectara", "agent_id": "agt_b",
                            "session_ids": [f"ase_{i}_{c}" for c in range(calls)]}]}
        send(p, TOPICS[0], key, json.dumps(req).encode())
        failed = i % 20 == 0
        for c in range(calls):
            bad = failed and c == 0
            ev = {"idempotency_key": f"{i:07d}{c:02d}" * 4, "request_id": rid,
                  "provider": "vectara", "account": "default",
                  "action": "delete_session", "resource": f"agt_b/ase_{i}_{c}",
                  "status": "failed" if bad else "deleted", "retryable": False,
                  "http_status": 404 if bad else 204, "attempts": 1,
                  "error": "HTTP 404: agent not found" if bad else None,
                  "started_at": iso(t), "finished_at": iso(t)}
            send(p, TOPICS[1], key, json.dumps(ev).encode(), call_h)
        if i % 50 == 1:
            expect["open"] += 1
            continue
        status = "partially_failed" if failed else "completed"
        expect[status] += 1
        s = {"idempotency_key": f"s{i:07d}" * 8, "request_id": rid,
             "status": status,
             "counts": {"deleted": calls - failed, "already_absent": 0,
                        "failed": int(failed), "rejected": 0},
             "calls": calls, "error": None, "error_code": None,
             "finished_at": iso(t)}
        send(p, TOPICS[1], key, json.dumps(s).encode(), sum_h)
        if i % 10000 == 0:
            p.poll(0)
    assert p.flush(300) == 0, "undelivered messages"
    return expect


def config(workdir, bootstrap):
    path = os.path.join(workdir, "report.conf")
    with open(path, "w") as f:
        f.write(f"""
@include "providers.conf"
kafka = {{ properties = [ "bootstrap.servers={bootstrap}" ]; }};
topics = {{ requests = "{TOPICS[0]}"; outcomes = "{TOPICS[1]}";
           dead_letter = "{TOPICS[2]}"; }};
""")
    link = os.path.join(workdir, "providers.conf")
    if not os.path.exists(link):
        os.symlink(os.path.join(harness.SOURCE_DIR, "config", "providers.conf"),
                   link)
    return path


def run_report(conf, since, fmt, out_path, extra=()):
    """Runs one report; wall and CPU seconds and peak RSS (MiB) of that
    process alone (wait4's rusage, not every child's)."""
    exe = os.path.join(harness.BUILD_DIR, "erasure-worker")
    t0 = time.monotonic()
    with open(out_path, "w") as out, open(out_path + ".log", "w") as log:
        proc = subprocess.Popen([exe, "report", "-c", conf, "--since", since,
                                 "--format", fmt, *extra], stdout=out,
                                stderr=log)
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    with open(out_path + ".log") as log:
        proc.stderr = log.read()
    return proc, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--calls", type=int, default=5)
    ap.add_argument("--formats", default="csv,json")
    args = ap.parse_args()
    workdir = harness.new_workdir("report-bench-")
    with RealBroker() as broker:
        broker.create_topic(TOPICS[0], 6)
        broker.create_topic(TOPICS[1], 6)
        broker.create_topic(TOPICS[2], 1)
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
        t0 = time.monotonic()
        expect = load(broker.bootstrap, args.requests, args.calls)
        events = args.requests * args.calls + args.requests - expect["open"]
        print(f"produced {args.requests} requests, {events} outcome events "
              f"in {time.monotonic() - t0:.1f} s")
        conf = config(workdir, broker.bootstrap)
        # Reading alone: every event parsed, none kept (no request matches).
        out = os.path.join(workdir, "baseline.csv")
        r, wall, cpu, rss = run_report(conf, since, "csv", out,
                                       ("--request-id", "no-such-request"))
        print(f"reading only (--request-id matching none): {wall:.1f} s wall, "
              f"{cpu:.1f} s CPU, peak RSS {rss:.0f} MiB")
        for fmt in args.formats.split(","):
            out = os.path.join(workdir, f"report.{fmt}")
            r, wall, cpu, rss = run_report(conf, since, fmt, out)
            if r.returncode != 0:
                sys.exit(f"report --format {fmt} exited {r.returncode}: "
                         f"{r.stderr[-2000:]}")
            if fmt == "csv":
                with open(out) as f:
                    rows = list(csv.DictReader(f))
                got = {}
                for row in rows:
                    got[row["status"]] = got.get(row["status"], 0) + 1
                if got != expect or len(rows) != args.requests:
                    sys.exit(f"wrong report: {got} != {expect}")
            print(f"report --format {fmt}: {wall:.1f} s wall, {cpu:.1f} s CPU, "
                  f"peak RSS {rss:.0f} MiB, "
                  f"{os.path.getsize(out) / 1e6:.1f} MB out")


if __name__ == "__main__":
    main()
