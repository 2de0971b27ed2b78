"""Kafka for the integration tests: a real single-node broker
(tests/kafka/broker.sh), the librdkafka mock cluster (the mock-kafka program
built from tests/kafka/mock_kafka.c), and client helpers to produce, collect
and measure consumer-group lag.

Runs on Debian's /usr/bin/python3 with python3-confluent-kafka (1.7.0, over
the same librdkafka 2.0.2 the worker links).

A broker that cannot start is an error, never a skip: RealBroker.start()
raises BrokerStartError carrying the tail of the broker's log.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional

from confluent_kafka import (OFFSET_BEGINNING, Consumer,
                             KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

SOURCE_DIR = os.environ.get(
    "ERASURE_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.environ.get("ERASURE_BUILD_DIR",
                           os.path.join(SOURCE_DIR, "build"))
BROKER_SH = os.path.join(SOURCE_DIR, "tests", "kafka", "broker.sh")
MOCK_KAFKA = os.path.join(BUILD_DIR, "mock-kafka")


class KafkaEnvError(RuntimeError):
    """A Kafka test environment could not be set up or used."""


class BrokerStartError(KafkaEnvError):
    """The broker (real or mock) did not come up; the message carries the
    tail of its log."""


def _tail(path, lines=50):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"(no log: {e})"


def _wait_for_topic(bootstrap, name, partitions, timeout):
    """Waits until metadata shows NAME with PARTITIONS partitions, each with
    a leader. Polls: a broker offers nothing to wait on."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            md = admin.list_topics(topic=name, timeout=5)
            t = md.topics.get(name)
            if t is not None and t.error is None \
                    and len(t.partitions) == partitions \
                    and all(p.leader >= 0 for p in t.partitions.values()):
                return
            last = t.error if t is not None else "absent"
        except KafkaException as e:
            last = e
        if time.monotonic() >= deadline:
            raise KafkaEnvError(
                f"topic {name} not ready on {bootstrap} after {timeout}s: "
                f"{last}")
        time.sleep(0.05)


def create_topic(bootstrap, name, partitions, timeout=30.0, config=None):
    """Creates NAME (replication factor 1) through the admin API and waits
    until every partition has a leader. An existing topic is an error."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fut = admin.create_topics(
        [NewTopic(name, partitions, 1, config=dict(config or {}))],
        operation_timeout=timeout, request_timeout=timeout)[name]
    try:
        fut.result(timeout=timeout)
    except KafkaException as e:
        raise KafkaEnvError(f"create topic {name} on {bootstrap}: {e}") from e
    _wait_for_topic(bootstrap, name, partitions, timeout)


class RealBroker:
    """A single-node Apache Kafka 3.9 broker run by tests/kafka/broker.sh.

    workdir holds server.properties, the data, broker.log and bootstrap;
    one is made (and removed by close()) when none is given. The broker is
    tied to this Python process: if it dies, broker.sh's watchdog stops the
    broker too.
    """

    def __init__(self, workdir=None, cache=None, start_timeout=90):
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(
            prefix="real-kafka-", dir=os.environ.get("ERASURE_TMP"))
        self.cache = cache
        self.start_timeout = start_timeout
        self.bootstrap = None
        self.start_seconds = None  # wall time of the last start/restart
        self.log_path = os.path.join(self.workdir, "broker.log")

    def _run(self, command, *args, timeout):
        cmd = [BROKER_SH, command, "--dir", self.workdir, *args]
        env = dict(os.environ)
        env["BROKER_START_TIMEOUT"] = str(int(self.start_timeout))
        return subprocess.run(cmd, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, env=env,
                              timeout=timeout)

    def _start(self, command):
        args = ["--owner-pid", str(os.getpid())]
        if self.cache and command == "start":
            args += ["--cache", self.cache]
        t0 = time.monotonic()
        try:
            # Room for a first jar download and the stop half of a restart.
            r = self._run(command, *args, timeout=self.start_timeout + 600)
        except subprocess.TimeoutExpired as e:
            self._run("stop", timeout=60)
            err = e.stderr or ""
            if isinstance(err, bytes):
                err = err.decode(errors="replace")
            raise BrokerStartError(
                f"broker.sh {command} timed out\n{err}\n"
                f"--- {self.log_path} ---\n{self.log_tail()}") from e
        if r.returncode != 0:
            raise BrokerStartError(
                f"broker.sh {command} failed (exit {r.returncode}) in "
                f"{self.workdir}\n--- broker.sh stderr ---\n{r.stderr}"
                f"--- last lines of {self.log_path} ---\n{self.log_tail()}")
        self.start_seconds = time.monotonic() - t0
        with open(os.path.join(self.workdir, "bootstrap")) as f:
            self.bootstrap = f.read().strip()
        return self

    def start(self):
        return self._start("start")

    def restart(self):
        """Stops and starts the broker with the same storage and ports."""
        return self._start("restart")

    def stop(self):
        r = self._run("stop", timeout=120)
        if r.returncode != 0:
            raise KafkaEnvError(f"broker.sh stop failed: {r.stderr}")

    def close(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def create_topic(self, name, partitions, timeout=30.0, config=None):
        create_topic(self.bootstrap, name, partitions, timeout, config)

    def log_tail(self, lines=50):
        return _tail(self.log_path, lines)

    def describe_group(self, group):
        """kafka-consumer-groups --describe --state and --members output."""
        r = self._run("describe-group", group, timeout=120)
        if r.returncode != 0:
            raise KafkaEnvError(f"describe-group {group}: {r.stderr}")
        return r.stdout

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def _set_pdeathsig():
    """Child side of Popen: get SIGTERM when the parent dies, so a killed
    test run cannot leak a mock cluster."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover - best effort only
        pass


class MockCluster:
    """The librdkafka mock cluster in its own process (mock-kafka).

    topics: {name: partitions} or [(name, partitions)], created before the
    bootstrap file appears. They are the only way to get a topic with a
    chosen partition count: the mock serves no CreateTopics, and a client
    that is allowed to auto-create gets 4 partitions. Its state lives in memory only: stop() loses
    every message and offset, and a later start() is a new, empty cluster
    (with the same pre-created topics) at new addresses.
    """

    def __init__(self, topics=(), brokers=1, workdir=None, binary=None):
        self.topics = list(topics.items()) if isinstance(topics, dict) \
            else list(topics)
        self.brokers = brokers
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(
            prefix="mock-kafka-", dir=os.environ.get("ERASURE_TMP"))
        self.binary = binary or MOCK_KAFKA
        self.bootstrap = None
        self.proc = None
        self.log_path = os.path.join(self.workdir, "mock-kafka.log")
        self.bootstrap_file = os.path.join(self.workdir, "mock-kafka.bootstrap")

    def start(self, timeout=10.0):
        if not os.access(self.binary, os.X_OK):
            raise BrokerStartError(
                f"{self.binary} is missing: build the mock-kafka target "
                f"(ERASURE_BUILD_DIR={BUILD_DIR})")
        try:
            os.unlink(self.bootstrap_file)
        except FileNotFoundError:
            pass
        args = [self.binary, "--brokers", str(self.brokers),
                "--bootstrap-file", self.bootstrap_file]
        for name, partitions in self.topics:
            args += ["--topic", f"{name}:{partitions}"]
        # setpriv (util-linux) sets the death signal and execs: unlike a
        # preexec_fn it is safe while the test process runs threads.
        setpriv = shutil.which("setpriv")
        prefix = [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [*prefix, *args], stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, preexec_fn=None if setpriv else _set_pdeathsig)
        # mock-kafka renames the file into place once the cluster and its
        # topics exist; it offers nothing else to wait on, so poll for it.
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.bootstrap_file):
            if self.proc.poll() is not None:
                raise BrokerStartError(
                    f"mock-kafka exited with {self.proc.returncode}\n"
                    f"{self.log_tail()}")
            if time.monotonic() >= deadline:
                self.stop()
                raise BrokerStartError(
                    f"mock-kafka wrote no {self.bootstrap_file} within "
                    f"{timeout}s\n{self.log_tail()}")
            time.sleep(0.01)
        with open(self.bootstrap_file) as f:
            self.bootstrap = f.read().strip()
        return self

    def create_topic(self, name, partitions, timeout=30.0, config=None):
        """Not possible: librdkafka 2.0.2's mock has no CreateTopics handler
        (the request just times out). Pass the topics to the constructor."""
        raise KafkaEnvError(
            f"MockCluster cannot create {name} at run time (librdkafka "
            f"2.0.2's mock does not serve CreateTopics): pass it to "
            f"MockCluster(topics=...) instead")

    def stop(self, timeout=10.0):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        if rc not in (0, -signal.SIGKILL):
            raise KafkaEnvError(f"mock-kafka exited with {rc}\n"
                                f"{self.log_tail()}")

    def close(self):
        try:
            self.stop()
        finally:
            if self._own_dir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines=50):
        return _tail(self.log_path, lines)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def _encode(v):
    if v is None or isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode()
    return json.dumps(v, separators=(",", ":")).encode()


def produce(bootstrap, topic, messages: Iterable[Any], key_fn=None, headers=None,
            partition=None, timeout=30.0, config=None):
    """Produces MESSAGES to TOPIC, flushes, and asserts that every one was
    delivered. Returns [(partition, offset)] in input order.

    A message that is a dict, list, number or bool is sent as JSON, a str as
    UTF-8, bytes as is, None as a null value. key_fn(message) gives the key
    (same encoding rules); headers is a dict or a list of (name, value)
    pairs for every message, or a callable(message) returning one.
    """
    conf = {"bootstrap.servers": bootstrap, "enable.idempotence": True,
            "linger.ms": 5, "message.timeout.ms": int(timeout * 1000),
            "reconnect.backoff.max.ms": 1000}
    conf.update(config or {})
    p = Producer(conf)
    messages = list(messages)
    results: List[Any] = [None] * len(messages)

    def on_delivery(idx):
        def cb(err, msg):
            results[idx] = err if err is not None \
                else (msg.partition(), msg.offset())
        return cb

    for i, m in enumerate(messages):
        kwargs = {"value": _encode(m), "on_delivery": on_delivery(i)}
        if key_fn is not None:
            kwargs["key"] = _encode(key_fn(m))
        h = headers(m) if callable(headers) else headers
        if h:
            items = h.items() if isinstance(h, dict) else h
            kwargs["headers"] = [(k, _encode(v)) for k, v in items]
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                p.produce(topic, **kwargs)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(timeout)
    failed = [(i, r) for i, r in enumerate(results) if not isinstance(r, tuple)]
    assert left == 0 and not failed, (
        f"produce to {topic} on {bootstrap}: {left} undelivered after "
        f"{timeout}s, failures (index, error): {failed[:10]}")
    return results


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: Any  # str when UTF-8, else bytes; None when absent
    value: Any  # decoded JSON when possible, else str, else bytes
    raw_value: Optional[bytes]
    headers: Dict[str, Optional[str]] = field(default_factory=dict)
    timestamp: Optional[int] = None  # ms since the epoch, None if unknown


def _decode_text(b):
    if b is None:
        return None
    try:
        return b.decode()
    except UnicodeDecodeError:
        return b


def _decode_value(b):
    if b is None:
        return None
    try:
        return json.loads(b)
    except (ValueError, RecursionError):  # hostile test input: keep raw
        return _decode_text(b)


def _to_message(m):
    hdrs = {}
    for k, v in m.headers() or []:
        hdrs[k] = None if v is None else v.decode(errors="replace")
    ts_type, ts = m.timestamp()
    return Message(topic=m.topic(), partition=m.partition(), offset=m.offset(),
                   key=_decode_text(m.key()), value=_decode_value(m.value()),
                   raw_value=m.value(), headers=hdrs,
                   timestamp=ts if ts_type != 0 else None)


class Collector:
    """Consumes TOPIC from the beginning in a background thread and keeps
    every message (as Message) in .messages, in arrival order.

    Without group: assigns all partitions at OFFSET_BEGINNING (a pure
    observer; it joins no group). With group: subscribes as a member of that
    group with auto.offset.reset=earliest. Either way it never commits.
    Use as a context manager, or call close().
    """

    def __init__(self, bootstrap, topic, group=None, config=None,
                 start_timeout=15.0):
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = group
        self.messages: List[Message] = []
        self.errors: List[KafkaError] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._failure: Optional[BaseException] = None
        conf = {
            "bootstrap.servers": bootstrap,
            "group.id": group or f"collector-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            "fetch.wait.max.ms": 50,
            # Back quickly after a broker restart.
            "reconnect.backoff.max.ms": 1000,
        }
        conf.update(config or {})
        self._consumer = Consumer(conf)
        try:
            if group is None:
                md = self._consumer.list_topics(topic, timeout=start_timeout)
                t = md.topics.get(topic)
                if t is None or t.error is not None or not t.partitions:
                    raise KafkaEnvError(
                        f"Collector: topic {topic} not found on {bootstrap}: "
                        f"{t.error if t is not None else 'absent'}")
                self._consumer.assign([
                    TopicPartition(topic, p, OFFSET_BEGINNING)
                    for p in sorted(t.partitions)])
            else:
                self._consumer.subscribe([topic])
        except BaseException:
            self._consumer.close()
            raise
        self._thread = threading.Thread(target=self._run,
                                        name=f"collector-{topic}", daemon=True)
        self._thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                m = self._consumer.poll(0.1)
                if m is None:
                    continue
                if m.error() is not None:
                    with self._cond:
                        self.errors.append(m.error())
                        self._cond.notify_all()
                    continue
                msg = _to_message(m)
                with self._cond:
                    self.messages.append(msg)
                    self._cond.notify_all()
        except BaseException as e:  # surfaced by wait_for()
            with self._cond:
                self._failure = e
                self._cond.notify_all()
        finally:
            self._consumer.close()

    def snapshot(self):
        with self._cond:
            return list(self.messages)

    def wait_for(self, predicate: Callable[[List[Message]], Any],
                 timeout=30.0, what=None):
        """Waits until predicate(messages) is true and returns the messages
        seen by then; raises AssertionError after TIMEOUT seconds."""
        def ready():
            return self._failure is not None or predicate(self.messages)

        with self._cond:
            ok = self._cond.wait_for(ready, timeout)
            if self._failure is not None:
                raise KafkaEnvError(
                    f"Collector({self.topic}) failed: {self._failure!r}") \
                    from self._failure
            if not ok:
                tail = [(m.partition, m.offset, m.key, m.value)
                        for m in self.messages[-5:]]
                raise AssertionError(
                    f"Collector({self.topic}): {what or predicate} not met "
                    f"within {timeout}s; {len(self.messages)} messages, "
                    f"last {tail}, errors {[str(e) for e in self.errors[-5:]]}")
            return list(self.messages)

    def wait_count(self, n, timeout=30.0):
        return self.wait_for(lambda ms: len(ms) >= n, timeout,
                             what=f">= {n} messages")

    def close(self):
        self._stop.set()
        self._thread.join(30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def committed_lag(bootstrap, group, topic, timeout=10.0):
    """Total lag of GROUP on TOPIC: the sum over all partitions of the high
    watermark minus the committed offset. A partition without a committed
    offset counts from its low watermark (everything in it is unconsumed)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        md = c.list_topics(topic, timeout=timeout)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            raise KafkaEnvError(f"committed_lag: topic {topic}: "
                                f"{t.error if t is not None else 'absent'}")
        tps = [TopicPartition(topic, p) for p in sorted(t.partitions)]
        committed = c.committed(tps, timeout=timeout)
        lag = 0
        for tp in committed:
            if tp.error is not None:
                raise KafkaEnvError(f"committed_lag: {tp}: {tp.error}")
            low, high = c.get_watermark_offsets(
                TopicPartition(topic, tp.partition), timeout=timeout)
            start = tp.offset if tp.offset >= 0 else low  # OFFSET_INVALID
            lag += max(0, high - start)
        return lag
    finally:
        c.close()


__all__ = [
    "BROKER_SH", "MOCK_KAFKA", "BrokerStartError", "Collector",
    "KafkaEnvError", "Message", "MockCluster", "RealBroker", "committed_lag",
    "create_topic", "produce",
]
