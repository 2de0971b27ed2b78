"""Which metric names the dashboard and the alert rules use, and whether a
worker exposes them.

Metric names are read from PromQL by a small tokenizer rather than a PromQL
parser (none ships in Debian's Python): strings, label matchers, ranges and
grouping label lists are removed, then every identifier that is not a
function call, a keyword or a number is a metric name. Grafana's
label_values(METRIC, LABEL) queries count METRIC.

Usable as a program too:
  metric_names.py METRICS_TEXT_FILE DASHBOARD.json RULES.yaml
prints each problem and exits 1 if there is one."""

import json
import re
import sys

import yaml

# Not from the worker: the Kafka exporter (danielqsj/kafka_exporter) and
# kube-state-metrics, named in deploy/prometheus/erasure-worker-rules.yaml.
EXTERNAL = {
    "kafka_consumergroup_lag",
    "kafka_topic_partitions",
    "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_horizontalpodautoscaler_spec_max_replicas",
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
            "and", "or", "unless", "bool", "offset", "inf", "nan"}
GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def names_in_expr(expr):
    """The metric names one PromQL expression (or Grafana query) uses."""
    names = set(re.findall(r"label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,",
                           expr))
    e = re.sub(r"label_values\([^)]*\)", " ", expr)
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', e)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(GROUPING, " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)  # Grafana variables
    e = re.sub(r"(?<![A-Za-z0-9_:])\d[A-Za-z0-9_.]*", " ", e)  # 5m, 1e3
    for m in IDENT.finditer(e):
        word = m.group(0)
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def dashboard_exprs(path):
    with open(path) as f:
        dash = json.load(f)
    exprs = []

    def walk(panels):
        for p in panels:
            exprs.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            exprs.append(q["query"] if isinstance(q, dict) else q)
    return exprs


def rules_exprs(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def exposed_names(text):
    """Names a Prometheus text exposition offers: every family in a # TYPE
    line (with _bucket/_sum/_count for histograms) and every sample."""
    names = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) in ("histogram", "summary"):
                names |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
        elif line and not line.startswith("#"):
            names.add(IDENT.match(line).group(0))
    return names


def problems(sources, exposed):
    """sources: {where: [expr, ...]}. Every name must be exposed by the
    worker or be one of EXTERNAL; a source using no worker metric at all
    is reported too (the scan would be vacuous)."""
    out = []
    for where, exprs in sources.items():
        used = set()
        for e in exprs:
            used |= names_in_expr(e)
        for n in sorted(used - exposed - EXTERNAL):
            out.append(f"{where}: metric {n} is not exposed by the worker"
                       + ("" if n.startswith("erasure_") else
                          " and is not a known external metric"))
        if not used & exposed:
            out.append(f"{where}: uses no metric of the worker")
    return out


def main(argv):
    with open(argv[1]) as f:
        exposed = exposed_names(f.read())
    found = problems({argv[2]: dashboard_exprs(argv[2]),
                      argv[3]: rules_exprs(argv[3])}, exposed)
    for p in found:
        print(p)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
