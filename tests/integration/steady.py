"""Steady load: requests produced at a fixed rate for a fixed time, the way
an upstream pipeline feeds the worker in production (rather than a backlog
loaded before the worker starts).

Used by the real-broker test (test_steady_real_kafka.py) and by the soak
mode of the benchmark (bench/soak.py). It measures, while the load runs:
  * committed consumer lag of the worker's group, sampled once a second;
  * produce -> summary latency of every request (both ends are Kafka
    CreateTime stamps taken on this machine: the request's is set by the
    paced producer, the summary's by the worker's producer);
  * requests produced and summarised per interval.
"""

import json
import random
import threading
import time

from confluent_kafka import Producer

import harness
from kafka_env import Collector, committed_lag

SUMMARY_TYPE = "erasure.request.completed.v1"
ALGOLIA_AGENT = "76710f1b-8231-42e5-b0d1-f43aac618e15"


def mixed_request(i, tag, rng):
    """Request i of a mix of the five endpoints with 1-6 calls; returns
    (request_id, request, calls). Identifiers are unique per request."""
    rid = f"{tag}-{i:07d}"
    kind = i % 5
    n = rng.randint(1, 6)
    if kind == 0:
        t = [{"provider": "vectara", "agent_id": f"agt_s{i % 7}",
              "session_ids": [f"ase_{i}_{k}" for k in range(n)]}]
        calls = n
    elif kind == 1:
        t = [{"provider": "convai", "character_id": f"c{i}",
              "session_ids": [f"s{i}x{k}" for k in range(n)]}]
        calls = 1
    elif kind == 2:
        t = [{"provider": "algolia", "agent_id": ALGOLIA_AGENT,
              "user_token": f"user-{i}"}]
        calls = 1
    elif kind == 3:
        t = [{"provider": "vectara", "agent_id": f"agt_s{i % 5}",
              "session_ids": [f"ase_{i}_{k}" for k in range(n)]},
             {"provider": "avaamo", "scope": "agent", "agent_id": 20000 + i % 900,
              "data_types": ["storage"]}]
        calls = n + 1
    else:
        t = [{"provider": "algolia", "scope": "agent", "agent_id": f"ag{i}",
              "conversations": {"start_date": "2026-01-01"}}]
        calls = 1
    return rid, harness.request(rid, *t), calls


def percentile(sorted_vals, q):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


class SteadyLoad:
    """Produces RATE requests/s to TOPIC for SECONDS in a background thread
    and watches the outcome topic and the group's committed lag.

    sample_cb(dict), when given, is called once a second from the sampling
    thread with the figures of that second (the soak report uses it)."""

    def __init__(self, bootstrap, topics, group, rate, seconds, tag,
                 seed=1, sample_cb=None):
        self.bootstrap = bootstrap
        self.t_req, self.t_out = topics[0], topics[1]
        self.group = group
        self.rate = float(rate)
        self.seconds = float(seconds)
        self.tag = tag
        self.rng = random.Random(seed)
        self.sample_cb = sample_cb
        self.sent = {}          # request_id -> produce time (ms)
        self.calls = 0          # calls the produced requests plan
        self.produce_errors = []
        self.lag_samples = []   # (t since start s, committed lag)
        self.produced_done = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.collector = Collector(bootstrap, self.t_out)
        self.t0 = None

    # -- producing -----------------------------------------------------------

    def _produce(self):
        p = Producer({"bootstrap.servers": self.bootstrap,
                      "enable.idempotence": True, "linger.ms": 5,
                      "compression.type": "lz4",
                      "queue.buffering.max.messages": 1000000})

        def cb(err, msg):
            if err is not None:
                self.produce_errors.append(err)

        n = int(self.rate * self.seconds)
        try:
            for i in range(n):
                if self._stop.is_set():
                    break
                # poll() returns early when a delivery report is served.
                while True:
                    wait = self.t0 + i / self.rate - time.monotonic()
                    if wait <= 0:
                        break
                    p.poll(wait)
                rid, body, calls = mixed_request(i, self.tag, self.rng)
                ts = int(time.time() * 1000)
                with self._lock:
                    self.sent[rid] = ts
                    self.calls += calls
                value = json.dumps(body, separators=(",", ":"))
                while True:
                    try:
                        p.produce(self.t_req, key=rid.encode(),
                                  value=value.encode(), timestamp=ts,
                                  on_delivery=cb)
                        break
                    except BufferError:
                        p.poll(0.01)
                p.poll(0)
            p.flush(60)
        finally:
            self.produced_done.set()

    # -- sampling ------------------------------------------------------------

    def summaries(self):
        """{request_id: summary CreateTime ms} of this load's requests."""
        out = {}
        for m in self.collector.snapshot():
            if m.headers.get("ce_type") == SUMMARY_TYPE and \
                    isinstance(m.value, dict):
                rid = m.value.get("request_id")
                if rid not in out:
                    out[rid] = m.timestamp
        return out

    def _sample(self):
        last_sent = last_done = 0
        tick = self.t0
        while not self._stop.is_set():
            tick += 1.0
            if self._stop.wait(max(0.0, tick - time.monotonic())):
                break
            try:
                lag = committed_lag(self.bootstrap, self.group, self.t_req)
            except Exception:  # noqa: BLE001 - a missed sample, not a failure
                lag = None
            now = time.monotonic() - self.t0
            if lag is not None:
                self.lag_samples.append((now, lag))
            if self.sample_cb:
                with self._lock:
                    sent = len(self.sent)
                done = len(self.summaries())
                self.sample_cb({"t": now, "lag": lag, "sent": sent,
                                "done": done, "in_per_s": sent - last_sent,
                                "out_per_s": done - last_done})
                last_sent, last_done = sent, done

    # -- running -------------------------------------------------------------

    def start(self):
        self.t0 = time.monotonic()
        self._producer = threading.Thread(target=self._produce, daemon=True)
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._producer.start()
        self._sampler.start()
        return self

    def wait_produced(self, timeout):
        if not self.produced_done.wait(timeout):
            raise AssertionError(f"paced producer did not finish in {timeout}s")
        self._producer.join(5)
        assert not self.produce_errors, self.produce_errors[:3]

    def wait_all_summarised(self, timeout):
        with self._lock:
            want = set(self.sent)
        return self.collector.wait_for(
            lambda ms: want <= set(self.summaries()), timeout,
            what=f"summaries of all {len(want)} requests")

    def latencies_ms(self):
        """Sorted produce -> summary latencies of the requests summarised."""
        done = self.summaries()
        with self._lock:
            sent = dict(self.sent)
        return sorted(done[r] - ts for r, ts in sent.items() if r in done)

    def close(self):
        self._stop.set()
        for t in (getattr(self, "_producer", None),
                  getattr(self, "_sampler", None)):
            if t is not None:
                t.join(10)
        self.collector.close()


__all__ = ["SteadyLoad", "mixed_request", "percentile"]
