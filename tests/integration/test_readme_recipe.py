"""The README's local-run recipe, run as written (issue 16): the shell
block between the "local-run recipe" markers, from the repository root,
with only build/ pointed at $ERASURE_BUILD_DIR. It starts the test broker,
the provider test server and two workers, produces examples/request.json
with kcat and reads the six outcome events back."""
import glob
import json
import os
import re
import signal
import subprocess

import pytest

import harness

pytestmark = pytest.mark.real_kafka


def recipe():
    with open(os.path.join(harness.SOURCE_DIR, "README.md")) as f:
        text = f.read()
    m = re.search(r"<!-- local-run recipe: begin -->\s*```sh\n(.*?)```\s*"
                  r"<!-- local-run recipe: end -->", text, re.S)
    assert m, "README lost its local-run recipe markers"
    return m.group(1)


def test_readme_local_run_recipe_works_verbatim(workdir):
    script = recipe().replace("build/", harness.BUILD_DIR.rstrip("/") + "/")
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    # Files, not pipes: the broker outlives the script (broker.sh starts
    # it in the background) and would hold a pipe open.
    out_path = os.path.join(workdir, "recipe.out")
    err_path = os.path.join(workdir, "recipe.err")
    # mktemp -d lands in workdir; a failed step must not leave the
    # script's servers behind: its process group and broker are stopped.
    env["TMPDIR"] = workdir
    with open(out_path, "w") as out, open(err_path, "w") as err:
        p = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script],
                             cwd=harness.SOURCE_DIR, stdout=out, stderr=err,
                             stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True)
        try:
            rc = p.wait(600)
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for d in glob.glob(os.path.join(workdir, "tmp.*", "kafka")):
                subprocess.run([os.path.join(harness.SOURCE_DIR, "tests", "kafka",
                                             "broker.sh"), "stop", "--dir", d],
                               capture_output=True, timeout=60)
    with open(out_path) as f:
        stdout = f.read()
    with open(err_path) as f:
        stderr = f.read()
    assert rc == 0, (stdout[-3000:], stderr[-5000:])
    assert ": OK" in stdout  # check-config
    assert "DELETE http://127.0.0.1:18080/vectara/v2/agents/agt_support/sessions/ase_1" \
        in stdout  # plan
    # kcat's format: "KEY HEADERS" then the value on the next line.
    lines = stdout.splitlines()
    events = [(h, v) for h, v in zip(lines, lines[1:]) if h.startswith("req-local-1 ce_")]
    assert len(events) == 6, stdout[-3000:]
    summary = [v for h, v in events if "ce_type=erasure.request.completed.v1" in h]
    assert len(summary) == 1 and json.loads(summary[0])["status"] == "completed", events
