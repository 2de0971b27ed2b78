"""The alert rules pass `promtool check rules` and their unit tests
(`promtool test rules`), and those tests are not vacuous: a doctored copy
of the rules with a threshold moved fails them."""

import os
import re
import shutil
import subprocess

import yaml

import harness

PROM_DIR = os.path.join(harness.SOURCE_DIR, "deploy", "prometheus")
RULES = "erasure-worker-rules.yaml"
TESTS = "erasure-worker-rules.test.yaml"


def promtool(*args, cwd):
    # Never skipped: install-deps.sh installs Debian's prometheus package.
    assert shutil.which("promtool"), "promtool missing: run scripts/install-deps.sh"
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_promtool_check_rules():
    r = promtool("check", "rules", RULES, cwd=PROM_DIR)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 11 rules found" in r.stdout


def test_promtool_test_rules():
    r = promtool("test", "rules", TESTS, cwd=PROM_DIR)
    assert r.returncode == 0, r.stdout + r.stderr


def doctored(tmp_path, old, new):
    shutil.copy(os.path.join(PROM_DIR, TESTS), tmp_path)
    text = open(os.path.join(PROM_DIR, RULES)).read()
    assert old in text
    (tmp_path / RULES).write_text(text.replace(old, new, 1))
    return promtool("test", "rules", TESTS, cwd=str(tmp_path))


def test_rule_tests_catch_a_moved_threshold(tmp_path):
    r = doctored(tmp_path, "> 0.05", "> 0.5")
    assert r.returncode != 0
    assert "alertname: ErasureProviderErrorRate" in r.stdout + r.stderr


def test_rule_tests_catch_a_dropped_history_guard(tmp_path):
    r = doctored(tmp_path, "max by (partition) (erasure_committed_offset offset 30m)",
                 "max by (partition) (erasure_committed_offset)")
    assert r.returncode != 0
    assert "alertname: ErasureOldestRequestTooOld" in r.stdout + r.stderr


def heading_anchor(title):
    """GitHub's anchor for a Markdown heading."""
    a = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return a.replace(" ", "-")


def test_every_alert_has_a_runbook_section():
    with open(os.path.join(PROM_DIR, RULES)) as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
    with open(os.path.join(harness.SOURCE_DIR, "docs", "operations.md")) as f:
        anchors = {heading_anchor(m) for m in
                   re.findall(r"^#{2,4} (.+)$", f.read(), re.M)}
    for r in rules:
        url = r["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/operations.md", url
        assert anchor == r["alert"].lower() and anchor in anchors, \
            f"{r['alert']}: no section '### {r['alert']}' in docs/operations.md"
