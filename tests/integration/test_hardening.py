"""Flow control per provider account, isolation between providers,
observability and secrets, over the mock cluster and the provider server."""

import json
import os
import socket
import time
import urllib.error
import urllib.request

import harness
from harness import (SECRET_SENTINEL, SECRETS, TOPIC_OUTCOMES, TOPIC_REQUESTS,
                     request, run_cli, summaries, summary_ids)
from kafka_env import Collector, produce
from test_pipeline import (ALL_FIVE, outcomes_of, provider_calls,
                           single_call_request, start_worker, wait_summaries)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rate_limit_holds_over_ten_seconds(workdir, provider, mock_kafka):
    rate = 20.0
    w = start_worker(workdir, mock_kafka, provider,
                     account_limits={"convai": {"rate_per_s": rate, "burst": 1.0}})
    ids = [f"r-rl{i}" for i in range(260)]
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                [single_call_request(i, "convai") for i in ids])
        wait_summaries(col, ids, timeout=60)
    w.terminate()
    assert len(provider_calls(provider, "convai")) == 260
    # Calls in the 10 s after the first one: rate x 10 (+ the burst). The
    # read-backs take tokens of the same bucket, and with several loops
    # (each holding its share of the requests) they interleave with the
    # deletions, so all calls count.
    ts = sorted(c["received_ms"]
                for c in provider_calls(provider, "convai", reads=True))
    window = [t for t in ts if t < ts[0] + 10000]
    assert abs(len(window) - rate * 10) <= rate * 10 * 0.10, len(window)


def test_429_cools_down_the_whole_account_not_others(workdir, provider, mock_kafka):
    provider.add_fault(provider="vectara", status=429, retry_after="2", times=1)
    w = start_worker(workdir, mock_kafka, provider,
                     account_limits={"vectara": {"concurrency": 1}})
    rid = "r-cool"
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, [request(
            rid, {"provider": "vectara", "agent_id": "agt_c",
                  "session_ids": [f"ase_{i}" for i in range(5)]})])
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                [single_call_request(f"r-cv{i}", "convai") for i in range(5)])
        wait_summaries(col, [rid] + [f"r-cv{i}" for i in range(5)])
    w.terminate()
    v = provider_calls(provider, "vectara")
    assert [c["status"] for c in v].count(429) == 1 and len(v) == 6
    i429 = next(i for i, c in enumerate(v) if c["status"] == 429)
    t429 = v[i429]["ts_ms"]
    # No call to the account for Retry-After seconds after the 429 ...
    after = [c["received_ms"] for c in v[i429 + 1:]]
    assert min(after) - t429 >= 1990, (t429, after)
    # ... while another provider went on being served meanwhile.
    cv = [c["received_ms"] for c in provider_calls(provider, "convai")]
    assert any(t429 <= t < t429 + 1990 for t in cv) or max(cv) < t429 + 1990


def throughput(provider_obj, name):
    # Every call of the provider's account, read-backs included: they take
    # the same concurrency slots as the deletions.
    ts = sorted(c["received_ms"] for c in provider_calls(provider_obj, name, reads=True))
    return (len(ts) - 1) * 1000.0 / max(1, ts[-1] - ts[0])


def run_convai_load(workdir, provider_obj, kafka, tag, down=False):
    provider_obj.clear_calls()
    provider_obj.clear_faults()
    provider_obj.add_fault(provider="convai", latency_ms=50)
    if down:
        provider_obj.add_fault(provider="vectara", hang=True)
    # One loop: the throughput is read off the span of the calls, which a
    # second loop joining the group mid-run (a rebalance) would stretch.
    w = start_worker(workdir, kafka, provider_obj, name=f"w-{tag}", group=f"g-{tag}",
                     worker={"max_calls_in_flight": 64, "threads": 1},
                     limits={"timeout_ms": 30000},
                     account_limits={"convai": {"concurrency": 8},
                                     "vectara": {"concurrency": 32}})
    ids = [f"r-{tag}-{i}" for i in range(200)]
    msgs = []
    if down:
        msgs += [request(f"r-{tag}-v{i}", {"provider": "vectara", "agent_id": "agt_d",
                                          "session_ids": [f"ase_{i}_{j}" for j in range(4)]})
                 for i in range(40)]
    msgs += [single_call_request(i, "convai") for i in ids]
    with Collector(kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(kafka.bootstrap, TOPIC_REQUESTS, msgs)
        wait_summaries(col, ids, timeout=60)
    w.kill()
    return throughput(provider_obj, "convai")


def test_a_down_provider_does_not_slow_the_others(workdir, provider, mock_kafka):
    healthy = run_convai_load(workdir, provider, mock_kafka, "base")
    with_outage = run_convai_load(workdir, provider, mock_kafka, "down", down=True)
    # 8 concurrent calls of 50 ms: about 160 calls/s either way.
    assert with_outage >= 0.9 * healthy, (healthy, with_outage)
    assert len([c for c in provider.calls() if c["provider"] == "vectara"]) > 0


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_metrics_health_and_no_secret_anywhere(workdir, provider, mock_kafka):
    port = free_port()
    provider.add_fault(provider="algolia", status=503, times=1)
    w = start_worker(workdir, mock_kafka, provider, metrics_port=port)
    base = f"http://127.0.0.1:{port}"
    rid = "r-metrics"
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                [request(rid, *ALL_FIVE), b"not json"])
        msgs = wait_summaries(col, [rid])
        # Readiness needs partitions: poll the probe, nothing else tells.
        deadline = time.monotonic() + 20
        while get(base + "/readyz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert get(base + "/readyz")[0] == 200
        assert get(base + "/healthz") == (200, "ok\n")
        # Ready is one partition held. With two loops (threads auto) the
        # second one's join moves partitions between them, and while one
        # is revoked and not yet assigned the process holds 2 of the 3.
        deadline = time.monotonic() + 30
        while True:
            status, text = get(base + "/metrics")
            if "\nerasure_assigned_partitions 3\n" in text \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert status == 200
    for needle in [
        'erasure_calls_total{provider="vectara",action="delete_session",status="deleted"} 2',
        'erasure_calls_total{provider="avaamo",action="clear_data",status="deleted"} 1',
        'erasure_call_retries_total{provider="algolia",action=',
        'erasure_requests_rejected_total{reason="not_json"} 1',
        'erasure_requests_finished_total{status="completed"} 1',
        'erasure_requests_consumed_total 2',
        'erasure_call_duration_seconds_bucket{provider="convai",le="+Inf"} 1',
        'erasure_assigned_partitions 3',
        'erasure_producer_healthy 1',
    ]:
        assert needle in text, needle
    assert w.terminate() == 0
    assert SECRET_SENTINEL not in text
    assert SECRET_SENTINEL not in w.log_text()
    assert SECRET_SENTINEL not in json.dumps([m.value for m in msgs])
    # One info line per finished request, naming it.
    finished = [json.loads(l) for l in w.log_text().splitlines()
                if '"request finished' in l]
    assert [l["request_id"] for l in finished] == [rid]
    assert finished[0]["level"] == "info"


def test_check_config_and_plan_mask_secrets():
    cfg = os.path.join(harness.SOURCE_DIR, "config", "erasure-worker.conf")
    env = dict(SECRETS, KAFKA_SASL_PASSWORD="kp-SENTINEL-kafka")
    r = run_cli("check-config", "-c", cfg, env=env)
    assert r.returncode == 0, r.stderr
    assert "account avaamo/default" in r.stdout
    assert SECRET_SENTINEL not in r.stdout + r.stderr
    assert "sasl.password=****" in r.stdout
    # The shipped config opts no account in to agent-wide actions.
    per_user = [t for t in ALL_FIVE if t.get("scope") != "agent"]
    req = json.dumps(request("r-plan", *per_user))
    r = run_cli("plan", "-c", cfg, "-", env=env, stdin=req)
    assert r.returncode == 0, r.stderr
    assert SECRET_SENTINEL not in r.stdout + r.stderr
    assert "DELETE https://api.vectara.io/v2/agents/agt_support/sessions/ase_1" in r.stdout
    assert ("then verify: GET https://api.vectara.io/v2/agents/agt_support/"
            "sessions/ase_1") in r.stdout
    assert "x-api-key: ****" in r.stdout
    assert 'body: {"charID":"c0ffee","sessionIDs":["s-1","s-2"]}' in r.stdout
    # The whole Algolia flow, without network: the read, the per-item
    # template, the user data after it, the read-back.
    out = r.stdout
    i_read = out.index("GET https://ALGOLIAAPPID.algolia.net/agent-studio/1/user-data/user-42")
    i_item = out.index("per item found: DELETE https://ALGOLIAAPPID.algolia.net/"
                       "agent-studio/1/agents/{conversation_agent}/conversations/"
                       "{conversation_id}")
    i_ud = out.index("DELETE https://ALGOLIAAPPID.algolia.net/agent-studio/1/user-data/user-42")
    i_after = out.index("# after delete_conversation")
    i_ver = out.index("then verify: GET https://ALGOLIAAPPID.algolia.net/"
                      "agent-studio/1/user-data/user-42")
    assert i_read < i_item < i_ud < i_after < i_ver
    wide = json.dumps(request("r-plan", *[t for t in ALL_FIVE if t.get("scope")]))
    r = run_cli("plan", "-c", cfg, "-", env=env, stdin=wide)
    assert r.returncode == 4 and "agent_wide_not_allowed" in r.stdout
    assert "allow_agent_wide = true" in r.stdout
    bad = json.dumps(request("r-plan", {"provider": "vectara", "agent_id": "agt_../x",
                                         "session_ids": ["ase_1"]}))
    r = run_cli("plan", "-c", cfg, "-", env=env, stdin=bad)
    assert r.returncode == 4 and "bad_field" in r.stdout


def test_bad_config_names_file_line_and_setting(workdir):
    cfg = os.path.join(harness.SOURCE_DIR, "config", "erasure-worker.conf")
    with open(cfg) as f:
        text = f.read()
    os.symlink(os.path.join(harness.SOURCE_DIR, "config", "providers.conf"),
               os.path.join(workdir, "providers.conf"))
    cases = [
        ("max_calls_in_flight = 512;", "max_calls_in_flight = 0;", "worker.max_calls_in_flight"),
        ("commit_interval_ms = 1000;", "commit_interval_ms = 1000; colour = 1;", "worker.colour: unknown setting"),
        ('provider = "convai"; name = "default";', 'provider = "convai"; name = "default"; tls_verfy = false;', "tls_verfy"),
        ('requests = "erasure.requests";', 'requests = "erasure.outcomes";', "topics"),
        ('level = "info";', 'level = "loud";', "log.level"),
    ]
    for old, new, field in cases:
        assert old in text, old
        bad = text.replace(old, new, 1)
        path = os.path.join(workdir, "bad.conf")
        with open(path, "w") as f:
            f.write(bad)
        line = bad[:bad.index(new)].count("\n") + 1
        r = run_cli("check-config", "-c", path,
                    env=dict(SECRETS, KAFKA_SASL_PASSWORD="kp-SENTINEL-kafka"))
        assert r.returncode == 3, (field, r.stdout, r.stderr)
        assert f"{path}:{line}:" in r.stderr, (field, line, r.stderr)
        assert field in r.stderr, (field, r.stderr)
    # A missing secret variable is named, its value never printed.
    env = dict(SECRETS, KAFKA_SASL_PASSWORD="kp-SENTINEL-kafka")
    del env["CONVAI_API_KEY"]
    path = os.path.join(workdir, "ok.conf")
    with open(path, "w") as f:
        f.write(text)
    r = run_cli("run", "-c", path, env=env)
    assert r.returncode == 3 and "CONVAI_API_KEY" in r.stderr, r.stderr
    assert "accounts" in r.stderr and SECRET_SENTINEL not in r.stderr


def test_replay_copies_exhausted_requests_back_once(workdir, provider, mock_kafka):
    provider.add_fault(provider="avaamo", status=503)
    w = start_worker(workdir, mock_kafka, provider, limits={"max_attempts": 2},
                     group="erasure-replay")
    cfg = os.path.join(workdir, "worker.conf")
    rid = "r-replay"
    with Collector(mock_kafka.bootstrap, harness.TOPIC_DLQ) as dlq, \
            Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                [single_call_request(rid, "avaamo"), b"garbage"],
                headers={"traceparent": "00-11111111111111111111111111111111-2222222222222222-01"})
        dlq.wait_count(2)
        first = wait_summaries(col, [rid])
        assert summaries(outcomes_of(first, rid))[0].value["status"] == "failed"
        provider.clear_faults()  # the vendor is back
        r = run_cli("replay", "-c", cfg, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "copied 1 dead-lettered request(s)" in r.stdout and "skipped 1" in r.stdout
        msgs = col.wait_for(lambda ms: len(summaries(outcomes_of(ms, rid))) == 2,
                            what="the replayed request's summary")
        again = run_cli("replay", "-c", cfg, timeout=60)
    w.terminate()
    assert again.returncode == 0 and "copied 0" in again.stdout, again.stdout
    second = summaries(outcomes_of(msgs, rid))[1]
    assert second.value["status"] == "completed"
    # Same request, same keys: the replay is the same erasure, not a new one.
    assert second.value["idempotency_key"] == \
        summaries(outcomes_of(msgs, rid))[0].value["idempotency_key"]
    assert second.headers["traceparent"].startswith("00-1111")
    check_event_identity_and_folding(outcomes_of(msgs, rid))


SUCCESS = {"deleted", "already_absent", "completed"}


def fold(events):
    """The consumers' rule (README, Outcome events): per idempotency key a
    success beats a failure, then the latest finished_at wins."""
    best = {}
    for e in events:
        k = e.headers["idempotency-key"]
        rank = (e.value["status"] in SUCCESS, e.value["finished_at"])
        if k not in best or rank > best[k][0]:
            best[k] = (rank, e)
    return {k: e for k, (_, e) in best.items()}


def check_event_identity_and_folding(events):
    """A failed call and its replayed success are two events: distinct
    CloudEvents ids (a conforming consumer dedups on source + id), the same
    idempotency key, ce_id = sha256(key NUL body)."""
    import hashlib
    by_key = {}
    for e in events:
        key = e.headers["idempotency-key"]
        assert key == e.value["idempotency_key"]
        assert e.headers["ce_id"] == hashlib.sha256(
            key.encode() + b"\0" + e.raw_value).hexdigest()
        by_key.setdefault(key, []).append(e)
    assert len(by_key) == 2  # the call and the summary, twice each
    for key, evs in by_key.items():
        assert len(evs) == 2, [e.value for e in evs]
        assert len({e.headers["ce_id"] for e in evs}) == 2
        assert {e.headers["ce_source"] for e in evs} == {evs[0].headers["ce_source"]}
    folded = fold(events)
    assert sorted(e.value["status"] for e in folded.values()) == \
        ["completed", "deleted"]
    # Arrival order does not matter to the rule.
    assert fold(list(reversed(events))).keys() == folded.keys()
    assert all(fold(list(reversed(events)))[k].headers["ce_id"] ==
               folded[k].headers["ce_id"] for k in folded)
