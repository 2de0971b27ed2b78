"""OAuth 2.0 client credentials for a provider account (issue 13): the
worker fetches Vectara tokens itself, one fetch per account at a time,
refreshes them before they expire, refetches once on a 401, backs off on
token-endpoint errors and fails fast on bad credentials, and never shows a
token or the client secret.

The provider server runs in oauth mode: its Vectara routes accept only a
token its /vectara-auth/oauth2/token endpoint issued and that is still
valid (2 s here, so a few seconds of load cross several lifetimes)."""

import datetime
import json
import os
import time
import urllib.request

import pytest

import harness
from harness import TOPIC_DLQ, TOPIC_OUTCOMES, TOPIC_REQUESTS, request, run_cli
from kafka_env import Collector, produce
from test_pipeline import outcomes_of, wait_summaries

CLIENT_ID = "app-client-7c1e"
CLIENT_SECRET = "cs+SENTINEL/oauth=5d2f"
LIFETIME_MS = 2000
AUTH_ENV = {"VECTARA_CLIENT_ID": CLIENT_ID, "VECTARA_CLIENT_SECRET": CLIENT_SECRET}


def token_server(workdir, lifetime_ms):
    return harness.ProviderServer(workdir, [
        "--oauth-client-id", CLIENT_ID, "--oauth-client-secret", CLIENT_SECRET,
        "--oauth-lifetime-ms", str(lifetime_ms)])


@pytest.fixture
def oauth_provider(workdir):
    s = token_server(workdir, LIFETIME_MS)
    yield s
    s.stop()


@pytest.fixture
def long_lived(workdir):
    """Tokens that outlive the test: every fetch is caused by the test's
    event, none by expiry, however slow the machine."""
    s = token_server(workdir, 600000)
    yield s
    s.stop()


def oauth_config(workdir, kafka, provider, name="worker", **cfg):
    """The harness's config with the Vectara account switched to the
    shipped oauth2 scheme and the test server's token endpoint."""
    path = harness.worker_config(os.path.join(workdir, f"{name}.conf"),
                                 kafka.bootstrap, provider.port, **cfg)
    with open(path) as f:
        text = f.read()
    old = 'secrets = { api_key = "VECTARA_API_KEY"; };'
    assert old in text
    new = (f'auth = "oauth2"; token_url = "http://127.0.0.1:{provider.port}'
           f'/vectara-auth/oauth2/token"; secrets = {{ client_id = '
           f'"VECTARA_CLIENT_ID"; client_secret = "VECTARA_CLIENT_SECRET"; }};')
    text = text.replace(old, new, 1)
    with open(path, "w") as f:
        f.write(text)
    return path


def start(workdir, kafka, provider, env=None, **cfg):
    # One loop: these tests count token fetches, and each loop fetches
    # tokens of its own (docs/design.md §1.6).
    cfg["worker"] = {"threads": 1, **(cfg.get("worker") or {})}
    path = oauth_config(workdir, kafka, provider, **cfg)
    e = dict(AUTH_ENV)
    e.update(env or {})
    return harness.Worker(path, workdir, env=e), path


def token_fetches(provider):
    return provider.stats()["by_provider"].get("vectara-auth", 0)


def vectara(rid, sessions):
    return request(rid, {"provider": "vectara", "agent_id": "agt_support",
                         "session_ids": sessions})


def call_events(col, rid):
    return [m.value for m in outcomes_of(col.snapshot(), rid)
            if m.headers.get("ce_type") == "erasure.call.completed.v1"]


def parse_ts(ts):
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def no_secret_in(text):
    assert CLIENT_SECRET not in text
    assert "SENTINEL/oauth" not in text
    assert "vtok_" not in text, "an access token reached an output"


def test_cold_start_100_concurrent_calls_fetch_one_token(workdir, long_lived,
                                                         mock_kafka):
    oauth_provider = long_lived
    w, _ = start(workdir, mock_kafka, oauth_provider,
                 account_limits={"vectara": {"concurrency": 128}})
    rid = "req_oauth_cold"
    sessions = [f"ase_{i}" for i in range(100)]
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, [vectara(rid, sessions)])
        wait_summaries(col, [rid], timeout=60)
        events = call_events(col, rid)
    assert w.terminate() == 0
    assert len(events) == 100
    assert {e["status"] for e in events} == {"deleted"}
    assert token_fetches(oauth_provider) == 1
    no_secret_in(w.log_text())


def test_load_across_token_lifetimes(workdir, oauth_provider, mock_kafka):
    mport = harness.free_port()
    w, _ = start(workdir, mock_kafka, oauth_provider, metrics_port=mport)
    harness.wait_ready(mport, w)
    ids = []
    run_s = 4 * LIFETIME_MS / 1000
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < run_s:
            rid = f"req_oauth_load_{i}"
            ids.append(rid)
            produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                    [vectara(rid, [f"ase_{i}_a", f"ase_{i}_b"])])
            i += 1
            time.sleep(0.1)  # pacing the load, not synchronising
        wait_summaries(col, ids, timeout=60)
        events = [e for rid in ids for e in call_events(col, rid)]
        outputs = json.dumps([m.value for m in col.snapshot()])
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics") as r:
        metrics = r.read().decode()
    assert w.terminate() == 0
    assert len(events) == 2 * len(ids)
    failed = [e for e in events if e["status"] != "deleted"]
    assert failed == []
    fetches = token_fetches(oauth_provider)
    # The span the calls really covered (a slow machine stretches it).
    first = min(e["started_at"] for e in events)
    last = max(e["finished_at"] for e in events)
    span_s = (parse_ts(last) - parse_ts(first)).total_seconds()
    assert span_s >= 3 * LIFETIME_MS / 1000
    # Refreshed at 3/4 of the usable lifetime (1.35 s of 2 s): about once
    # per lifetime, several in all, and nowhere near once per call.
    assert 2 <= fetches <= span_s / 1.35 + 2, (fetches, span_s)
    assert fetches * 5 < len(events)
    assert ('erasure_oauth_token_fetches_total{provider="vectara",'
            f'account="default",result="ok"}} {fetches}') in metrics
    assert 'erasure_oauth_token_age_seconds{provider="vectara",account="default"}' \
        in metrics
    no_secret_in(w.log_text() + outputs + metrics)


def test_revoked_token_one_refetch_and_the_call_succeeds(workdir, long_lived,
                                                         mock_kafka):
    oauth_provider = long_lived
    w, _ = start(workdir, mock_kafka, oauth_provider)
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, [vectara("req_r1", ["ase_1"])])
        wait_summaries(col, ["req_r1"])
        assert token_fetches(oauth_provider) == 1
        oauth_provider._req("DELETE", "/_control/oauth")
        oauth_provider.clear_calls()
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, [vectara("req_r2", ["ase_2"])])
        wait_summaries(col, ["req_r2"])
        events = call_events(col, "req_r2")
    assert w.terminate() == 0
    assert [e["status"] for e in events] == ["deleted"]
    assert token_fetches(oauth_provider) == 2
    api = [(c["method"], c["status"]) for c in oauth_provider.calls()
           if c["provider"] == "vectara"]
    # The read-back after the deletion goes out with the new token.
    assert api == [("DELETE", 401), ("DELETE", 204), ("GET", 404)]


def test_wrong_secret_fails_fast_with_a_clear_reason(workdir, oauth_provider,
                                                     mock_kafka):
    w, _ = start(workdir, mock_kafka, oauth_provider,
                 env={"VECTARA_CLIENT_SECRET": "wrong-secret-SENTINEL"},
                 limits={"backoff_max_ms": 30000})
    sessions = [f"ase_{i}" for i in range(20)]
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        t0 = time.monotonic()
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                [vectara("req_bad1", sessions), vectara("req_bad2", ["ase_x"])])
        wait_summaries(col, ["req_bad1", "req_bad2"], timeout=30)
        elapsed = time.monotonic() - t0
        events = call_events(col, "req_bad1") + call_events(col, "req_bad2")
    assert w.terminate() == 0
    assert elapsed < 10
    assert len(events) == 21
    for e in events:
        assert e["status"] == "failed" and e["retryable"] is True
        assert "refused the client credentials" in e["error"]
        assert "401" in e["error"]
    # One refusal, then fail-fast: no storm, and no API call at all.
    assert token_fetches(oauth_provider) == 1
    assert oauth_provider.stats()["by_provider"].get("vectara", 0) == 0
    no_secret_in(w.log_text())
    assert "wrong-secret-SENTINEL" not in w.log_text()


def test_token_endpoint_503_is_retried_with_backoff(workdir, long_lived,
                                                    mock_kafka):
    oauth_provider = long_lived
    oauth_provider.add_fault(provider="vectara-auth", status=503, times=2)
    w, _ = start(workdir, mock_kafka, oauth_provider)
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                [vectara("req_503", ["ase_1", "ase_2"])])
        wait_summaries(col, ["req_503"])
        events = call_events(col, "req_503")
    assert w.terminate() == 0
    assert [e["status"] for e in events] == ["deleted", "deleted"]
    assert token_fetches(oauth_provider) == 3


def test_token_endpoint_down_fails_calls_retryable(workdir, oauth_provider,
                                                   mock_kafka):
    oauth_provider.add_fault(provider="vectara-auth", status=503)
    w, _ = start(workdir, mock_kafka, oauth_provider,
                 limits={"max_attempts": 3, "backoff_max_ms": 200})
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                [vectara("req_down", ["ase_1", "ase_2"])])
        wait_summaries(col, ["req_down"])
        events = call_events(col, "req_down")
    with Collector(mock_kafka.bootstrap, TOPIC_DLQ) as dlq:
        dlq.wait_for(lambda ms: len(ms) >= 1, 15, what="dead letter")
    assert w.terminate() == 0
    assert len(events) == 2
    for e in events:
        assert e["status"] == "failed" and e["retryable"] is True
        assert "token endpoint unavailable after 3 attempt(s)" in e["error"]
    assert token_fetches(oauth_provider) == 3


def test_slow_token_endpoint_does_not_block_other_accounts(workdir, long_lived,
                                                           mock_kafka):
    oauth_provider = long_lived
    oauth_provider.add_fault(provider="vectara-auth", latency_ms=1500)
    w, _ = start(workdir, mock_kafka, oauth_provider)
    rid = "req_slow"
    req = request(rid,
                  {"provider": "vectara", "agent_id": "agt_support",
                   "session_ids": ["ase_1"]},
                  {"provider": "convai", "character_id": "c0ffee",
                   "session_ids": ["s-1"]})
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, [req])
        wait_summaries(col, [rid])
        events = {e["provider"]: e for e in call_events(col, rid)}
    assert w.terminate() == 0
    assert events["vectara"]["status"] == "deleted"
    assert events["convai"]["status"] == "deleted"
    # Convai went out while the token request was still in flight.
    assert events["vectara"]["finished_at"] > events["convai"]["finished_at"]


def test_check_config_shows_the_scheme_never_the_secret(workdir, oauth_provider,
                                                        mock_kafka):
    path = oauth_config(workdir, mock_kafka, oauth_provider)
    env = dict(harness.SECRETS)
    env.update(AUTH_ENV)
    r = run_cli("check-config", "-c", path, "--json", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    acct = [a for a in doc["accounts"] if a["provider"] == "vectara"][0]
    assert acct["auth"] == "oauth2"
    assert acct["secret_env"] == {"client_id": "VECTARA_CLIENT_ID",
                                  "client_secret": "VECTARA_CLIENT_SECRET"}
    assert acct["oauth"]["token_url"].endswith("/vectara-auth/oauth2/token")
    assert acct["oauth"]["client_auth"] == "form"
    no_secret_in(r.stdout + r.stderr)


def test_plan_and_text_check_config_show_where_the_token_comes_from(
        workdir, oauth_provider, mock_kafka):
    path = oauth_config(workdir, mock_kafka, oauth_provider)
    env = dict(harness.SECRETS)
    env.update(AUTH_ENV)
    req = json.dumps(vectara("req_plan", ["ase_1"]))
    r = run_cli("plan", "-c", path, "-", env=env, stdin=req)
    assert r.returncode == 0, r.stderr
    assert ("  Authorization: Bearer **** (OAuth token from http://127.0.0.1:"
            f"{oauth_provider.port}/vectara-auth/oauth2/token)") in r.stdout
    r2 = run_cli("check-config", "-c", path, env=env)
    assert r2.returncode == 0, r2.stderr
    assert "  oauth2 client credentials: token_url=http://127.0.0.1:" in r2.stdout
    no_secret_in(r.stdout + r.stderr + r2.stdout + r2.stderr)
    # plan needs no network: the token endpoint was never asked.
    assert token_fetches(oauth_provider) == 0


def test_check_config_file_line_errors(workdir, oauth_provider, mock_kafka):
    path = oauth_config(workdir, mock_kafka, oauth_provider)
    with open(path) as f:
        text = f.read()
    bad = text.replace('token_url = "http://127.0.0.1', 'token_url = "ftp://127.0.0.1')
    with open(path, "w") as f:
        f.write(bad)
    env = dict(harness.SECRETS)
    env.update(AUTH_ENV)
    r = run_cli("check-config", "-c", path, env=env)
    assert r.returncode == 3
    assert "worker.conf:" in r.stderr and "accounts.[0].token_url" in r.stderr
    assert "must start with https://" in r.stderr
