#!/usr/bin/env python3
"""Offline validation of deploy/: the Dockerfile and the Kubernetes manifests.

Run through deploy/validate.sh, which provides the virtualenv (PyYAML,
jsonschema and kubernetes-validate's bundled Kubernetes schemas).

1. Every YAML file under deploy/kubernetes parses, with no duplicate keys.
2. Every kustomization is rendered (kustomize or `kubectl kustomize`, with
   --load-restrictor LoadRestrictionsNone since the ConfigMap comes from the
   repository's config/). Without kustomize, the base alone is assembled
   from its files (resources + the generated ConfigMap) and the overlays
   are reported as not rendered.
3. Every rendered object, and every *.template.yaml, is validated against
   the Kubernetes JSON schemas of kubernetes-validate (strict: unknown
   fields are errors) for each version in --kube-versions, or, for the
   custom resources, against the schemas kept in deploy/schemas/.
4. The manifests agree with the code and the config they deploy: the
   settings are what `erasure-worker check-config --json` resolves from
   the rendered ConfigMap (so from config/, with the worker's own
   defaults), the rest is read from src/ -- nothing here hard-codes a
   port, a path or a deadline, and nothing re-parses libconfig:
     drain deadline + producer flush + margin <= terminationGracePeriodSeconds,
     probe paths = the routes src/metrics.c serves, probe and scrape port =
     metrics.port, POD_NAME for static membership, every secret env var
     the config names, mounted CA files, the KEDA trigger's topic, group,
     brokers and security against the config, maxReplicaCount <= the
     request topic's partitions, the NetworkPolicy's ports, the
     PodDisruptionBudget and the security context.
5. The Dockerfile: the build stage runs the README's build commands
   verbatim, the runtime stage installs the packages that hold the
   libraries the built binary needs (when a binary is given), runs as the
   non-root user the Deployment expects, and starts the worker with the
   config path the Deployment mounts.
5b. Every PrometheusRule under deploy/kubernetes validates against
   deploy/schemas/ and carries exactly the groups of
   deploy/prometheus/erasure-worker-rules.yaml (promtool's file).
6. `erasure-worker check-config` accepts each rendered ConfigMap as the
   pods will see it. The built binary is required (checks 4 and 6 need
   it); without one every bundle fails, naming ERASURE_BUILD_DIR.

Exit status 0 when everything holds, 1 otherwise; every problem is listed.
"""
import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import importlib_resources
import jsonschema
import referencing
import referencing.jsonschema
import yaml

# Time the worker may still need after its drain deadline before it exits:
# the close and flush end by the deadline (src/worker.c), this is process
# exit (destroying the clients) with room to spare.
CLOSE_MARGIN_MS = 5000
# Packages every Debian slim image already has.
BASE_IMAGE_PACKAGES = {"libc6"}
# Runtime packages that no ELF dependency explains but the worker needs.
RUNTIME_EXTRA_PACKAGES = {"ca-certificates"}
PARTITIONS_ANNOTATION = "erasure-worker/request-topic-partitions"
SASL_TO_KEDA = {
    "PLAIN": "plaintext",
    "SCRAM-SHA-256": "scram_sha256",
    "SCRAM-SHA-512": "scram_sha512",
    "GSSAPI": "gssapi",
    "OAUTHBEARER": "oauthbearer",
}


class Report:
    def __init__(self):
        self.errors = []
        self.checks = 0

    def check(self, ok, where, msg):
        self.checks += 1
        if not ok:
            self.errors.append(f"{where}: {msg}")
        return ok

    def error(self, where, msg):
        self.check(False, where, msg)

    @staticmethod
    def note(msg):
        print(f"validate: {msg}")


# ---------------------------------------------------------------- YAML


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML keeps the
    last one silently; so would the API server's decoder)."""


def _mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml_docs(text, where):
    docs = yaml.load_all(text, Loader=StrictLoader)
    out = []
    for d in docs:
        if d is None:
            continue
        if not isinstance(d, dict):
            raise ValueError(f"{where}: a document is not a mapping")
        out.append(d)
    return out


# ------------------------------------------------------- code and config


def _need(pattern, text, what, fname, flags=0):
    m = re.search(pattern, text, flags)
    if not m:
        raise LookupError(
            f"{fname}: cannot find {what}; the code changed shape: update "
            f"deploy/validate.py so the check keeps reading it from the code")
    return m


class CodeFacts:
    """What the deployment depends on that is code, not a setting: the
    routes src/metrics.c serves, the producer flush of src/worker.c and
    librdkafka's auto.offset.reset default in src/kafka.c. Settings and
    their defaults come from `erasure-worker check-config --json`."""

    def __init__(self, repo):
        def read(rel):
            with open(os.path.join(repo, rel), encoding="utf-8") as f:
                return f.read()

        # The routes moved to src/metrics_http.c; either file may hold them.
        metrics = "".join(read(f) for f in ("src/metrics.c", "src/metrics_http.c")
                          if os.path.exists(os.path.join(repo, f)))
        routes = re.findall(
            r"strcmp\(\s*url\s*,\s*\"(/[^\"]*)\"\s*\)\s*==\s*0\s*\)\s*return\s+(serve_\w+)",
            metrics)
        self.route_of = {handler: path for path, handler in routes}
        for handler in ("serve_healthz", "serve_readyz", "serve_metrics"):
            if handler not in self.route_of:
                raise LookupError(
                    f"src/metrics.c: cannot find the route served by {handler}")

        worker = read("src/worker.c")
        # kafka_close(w->kafka, w->stop_deadline): the close and the flush
        # end by the drain deadline itself, nothing is added after it.
        close = _need(r"kafka_close\(\s*w->kafka\s*,\s*(\d+|w->stop_deadline)\s*\)",
                      worker, "the deadline of kafka_close()", "src/worker.c").group(1)
        self.flush_ms = 0 if close == "w->stop_deadline" else int(close)
        kafka = read("src/kafka.c")
        self.offset_reset_default = _need(
            r"\"auto\.offset\.reset=(\w+)\"", kafka,
            "the default auto.offset.reset", "src/kafka.c").group(1)


def _props(items):
    out = {}
    for kv in items or []:
        if isinstance(kv, str) and "=" in kv:
            k, v = kv.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _hostports(servers):
    out = []
    for hp in servers.split(","):
        hp = hp.strip()
        if not hp:
            continue
        host, _, port = hp.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"bad host:port {hp!r}")
        out.append((host.strip("[]"), int(port)))
    return out


def _url_port(url):
    m = re.match(r"^(https?)://(\[[^\]]+\]|[^/:?#]+)(?::(\d+))?", url)
    if not m:
        return None
    return int(m.group(3)) if m.group(3) else (443 if m.group(1) == "https" else 80)


class ConfigFacts:
    """What the worker will do with one config: the settings as the worker
    itself resolves them (`check-config --json`), so nothing here re-reads
    libconfig or repeats the worker's defaults."""

    def __init__(self, resolved, code):
        self.resolved = resolved
        self.drain_ms = int(resolved["worker"]["drain_timeout_ms"])
        metrics = resolved["metrics"]
        self.metrics_bind = metrics["bind"]
        self.metrics_port = int(metrics["port"])
        kafka = resolved["kafka"]
        self.from_env = dict(kafka["properties_from_env"])
        # Properties written in the file; those from the environment are
        # masked in the JSON and known here only by their variable.
        self.kafka = {k: v for k, v in kafka["properties"].items()
                      if k not in self.from_env}
        self.consumer = dict(kafka["consumer"])
        self.group_id = kafka["group_id"]
        self.static_env = kafka["static_membership_env"]
        self.topic_requests = resolved["topics"]["requests"]
        self.offset_reset = self.consumer.get(
            "auto.offset.reset", self.kafka.get("auto.offset.reset", code.offset_reset_default))
        accounts = resolved["accounts"]
        # Environment variables that must hold secrets.
        self.secret_env = set(self.from_env.values())
        for acct in accounts:
            self.secret_env.update(acct["secret_env"].values())
        # Ports the vendors are reached on, from the resolved base URLs.
        self.vendor_ports = {_url_port(a["base_url"]) for a in accounts}
        self.vendor_ports.discard(None)
        self.file_props = {k: v for k, v in self.kafka.items()
                           if k in ("ssl.ca.location", "ssl.certificate.location",
                                    "ssl.key.location", "ssl.keystore.location",
                                    "sasl.kerberos.keytab")}

    def bootstrap(self, override=None):
        return override or self.kafka.get("bootstrap.servers", "")


# ------------------------------------------------------------ schemas


class Schemas:
    def __init__(self, deploy_dir, versions, report):
        self.repo_dir = os.path.join(deploy_dir, "schemas")
        self.report = report
        self.kv = importlib_resources.files("kubernetes_validate") / "kubernetes-json-schema"
        available = sorted(
            (re.match(r"v(\d+\.\d+)", p.name).group(1) for p in self.kv.iterdir()
             if re.match(r"v\d+\.\d+.*-local-strict$", p.name)),
            key=lambda v: tuple(int(x) for x in v.split(".")))
        self.versions = []
        for v in versions:
            v = "latest" if v == "latest" else re.sub(r"^v", "", v)
            mm = available[-1] if v == "latest" else ".".join(v.split(".")[:2])
            if mm not in available:
                raise SystemExit(f"validate: Kubernetes {v} not among the schemas "
                                 f"kubernetes-validate ships ({available[0]}..{available[-1]})")
            if mm not in self.versions:
                self.versions.append(mm)
        self._validators = {}
        self._registries = {}
        self._seen = set()

    def _kv_json(self, version, name):
        path = self.kv / f"v{version}.0-local-strict" / name
        if not path.is_file():
            return None
        return json.loads(path.read_text())

    def _validator(self, version, api_version, kind):
        key = (version, api_version, kind)
        if key in self._validators:
            return self._validators[key]
        group, _, ver = api_version.rpartition("/")
        repo_schema = os.path.join(self.repo_dir, group, ver, f"{kind}.json")
        validator = None
        if version == "repo":
            with open(repo_schema, encoding="utf-8") as f:
                schema = json.load(f)
            validator = jsonschema.Draft202012Validator(schema)
        else:
            api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
            schema = self._kv_json(version, f"{kind.lower()}-{api}.json")
            if schema is not None:
                if version not in self._registries:
                    defs = self._kv_json(version, "_definitions.json")
                    # Schemas refer to "/api/_definitions.json#/$defs/…",
                    # resolved against their $id on kubernetes.io.
                    self._registries[version] = referencing.Registry().with_resource(
                        defs["$id"],
                        referencing.Resource.from_contents(
                            defs, default_specification=referencing.jsonschema.DRAFT202012))
                registry = self._registries[version]
                validator = jsonschema.Draft202012Validator(schema, registry=registry)
        self._validators[key] = validator
        return validator

    def validate(self, doc, where):
        api_version, kind = doc.get("apiVersion"), doc.get("kind")
        name = (doc.get("metadata") or {}).get("name", "?")
        label = f"{where}: {kind}/{name}"
        if not isinstance(api_version, str) or not isinstance(kind, str):
            self.report.error(label, "apiVersion and kind are required strings")
            return
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
        # A schema kept in the repository (custom resources) is checked
        # once; Kubernetes' own kinds once per Kubernetes version.
        group, _, ver = api_version.rpartition("/")
        repo_schema = os.path.join(self.repo_dir, group, ver, f"{kind}.json")
        if group and os.path.isfile(repo_schema):
            runs = [("repo", "deploy/" + os.path.relpath(repo_schema, os.path.dirname(self.repo_dir)))]
        else:
            runs = [(v, f"Kubernetes {v}") for v in self.versions]
        for version, source in runs:
            if (digest, version) in self._seen:
                continue
            self._seen.add((digest, version))
            validator = self._validator(version, api_version, kind)
            if validator is None:
                self.report.error(label, f"no schema for {api_version} {kind} ({source}); "
                                         f"add one under deploy/schemas/")
                continue
            errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
            self.report.checks += 1
            for e in errors[:5]:
                path = ".".join(str(p) for p in e.absolute_path) or "(top)"
                self.report.errors.append(
                    f"{label}: schema ({source}): {path}: {e.message[:300]}")


# ------------------------------------------------------------ rendering


def find_kustomize():
    """A command rendering a kustomization, or None. Needs kustomize >= 4
    (the `patches` field); Debian's kubernetes-client 1.20 embeds 2.0."""
    if shutil.which("kustomize"):
        return ["kustomize", "build", "--load-restrictor", "LoadRestrictionsNone"]
    if shutil.which("kubectl"):
        try:
            out = subprocess.run(["kubectl", "version", "--client", "-o", "json"],
                                 capture_output=True, text=True, timeout=30)
            ver = json.loads(out.stdout).get("kustomizeVersion", "")
        except (OSError, ValueError, subprocess.SubprocessError):
            ver = ""
        m = re.match(r"v?(\d+)", ver)
        if m and int(m.group(1)) >= 4:
            return ["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone"]
    return None


def render_kustomize(cmd, kdir):
    out = subprocess.run(cmd + [kdir], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise ValueError(f"{' '.join(cmd)} {kdir} failed: {out.stderr.strip()[:2000]}")
    return load_yaml_docs(out.stdout, kdir)


def render_files(kdir):
    """The base without kustomize: its resources and its generated
    ConfigMaps (no hash suffix), with `images` applied."""
    with open(os.path.join(kdir, "kustomization.yaml"), encoding="utf-8") as f:
        kust = load_yaml_docs(f.read(), kdir)[0]
    docs = []
    for res in kust.get("resources", []):
        path = os.path.join(kdir, res)
        if os.path.isdir(path):
            raise ValueError(f"{kdir}: resource {res} is a kustomization; needs kustomize")
        with open(path, encoding="utf-8") as f:
            docs += load_yaml_docs(f.read(), path)
    for gen in kust.get("configMapGenerator", []):
        data = {}
        for spec in gen.get("files", []):
            key, _, rel = spec.partition("=") if "=" in spec else (os.path.basename(spec), "", spec)
            with open(os.path.join(kdir, rel), encoding="utf-8") as f:
                data[key] = f.read()
        docs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": gen["name"]}, "data": data})
    images = {i["name"]: i for i in kust.get("images", [])}
    for d in docs:
        for c in _pod_spec(d).get("containers", []) if _pod_spec(d) else []:
            img = images.get(c.get("image", "").split(":")[0])
            if img:
                c["image"] = f"{img.get('newName', img['name'])}:{img.get('newTag', 'latest')}"
    return docs


def _pod_spec(doc):
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    return None


# -------------------------------------------------------- Dockerfile


def parse_dockerfile(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    instrs, buf = [], ""
    for line in lines:
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        op, _, rest = buf.strip().partition(" ")
        instrs.append((op.upper(), rest.strip()))
        buf = ""
    args, stages = {}, []
    for op, rest in instrs:
        if op == "ARG" and not stages:
            k, _, v = rest.partition("=")
            args[k.strip()] = v.strip().strip('"')
        elif op == "FROM":
            parts = rest.split()
            parts = [p for p in parts if not p.startswith("--")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].lower() == "as" else None
            stages.append({"image": image, "name": name, "instrs": []})
        elif stages:
            stages[-1]["instrs"].append((op, rest))
    return stages


class DockerFacts:
    def __init__(self, repo, deploy_dir, binary, report):
        self.ok = False
        where = "deploy/Dockerfile"
        path = os.path.join(deploy_dir, "Dockerfile")
        if not report.check(os.path.isfile(path), where, "missing"):
            return
        stages = parse_dockerfile(path)
        if not report.check(len(stages) >= 2, where, "needs a build stage and a runtime stage"):
            return
        final = stages[-1]
        # The README's build commands, verbatim, from the script it runs.
        with open(os.path.join(repo, "scripts/demo.sh"), encoding="utf-8") as f:
            demo = [ln.strip() for ln in f if re.search(r"scripts/(install-deps|build)\.sh", ln)]
        build_runs = {}
        for st in stages[:-1]:
            for op, rest in st["instrs"]:
                if op == "RUN":
                    build_runs.setdefault(rest, st)
        for cmd in demo:
            st = build_runs.get(cmd)
            report.check(st is not None, where,
                         f"the build stage must RUN `{cmd}` exactly as scripts/demo.sh "
                         f"(the README's build) does")
        report.check(all(st["image"] == final["image"] for st in stages), where,
                     "build and runtime stages must use the same Debian image "
                     f"(found {sorted({s['image'] for s in stages})})")
        report.check(re.search(r"debian:[a-z]+-slim", final["image"]) is not None, where,
                     f"runtime base must be a Debian slim image, not {final['image']}")

        # Runtime: packages, user, entrypoint, port.
        pkgs = set()
        for op, rest in final["instrs"]:
            if op == "RUN" and "apt-get" in rest and "install" in rest:
                for part in re.split(r"&&|;", rest):
                    words = shlex.split(part)
                    if "apt-get" in words and "install" in words:
                        pkgs |= {w for w in words[words.index("install") + 1:]
                                 if not w.startswith("-")}
        self.runtime_packages = pkgs
        users = [rest for op, rest in final["instrs"] if op == "USER"]
        self.uid = self.gid = None
        if report.check(users, where, "runtime stage must set USER (non-root)"):
            m = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
            if report.check(m is not None, where,
                            f"USER must be numeric uid[:gid] so runAsNonRoot can verify it, "
                            f"not {users[-1]!r}"):
                self.uid = int(m.group(1))
                self.gid = int(m.group(2)) if m.group(2) else None
                report.check(self.uid != 0 and self.gid != 0, where, "USER must not be root")
        eps = [rest for op, rest in final["instrs"] if op == "ENTRYPOINT"]
        self.entrypoint = None
        if report.check(eps, where, "runtime stage needs an ENTRYPOINT"):
            try:
                ep = json.loads(eps[-1])
            except ValueError:
                ep = None
            if report.check(isinstance(ep, list), where,
                            "ENTRYPOINT must use the exec (JSON) form so the worker is "
                            "PID 1 and receives SIGTERM"):
                self.entrypoint = ep
                ok = (len(ep) == 4 and ep[0].endswith("/erasure-worker") and ep[1] == "run"
                      and ep[2] in ("-c", "--config") and ep[3].startswith("/"))
                report.check(ok, where, f"ENTRYPOINT must be [\"/…/erasure-worker\", \"run\", "
                                        f"\"-c\", \"/abs/config\"], not {ep}")
                copies = [rest for op, rest in final["instrs"] if op == "COPY"
                          and "--from=" in rest and rest.split()[-1] == ep[0]]
                report.check(copies, where, f"nothing copies the worker binary to {ep[0]}")
        self.config_path = self.entrypoint[3] if self.entrypoint and len(self.entrypoint) == 4 else None
        self.expose = {int(p.split("/")[0]) for op, rest in final["instrs"]
                       if op == "EXPOSE" for p in rest.split()}

        # Runtime libraries: every DT_NEEDED of the binary must come from a
        # package the runtime stage installs (or the base image has).
        if binary and shutil.which("readelf") and shutil.which("dpkg-query"):
            out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True)
            needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out.stdout)
            # One dpkg-query for all of them: each run reads dpkg's database.
            q = subprocess.run(["dpkg-query", "-S"] + [f"*/{lib}" for lib in needed],
                               capture_output=True, text=True)
            owner_of = {}
            for line in q.stdout.splitlines():
                pkgs_part, _, fpath = line.partition(": ")
                for pkg in pkgs_part.split(", "):
                    owner_of.setdefault(os.path.basename(fpath.strip()), pkg.split(":")[0])
            owners = set()
            for lib in needed:
                pkg = owner_of.get(lib)
                if report.check(pkg, where, f"{lib}: no Debian package owns it here"):
                    owners.add(pkg)
            missing = owners - pkgs - BASE_IMAGE_PACKAGES
            report.check(not missing, where,
                         f"runtime stage lacks {sorted(missing)}, needed by {binary}")
            extra = pkgs - owners - RUNTIME_EXTRA_PACKAGES
            report.check(not extra, where,
                         f"runtime stage installs {sorted(extra)}, which {binary} does not need")
            report.check(RUNTIME_EXTRA_PACKAGES <= pkgs, where,
                         f"runtime stage must install {sorted(RUNTIME_EXTRA_PACKAGES)} "
                         f"(the vendors' TLS certificates)")
            self.libs_checked = sorted(owners)
        else:
            self.libs_checked = None

        # .dockerignore keeps host build trees out of the context (a copied
        # CMakeCache.txt from another path breaks the build).
        di = os.path.join(repo, ".dockerignore")
        if report.check(os.path.isfile(di), ".dockerignore", "missing"):
            with open(di, encoding="utf-8") as f:
                pats = {ln.strip() for ln in f if ln.strip() and not ln.startswith("#")}
            for need in (".git", "build*"):
                report.check(need in pats or f"/{need}" in pats, ".dockerignore",
                             f"must exclude {need}")
        self.ok = True


# --------------------------------------------------------- consistency


def _int_or_pct_zero(v, default):
    if v is None:
        v = default
    if isinstance(v, str) and v.endswith("%"):
        return int(v[:-1]) == 0
    return int(v) == 0


def _matches(selector, labels):
    ml = (selector or {}).get("matchLabels") or {}
    return bool(ml) and all(labels.get(k) == v for k, v in ml.items())


def _prestop_ms(container):
    pre = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if "sleep" in pre:
        return int(pre["sleep"].get("seconds", 0)) * 1000
    cmd = " ".join(((pre.get("exec") or {}).get("command")) or [])
    m = re.search(r"\bsleep\s+(\d+)", cmd)
    if m:
        return int(m.group(1)) * 1000
    if pre:
        return None  # a hook whose duration we cannot know
    return 0


def resolve_config(binary, files, cfg_file):
    """`erasure-worker check-config --json` on the ConfigMap's files laid
    out as the pods see them, without any secret in the environment.
    Returns (settings, None) or (None, why)."""
    with tempfile.TemporaryDirectory() as tmp:
        for k, v in files.items():
            with open(os.path.join(tmp, k), "w", encoding="utf-8") as f:
                f.write(v)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        out = subprocess.run([binary, "check-config", "--json", "--no-secrets", "-c", os.path.join(tmp, cfg_file)],
                             capture_output=True, text=True, env=env, timeout=60)
    if out.returncode != 0:
        return None, (out.stderr or out.stdout).strip()[:500]
    try:
        return json.loads(out.stdout), None
    except ValueError as e:
        return None, f"check-config --json printed no JSON ({e})"


def check_bundle(name, docs, templates, code, docker, report, binary):
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), []).append(d)
    secrets = {}
    for d in templates + by_kind.get("Secret", []):
        if d.get("kind") == "Secret":
            keys = set((d.get("data") or {}).keys()) | set((d.get("stringData") or {}).keys())
            secrets[d["metadata"]["name"]] = keys
    W = name

    deployments = by_kind.get("Deployment", [])
    if not report.check(len(deployments) == 1, W, f"expected one Deployment, found {len(deployments)}"):
        return
    dep = deployments[0]
    Wd = f"{W}: Deployment/{dep['metadata']['name']}"
    pod = _pod_spec(dep)
    tmpl_labels = ((dep["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    containers = pod.get("containers") or []
    if not report.check(len(containers) == 1, Wd, "expected exactly one container (the worker)"):
        return
    c = containers[0]

    # --- the config the pods get
    cm_vols = {v["name"]: v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v}
    sec_vols = {v["name"]: v["secret"] for v in pod.get("volumes", []) if "secret" in v}
    mounts = {m["mountPath"].rstrip("/"): m["name"] for m in c.get("volumeMounts", [])}
    cfg_path = docker.config_path if docker and docker.config_path else None
    if not report.check(cfg_path, Wd, "no config path known (Dockerfile ENTRYPOINT)"):
        return
    report.check("command" not in c, Wd,
                 "must not set `command`: the image's ENTRYPOINT runs the worker with its config")
    cfg_dir, cfg_file = os.path.dirname(cfg_path), os.path.basename(cfg_path)
    vol = mounts.get(cfg_dir)
    if not report.check(vol in cm_vols, Wd,
                        f"the config directory {cfg_dir} (ENTRYPOINT -c {cfg_path}) must be a "
                        f"ConfigMap volume mount"):
        return
    cms = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    cm = cms.get(cm_vols[vol])
    if not report.check(cm is not None, Wd, f"ConfigMap {cm_vols[vol]} is not in the rendering"):
        return
    files = dict(cm.get("data") or {})
    if not report.check(cfg_file in files, Wd, f"ConfigMap {cm_vols[vol]} has no key {cfg_file}"):
        return
    # --- check-config on exactly what the pods will read
    if not report.check(binary, Wd, "the config checks need the built erasure-worker "
                                    "(set ERASURE_BUILD_DIR): its check-config --json "
                                    "says what the config means"):
        return
    resolved, why = resolve_config(binary, files, cfg_file)
    if not report.check(resolved is not None, Wd,
                        f"erasure-worker check-config rejects the ConfigMap: {why}"):
        return
    try:
        conf = ConfigFacts(resolved, code)
    except (ValueError, KeyError, TypeError) as e:
        report.error(Wd, f"check-config --json of ConfigMap {cm_vols[vol]}: "
                         f"unexpected shape ({type(e).__name__}: {e})")
        return

    # --- command-line overrides the Deployment passes
    args = c.get("args") or []
    brokers_override = None
    for i, a in enumerate(args):
        if a in ("-b", "--brokers") and i + 1 < len(args):
            brokers_override = args[i + 1]
        elif a.startswith("--brokers="):
            brokers_override = a.split("=", 1)[1]
        elif a == "--metrics-bind" and i + 1 < len(args):
            conf.metrics_bind = args[i + 1]
        elif a.startswith("--metrics-bind="):
            conf.metrics_bind = a.split("=", 1)[1]
    bootstrap = conf.bootstrap(brokers_override)
    try:
        kafka_hostports = _hostports(bootstrap)
    except ValueError as e:
        report.error(Wd, f"bootstrap.servers: {e}")
        kafka_hostports = []
    report.check(kafka_hostports, Wd, "no bootstrap.servers in the config")

    # --- graceful termination
    grace = pod.get("terminationGracePeriodSeconds", 30)
    pre_ms = _prestop_ms(c)
    if report.check(pre_ms is not None, Wd,
                    "preStop hook of unknown duration: use `sleep N` or the sleep action"):
        need_ms = pre_ms + conf.drain_ms + code.flush_ms + CLOSE_MARGIN_MS
        report.check(
            grace * 1000 >= need_ms, Wd,
            f"terminationGracePeriodSeconds {grace}s is too short: preStop {pre_ms} ms + "
            f"worker.drain_timeout_ms {conf.drain_ms} ms (config) + producer flush "
            f"{code.flush_ms} ms (src/worker.c) + exit margin {CLOSE_MARGIN_MS} ms = "
            f"{need_ms} ms; the kubelet would SIGKILL a worker still draining")

    # --- probes and metrics port
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
    report.check(conf.metrics_bind in ("0.0.0.0", "::"), Wd,
                 f"metrics.bind is {conf.metrics_bind!r}: the kubelet's probes and Prometheus "
                 f"reach the pod IP, so it must be 0.0.0.0 or ::")
    report.check(conf.metrics_port in ports.values(), Wd,
                 f"no containerPort {conf.metrics_port} (metrics.port) declared")
    if docker and docker.ok:
        report.check(conf.metrics_port in docker.expose, "deploy/Dockerfile",
                     f"EXPOSE {sorted(docker.expose)} does not include metrics.port "
                     f"{conf.metrics_port}")
    want = {"startupProbe": "serve_healthz", "livenessProbe": "serve_healthz",
            "readinessProbe": "serve_readyz"}
    for probe, handler in want.items():
        p = c.get(probe)
        if probe == "startupProbe" and p is None:
            continue
        if not report.check(p and "httpGet" in p, Wd, f"{probe} must be an httpGet probe"):
            continue
        hg = p["httpGet"]
        path = code.route_of[handler]
        report.check(hg.get("path") == path, Wd,
                     f"{probe} path is {hg.get('path')!r}; src/metrics.c serves "
                     f"{handler.replace('serve_', '')} on {path!r}")
        port = hg.get("port")
        port = ports.get(port, port) if isinstance(port, str) else port
        report.check(port == conf.metrics_port, Wd,
                     f"{probe} port {hg.get('port')!r} is not metrics.port {conf.metrics_port}")
        report.check(hg.get("scheme", "HTTP") == "HTTP", Wd, f"{probe}: the metrics server speaks HTTP")
    lp = c.get("livenessProbe") or {}
    window_ms = 1000 * lp.get("periodSeconds", 10) * lp.get("failureThreshold", 3)
    report.check(window_ms >= 10000, Wd, f"livenessProbe gives up after {window_ms} ms; "
                                         f"allow at least 10 s")
    ann = ((dep["spec"].get("template") or {}).get("metadata") or {}).get("annotations") or {}
    if ann.get("prometheus.io/scrape") == "true":
        report.check(ann.get("prometheus.io/port") == str(conf.metrics_port), Wd,
                     f"prometheus.io/port {ann.get('prometheus.io/port')!r} is not metrics.port "
                     f"{conf.metrics_port}")
        report.check(ann.get("prometheus.io/path", "/metrics") == code.route_of["serve_metrics"],
                     Wd, f"prometheus.io/path must be {code.route_of['serve_metrics']!r}")
    monitors = by_kind.get("PodMonitor", []) + by_kind.get("ServiceMonitor", [])
    report.check(ann.get("prometheus.io/scrape") == "true" or monitors, Wd,
                 "nothing tells Prometheus to scrape the pods")

    # --- environment: static membership and secrets
    env = {e["name"]: e for e in c.get("env", [])}
    env_from = [ef["secretRef"]["name"] for ef in c.get("envFrom", []) if "secretRef" in ef]
    if conf.static_env:
        e = env.get(conf.static_env, {})
        ok = ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") == "metadata.name"
        report.check(ok, Wd, f"kafka.static_membership_env is {conf.static_env}: the container "
                             f"needs {conf.static_env} from fieldRef metadata.name "
                             f"(group.instance.id = pod name)")
    for var in sorted(conf.secret_env):
        e = env.get(var)
        if e is not None:
            if not report.check("value" not in e, Wd,
                                f"{var} holds a secret: take it from a Secret, not a literal"):
                continue
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if not report.check(ref, Wd, f"{var} must come from a secretKeyRef"):
                continue
            report.check(ref.get("name") in secrets and ref.get("key") in secrets[ref.get("name")],
                         Wd, f"{var}: Secret {ref.get('name')} key {ref.get('key')} is not in "
                             f"the Secret template")
            report.check(not ref.get("optional", False), Wd,
                         f"{var} must not be optional: a missing secret should stop the pod")
        else:
            report.check(any(var in secrets.get(s, ()) for s in env_from), Wd,
                         f"the config reads {var}, which the container does not get")
    # Files the Kafka config points at must be mounted.
    for prop, path in conf.file_props.items():
        d = os.path.dirname(path)
        vname = mounts.get(d)
        if not report.check(vname, Wd, f"{prop}={path}: no volume mounted at {d}"):
            continue
        if vname in sec_vols:
            s = sec_vols[vname]
            items = {i["path"]: i["key"] for i in s.get("items", [])}
            key = items.get(os.path.basename(path), os.path.basename(path))
            report.check(key in secrets.get(s["secretName"], ()), Wd,
                         f"{prop}={path}: Secret {s['secretName']} has no key {key} in the "
                         f"Secret template")

    # --- security
    psc = pod.get("securityContext") or {}
    csc = c.get("securityContext") or {}
    report.check(csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, Wd, "runAsNonRoot must be true")
    report.check(csc.get("readOnlyRootFilesystem") is True, Wd, "readOnlyRootFilesystem must be true")
    report.check(csc.get("allowPrivilegeEscalation") is False, Wd, "allowPrivilegeEscalation must be false")
    report.check("ALL" in ((csc.get("capabilities") or {}).get("drop") or []), Wd,
                 "capabilities.drop must include ALL")
    sp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    report.check(sp in ("RuntimeDefault", "Localhost"), Wd, "seccompProfile must be RuntimeDefault")
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    gid = csc.get("runAsGroup", psc.get("runAsGroup"))
    if docker and docker.ok and docker.uid is not None:
        report.check(uid == docker.uid, Wd, f"runAsUser {uid} differs from the image's USER {docker.uid}")
        if docker.gid is not None:
            report.check(gid == docker.gid, Wd, f"runAsGroup {gid} differs from the image's group {docker.gid}")
    res = c.get("resources") or {}
    for k in ("cpu", "memory"):
        report.check(k in (res.get("requests") or {}), Wd, f"resources.requests.{k} missing")
    report.check("memory" in (res.get("limits") or {}), Wd, "resources.limits.memory missing")
    image = c.get("image", "")
    report.check(("@sha256:" in image) or re.search(r":[^/:]+$", image) and not image.endswith(":latest"),
                 Wd, f"image {image!r} needs a version tag or digest")
    sa = pod.get("serviceAccountName")
    sas = {d["metadata"]["name"]: d for d in by_kind.get("ServiceAccount", [])}
    report.check(sa in sas, Wd, f"serviceAccountName {sa!r} is not in the rendering")
    report.check(pod.get("automountServiceAccountToken") is False
                 or (sa in sas and sas[sa].get("automountServiceAccountToken") is False),
                 Wd, "the worker needs no API token: automountServiceAccountToken: false")

    # --- scaling
    sos = [d for d in by_kind.get("ScaledObject", [])
           if (d["spec"].get("scaleTargetRef") or {}).get("name") == dep["metadata"]["name"]]
    report.check(len(sos) == len(by_kind.get("ScaledObject", [])) and len(sos) == 1, W,
                 f"expected one ScaledObject, targeting Deployment {dep['metadata']['name']}")
    if sos:
        so = sos[0]
        Ws = f"{W}: ScaledObject/{so['metadata']['name']}"
        spec = so["spec"]
        report.check("replicas" not in dep["spec"], Wd,
                     "must not set spec.replicas: the ScaledObject's HPA owns it, and every "
                     "apply would reset the scale")
        tr = spec.get("scaleTargetRef") or {}
        report.check(tr.get("kind", "Deployment") == "Deployment", Ws, "scaleTargetRef.kind must be Deployment")
        ann = (so["metadata"].get("annotations") or {}).get(PARTITIONS_ANNOTATION, "")
        if report.check(ann.isdigit() and int(ann) > 0, Ws,
                        f"annotation {PARTITIONS_ANNOTATION} must give the request topic's "
                        f"partition count"):
            parts = int(ann)
            mx = spec.get("maxReplicaCount", 100)
            mn = spec.get("minReplicaCount", 0)
            report.check(mx <= parts, Ws,
                         f"maxReplicaCount {mx} > {parts} partitions of {conf.topic_requests}: "
                         f"members beyond the partition count hold nothing and only cause "
                         f"rebalances")
            report.check(mn <= mx, Ws, f"minReplicaCount {mn} > maxReplicaCount {mx}")
            fb = (spec.get("fallback") or {}).get("replicas")
            report.check(fb is None or fb <= mx, Ws,
                         f"fallback.replicas {fb} > maxReplicaCount {mx}")
        kafka_trs = [t for t in spec.get("triggers", []) if t.get("type") == "kafka"]
        if report.check(len(kafka_trs) == 1, Ws, "needs exactly one kafka trigger"):
            t = kafka_trs[0]
            md = t.get("metadata") or {}
            report.check(md.get("topic") == conf.topic_requests, Ws,
                         f"trigger topic {md.get('topic')!r} is not the request topic "
                         f"{conf.topic_requests!r} (topics.requests)")
            report.check(md.get("consumerGroup") == conf.group_id, Ws,
                         f"trigger consumerGroup {md.get('consumerGroup')!r} is not "
                         f"kafka.group_id {conf.group_id!r}")
            try:
                so_hp = _hostports(md.get("bootstrapServers", ""))
            except ValueError:
                so_hp = None
            report.check(so_hp is not None and set(so_hp) == set(kafka_hostports), Ws,
                         f"trigger bootstrapServers {md.get('bootstrapServers')!r} differ from "
                         f"the worker's bootstrap.servers {bootstrap!r}")
            report.check(md.get("offsetResetPolicy", "latest") == conf.offset_reset, Ws,
                         f"offsetResetPolicy {md.get('offsetResetPolicy', 'latest')!r} differs "
                         f"from the worker's auto.offset.reset {conf.offset_reset!r}")
            report.check(md.get("allowIdleConsumers", "false") != "true", Ws,
                         "allowIdleConsumers must stay false (no idle members)")
            auth = None
            ref = t.get("authenticationRef")
            params = {}
            if ref:
                tas = {d["metadata"]["name"]: d for d in by_kind.get("TriggerAuthentication", [])}
                auth = tas.get(ref.get("name"))
                if report.check(ref.get("kind", "TriggerAuthentication") == "TriggerAuthentication"
                                and auth is not None, Ws,
                                f"authenticationRef {ref.get('name')!r}: no such "
                                f"TriggerAuthentication in the rendering"):
                    for s in auth["spec"].get("secretTargetRef", []):
                        params[s["parameter"]] = s
                        report.check(s["key"] in secrets.get(s["name"], ()),
                                     f"{W}: TriggerAuthentication/{ref['name']}",
                                     f"{s['parameter']}: Secret {s['name']} key {s['key']} "
                                     f"is not in the Secret template")
            proto = conf.kafka.get("security.protocol", "PLAINTEXT").upper()
            if proto.startswith("SASL"):
                mech = conf.kafka.get("sasl.mechanisms", conf.kafka.get("sasl.mechanism", "GSSAPI")).upper()
                want_sasl = SASL_TO_KEDA.get(mech)
                if "sasl" in md:
                    report.check(md["sasl"] == want_sasl, Ws,
                                 f"trigger sasl {md['sasl']!r} does not match sasl.mechanisms {mech}")
                else:
                    report.check("sasl" in params, Ws, f"the worker uses SASL {mech}; the trigger "
                                                       f"needs sasl={want_sasl}")
                for p in ("username", "password"):
                    report.check(p in params, Ws, f"SASL needs the {p} parameter from a Secret")
            if proto in ("SSL", "SASL_SSL"):
                if "tls" in md:
                    report.check(md["tls"] == "enable", Ws, f"the worker uses {proto}: tls must be enable")
                else:
                    report.check("tls" in params, Ws, f"the worker uses {proto}: set tls=enable")
                if "ssl.ca.location" in conf.kafka:
                    report.check("ca" in params, Ws, "the worker trusts a private CA "
                                                     "(ssl.ca.location): pass it as the ca parameter")
            else:
                report.check(md.get("tls", "disable") == "disable", Ws,
                             f"the worker uses {proto}; tls must not be enabled")
        # A rolling update must be able to finish when every partition has
        # its member: surge pods would get none and never turn ready.
        ru = (dep["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        report.check(not (not _int_or_pct_zero(ru.get("maxSurge"), "25%")
                          and _int_or_pct_zero(ru.get("maxUnavailable"), "25%")), Wd,
                     "rollingUpdate with maxSurge > 0 and maxUnavailable 0 stalls when replicas "
                     "= partitions: a surge pod gets no partition and never turns ready")

    # --- PodDisruptionBudget
    pdbs = [d for d in by_kind.get("PodDisruptionBudget", [])
            if _matches(d["spec"].get("selector"), tmpl_labels)]
    if report.check(len(pdbs) == 1, W, "needs one PodDisruptionBudget selecting the worker pods"):
        ps = pdbs[0]["spec"]
        mn = sos[0]["spec"].get("minReplicaCount", 0) if sos else 1
        if "minAvailable" in ps:
            ma = ps["minAvailable"]
            report.check(not isinstance(ma, int) or ma < max(mn, 1), W,
                         f"PodDisruptionBudget minAvailable {ma} >= minReplicaCount {mn} "
                         f"would block every node drain")
        report.check(ps.get("unhealthyPodEvictionPolicy") == "AlwaysAllow", W,
                     "PodDisruptionBudget: unhealthyPodEvictionPolicy AlwaysAllow, so an idle "
                     "(unready) member never blocks a node drain")

    # --- NetworkPolicy
    nps = [d for d in by_kind.get("NetworkPolicy", [])
           if _matches(d["spec"].get("podSelector"), tmpl_labels)]
    if report.check(len(nps) == 1, W, "needs one NetworkPolicy selecting the worker pods"):
        np_ = nps[0]
        Wn = f"{W}: NetworkPolicy/{np_['metadata']['name']}"
        spec = np_["spec"]
        types = spec.get("policyTypes") or []
        report.check("Egress" in types and "Ingress" in types, Wn, "policyTypes must list Ingress and Egress")
        kafka_ports = {p for _, p in kafka_hostports}
        need = ({("TCP", p) for p in kafka_ports} | {("TCP", p) for p in conf.vendor_ports}
                | {("UDP", 53)})
        allowed = need | {("TCP", 53)}
        opened = set()
        for rule in spec.get("egress", []):
            rports = rule.get("ports")
            if not report.check(rports, Wn, "an egress rule without ports opens every port"):
                continue
            report.check(rule.get("to"), Wn, "an egress rule without `to` opens every destination")
            for p in rports:
                key = (p.get("protocol", "TCP"), p.get("port"))
                opened.add(key)
                report.check(key in allowed and "endPort" not in p, Wn,
                             f"egress {key[0]}/{key[1]} is neither Kafka "
                             f"({sorted(kafka_ports)}), the vendors' HTTPS "
                             f"({sorted(conf.vendor_ports)}) nor DNS")
        for key in sorted(need - opened):
            report.check(False, Wn, f"egress {key[0]}/{key[1]} is needed "
                                    f"({'DNS' if key[1] == 53 else 'Kafka' if key[1] in kafka_ports else 'vendor HTTPS'}) "
                                    f"but not allowed")
        ing_ports = set()
        for rule in spec.get("ingress", []):
            for p in rule.get("ports") or [{"port": None}]:
                ing_ports.add(p.get("port"))
        report.check(ing_ports == {conf.metrics_port}, Wn,
                     f"ingress must open only metrics.port {conf.metrics_port}, found "
                     f"{sorted(map(str, ing_ports))}")


# --------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", required=True)
    ap.add_argument("--deploy", required=True)
    ap.add_argument("--binary", help="built erasure-worker (enables the library and check-config checks)")
    ap.add_argument("--mode", choices=("auto", "kustomize", "files"), default="auto")
    ap.add_argument("--kube-versions", default="1.30 latest",
                    help="Kubernetes versions to validate against (space separated)")
    a = ap.parse_args()
    report = Report()
    try:
        code = CodeFacts(a.repo)
    except (OSError, LookupError) as e:
        print(f"validate: FAILED: {e}")
        return 1
    schemas = Schemas(a.deploy, a.kube_versions.split(), report)
    binary = a.binary if a.binary and os.access(a.binary, os.X_OK) else None

    kube_dir = os.path.join(a.deploy, "kubernetes")
    # 1. every YAML file parses, strictly
    templates = []
    yaml_files = []
    for root, _, names in os.walk(kube_dir):
        for n in sorted(names):
            if n.endswith((".yaml", ".yml")):
                yaml_files.append(os.path.join(root, n))
    for path in sorted(yaml_files):
        rel = os.path.relpath(path, a.repo)
        try:
            with open(path, encoding="utf-8") as f:
                docs = load_yaml_docs(f.read(), rel)
            report.check(True, rel, "")
        except (yaml.YAMLError, ValueError) as e:
            report.error(rel, f"YAML: {e}")
            continue
        if n_is_template(path):
            for d in docs:
                templates.append(d)
                schemas.validate(d, rel)
        for d in docs:
            if isinstance(d, dict) and d.get("kind") == "PrometheusRule":
                # Overlays render only with kustomize: check it here too.
                schemas.validate(d, rel)
                check_prometheus_rule(d, rel, a.deploy, report)

    # 2. render
    kdirs = sorted(os.path.dirname(p) for p in yaml_files
                   if os.path.basename(p) == "kustomization.yaml")
    mode = a.mode
    cmd = find_kustomize() if mode in ("auto", "kustomize") else None
    if mode == "kustomize" and not cmd:
        print("validate: FAILED: --mode kustomize but no kustomize >= 4 found")
        return 1
    mode = "kustomize" if cmd else "files"
    how = ' '.join(cmd) if cmd else (
        "the base's files (no kustomize found)" if a.mode == "auto" else "the base's files")
    report.note(f"rendering with {how}; "
                f"schemas: Kubernetes {', '.join(schemas.versions)} (kubernetes-validate, strict) "
                f"+ deploy/schemas")
    try:
        docker = DockerFacts(a.repo, a.deploy, binary, report)
    except (OSError, ValueError) as e:
        report.error("deploy/Dockerfile", str(e))
        docker = None
    if docker and docker.libs_checked:
        report.note(f"runtime libraries of {binary} come from {', '.join(docker.libs_checked)}")
    elif not binary:
        report.note("no built binary given: runtime-library checks skipped, config checks fail")

    rendered = 0
    for kdir in kdirs:
        rel = os.path.relpath(kdir, a.repo)
        if mode == "files" and os.path.basename(os.path.dirname(kdir)) == "overlays":
            report.note(f"{rel}: not rendered (needs kustomize); its patches are unchecked")
            continue
        try:
            docs = render_kustomize(cmd, kdir) if mode == "kustomize" else render_files(kdir)
        except (OSError, ValueError, KeyError, yaml.YAMLError, subprocess.SubprocessError) as e:
            report.error(rel, f"render: {e}")
            continue
        rendered += 1
        for d in docs:
            schemas.validate(d, rel)
        try:
            check_bundle(rel, docs, templates, code, docker, report, binary)
        except (TypeError, KeyError, AttributeError, ValueError, IndexError) as e:
            # An object of the wrong shape: the schema errors above say why.
            report.error(rel, f"consistency checks stopped at a malformed object "
                              f"({type(e).__name__}: {e}); fix the schema errors first")
    report.check(rendered > 0, "deploy/kubernetes", "no kustomization rendered")

    errors = list(dict.fromkeys(report.errors))  # once each, in order
    for e in errors:
        print(f"FAIL {e}")
    failed = len(errors)
    print(f"validate: {report.checks - failed} checks passed, {failed} failed "
          f"({rendered} kustomization(s) rendered, mode {mode})")
    return 1 if failed else 0


def check_prometheus_rule(doc, where, deploy_dir, report):
    """A PrometheusRule carries exactly the groups of
    deploy/prometheus/erasure-worker-rules.yaml, the file promtool checks
    and unit-tests."""
    rules_path = os.path.join(deploy_dir, "prometheus", "erasure-worker-rules.yaml")
    try:
        with open(rules_path, encoding="utf-8") as f:
            groups = load_yaml_docs(f.read(), rules_path)[0]["groups"]
    except (OSError, yaml.YAMLError, ValueError, KeyError, IndexError, TypeError) as e:
        report.error(where, f"cannot read the rules it must match: {e}")
        return
    got = (doc.get("spec") or {}).get("groups")
    report.check(got == groups, where,
                 "PrometheusRule spec.groups differ from "
                 "deploy/prometheus/erasure-worker-rules.yaml (promtool tests that file)")


def n_is_template(path):
    return path.endswith((".template.yaml", ".template.yml"))


if __name__ == "__main__":
    sys.exit(main())
