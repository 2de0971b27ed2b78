"""A vendor that echoes the credentials it received (raw, percent-encoded
or base64) in its error body, on 4xx and 5xx answers: no run of 8 or more
bytes of any secret, in any of those forms, may reach the worker's log,
its outcome events or the dead-letter headers (issue 11).

Runs over the mock cluster and the provider server's echo faults."""

import base64
import json
import os
import urllib.parse

import pytest

import harness
from harness import TOPIC_DLQ, TOPIC_OUTCOMES, TOPIC_REQUESTS, request
from kafka_env import Collector, produce
from test_pipeline import ALL_FIVE, outcomes_of, start_worker, wait_summaries

# Secrets with bytes that percent-encoding and base64 change, so each form
# differs from the raw value.
ECHO_SECRETS = {
    "VECTARA_API_KEY": "vk+SENTINEL/7f3a=9c vectara",
    "CONVAI_API_KEY": "ck/SENTINEL+51b2e0=convai",
    "ALGOLIA_API_KEY": "ak SENTINEL%c0d3e4&algolia",
    "AVAAMO_ACCESS_TOKEN": "at=SENTINEL?9e8d7c#avaamo",
}
RUN = 8

# Dots before the echo so that the secret straddles the 160-byte cut of the
# provider's text: "credentials received: x-api-key=" is 32 bytes, and
# Algolia's key follows its 76-byte application id part.
VECTARA_PAD = 120
ALGOLIA_PAD = 80


def percent(s, hexdigits="0123456789ABCDEF"):
    out = []
    for b in s.encode():
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in "-._~"):
            out.append(c)
        else:
            out.append("%" + hexdigits[b >> 4] + hexdigits[b & 15])
    return "".join(out)


def base64_forms(s):
    """The base64 characters made of the secret's bits alone, at each of
    the three byte offsets it can start at (a Basic credential is
    base64("user:secret")), standard and URL-safe alphabets."""
    raw = s.encode()
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + raw).decode()
        core = enc[(8 * shift + 5) // 6:8 * (shift + len(raw)) // 6]
        yield core
        yield core.replace("+", "-").replace("/", "_")


def secret_forms(s):
    return [s, percent(s), percent(s, "0123456789abcdef"),
            urllib.parse.quote_plus(s), *base64_forms(s)]


def leaks(text):
    """Every (secret name, form, run) whose 8-byte run occurs in text."""
    found = []
    for name, value in ECHO_SECRETS.items():
        for form in secret_forms(value):
            for i in range(len(form) - RUN + 1):
                if form[i:i + RUN] in text:
                    found.append((name, form, form[i:i + RUN]))
    return found


def start_echo_server(workdir, mode):
    """A provider server whose keys are ECHO_SECRETS and whose every vendor
    answers with an error that echoes the credentials it got."""
    s = harness.ProviderServer(workdir, [
        "--vectara-key", ECHO_SECRETS["VECTARA_API_KEY"],
        "--convai-key", ECHO_SECRETS["CONVAI_API_KEY"],
        "--algolia-key", ECHO_SECRETS["ALGOLIA_API_KEY"],
        "--avaamo-token", ECHO_SECRETS["AVAAMO_ACCESS_TOKEN"],
    ])
    s.add_fault(provider="vectara", status=400, echo=mode, echo_pad=VECTARA_PAD)
    s.add_fault(provider="convai", status=503, echo=mode)
    s.add_fault(provider="algolia", status=500, echo=mode, echo_pad=ALGOLIA_PAD)
    s.add_fault(provider="avaamo", status=401, echo=mode)
    return s


def headers_text(messages):
    return "\n".join(f"{k}: {v}" for m in messages
                     for k, v in m.headers.items() if v is not None)


@pytest.mark.parametrize("mode", ["raw", "percent", "base64"])
def test_echoed_credentials_never_leave(workdir, mock_kafka, mode):
    server = start_echo_server(workdir, mode)
    rid = f"r-echo-{mode}"
    try:
        w = start_worker(workdir, mock_kafka, server, env=ECHO_SECRETS,
                         limits={"max_attempts": 2, "backoff_base_ms": 10,
                                 "backoff_max_ms": 20})
        with Collector(mock_kafka.bootstrap, TOPIC_DLQ) as dlq, \
                Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
            produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                    [request(rid, *ALL_FIVE)])
            msgs = wait_summaries(col, [rid])
            dead = dlq.wait_count(1)
        assert w.terminate() == 0
        calls = server.calls()
    finally:
        server.stop()

    # Not vacuous: the worker sent the secrets, and each vendor quoted them.
    sent = json.dumps([c["headers"] for c in calls])
    for value in ECHO_SECRETS.values():
        assert json.dumps(value)[1:-1] in sent
    outcomes = outcomes_of(msgs, rid)
    errors = {m.value["provider"]: m.value["error"] for m in outcomes
              if m.value.get("error")}
    assert set(errors) == {"vectara", "convai", "algolia", "avaamo"}, errors
    for p in ("vectara", "convai", "algolia"):
        assert "credentials received:" in errors[p] and "*" in errors[p], errors
    assert errors["avaamo"] == "HTTP 401: credentials refused"
    failed_calls = dead[0].headers["erasure-failed-calls"]
    assert "credentials received:" in failed_calls

    places = {
        "log": w.log_text(),
        "outcome values": "\n".join(m.raw_value.decode(errors="replace")
                                    for m in msgs),
        "outcome headers": headers_text(msgs),
        "dead-letter headers": headers_text(dead),
    }
    for where, text in places.items():
        assert leaks(text) == [], where
