"""Nothing outlives a cell, and bad input gets a verdict, not a hang of the harness. Every test runs real
programs from tests/cases; the autouse fixture in conftest.py also checks processes, /dev/shm and folders."""

import contextlib
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from conftest import cell_dirs, cell_processes, shm_entries

pytestmark = pytest.mark.slow  # minutes of real cells: `pytest -m 'not slow'` skips it in a quick loop

CASES = [os.path.join(os.path.dirname(__file__), "cases")]


@pytest.fixture
def run_test_case(run_one):
    def run(name, config="none", start="fork", timeout=10.0, detect=True):
        return run_one(name, config, start, timeout=timeout, detect=detect, folders=CASES)

    return run


def test_double_forked_setsid_daemon_is_killed(run_test_case):
    rec = run_test_case("daemonizes")
    assert rec.verdict == "ok"
    assert rec.proof["left_running_at_exit"], "the daemon was seen alive when the parent exited"
    assert rec.cleanup["survivors"] == []


def test_child_ignoring_sigterm_in_its_own_session_is_killed(run_test_case):
    rec = run_test_case("ignores_sigterm", timeout=2.0)
    assert rec.verdict in ("timeout", "stall"), rec.signature
    assert rec.cleanup["survivors"] == []


def test_forkserver_and_resource_tracker_are_killed(run_one):
    rec = run_one("seed_original", "patch_all", "forkserver")
    roles = {p["role"] for p in rec.diagnosis["processes"]}
    assert {"forkserver", "resource tracker"} <= roles
    assert rec.cleanup["survivors"] == []


def test_named_semaphores_and_shared_memory_do_not_leak(run_test_case):
    before = shm_entries()
    rec = run_test_case("shm_hang", timeout=10.0)
    assert rec.verdict == "deadlock", rec.signature
    assert shm_entries() - before == set()


def test_syntax_error_is_an_error_verdict(run_test_case):
    rec = run_test_case("syntax_error")
    assert rec.verdict == "error" and "SyntaxError" in rec.signature


def test_case_that_exits_at_once_is_ok(run_test_case):
    assert run_test_case("exits_at_once").verdict == "ok"


def test_gigabytes_of_output_are_capped_and_never_the_verdict(run_test_case):
    """Over the cap the middle of the output is freed, its head and tail kept; the program's behaviour decides:
    an endless writer spins until the backstop."""
    rec = run_test_case("prints_gigabytes", timeout=4.0)
    assert rec.verdict == "timeout", rec.signature
    assert rec.cause.kind == "busy-loop" and rec.cause.where.line == 9, rec.cause
    trimmed = rec.proof["output_trimmed"]["stdout"]
    assert trimmed["size_at_trim"] > rec.proof["output_trimmed"]["cap_bytes"]
    assert trimmed["head"].startswith("x" * 1023 + "\n") and len(rec.stdout_tail) <= 4000
    assert rec.stdout_tail.endswith("x\n") and "\0" not in rec.stdout_tail


def test_a_thousand_forks_are_stopped_and_all_killed(run_test_case):
    rec = run_test_case("fork_bomb", timeout=30.0)
    assert rec.verdict == "error" and "processes" in rec.signature
    assert rec.cleanup["survivors"] == []


def test_a_stopped_process_is_not_a_deadlock(run_test_case):
    rec = run_test_case("stops_itself", timeout=2.0)
    assert rec.verdict == "timeout", rec.signature


def test_harness_killed_with_sigkill_leaves_no_cell_behind(env311, tmp_path):
    """The harness (here a small script running one cell) dies by SIGKILL mid-run: the supervisor server
    sees its stdin close and stops the cell's supervisor, which kills the cell tree and removes the cell's
    folder within 2 s."""
    script = tmp_path / "harness.py"
    script.write_text(
        "import sys\nsys.path.insert(0, %r)\n"
        % os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        + "from hangmatrix.model import cases, configs\nfrom hangmatrix.run import runner\n"
        "from hangmatrix.envs.build import ensure_env\nfrom hangmatrix.envs.interpreters import find_interpreter\n"
        "env = ensure_env(find_interpreter('3.11'), %r)\n"
        % env311.gevent
        + "spec = runner.make_spec(cases.select(['seed_original'])[0], configs.parse('none'), 'fork', env, 60, False)\n"
        "runner.run_cell(spec)\n"
    )
    folders = cell_dirs()
    harness = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.time() + 30
        while len(cell_processes()) < 5 and time.time() < deadline:
            time.sleep(0.1)
        assert len(cell_processes()) >= 5, "the cell did not start"
    finally:
        harness.kill()
        harness.wait()
    killed_at = time.time()
    while (cell_processes() or cell_dirs() - folders) and time.time() - killed_at < 2.0:
        time.sleep(0.05)
    assert cell_processes() == [], "cell processes outlived the harness by 2 s"
    assert cell_dirs() - folders == set(), "the cell's folder outlived the harness by 2 s"


@contextlib.contextmanager
def one_seed_cell_running(env311):
    """A supervisor server running one endless seed cell (none, fork: five processes), once all five are
    up: yields (server, the pending record)."""
    from hangmatrix.model import cases, configs
    from hangmatrix.run import runner

    spec = runner.make_spec(cases.select(["seed_original"])[0], configs.parse("none"), "fork", env311, 60, False)
    server = runner.Supervisors()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(server.run, spec)
            deadline = time.time() + 30
            while len(cell_processes()) < 5 and time.time() < deadline:
                time.sleep(0.05)
            assert len(cell_processes()) >= 5, "the cell did not start"
            yield server, pending
    finally:
        server.close()


def test_a_supervisor_killed_outright_leaves_no_cell_behind(env311):
    """The cell's supervisor dies by SIGKILL mid-run (the OOM killer, or a case of the same user): nothing
    outlives it by 2 s. As root the namespace's init dies with it and takes the namespace; unprivileged
    (tests/test_unprivileged.py runs this file as nobody) the server adopts the orphans and kills them."""
    with one_seed_cell_running(env311) as (server, pending):
        supervisors = psutil.Process(server.proc.pid).children()
        assert len(supervisors) == 1, supervisors
        supervisors[0].kill()
        killed_at = time.time()
        rec = pending.result(timeout=30)
        while cell_processes() and time.time() - killed_at < 2.0:
            time.sleep(0.05)
        assert cell_processes() == [], "cell processes outlived their supervisor by 2 s"
    assert rec.verdict == "error" and "harness supervisor failed" in rec.signature, rec.signature


def test_closing_the_supervisor_server_mid_run_stops_the_cell_and_kills_its_tree(env311):
    """The harness closes the server while a cell runs (a harness interrupted by Ctrl-C does): the cell's
    supervisor is told to stop, kills the tree and still returns a record saying so."""
    with one_seed_cell_running(env311) as (server, pending):
        server.close()
        rec = pending.result(timeout=30)
    assert server.proc.returncode == 0
    assert rec.verdict == "error" and "stopped before a verdict" in rec.signature, rec.signature
    assert rec.cleanup["survivors"] == []
    assert cell_processes() == []


def test_soak_three_rounds_leave_no_trace(env311):
    """Three rounds of --repeat 3 in one harness process: processes, fds, /dev/shm end where they started,
    and memory stops growing after the first round."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
    import soak

    from hangmatrix.run import runner

    items = runner.plan(
        ["seed_original", "seed_terminating"],
        ["patch_all", "none"],
        ["fork", "spawn"],
        ["3.11"],
        [env311.gevent],
        timeout=20.0,
    )
    marks = soak.soak(items, rounds=3, repeat=3)
    first, last = marks[0], marks[-1]
    assert last["children"] == first["children"] == 0
    assert last["fds"] == first["fds"]
    assert last["dev_shm"] == first["dev_shm"]
    assert last["rss_mb"] - marks[1]["rss_mb"] < 10, marks
