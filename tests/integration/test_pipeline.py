"""Core pipeline over librdkafka's mock cluster and the provider test
server: exact HTTP calls, outcome events and keys, bad input, retries,
commits, restarts and draining. Assertions go through the outcome and
dead-letter topics and the provider server's record of calls."""

import hashlib
import json
import os
import time

import pytest

import harness
from harness import (SECRETS, SECRET_SENTINEL, TOPIC_DLQ, TOPIC_OUTCOMES,
                     TOPIC_REQUESTS, Worker, call_outcomes, committed_offsets,
                     idempotency_key, request, summaries, summary_ids,
                     worker_config)
from kafka_env import Collector, committed_lag, produce

ALGOLIA_AGENT = "76710f1b-8231-42e5-b0d1-f43aac618e15"

ALL_FIVE = [
    {"provider": "vectara", "agent_id": "agt_support", "session_ids": ["ase_1", "ase_2"]},
    {"provider": "convai", "character_id": "c0ffee", "session_ids": ["s-1", "s-2"]},
    {"provider": "algolia", "agent_id": ALGOLIA_AGENT, "user_token": "user-42"},
    {"provider": "algolia", "scope": "agent", "agent_id": ALGOLIA_AGENT,
     "conversations": {"start_date": "2026-01-01", "end_date": "2026-11-01"}},
    {"provider": "avaamo", "scope": "agent", "agent_id": 20123,
     "data_types": ["conversation_sessions"]},
]


def start_worker(workdir, kafka, provider, name="worker", env=None,
                 settle=True, **cfg):
    """A worker over KAFKA (the fixtures' topics: 3 request partitions).
    With settle, returns once each of its loops holds partitions, so no
    test's work is moved between its loops while it runs (harness.py,
    Worker.wait_loops_assigned)."""
    path = worker_config(os.path.join(workdir, f"{name}.conf"), kafka.bootstrap,
                         provider.port, **cfg)
    w = Worker(path, workdir, name=name, env=env)
    if settle:
        w.wait_loops_assigned(3)
    return w


def outcomes_of(messages, rid):
    return [m for m in messages if m.value and isinstance(m.value, dict)
            and m.value.get("request_id") == rid]


def wait_summaries(col, ids, timeout=30):
    ids = set(ids)
    return col.wait_for(lambda ms: ids <= summary_ids(ms), timeout,
                        what=f"summaries of {sorted(ids)}")


def is_read_back(c):
    # The read-backs after deletions (verify): Vectara's session GET and
    # Convai's list. Tests about deletions count deletions only.
    return c["method"] == "GET" or c["path"].endswith("/chatHistory/list")


def provider_calls(provider, name=None, reads=False):
    calls = provider.calls()
    return [c for c in calls if (name is None or c["provider"] == name)
            and (reads or not is_read_back(c))]


def norm_path(c):
    # Algolia's base URL carries /agent-studio; the record may keep it.
    p = c["path"]
    return p[len("/agent-studio"):] if p.startswith("/agent-studio") else p


def test_all_five_endpoints_exact_calls_outcomes_and_keys(workdir, provider, mock_kafka):
    w = start_worker(workdir, mock_kafka, provider)
    rid = "req_2026-11-22_000123"
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                [request(rid, *ALL_FIVE, requested_at="2026-11-22T10:00:00Z")],
                key_fn=lambda m: "subject-1",
                headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
        msgs = wait_summaries(col, [rid])
    assert w.terminate() == 0

    # Exactly the documented HTTP calls, checked on the server's side.
    calls = provider_calls(provider, reads=True)
    got = sorted((c["provider"], c["method"], norm_path(c), c.get("query") or "") for c in calls)
    assert got == sorted([
        ("algolia", "DELETE", f"/1/agents/{ALGOLIA_AGENT}/conversations",
         "startDate=2026-01-01&endDate=2026-11-01"),
        ("algolia", "DELETE", "/1/user-data/user-42", ""),
        # discover (nothing seeded: no conversation to delete), read-back
        ("algolia", "GET", "/1/user-data/user-42", ""),
        ("algolia", "GET", "/1/user-data/user-42", ""),
        ("avaamo", "POST", "/dashboard/agents/20123/clear_data.json", ""),
        ("convai", "POST", "/character/chatHistory/delete", ""),
        ("convai", "POST", "/character/chatHistory/list", ""),
        ("vectara", "DELETE", "/v2/agents/agt_support/sessions/ase_1", ""),
        ("vectara", "DELETE", "/v2/agents/agt_support/sessions/ase_2", ""),
        ("vectara", "GET", "/v2/agents/agt_support/sessions/ase_1", ""),
        ("vectara", "GET", "/v2/agents/agt_support/sessions/ase_2", ""),
    ])
    # Every read-back comes after its deletion.
    seq = {(c["method"], norm_path(c)): c["seq"] for c in calls}
    for s_id in ("ase_1", "ase_2"):
        p = f"/v2/agents/agt_support/sessions/{s_id}"
        assert seq[("DELETE", p)] < seq[("GET", p)]
    assert (seq[("POST", "/character/chatHistory/delete")]
            < seq[("POST", "/character/chatHistory/list")])
    lst = [c for c in calls if norm_path(c) == "/character/chatHistory/list"][0]
    assert json.loads(lst["body"]) == {"charID": "c0ffee", "limit": "-1"}
    by = {(c["provider"], c["method"]): c for c in calls}
    by = {p: by.get((p, "DELETE")) or by[(p, "POST")]
          for p in ("vectara", "convai", "algolia", "avaamo")}
    by["convai"] = [c for c in calls
                    if norm_path(c) == "/character/chatHistory/delete"][0]
    assert by["vectara"]["headers"]["x-api-key"] == SECRETS["VECTARA_API_KEY"]
    assert by["convai"]["headers"]["convai-api-key"] == SECRETS["CONVAI_API_KEY"]
    assert json.loads(by["convai"]["body"]) == {"charID": "c0ffee", "sessionIDs": ["s-1", "s-2"]}
    assert by["convai"]["headers"]["content-type"] == "application/json"
    assert by["algolia"]["headers"]["x-algolia-application-id"] == harness.ALGOLIA_APP_ID
    assert by["algolia"]["headers"]["x-algolia-api-key"] == SECRETS["ALGOLIA_API_KEY"]
    assert by["avaamo"]["headers"]["access-token"] == SECRETS["AVAAMO_ACCESS_TOKEN"]
    assert json.loads(by["avaamo"]["body"]) == {"data_types": ["conversation_sessions"]}
    assert all(c["status"] in (200, 204) for c in calls if not is_read_back(c))
    assert all(c["status"] == (404 if c["provider"] == "vectara" else 200)
               for c in calls if is_read_back(c))
    alg = [c for c in calls if c["provider"] == "algolia"]
    seq_of = [(c["method"], c["seq"]) for c in sorted(alg, key=lambda c: c["seq"])
              if "user-data" in c["path"]]
    assert [m for m, _ in seq_of] == ["GET", "DELETE", "GET"]

    # One outcome per call, then the summary, all keyed by request_id in
    # one partition, in order.
    evs = outcomes_of(msgs, rid)
    assert len({m.partition for m in evs}) == 1
    evs.sort(key=lambda m: m.offset)
    assert len(evs) == 8
    assert evs[-1].headers["ce_type"] == "erasure.request.completed.v1"
    calls_ev = evs[:-1]
    resources = sorted((e.value["provider"], e.value["action"], e.value["resource"]) for e in calls_ev)
    assert resources == sorted([
        ("vectara", "delete_session", "agt_support/ase_1"),
        ("vectara", "delete_session", "agt_support/ase_2"),
        ("convai", "delete_sessions", "c0ffee/s-1,s-2"),
        ("algolia", "discover_conversations", "user-42"),
        ("algolia", "delete_user_data", "user-42"),
        ("algolia", "delete_conversations", f"{ALGOLIA_AGENT}/2026-01-01..2026-11-01"),
        ("avaamo", "clear_data", "20123/conversation_sessions"),
    ])
    for e in calls_ev:
        v = e.value
        key = idempotency_key(rid, v["provider"], v["account"], v["action"], v["resource"])
        assert v["idempotency_key"] == key
        assert e.headers["idempotency-key"] == key
        # The event's own id: unique per distinct event (issue 16).
        assert e.headers["ce_id"] == hashlib.sha256(
            key.encode() + b"\0" + e.raw_value).hexdigest()
        assert e.key == rid
        assert e.headers["ce_specversion"] == "1.0"
        assert e.headers["ce_subject"] == rid
        assert e.headers["ce_type"] == "erasure.call.completed.v1"
        assert e.headers["content-type"] == "application/json"
        assert e.headers["traceparent"].startswith("00-0af7651916cd43dd")
        if v["action"] == "discover_conversations":
            assert v["status"] == "discovered" and v["items"] == 0
            assert v["http_status"] == 200 and v["verification"] is None
            assert v["scope"] == "user" and v["attempts"] == 1
            continue
        assert v["status"] == "deleted" and v["retryable"] is False
        assert v["http_status"] in (200, 204) and v["attempts"] == 1
        assert v["error"] is None and v["account"] == "default"
        assert v["started_at"] <= v["finished_at"]
        agent_wide = v["action"] in ("delete_conversations", "clear_data")
        assert v["scope"] == ("agent" if agent_wide else "user")
        ver = v["verification"]
        if not agent_wide:
            assert ver["status"] == "absent" and ver["attempts"] == 1
            assert ver["http_status"] == (404 if v["provider"] == "vectara" else 200)
            assert ver["checked_at"] >= v["started_at"]
        else:
            assert ver == {"status": "not_supported", "http_status": None,
                           "attempts": 0, "checked_at": None}
    s = evs[-1].value
    assert s["status"] == "completed"
    assert s["counts"] == {"deleted": 6, "already_absent": 0, "failed": 0, "rejected": 0}
    assert s["verification"] == {"verified": 4, "unverified": 0, "not_supported": 2}
    assert s["fully_verified"] is False and s["discovered"] == 1
    assert s["idempotency_key"] == idempotency_key(rid, "", "", "summary", "")

    # No secret in outcomes or in the worker's log.
    assert SECRET_SENTINEL not in json.dumps([m.value for m in msgs])
    assert SECRET_SENTINEL not in w.log_text()


def test_repeat_is_harmless_and_keeps_keys(workdir, provider, mock_kafka):
    w = start_worker(workdir, mock_kafka, provider)
    t = {"provider": "vectara", "agent_id": "agt_a", "session_ids": ["ase_1"]}
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, [request("r-rep", t)])
        wait_summaries(col, ["r-rep"])
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, [request("r-rep", t)])
        msgs = col.wait_for(lambda ms: len(summaries(outcomes_of(ms, "r-rep"))) == 2,
                            what="two summaries")
    w.terminate()
    calls = call_outcomes(outcomes_of(msgs, "r-rep"))
    assert [c.value["status"] for c in calls] == ["deleted", "already_absent"]
    assert calls[0].value["idempotency_key"] == calls[1].value["idempotency_key"]
    assert calls[1].value["http_status"] == 404
    sums = summaries(outcomes_of(msgs, "r-rep"))
    assert sums[0].value["idempotency_key"] == sums[1].value["idempotency_key"]
    assert sums[1].value["status"] == "completed"


def test_documented_failures_are_final_not_retried(workdir, provider, mock_kafka):
    w = start_worker(workdir, mock_kafka, provider)
    rid = "r-fail"
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, [request(
            rid,
            {"provider": "vectara", "agent_id": "agt_gone", "session_ids": ["ase_9"]},
            {"provider": "avaamo", "scope": "agent", "agent_id": 20999, "data_types": ["storage"]},
            {"provider": "convai", "character_id": "ok", "session_ids": ["s-9"]})])
        msgs = wait_summaries(col, [rid])
    w.terminate()
    ev = {m.value["provider"]: m.value for m in call_outcomes(outcomes_of(msgs, rid))}
    assert ev["vectara"]["status"] == "failed" and ev["vectara"]["retryable"] is False
    assert ev["vectara"]["http_status"] == 404 and "agent" in ev["vectara"]["error"].lower()
    # Avaamo: HTTP 200 without "success": true is a failure, with the text.
    assert ev["avaamo"]["status"] == "failed" and ev["avaamo"]["retryable"] is False
    assert ev["avaamo"]["http_status"] == 200 and "locked" in ev["avaamo"]["error"].lower()
    assert ev["convai"]["status"] == "deleted"
    assert ev["vectara"]["attempts"] == 1 and ev["avaamo"]["attempts"] == 1
    assert len(provider_calls(provider, "vectara")) == 1
    assert len(provider_calls(provider, "avaamo")) == 1
    s = summaries(outcomes_of(msgs, rid))[0].value
    assert s["status"] == "partially_failed"
    assert s["counts"]["failed"] == 2 and s["counts"]["deleted"] == 1


BIG = 64 * 1024


def bad_inputs():
    good_t = {"provider": "vectara", "agent_id": "agt_a", "session_ids": ["ase_1"]}
    return [
        (b"this is not json {", "not_json", None),
        (b"[1, 2, 3]", "not_object", None),
        (b"", "not_json", None),
        (b'{"version": 1, "request_id": "r-utf8", "targets": [{"provider": "vectara", "agent_id": "agt_\xff"}]}', "not_json", None),
        (b'{"version": 1, "request_id": "r-dup", "request_id": "r-dup2", "targets": []}', "not_json", None),
        (json.dumps({"version": 2, "request_id": "r-v2", "targets": [good_t]}).encode(), "bad_version", "r-v2"),
        (json.dumps({"version": "1", "request_id": "r-vs", "targets": [good_t]}).encode(), "bad_version", "r-vs"),
        (json.dumps({"version": 1, "targets": [good_t]}).encode(), "bad_request_id", None),
        (json.dumps({"version": 1, "request_id": "bad id/with space", "targets": [good_t]}).encode(), "bad_request_id", None),
        (json.dumps({"version": 1, "request_id": "r-notg", "targets": []}).encode(), "bad_targets", "r-notg"),
        (json.dumps(request("r-unkp", {"provider": "nope", "x": "y"})).encode(), "unknown_provider", "r-unkp"),
        (json.dumps(request("r-unka", dict(good_t, account="nowhere"))).encode(), "unknown_account", "r-unka"),
        (json.dumps(request("r-trav", {"provider": "vectara", "agent_id": "agt_../../admin",
                                        "session_ids": ["ase_1"]})).encode(), "bad_field", "r-trav"),
        (json.dumps(request("r-crlf", {"provider": "vectara", "agent_id": "agt_a",
                                        "session_ids": ["ase_1\r\nX-Evil: 1"]})).encode(), "bad_field", "r-crlf"),
        (json.dumps(request("r-type", {"provider": "avaamo", "scope": "agent", "agent_id": "20123",
                                        "data_types": ["storage"]})).encode(), "bad_field", "r-type"),
        (json.dumps(request("r-typo", dict(good_t, sesion_ids=["ase_2"]))).encode(), "bad_field", "r-typo"),
        (json.dumps(request("r-noact", {"provider": "vectara", "agent_id": "agt_a"})).encode(), "no_action", "r-noact"),
        (json.dumps(request("r-big", dict(good_t, session_ids=["ase_" + "x" * 60] * 2000))).encode(), "oversize", None),
        (b"[" * 100000 + b"]" * 100000, "oversize", None),
        (b'{"version": 1, "request_id": "r-deep", "targets": ' + b"[" * 5000 + b"]" * 5000 + b"}", "not_json", None),
    ]


def test_bad_input_goes_to_dead_letter_and_worker_keeps_going(workdir, provider, mock_kafka):
    w = start_worker(workdir, mock_kafka, provider, worker={"max_message_bytes": BIG},
                     group="erasure-bad")
    cases = bad_inputs()
    good = request("r-good-after", {"provider": "vectara", "agent_id": "agt_ok",
                                    "session_ids": ["ase_ok"]})
    with Collector(mock_kafka.bootstrap, TOPIC_DLQ) as dlq, \
            Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        offs = produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                       [c[0] for c in cases] + [good], partition=0)
        dead = dlq.wait_count(len(cases), timeout=60)
        expect_ids = {c[2] for c in cases if c[2]} | {"r-good-after"}
        msgs = wait_summaries(col, expect_ids)
    assert w.alive()
    by_offset = {int(m.headers["erasure-source-offset"]): m for m in dead}
    for (raw, code, rid), (part, off) in zip(cases, offs):
        m = by_offset[off]
        assert m.raw_value == (raw or None), code
        assert m.headers["erasure-error-code"] == code, (raw[:80], m.headers)
        assert m.headers["erasure-error-reason"]
        assert m.headers["erasure-source-topic"] == TOPIC_REQUESTS
        assert m.headers.get("erasure-request-id") == rid
        if rid:
            s = summaries(outcomes_of(msgs, rid))
            assert len(s) == 1 and s[0].value["status"] == "rejected"
            assert s[0].value["error_code"] == code
            assert s[0].value["counts"]["rejected"] == 1
    # Only the good request reached a provider.
    calls = provider_calls(provider)
    assert [(c["provider"], c["path"]) for c in calls] == \
        [("vectara", "/v2/agents/agt_ok/sessions/ase_ok")]
    assert summaries(outcomes_of(msgs, "r-good-after"))[0].value["status"] == "completed"
    # Everything, bad or good, is committed: nothing is re-read forever.
    deadline = time.monotonic() + 20
    while committed_lag(mock_kafka.bootstrap, "erasure-bad", TOPIC_REQUESTS) and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    assert committed_lag(mock_kafka.bootstrap, "erasure-bad", TOPIC_REQUESTS) == 0
    assert w.terminate() == 0


def single_call_request(rid, provider_name):
    t = {
        "vectara": {"provider": "vectara", "agent_id": "agt_r", "session_ids": ["ase_" + rid.replace("-", "_")]},
        "convai": {"provider": "convai", "character_id": "chr", "session_ids": [rid]},
        "algolia": {"provider": "algolia", "agent_id": "ag", "user_token": rid},
        "avaamo": {"provider": "avaamo", "scope": "agent", "agent_id": 20123, "data_types": ["storage"]},
    }[provider_name]
    return request(rid, t)


def run_one(workdir, provider, kafka, rid, provider_name, **cfg):
    w = start_worker(workdir, kafka, provider, **cfg)
    with Collector(kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(kafka.bootstrap, TOPIC_REQUESTS, [single_call_request(rid, provider_name)])
        msgs = wait_summaries(col, [rid], timeout=60)
    assert w.terminate() == 0
    return call_outcomes(outcomes_of(msgs, rid)), summaries(outcomes_of(msgs, rid))[0].value


def test_429_retry_after_is_respected(workdir, provider, mock_kafka):
    provider.add_fault(provider="vectara", status=429, retry_after="2", times=1,
                       body='{"code":"rate_limit_exceeded"}')
    calls, s = run_one(workdir, provider, mock_kafka, "r-429", "vectara")
    assert calls[0].value["status"] == "deleted" and calls[0].value["attempts"] == 2
    seen = provider_calls(provider, "vectara")
    assert [c["status"] for c in seen] == [429, 204]
    assert seen[1]["ts_ms"] - seen[0]["ts_ms"] >= 1990


def test_5xx_is_retried_with_backoff(workdir, provider, mock_kafka):
    provider.add_fault(provider="convai", status=503, times=2)
    calls, s = run_one(workdir, provider, mock_kafka, "r-503", "convai")
    assert calls[0].value["attempts"] == 3 and calls[0].value["status"] == "deleted"
    assert [c["status"] for c in provider_calls(provider, "convai")] == [503, 503, 200]


def test_timeout_and_reset_are_retried(workdir, provider, mock_kafka):
    provider.add_fault(provider="algolia", hang=True, times=1)
    provider.add_fault(provider="algolia", reset=True, times=1)
    calls, s = run_one(workdir, provider, mock_kafka, "r-hang", "algolia",
                       limits={"timeout_ms": 800})
    # The first two requests are the discover read: it is what retries.
    v = {c.value["action"]: c.value for c in calls}
    assert v["discover_conversations"]["status"] == "discovered"
    assert v["discover_conversations"]["attempts"] == 3
    assert v["delete_user_data"]["status"] == "deleted"
    assert v["delete_user_data"]["attempts"] == 1
    seen = provider_calls(provider, "algolia", reads=True)
    assert [(c["method"], c["status"]) for c in seen] == [
        ("GET", 0), ("GET", 0), ("GET", 200), ("DELETE", 204), ("GET", 200)]


def test_exhausted_retries_fail_retryable_dead_letter_and_commit(workdir, provider, mock_kafka):
    provider.add_fault(provider="avaamo", status=503)
    rid = "r-exh"
    w = start_worker(workdir, mock_kafka, provider, limits={"max_attempts": 3},
                     group="erasure-exh")
    with Collector(mock_kafka.bootstrap, TOPIC_DLQ) as dlq, \
            Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, [single_call_request(rid, "avaamo")])
        msgs = wait_summaries(col, [rid])
        dead = dlq.wait_count(1)
    ev = call_outcomes(outcomes_of(msgs, rid))[0].value
    assert ev["status"] == "failed" and ev["retryable"] is True
    assert ev["attempts"] == 3 and ev["http_status"] == 503
    assert "retries exhausted" in ev["error"]
    assert summaries(outcomes_of(msgs, rid))[0].value["status"] == "failed"
    d = dead[0]
    assert d.headers["erasure-error-code"] == "retries_exhausted"
    assert d.headers["erasure-request-id"] == rid
    failed = json.loads(d.headers["erasure-failed-calls"])
    assert failed[0]["provider"] == "avaamo" and failed[0]["action"] == "clear_data"
    assert json.loads(d.raw_value)["request_id"] == rid
    assert len(provider_calls(provider, "avaamo")) == 3
    deadline = time.monotonic() + 20
    while committed_lag(mock_kafka.bootstrap, "erasure-exh", TOPIC_REQUESTS) and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    assert committed_lag(mock_kafka.bootstrap, "erasure-exh", TOPIC_REQUESTS) == 0
    w.terminate()


def test_out_of_order_completion_commits_only_contiguously(workdir, provider, mock_kafka):
    provider.add_fault(provider="vectara", latency_ms=4000)
    group = "erasure-ooo"
    w = start_worker(workdir, mock_kafka, provider, group=group)
    reqs = [single_call_request("r-o0", "convai"), single_call_request("r-o1", "vectara")] + \
        [single_call_request(f"r-o{i}", "convai") for i in range(2, 6)]
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        offs = produce(mock_kafka.bootstrap, TOPIC_REQUESTS, reqs, partition=0)
        assert [o for _, o in offs] == list(range(offs[0][1], offs[0][1] + 6))
        base = offs[0][1]
        wait_summaries(col, ["r-o0", "r-o2", "r-o3", "r-o4", "r-o5"])
        assert "r-o1" not in summary_ids(col.snapshot())
        # The fast ones after the slow one are done, yet the commit point
        # stays at the slow request.
        deadline = time.monotonic() + 10
        while committed_offsets(mock_kafka.bootstrap, group, TOPIC_REQUESTS)[0] != base + 1 \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert committed_offsets(mock_kafka.bootstrap, group, TOPIC_REQUESTS)[0] == base + 1
        assert "r-o1" not in summary_ids(col.snapshot())
        wait_summaries(col, ["r-o1"])
    deadline = time.monotonic() + 10
    while committed_offsets(mock_kafka.bootstrap, group, TOPIC_REQUESTS)[0] != base + 6 \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert committed_offsets(mock_kafka.bootstrap, group, TOPIC_REQUESTS)[0] == base + 6
    w.terminate()


def test_crash_redelivers_and_repeats_with_same_keys(workdir, provider, mock_kafka):
    rid = "r-crash"
    group = "erasure-crash"
    # Commits effectively never happen by themselves, so the kill -9 comes
    # after the work was done but before its offset was committed.
    # One loop each: with more, a rebalance among the new process's loops
    # (when the dead members expire) may repeat the request once more.
    w = start_worker(workdir, mock_kafka, provider, group=group,
                     worker={"commit_interval_ms": 600000, "threads": 1})
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, [request(rid, *ALL_FIVE)])
        wait_summaries(col, [rid])
        w.kill()
        w2 = start_worker(workdir, mock_kafka, provider, name="worker2", group=group,
                          worker={"threads": 1})
        msgs = col.wait_for(lambda ms: len(summaries(outcomes_of(ms, rid))) == 2,
                            timeout=60, what="the repeat's summary")
    assert w2.terminate() == 0
    evs = call_outcomes(outcomes_of(msgs, rid))
    assert len(evs) == 14
    first, second = {}, {}
    for e in evs:
        v = e.value
        k = (v["provider"], v["action"], v["resource"])
        (second if k in first else first)[k] = v
    assert first.keys() == second.keys()
    for k in first:
        assert first[k]["idempotency_key"] == second[k]["idempotency_key"] == \
            idempotency_key(rid, k[0], "default", k[1], k[2])
    # The repeat is harmless: Vectara's sessions are already gone.
    assert {second[k]["status"] for k in second if k[0] == "vectara"} == {"already_absent"}
    assert all(v["status"] in ("deleted", "already_absent", "discovered")
               for v in second.values())


def test_sigterm_drains_in_flight_work(workdir, provider, mock_kafka):
    provider.add_fault(provider="vectara", latency_ms=1500)
    group = "erasure-drain"
    w = start_worker(workdir, mock_kafka, provider, group=group)
    rid = "r-drain"
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, [single_call_request(rid, "vectara")])
        deadline = time.monotonic() + 20
        while provider.stats()["requests"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rid not in summary_ids(col.snapshot())
        rc = w.terminate()
        msgs = wait_summaries(col, [rid], timeout=5)
    assert rc == 0
    assert summaries(outcomes_of(msgs, rid))[0].value["status"] == "completed"
    assert committed_lag(mock_kafka.bootstrap, group, TOPIC_REQUESTS) == 0


def test_backpressure_bounds_requests_in_flight(workdir, provider, mock_kafka):
    provider.add_fault(provider="convai", latency_ms=200)
    w = start_worker(workdir, mock_kafka, provider, group="erasure-bp",
                     worker={"max_requests_in_flight": 4})
    ids = [f"r-bp{i}" for i in range(40)]
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                [single_call_request(i, "convai") for i in ids])
        wait_summaries(col, ids, timeout=60)
    w.terminate()
    # With at most 4 requests (one call each) in flight and 200 ms per
    # call, 40 calls take at least 10 rounds of 200 ms.
    seen = sorted(c["ts_ms"] for c in provider_calls(provider, "convai"))
    assert len(seen) == 40
    assert seen[-1] - seen[0] >= 9 * 200 - 50


def max_overlap(calls):
    """Most calls the provider server was answering at the same time."""
    edges = sorted([(c["received_ms"], 1) for c in calls] +
                   [(c["ts_ms"], -1) for c in calls])  # ends sort first
    level = peak = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    return peak


def test_backpressure_bounds_planned_calls(workdir, provider, mock_kafka):
    # Few requests, many calls each: the request cap alone would let all
    # 80 calls run at once; the planned-call cap must pause the partitions.
    provider.add_fault(provider="vectara", latency_ms=200)
    w = start_worker(workdir, mock_kafka, provider, group="erasure-bpc",
                     worker={"max_calls_planned": 6},
                     account_limits={"vectara": {"concurrency": 64}})
    ids = [f"r-bpc{i}" for i in range(20)]
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, [
            request(rid, {"provider": "vectara", "agent_id": "agt_p",
                          "session_ids": [f"ase_{i}_{k}" for k in range(4)]})
            for i, rid in enumerate(ids)])
        msgs = wait_summaries(col, ids, timeout=60)
    w.terminate()
    calls = provider_calls(provider, "vectara")
    assert len(calls) == 80
    assert all(summaries(outcomes_of(msgs, rid))[0].value["status"] == "completed"
               for rid in ids)
    # Pause at >= 6 planned, resume below 90 % of it (<= 5), then one more
    # request of 4 calls can arrive: never more than 9 calls at once.
    assert 4 <= max_overlap(calls) <= 9, max_overlap(calls)
