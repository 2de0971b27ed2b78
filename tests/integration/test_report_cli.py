"""`erasure-worker report` arguments and an empty period, over the mock
cluster (the real-broker tier, test_report_real_kafka.py, has the data)."""

import os

import harness
from harness import run_cli, worker_config


def config(workdir, kafka, provider):
    return worker_config(os.path.join(workdir, "r.conf"), kafka.bootstrap,
                         provider.port)


def test_bad_arguments_exit_2(workdir, provider, mock_kafka):
    cfg = config(workdir, mock_kafka, provider)
    for args in (["--format", "csv"],                       # no --since
                 ["--since", "last tuesday"],
                 ["--since", "2026-11-01", "--until", "2026-13-01"],
                 ["--since", "2026-11-01", "--format", "pdf"]):
        r = run_cli("report", "-c", cfg, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert "report needs --since" in r.stderr
        assert r.stdout == ""


def test_empty_period_is_a_header_and_exit_0(workdir, provider, mock_kafka):
    cfg = config(workdir, mock_kafka, provider)
    r = run_cli("report", "-c", cfg, "--since", "2026-01-01", "--format", "csv",
                timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("request_id,source,requested_at,")
    assert len(r.stdout.splitlines()) == 1  # the header only


def test_unreachable_broker_exits_1(workdir, provider):
    cfg = worker_config(os.path.join(workdir, "r.conf"),
                        f"127.0.0.1:{harness.free_port()}", provider.port)
    r = run_cli("report", "-c", cfg, "--since", "2026-01-01", timeout=60)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "report:" in r.stderr
