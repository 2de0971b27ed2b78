"""No drift between the operations kit and the worker: every metric name
deploy/grafana/erasure-worker.json and deploy/prometheus/erasure-worker-
rules.yaml use must be on a live worker's /metrics (over the mock cluster),
or be one of the few external exporters' metrics the rules name. The
checker is shown to catch a renamed metric on doctored copies."""

import json
import os
import subprocess
import sys
import urllib.request

import pytest

import harness
import metric_names
from harness import TOPIC_DLQ, TOPIC_OUTCOMES, TOPIC_REQUESTS, Worker, worker_config
from kafka_env import MockCluster

DASHBOARD = os.path.join(harness.SOURCE_DIR, "deploy", "grafana",
                         "erasure-worker.json")
RULES = os.path.join(harness.SOURCE_DIR, "deploy", "prometheus",
                     "erasure-worker-rules.yaml")
CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "metric_names.py")


@pytest.fixture(scope="module")
def scrape(tmp_path_factory):
    """A running worker's /metrics text, saved to a file."""
    d = str(tmp_path_factory.mktemp("ops"))
    provider = harness.ProviderServer(d)
    cluster = MockCluster(topics={TOPIC_REQUESTS: 3, TOPIC_OUTCOMES: 3,
                                  TOPIC_DLQ: 1}).start()
    port = harness.free_port()
    w = Worker(worker_config(os.path.join(d, "w.conf"), cluster.bootstrap,
                             provider.port, metrics_port=port), d)
    try:
        harness.wait_ready(port, w)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                    timeout=5) as r:
            text = r.read().decode()
        assert w.terminate() == 0
    finally:
        if w.alive():
            w.kill()
        cluster.close()
        provider.stop()
    path = os.path.join(d, "metrics.txt")
    with open(path, "w") as f:
        f.write(text)
    return path


def run_checker(metrics, dashboard, rules):
    return subprocess.run([sys.executable, CHECKER, metrics, dashboard, rules],
                          capture_output=True, text=True, timeout=60)


def test_names_in_expr_reads_promql():
    f = metric_names.names_in_expr
    assert f('sum by (provider, le) (rate(a_bucket{x="b c", y=~"$v"}[5m]))') \
        == {"a_bucket"}
    assert f("x > on () max(y{t=\"z\"}) and ignoring (p) z offset 5m") \
        == {"x", "y", "z"}
    assert f("deriv(sum(lag)[30m:1m]) > 0 and bool 1e3") == {"lag"}
    assert f("label_values(erasure_calls_total, provider)") \
        == {"erasure_calls_total"}
    assert f("histogram_quantile(0.99, sum by (le) (rate(h[$__rate_interval])))") \
        == {"h"}


def test_exposed_names_include_histogram_series():
    text = ("# TYPE h histogram\n# TYPE c counter\nc 1\n"
            "# TYPE g gauge\ng{p=\"1\"} 2\n")
    assert metric_names.exposed_names(text) == {
        "h", "h_bucket", "h_sum", "h_count", "c", "g"}


def test_dashboard_and_rules_use_only_exposed_metrics(scrape):
    r = run_checker(scrape, DASHBOARD, RULES)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(scrape) as f:
        exposed = metric_names.exposed_names(f.read())
    used = set()
    for e in metric_names.dashboard_exprs(DASHBOARD) + \
            metric_names.rules_exprs(RULES):
        used |= metric_names.names_in_expr(e)
    # Not vacuous: the kit covers most of what the worker exports.
    assert len(used & exposed) >= 14, sorted(used & exposed)


def test_a_renamed_metric_fails_the_check(scrape, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(open(RULES).read().replace(
        "erasure_producer_healthy", "erasure_producer_ok"))
    with open(DASHBOARD) as f:
        dash = json.load(f)
    text = json.dumps(dash).replace("erasure_call_duration_seconds_bucket",
                                    "erasure_call_duration_bucket")
    dashboard = tmp_path / "dashboard.json"
    dashboard.write_text(text)
    r = run_checker(scrape, str(dashboard), str(rules))
    assert r.returncode == 1
    assert "metric erasure_producer_ok is not exposed" in r.stdout
    assert "metric erasure_call_duration_bucket is not exposed" in r.stdout


def test_a_metric_the_worker_drops_fails_the_check(scrape, tmp_path):
    """The other direction: the worker renames a metric the kit uses."""
    metrics = tmp_path / "metrics.txt"
    metrics.write_text(open(scrape).read().replace(
        "erasure_paused_partitions", "erasure_partitions_paused"))
    r = run_checker(str(metrics), DASHBOARD, RULES)
    assert r.returncode == 1
    assert "metric erasure_paused_partitions is not exposed" in r.stdout


def test_an_unknown_external_metric_fails_the_check(scrape, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(open(RULES).read().replace(
        "kafka_consumergroup_lag", "kafka_consumer_group_lag"))
    r = run_checker(scrape, DASHBOARD, str(rules))
    assert r.returncode == 1
    assert "kafka_consumer_group_lag is not exposed by the worker and is " \
        "not a known external metric" in r.stdout


def test_dashboard_is_well_formed():
    """Grafana refuses duplicate panel ids; every query needs a data source
    variable and a refId, and panels must not overlap."""
    with open(DASHBOARD) as f:
        dash = json.load(f)
    panels = dash["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps"
                cells.add((x, y))
        for t in p.get("targets", []):
            assert t["refId"] and t["datasource"]["uid"] == "${datasource}"
    assert {v["name"] for v in dash["templating"]["list"]} >= {"datasource"}
