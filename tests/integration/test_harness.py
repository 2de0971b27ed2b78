"""The harness's own guarantees: a child it starts never outlives the test
that started it or the test process, so a failing test cannot leave a
worker spinning through the rest of the run."""

import os
import shutil
import subprocess
import sys
import textwrap
import time

import harness

HERE = os.path.dirname(os.path.abspath(__file__))


def gone(pid):
    """True once PID has exited: absent, or a zombie nobody reaped yet (a
    container's PID 1 may never reap)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_gone(pid, timeout=10.0):
    """Polls /proc: an unrelated process offers nothing to wait on."""
    deadline = time.monotonic() + timeout
    while not gone(pid):
        assert time.monotonic() < deadline, f"pid {pid} still running"
        time.sleep(0.02)


def test_kill_spawned_kills_only_what_came_after_the_mark():
    before = harness.spawn(["sleep", "300"])
    mark = harness.spawned_mark()
    after = harness.spawn(["sleep", "300"])
    try:
        assert harness.kill_spawned(since=mark) == [["sleep", "300"]]
        assert after.returncode is not None
        assert before.poll() is None
    finally:
        before.kill()
        before.wait()


def test_children_die_with_the_test_process(workdir):
    # os._exit skips atexit: only the death signal can stop the child. The
    # parent leaves once the child runs sleep, i.e. after setpriv has set
    # the signal (a parent gone before that is not covered).
    code = textwrap.dedent("""
        import os, sys, time
        sys.path.insert(0, sys.argv[1])
        import harness
        p = harness.spawn(["sleep", "300"])
        while not open(f"/proc/{p.pid}/cmdline", "rb").read().startswith(
                b"sleep"):
            time.sleep(0.01)
        print(p.pid, flush=True)
        os._exit(0)
        """)
    r = subprocess.run([sys.executable, "-c", code, HERE], capture_output=True,
                       text=True, timeout=30, check=True)
    wait_gone(int(r.stdout))


def test_a_failed_test_leaves_no_process_to_the_next(workdir):
    # A session of two tests under this directory's conftest: the first
    # starts a child and fails; the second must find it dead already,
    # before the session's own atexit clean-up could have run.
    for name in ("conftest.py", "harness.py", "kafka_env.py"):
        shutil.copy(os.path.join(HERE, name), workdir)
    pid_file = os.path.join(workdir, "child.pid")
    with open(os.path.join(workdir, "test_leak.py"), "w") as f:
        f.write(textwrap.dedent(f"""
            import os

            import harness

            def test_leaves_a_child():
                p = harness.spawn(["sleep", "300"])
                open({pid_file!r}, "w").write(str(p.pid))
                assert False, "fails before stopping its child"

            def test_finds_it_gone():
                pid = int(open({pid_file!r}).read())
                assert not os.path.exists(f"/proc/{{pid}}")
            """))
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-rA", "test_leak.py"],
        cwd=workdir, capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert "FAILED test_leak.py::test_leaves_a_child" in out, out
    assert "PASSED test_leak.py::test_finds_it_gone" in out, out
    assert "killed 1 process(es)" in out, out
