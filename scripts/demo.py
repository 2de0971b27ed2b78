#!/usr/bin/env python3
"""The embedded demo: erasure-worker against librdkafka's mock cluster and
the provider test server, no external services. Publishes the sample
requests in scripts/demo/requests.jsonl (one of them malformed), prints
every outcome and dead-letter message as it arrives, and stops the worker
once every request is accounted for."""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402
from kafka_env import MockCluster, produce  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402


def show(msg):
    topic = msg.topic()
    headers = {k: (v.decode(errors="replace") if v else "")
               for k, v in (msg.headers() or [])}
    if topic == harness.TOPIC_DLQ:
        print(f"DEAD-LETTER  {headers.get('erasure-error-code')}: "
              f"{headers.get('erasure-error-reason')}")
        return "dlq", headers.get("erasure-request-id")
    ev = json.loads(msg.value())
    if headers.get("ce_type") == "erasure.request.completed.v1":
        c = ev["counts"]
        print(f"SUMMARY      {ev['request_id']}: {ev['status']} "
              f"(deleted {c['deleted']}, already_absent {c['already_absent']}, "
              f"failed {c['failed']}, rejected {c['rejected']}; "
              f"fully verified: {ev.get('fully_verified')})"
              + (f" -- {ev['error']}" if ev.get("error") else ""))
        return "summary", ev["request_id"]
    ver = ev.get("verification") or {}
    extra = (f", found {ev['items']}" if ev["status"] == "discovered"
             else f", verification {ver['status']}" if ver else "")
    print(f"OUTCOME      {ev['request_id']} {ev['provider']}/{ev['action']} "
          f"{ev['resource']}: {ev['status']} (HTTP {ev['http_status']}, "
          f"{ev['attempts']} attempt(s){extra}) key={ev['idempotency_key'][:12]}…"
          + (f" -- {ev['error']}" if ev.get("error") else ""))
    return "outcome", ev["request_id"]


def main():
    work = harness.new_workdir("erasure-demo-")
    with open(os.path.join(HERE, "demo", "requests.jsonl"), "rb") as f:
        lines = [l.rstrip(b"\n") for l in f if l.strip()]
    server = harness.ProviderServer(
        work, ["--missing-agent", "agt_gone", "--unlocked-agent", "20999"])
    cluster = MockCluster(topics={harness.TOPIC_REQUESTS: 3,
                                  harness.TOPIC_OUTCOMES: 3,
                                  harness.TOPIC_DLQ: 1}).start()
    worker = None
    try:
        # No account opts in to agent-wide actions: req_demo_0005 (an
        # Algolia delete-by-date) is refused without a call.
        cfg = harness.worker_config(os.path.join(work, "worker.conf"),
                                    cluster.bootstrap, server.port,
                                    group="erasure-demo", agent_wide=False)
        # Two Algolia users: user-42 (two conversations, to erase) and
        # user-7, whose conversation must survive.
        server.set_data(
            algolia_users={
                "user-42": {"conversations": [
                    {"id": "alg_cnv_1", "agentId": "agent-a",
                     "messages": [{"id": "alg_msg_1"}, {"id": "alg_msg_2"}]},
                    {"id": "alg_cnv_2", "agentId": "agent-b",
                     "messages": [{"id": "alg_msg_3"}]}]},
                "user-7": {"conversations": [
                    {"id": "alg_cnv_7", "agentId": "agent-a",
                     "messages": [{"id": "alg_msg_7"}]}]}},
            convai_sessions={"c0ffee": ["s-1", "s-2", "s-other"]})
        print(f"provider test server on :{server.port}, mock Kafka at "
              f"{cluster.bootstrap}, worker log in {work}/worker.log\n")
        worker = harness.Worker(cfg, work)
        produce(cluster.bootstrap, harness.TOPIC_REQUESTS, lines)
        # Every line ends in a summary, except one with no readable
        # request id, which ends in the dead-letter topic only.
        expected_summaries = 5
        expected_dlq = 3
        c = Consumer({"bootstrap.servers": cluster.bootstrap,
                      "group.id": "demo-printer", "auto.offset.reset": "earliest",
                      "enable.auto.commit": False})
        c.subscribe([harness.TOPIC_OUTCOMES, harness.TOPIC_DLQ])
        summaries = dlq = 0
        deadline = time.monotonic() + 60
        while (summaries < expected_summaries or dlq < expected_dlq) and \
                time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            kind, _ = show(m)
            summaries += kind == "summary"
            dlq += kind == "dlq"
        c.close()
        rc = worker.terminate()
        worker = None
        calls = server.calls()
        print(f"\nprovider test server received {len(calls)} call(s):")
        for call in calls:
            q = f"?{call['query']}" if call.get("query") else ""
            print(f"  {call['status']} {call['method']} /{call['provider']}{call['path']}{q}")
        users = server.data()["algolia_users"]
        left = {u: [c["id"] for c in d["conversations"]] for u, d in users.items()}
        print(f"\nAlgolia conversations left per user: {left}")
        ok = summaries == expected_summaries and dlq == expected_dlq and rc == 0
        ok = ok and left == {"user-42": [], "user-7": ["alg_cnv_7"]}
        print(f"\nworker exited {rc}; demo {'OK' if ok else 'INCOMPLETE'}")
        return 0 if ok else 1
    finally:
        if worker:
            worker.kill()
        cluster.close()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
