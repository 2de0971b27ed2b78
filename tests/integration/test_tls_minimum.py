"""Calls refuse TLS older than 1.2 (CURLOPT_SSLVERSION in src/http.c;
issue 11, item 6), even where OpenSSL's own configuration would allow it.

Debian's OpenSSL already refuses TLS 1.1 by default, which would hide a
worker that asks for nothing better; so the worker and the server here
both run with an OpenSSL configuration that allows TLS 1.0 and up. A
TLS 1.1-only `openssl s_server` then must fail the handshake."""

import os
import re
import shutil
import subprocess
import time

import pytest

import harness
from harness import TOPIC_OUTCOMES, TOPIC_REQUESTS, Worker, call_outcomes
from kafka_env import Collector, produce
from test_hardening import free_port
from test_pipeline import outcomes_of, single_call_request, wait_summaries

PERMISSIVE = """openssl_conf = default_conf
[default_conf]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1
CipherString = DEFAULT:@SECLEVEL=0
"""


def wait_for_accept(log, proc, timeout=10):
    """s_server prints ACCEPT once it listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log.seek(0)
        if "ACCEPT" in log.read():
            return
        assert proc.poll() is None, "openssl s_server exited"
        time.sleep(0.05)
    raise AssertionError("openssl s_server did not start")


@pytest.fixture
def tls11_server(workdir):
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed (package openssl)"
    conf = os.path.join(workdir, "openssl-permissive.cnf")
    with open(conf, "w") as f:
        f.write(PERMISSIVE)
    key, cert = (os.path.join(workdir, n) for n in ("k.pem", "c.pem"))
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    port = free_port()
    log = open(os.path.join(workdir, "s_server.log"), "w+")
    env = dict(os.environ, OPENSSL_CONF=conf)
    proc = subprocess.Popen(
        [openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", cert,
         "-key", key, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", "-www"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    wait_for_accept(log, proc)
    yield port, conf, log
    proc.kill()
    proc.wait()
    log.close()


def test_a_tls_1_1_endpoint_is_refused(workdir, provider, mock_kafka, tls11_server):
    port, conf, log = tls11_server
    path = harness.worker_config(os.path.join(workdir, "worker.conf"),
                                 mock_kafka.bootstrap, provider.port,
                                 limits={"max_attempts": 1})
    with open(path) as f:
        text = f.read()
    # The Vectara account goes to the TLS 1.1 server instead; it is
    # loopback, so an unverified certificate is allowed.
    text, n = re.subn(
        r'base_url = "http://127\.0\.0\.1:\d+/vectara"; allow_plain_http = true;',
        f'base_url = "https://127.0.0.1:{port}/vectara"; tls_verify = false;',
        text)
    assert n == 1
    with open(path, "w") as f:
        f.write(text)
    w = Worker(path, workdir, env={"OPENSSL_CONF": conf})
    with Collector(mock_kafka.bootstrap, TOPIC_OUTCOMES) as col:
        produce(mock_kafka.bootstrap, TOPIC_REQUESTS,
                [single_call_request("r-tls11", "vectara")])
        msgs = wait_summaries(col, ["r-tls11"], timeout=60)
    assert w.terminate() == 0
    v = call_outcomes(outcomes_of(msgs, "r-tls11"))[0].value
    assert v["status"] == "failed", v
    # Refused in the handshake: no HTTP exchange at all (s_server -www
    # would have answered a request with an empty reply).
    assert "http_status" not in v or v["http_status"] in (None, 0), v
    err = v["error"].lower()
    assert "ssl" in err or "tls" in err or "protocol" in err, v
    assert "empty reply" not in err, v
