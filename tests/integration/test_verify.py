"""Read-back after deletion (issue 12) over the mock cluster: what the
provider server still holds decides the outcome's verification, and an
agent-wide action needs both opt-ins."""

import os

from harness import (TOPIC_DLQ, TOPIC_OUTCOMES, TOPIC_REQUESTS, Worker,
                     call_outcomes, request, summaries, summary_ids,
                     worker_config)
from kafka_env import Collector, produce


def start(workdir, kafka, provider, name="worker", **cfg):
    path = worker_config(os.path.join(workdir, f"{name}.conf"), kafka.bootstrap,
                         provider.port, **cfg)
    return Worker(path, workdir, name=name)


def run(workdir, kafka, provider, rid, *targets, **cfg):
    w = start(workdir, kafka, provider, **cfg)
    with Collector(kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(kafka.bootstrap, TOPIC_REQUESTS, [request(rid, *targets)])
        msgs = col.wait_for(lambda ms: rid in summary_ids(ms), 30,
                            what=f"summary of {rid}")
    assert w.terminate() == 0
    mine = [m for m in msgs if isinstance(m.value, dict)
            and m.value.get("request_id") == rid]
    return [m.value for m in call_outcomes(mine)], summaries(mine)[0].value


def vectara(*sessions, agent="agt_v"):
    return {"provider": "vectara", "agent_id": agent, "session_ids": list(sessions)}


def test_vectara_and_convai_deletions_are_read_back_absent(workdir, provider, mock_kafka):
    provider.set_data(convai_sessions={"ch1": ["s-a", "s-b", "s-keep"]})
    calls, s = run(workdir, mock_kafka, provider, "r-ver",
                   vectara("ase_1", "ase_2"),
                   {"provider": "convai", "character_id": "ch1",
                    "session_ids": ["s-a", "s-b"]})
    assert len(calls) == 3
    for c in calls:
        assert c["status"] == "deleted" and c["scope"] == "user"
        assert c["verification"]["status"] == "absent", c
    # The provider's own state: what was asked is gone, the rest stays.
    assert provider.data()["convai_sessions"] == {"ch1": ["s-keep"]}
    assert s["verification"] == {"verified": 3, "unverified": 0, "not_supported": 0}
    assert s["fully_verified"] is True and s["status"] == "completed"


def test_deleted_but_still_there_is_failed(workdir, provider, mock_kafka):
    provider.set_data(deletes="sticky")
    calls, s = run(workdir, mock_kafka, provider, "r-sticky", vectara("ase_s"))
    c = calls[0]
    assert c["status"] == "failed" and c["http_status"] == 204
    assert "read-back still finds" in c["error"]
    assert c["verification"]["status"] == "present"
    assert c["verification"]["attempts"] == 3  # the shipped verify.attempts
    assert c["verification"]["http_status"] == 200
    gets = [x for x in provider.calls() if x["method"] == "GET"]
    assert len(gets) == 3 and all(x["status"] == 200 for x in gets)
    assert s["status"] == "failed" and s["fully_verified"] is False
    assert s["verification"]["unverified"] == 1


def test_delayed_visibility_is_verified_after_retries(workdir, provider, mock_kafka):
    # Read-backs at 0, ~600 and ~1200 ms; the deletion shows after 1000.
    provider.set_data(deletion_delay_ms=1000)
    calls, s = run(workdir, mock_kafka, provider, "r-late", vectara("ase_l"),
                   account_limits={"vectara": {"backoff_base_ms": 600}})
    c = calls[0]
    assert c["status"] == "deleted"
    assert c["verification"]["status"] == "absent"
    gets = [x["status"] for x in provider.calls() if x["method"] == "GET"]
    assert gets[0] == 200 and gets[-1] == 404 and len(gets) >= 2
    assert c["verification"]["attempts"] == len(gets)
    assert s["fully_verified"] is True


def test_unreadable_read_back_is_unverified_not_failed(workdir, provider, mock_kafka):
    # The first Vectara request (the DELETE) is answered normally; every
    # read-back after it gets a 503.
    provider.add_fault(provider="vectara", latency_ms=1, times=1)
    provider.add_fault(provider="vectara", status=503)
    calls, s = run(workdir, mock_kafka, provider, "r-unv", vectara("ase_u"))
    c = calls[0]
    seen = [(x["method"], x["status"]) for x in provider.calls()]
    assert seen == [("DELETE", 204)] + [("GET", 503)] * 3
    assert c["status"] == "deleted" and c["http_status"] == 204
    assert c["verification"] == {**c["verification"], "status": "unverified",
                                 "http_status": 503, "attempts": 3}
    assert s["status"] == "completed" and s["fully_verified"] is False
    assert s["verification"] == {"verified": 0, "unverified": 1, "not_supported": 0}


def test_agent_wide_without_opt_in_is_rejected_and_calls_nothing(workdir, provider, mock_kafka):
    targets = [{"provider": "algolia", "scope": "agent", "agent_id": "ag1",
                "conversations": {"start_date": "2026-01-01"}}]
    w = start(workdir, mock_kafka, provider, agent_wide=False)
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col, \
            Collector(mock_kafka.bootstrap, TOPIC_DLQ) as dlq:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS, [
            request("r-aw1", *targets),
            request("r-aw2", {"provider": "avaamo", "agent_id": 20123,
                              "data_types": ["storage"]})])
        msgs = col.wait_for(lambda ms: {"r-aw1", "r-aw2"} <= summary_ids(ms), 30,
                            what="two summaries")
        dead = dlq.wait_count(2)
    assert w.terminate() == 0
    for s in (m.value for m in summaries(msgs)):
        assert s["status"] == "rejected"
        assert s["error_code"] == "agent_wide_not_allowed"
    errs = sorted(s.value["error"] for s in summaries(msgs))
    assert "allow_agent_wide" in errs[0] or "allow_agent_wide" in errs[1]
    assert any('"scope": "agent"' in e for e in errs)
    assert {d.headers["erasure-error-code"] for d in dead} == {"agent_wide_not_allowed"}
    assert provider.calls() == []


def conv(cid, agent, *msgs):
    return {"id": cid, "agentId": agent, "createdAt": "2026-11-01T10:00:00Z",
            "updatedAt": "2026-11-01T10:00:00Z",
            "messages": [{"id": m, "conversationId": cid, "role": "user",
                          "parts": [{"type": "text", "text": "hi"}]} for m in msgs]}


def seed_two_users(provider):
    provider.set_data(algolia_users={
        "user-a": {"conversations": [conv("alg_cnv_a1", "ag1", "m1", "m2"),
                                     conv("alg_cnv_a2", "ag2", "m3")]},
        "user-b": {"conversations": [conv("alg_cnv_b1", "ag1", "m4")]},
    })


def test_algolia_one_user_erased_other_untouched(workdir, provider, mock_kafka):
    seed_two_users(provider)
    calls, s = run(workdir, mock_kafka, provider, "r-alg",
                   {"provider": "algolia", "user_token": "user-a"})
    users = provider.data()["algolia_users"]
    assert users["user-a"]["conversations"] == []
    assert users["user-b"]["conversations"] == [
        {**conv("alg_cnv_b1", "ag1", "m4"), "userToken": "user-b"}]
    by = {(c["action"], c["resource"]): c for c in calls}
    disc = by[("discover_conversations", "user-a")]
    assert disc["status"] == "discovered" and disc["items"] == 2
    assert disc["verification"] is None and disc["http_status"] == 200
    for r in ("ag1/alg_cnv_a1", "ag2/alg_cnv_a2"):
        c = by[("delete_conversation", r)]
        assert c["status"] == "deleted" and c["http_status"] == 204
        assert c["verification"]["status"] == "not_supported"
    ud = by[("delete_user_data", "user-a")]
    assert ud["status"] == "deleted"
    assert ud["verification"]["status"] == "absent"
    assert len(calls) == 4
    # Order on the wire: read, conversation deletes, user data, read-back.
    seen = [(x["method"], x["path"].split("/agent-studio")[-1])
            for x in provider.calls()]
    assert seen[0] == ("GET", "/1/user-data/user-a")
    assert sorted(seen[1:3]) == [
        ("DELETE", "/1/agents/ag1/conversations/alg_cnv_a1"),
        ("DELETE", "/1/agents/ag2/conversations/alg_cnv_a2")]
    assert seen[3:] == [("DELETE", "/1/user-data/user-a"),
                        ("GET", "/1/user-data/user-a")]
    assert s["status"] == "completed" and s["discovered"] == 1
    assert s["counts"]["deleted"] == 3
    assert s["verification"] == {"verified": 1, "unverified": 0, "not_supported": 2}


def test_algolia_agent_restricts_and_unseeded_user_finds_nothing(workdir, provider, mock_kafka):
    seed_two_users(provider)
    calls, s = run(workdir, mock_kafka, provider, "r-alg2",
                   {"provider": "algolia", "user_token": "user-a", "agent_id": "ag2"},
                   {"provider": "algolia", "user_token": "nobody"})
    users = provider.data()["algolia_users"]
    left = users["user-a"]["conversations"]
    # ag1's conversation stays (its messages went with the user-data delete),
    # so that read-back honestly finds it: the request is not verified.
    assert [c["id"] for c in left] == ["alg_cnv_a1"] and left[0]["messages"] == []
    by = {(c["action"], c["resource"]): c for c in calls}
    assert by[("discover_conversations", "user-a")]["items"] == 1
    assert by[("discover_conversations", "nobody")]["items"] == 0
    assert by[("delete_user_data", "nobody")]["verification"]["status"] == "absent"
    ud = by[("delete_user_data", "user-a")]
    assert ud["status"] == "failed" and ud["verification"]["status"] == "present"
    assert s["fully_verified"] is False


def test_algolia_conversation_ids_that_fail_validation_delete_nothing(workdir, provider, mock_kafka):
    provider.set_data(algolia_users={"user-h": {"conversations": [
        conv("alg_cnv_ok", "ag1"), conv("../../1/user-data/user-b", "ag1")]}})
    calls, s = run(workdir, mock_kafka, provider, "r-hostile",
                   {"provider": "algolia", "user_token": "user-h"})
    disc = [c for c in calls if c["action"] == "discover_conversations"][0]
    assert disc["status"] == "failed" and "does not match" in disc["error"]
    assert not [x for x in provider.calls() if "/conversations/" in x["path"]]


def test_redelivery_after_kill_repeats_discovered_keys(workdir, provider, mock_kafka):
    # Sticky deletes: what was deleted is still there, so the redelivery
    # discovers the same conversations and must repeat the same keys.
    seed_two_users(provider)
    provider.set_data(deletes="sticky")
    rid = "r-kill"
    group = "erasure-kill-verify"
    w = start(workdir, mock_kafka, provider, group=group,
              worker={"commit_interval_ms": 600000})
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                [request(rid, {"provider": "algolia", "user_token": "user-a"})])
        col.wait_for(lambda ms: len(summaries(ms)) == 1, 30, what="first summary")
        w.kill()
        w2 = start(workdir, mock_kafka, provider, name="worker2", group=group)
        msgs = col.wait_for(lambda ms: len(summaries(ms)) == 2, 60,
                            what="the redelivery's summary")
    assert w2.terminate() == 0
    evs = [m.value for m in call_outcomes(msgs) if m.value["request_id"] == rid]
    assert len(evs) == 8
    first = [(v["action"], v["resource"], v["idempotency_key"]) for v in evs[:4]]
    second = [(v["action"], v["resource"], v["idempotency_key"]) for v in evs[4:]]
    assert sorted(first) == sorted(second)
    assert ("delete_conversation", "ag1/alg_cnv_a1") in {f[:2] for f in first}
