"""`erasure-worker report` on a real Apache Kafka broker (KRaft).

Three stretches of time on one set of topics:
  A  the worker completes r-old-done, asked 40 days ago: done, but late;
  B  the worker completes r-done, partially fails r-part (a vendor 404),
     rejects r-rej (version 2) and dead-letters a message that is not
     JSON; then, with the worker stopped, r-open arrives and is never
     processed, and r-verified arrives with synthetic outcome events in the
     documented schema carrying issue 12's `verification` field;
  C  r-overdue, asked 40 days ago, arrives and is never processed.
The report over B has exactly B's rows and exits 0; over A..C it has
every row, marks r-old-done and r-overdue overdue, and exits 5. The HTML
is rendered by headless Chromium and its tables are checked row by row.
Never skipped: a broker that cannot start fails the tier."""

import csv
import html.parser
import io
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

import harness
from harness import Worker, request, summary_ids, worker_config
from kafka_env import Collector, RealBroker, produce

pytestmark = pytest.mark.real_kafka

DAY = 86400


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def iso_ms(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + \
        f".{int(ms) % 1000:03d}Z"


def now_ms():
    return int(time.time() * 1000)


def vectara(agent, *sessions):
    return {"provider": "vectara", "agent_id": agent, "session_ids": list(sessions)}


class Fixture:
    """Topics, config, and the boundaries (ms) of stretches A, B and C."""

    def __init__(self, broker, workdir, provider):
        tag = uuid.uuid4().hex[:6]
        self.topics = (f"req-{tag}", f"out-{tag}", f"dlq-{tag}")
        broker.create_topic(self.topics[0], 3)
        broker.create_topic(self.topics[1], 3)
        broker.create_topic(self.topics[2], 1)
        self.bootstrap = broker.bootstrap
        self.group = f"grp-{tag}"
        self.config = worker_config(
            os.path.join(workdir, "worker.conf"), broker.bootstrap, provider.port,
            group=self.group, topics=self.topics)
        self.workdir = workdir

    def produce_requests(self, reqs):
        return produce(self.bootstrap, self.topics[0], reqs,
                       key_fn=lambda r: r.get("request_id", "x")
                       if isinstance(r, dict) else "raw")


def synthetic_outcomes(rid):
    """A verified request as issue 12's worker will publish it."""
    key = harness.idempotency_key(rid, "vectara", "default", "delete_session",
                                  "agt_v/ase_v")
    call = {"idempotency_key": key, "request_id": rid, "provider": "vectara",
            "account": "default", "action": "delete_session",
            "resource": "agt_v/ase_v", "status": "deleted", "retryable": False,
            "http_status": 204, "attempts": 1, "error": None,
            "verification": "absent", "scope": "user",
            "started_at": iso(time.time()), "finished_at": iso(time.time())}
    summary = {"idempotency_key": "s-" + key, "request_id": rid,
               "status": "completed",
               "counts": {"deleted": 1, "already_absent": 0, "failed": 0,
                          "rejected": 0},
               "calls": 1, "error": None, "error_code": None,
               "verification": {"verified": 1, "unverified": 0,
                                "not_supported": 0},
               "finished_at": iso(time.time())}
    return [(call, "erasure.call.completed.v1"),
            (summary, "erasure.request.completed.v1")]


def run_worker_until(fx, name, reqs, ids, dlq=0):
    """Runs a worker on fx until ids have summaries (and dlq dead
    letters), then stops it."""
    w = Worker(fx.config, fx.workdir, name=name, args=["-l", "info"])
    try:
        # Each row counts deletions exactly: a request repeated because it
        # moved between the worker's loops would read already_absent.
        w.wait_loops_assigned(3)
        with Collector(fx.bootstrap, fx.topics[1]) as col, \
                Collector(fx.bootstrap, fx.topics[2]) as dead:
            fx.produce_requests(reqs)
            col.wait_for(lambda ms: set(ids) <= summary_ids(ms), 90,
                         what=f"summaries of {ids}")
            if dlq:
                dead.wait_count(dlq, timeout=60)
    finally:
        assert w.terminate() == 0, w.log_text()[-3000:]


@pytest.fixture(scope="module")
def world():
    workdir = harness.new_workdir("erasure-report-")
    broker = RealBroker().start()
    provider = harness.ProviderServer(workdir, ["--missing-agent", "agt_gone"])
    try:
        fx = Fixture(broker, workdir, provider)
        old = time.time() - 40 * DAY
        recent = time.time() - 1 * DAY
        fx.a0 = now_ms()
        run_worker_until(fx, "worker-a", [request(
            "r-old-done", vectara("agt_a", "ase_old"), requested_at=iso(old))],
            ["r-old-done"])
        fx.b0 = now_ms()
        run_worker_until(fx, "worker-b", [
            request("r-done", vectara("agt_b", "ase_1", "ase_2"),
                    requested_at=iso(recent)),
            request("r-part", vectara("agt_gone", "ase_9"),
                    {"provider": "convai", "character_id": "c1",
                     "session_ids": ["s-1"]},
                    requested_at=iso(recent)),
            dict(request("r-rej", vectara("agt_b", "ase_3"),
                         requested_at=iso(recent)), version=2),
            b"this is not json {",
        ], ["r-done", "r-part", "r-rej"], dlq=2)
        # No worker from here on: these stay open.
        fx.produce_requests([
            request("r-open", vectara("agt_b", "ase_4"), requested_at=iso(recent)),
            request("r-verified", vectara("agt_v", "ase_v"),
                    requested_at=iso(recent))])
        for value, ce_type in synthetic_outcomes("r-verified"):
            produce(fx.bootstrap, fx.topics[1], [value],
                    key_fn=lambda v: v["request_id"],
                    headers={"ce_type": ce_type, "ce_specversion": "1.0"})
        fx.c0 = now_ms() + 1
        while now_ms() < fx.c0:  # B ends at a millisecond of its own
            pass
        fx.produce_requests([request("r-overdue", vectara("agt_c", "ase_5"),
                                     requested_at=iso(old))])
        fx.end = now_ms() + 1000
        yield fx
    finally:
        provider.stop()
        broker.close()
        if os.environ.get("ERASURE_KEEP_TMP") != "1":
            shutil.rmtree(workdir, ignore_errors=True)


def report(fx, since_ms, until_ms, fmt, *extra):
    return harness.run_cli("report", "-c", fx.config, "--since", iso_ms(since_ms),
                           "--until", iso_ms(until_ms), "--format", fmt, *extra,
                           timeout=120)


def csv_rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def key_of(row):
    return row["request_id"] or "(malformed)"


B_ROWS = {
    # request_id: (status, open, overdue, deleted, failed, verification)
    # The worker reads every Vectara deletion back (issue 12): verified.
    "r-done": ("completed", "no", "no", "2", "0", "verified"),
    "r-part": ("partially_failed", "no", "no", "1", "1", "verified"),
    "r-rej": ("rejected", "no", "no", "0", "0", "not verified"),
    "(malformed)": ("rejected", "no", "no", "0", "0", "not verified"),
    "r-open": ("open", "yes", "no", "0", "0", "not verified"),
    "r-verified": ("completed", "no", "no", "1", "0", "verified"),
}
ALL_ROWS = dict(B_ROWS, **{
    "r-old-done": ("completed", "no", "yes", "1", "0", "verified"),
    "r-overdue": ("open", "yes", "yes", "0", "0", "not verified"),
})


def row_tuple(r):
    return (r["status"], r["open"], r["overdue"], r["deleted"], r["failed"],
            r["verification"])


def test_period_without_overdue_csv_exact_rows_exit_0(world):
    r = report(world, world.b0, world.c0, "csv")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = csv_rows(r.stdout)
    assert {key_of(x): row_tuple(x) for x in rows} == B_ROWS
    assert len(rows) == len(B_ROWS)
    by = {key_of(x): x for x in rows}
    assert "agt_gone" in by["r-part"]["failed_calls"]
    assert "404" in by["r-part"]["failed_calls"]
    assert by["r-rej"]["error_code"] == "bad_version"
    assert by["(malformed)"]["error_code"] == "not_json"
    assert by["(malformed)"]["error"]
    assert by["r-done"]["finished_at"] and not by["r-open"]["finished_at"]
    # Progress goes to stderr as log lines, never into the report.
    assert "message(s) read" in r.stderr


def test_whole_period_json_marks_overdue_and_exits_5(world):
    r = report(world, world.a0, world.end, "json")
    assert r.returncode == 5, r.stderr[-3000:]
    assert "2 of 8 request(s) overdue" in r.stderr
    doc = json.loads(r.stdout)
    got = {}
    for q in doc["requests"]:
        got[q["request_id"] or "(malformed)"] = (
            q["status"], "yes" if q["open"] else "no",
            "yes" if q["overdue"] else "no", str(q["calls"]["deleted"]),
            str(q["calls"]["failed"]), q["verification"]["state"])
    assert got == ALL_ROWS
    assert doc["totals"]["overdue"] == 2
    assert doc["totals"]["requests"] == 8
    assert doc["deadline_days"] == 30


def test_one_request_and_no_commit(world):
    r = report(world, world.a0, world.end, "csv", "--request-id", "r-part")
    assert r.returncode == 0, r.stderr[-3000:]
    assert [key_of(x) for x in csv_rows(r.stdout)] == ["r-part"]
    # The report's consumer commits nothing: no offsets under its group
    # name on any topic it read.
    for topic in world.topics:
        offs = harness.committed_offsets(world.bootstrap,
                                         world.group + ".report", topic)
        assert set(offs.values()) == {-1001}, (topic, offs)


class Tables(html.parser.HTMLParser):
    """data-request-id of the rows of each table, by table id."""

    def __init__(self):
        super().__init__()
        self.tables, self.current = {}, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.current = a.get("id")
            self.tables[self.current] = []
        elif tag == "tr" and "data-request-id" in a and self.current:
            self.tables[self.current].append(a["data-request-id"])


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is not installed (scripts/install-deps.sh)"
    return [exe, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars"]


def test_html_renders_in_chromium_with_expected_rows(world):
    r = report(world, world.a0, world.end, "html")
    assert r.returncode == 5, r.stderr[-3000:]
    page = os.path.join(world.workdir, "report.html")
    with open(page, "w") as f:
        f.write(r.stdout)
    dom = subprocess.run(chromium() + ["--dump-dom", "file://" + page],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    t = Tables()
    t.feed(dom.stdout)
    assert sorted(t.tables["overdue"]) == ["r-old-done", "r-overdue"]
    malformed = [x for x in t.tables["failed"] if x not in ("r-part", "r-rej")]
    assert sorted(t.tables["failed"]) == sorted(["r-part", "r-rej"] + malformed)
    assert len(malformed) == 1 and "@" in malformed[0]  # by its position
    # Every deletion that succeeded was read back absent: none unverified.
    assert sorted(t.tables["unverified"]) == []
    assert "<svg" in dom.stdout and "<rect" in dom.stdout
    # A look at it, for people: build/report-screenshot.png, not committed.
    shot = os.path.join(harness.BUILD_DIR, "report-screenshot.png")
    s = subprocess.run(chromium() + ["--window-size=1280,1600",
                                     f"--screenshot={shot}", "file://" + page],
                       capture_output=True, text=True, timeout=120)
    assert s.returncode == 0 and os.path.getsize(shot) > 10000, s.stderr[-2000:]
