"""A cell cannot harm anything outside itself: caps with a verdict, a PID namespace per cell, hostile cases.
Every test runs real programs from tests/cases under the real supervisor; the autouse fixture in conftest.py
also checks that no process, /dev/shm entry or cell folder is left."""

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from conftest import OWNER
from hangmatrix.model import cases, configs, packaged
from hangmatrix.observe import watch
from hangmatrix.run import runner

CASES = [os.path.join(os.path.dirname(__file__), "cases")]
CAP = 256 << 20
ROOT = os.geteuid() == 0


def spec_of(env, name, config="none", start="fork", timeout=20.0, memory=CAP):
    case = cases.select([name], CASES + [packaged.cases_dir()])[0]
    return runner.make_spec(case, configs.parse(config), start, env, timeout, memory=memory)


def assert_contained_cleanly(rec):
    assert rec.cleanup["survivors"] == [] and rec.cleanup["cgroups_left"] == []
    for path in rec.containment.get("cgroup_dirs", []):
        assert not os.path.exists(path), "the cell's cgroup %s outlived it" % path


def test_memory_bomb_gets_out_of_memory_within_its_cap_while_another_cell_runs_normally(env311):
    with runner.Supervisors() as server, ThreadPoolExecutor(2) as pool:
        bomb = pool.submit(server.run, spec_of(env311, "allocates_forever"))
        seed = pool.submit(server.run, spec_of(env311, "seed_original", "patch_all", memory=None))
        bomb, seed = bomb.result(), seed.result()
    assert (bomb.verdict, bomb.signature) == ("error", "out of memory (cap 256 MiB)"), bomb.signature
    assert bomb.containment["memory_cap"] == CAP
    assert seed.verdict == "deadlock", seed.signature
    if ROOT:
        assert bomb.containment["memory"].startswith("cgroup"), bomb.containment
    assert_contained_cleanly(bomb)
    assert_contained_cleanly(seed)


def test_without_a_memory_cgroup_the_rlimit_fallback_gives_the_same_verdict(env311, monkeypatch):
    monkeypatch.setenv("HANGMATRIX_CONTAIN_OFF", "cgroup")
    rec = runner.run_cell(spec_of(env311, "allocates_forever"))
    assert rec.containment["memory"] == "RLIMIT_DATA" and rec.containment["cgroups"] is None
    assert (rec.verdict, rec.signature) == ("error", "out of memory (cap 256 MiB)"), rec.signature
    assert rec.proof["before_cap"]["signature"].endswith("MemoryError")


def test_a_case_forking_until_stopped_is_stopped_by_the_process_cap(env311):
    rec = runner.run_cell(spec_of(env311, "forks_until_stopped", timeout=30.0, memory=None))
    assert rec.verdict == "error" and "processes" in rec.signature, rec.signature
    assert_contained_cleanly(rec)


@pytest.mark.skipif(not ROOT, reason="a PID namespace per cell needs root here (unprivileged: subreaper)")
def test_the_tree_runs_in_its_own_pid_namespace_and_roles_still_come_from_host_pids(env311):
    """The watcher reads /proc from outside: event pids from inside (os.getpid()) are mapped to host pids,
    so the diagnosis still names the pool workers, and each worker's stack dump is found."""
    rec = runner.run_cell(spec_of(env311, "seed_original", "patch_all", "spawn", memory=None))
    assert rec.containment["tree"] == "pid namespace (init as PID 1)"
    assert rec.verdict == "deadlock", rec.signature
    roles = {p["role"] for p in rec.diagnosis["processes"]}
    assert {"parent", "pool worker 1", "pool worker 4", "resource tracker"} <= roles, roles
    workers = [e for e in rec.events["notable"] if e["ev"] == "process"]
    assert workers and all(e["pid"] != e["pid_in_ns"] for e in workers)
    assert all(not s.startswith("(no answer") for s in rec.diagnosis["greenlets"].values())


def test_with_containment_off_the_subreaper_runs_and_says_so(env311, monkeypatch):
    monkeypatch.setenv("HANGMATRIX_CONTAIN_OFF", "pidns,cgroup")
    rec = runner.run_cell(spec_of(env311, "seed_original", "patch_all", memory=None))
    assert rec.containment["tree"] == "subreaper, kill loop"
    assert rec.verdict == "deadlock", rec.signature


# ---------------------------------------------------------------- hostile cases


@pytest.mark.skipif(not ROOT, reason="needs the PID namespace (root): unreachable ancestors")
def test_a_case_that_sigkills_its_supervisor_cannot_reach_it(env311):
    rec = runner.run_cell(spec_of(env311, "kills_its_supervisor"))
    assert rec.verdict == "ok", rec.signature  # the record came from the supervisor it tried to kill
    # its only ancestor in view is the namespace's init, which the kernel shields from its own namespace
    assert "ancestors signalled: [1]" in rec.stdout_tail, rec.stdout_tail
    assert_contained_cleanly(rec)


def test_a_case_that_sigkills_its_own_process_group_is_a_crash(env311):
    rec = runner.run_cell(spec_of(env311, "kills_its_process_group"))
    assert (rec.verdict, rec.signature) == ("crash", "killed by SIGKILL"), rec.signature
    assert_contained_cleanly(rec)


def test_a_case_that_closes_every_fd_still_gets_its_verdict(env311):
    rec = runner.run_cell(spec_of(env311, "closes_every_fd"))
    assert rec.verdict == "ok", rec.signature
    assert_contained_cleanly(rec)


@pytest.mark.parametrize("view", ["overlay", "read-only"])
def test_a_case_writing_outside_through_proc_self_cwd(env311, tmp_path, monkeypatch, view):
    """As root the case is sealed: whatever path it takes (two levels up through /proc/self/cwd, a folder the
    test made), its writes outside its own folder succeed in a copy-on-write view of its own and never reach
    the machine, and its record lists them; with the overlay off (HANGMATRIX_CONTAIN_OFF=overlay) they are
    refused (read-only). Either way /proc/sys is read-only and it cannot remount its way out. Without the
    seal (unprivileged, or HANGMATRIX_CONTAIN_OFF=fs) it writes wherever its user may, and this test says
    so. The harness never follows what the cell leaves in its folder: symlinks to outside are removed, not
    followed."""
    if view == "read-only":
        monkeypatch.setenv("HANGMATRIX_CONTAIN_OFF", "overlay")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("untouched")
    monkeypatch.setenv("CELL_TEST_OUTSIDE", str(outside))
    hostname = open("/proc/sys/kernel/hostname").read()
    before = set(os.listdir(env311.tmp_base))
    rec = runner.run_cell(spec_of(env311, "writes_outside"))
    out = rec.stdout_tail
    assert rec.verdict == "ok", rec.signature
    escaped = out.split()[1]
    assert os.path.dirname(escaped) == env311.tmp_base  # two levels up from its tmp: outside the cell's folder
    filesystem = rec.containment["filesystem"]
    assert filesystem.startswith("copy-on-write" if view == "overlay" else "read-only") == ROOT, rec.containment
    try:
        if ROOT and view == "overlay":
            assert out.startswith("wrote ") and "write into the outside folder: done" in out, out
            assert "remount / writable: refused" in out and "write /proc/sys: refused" in out, out
            assert "write inside its folder: done" in out, out
            wrote = {w["path"]: w for w in rec.containment["wrote_outside"]["paths"]}
            assert set(wrote) == {escaped, str(outside / "from-the-cell")}, wrote
            assert wrote[escaped]["kind"] == "file" and wrote[escaped]["size"] == len("written from a cell\n")
            assert not os.path.exists(escaped) and os.listdir(outside) == ["keep"]
        elif ROOT:
            assert out.startswith("refused ") and "Read-only file system" in out.splitlines()[0], out
            assert "write into the outside folder: refused" in out and "remount / writable: refused" in out, out
            assert "write /proc/sys: refused" in out and "write inside its folder: done" in out, out
            assert not os.path.exists(escaped) and os.listdir(outside) == ["keep"]
        else:
            assert os.path.exists(escaped) == os.access(os.path.dirname(escaped), os.W_OK)
    finally:
        for path in (escaped, outside / "from-the-cell"):
            if os.path.exists(path):
                os.unlink(path)
    assert (outside / "keep").read_text() == "untouched"
    assert open("/proc/sys/kernel/hostname").read() == hostname
    assert set(os.listdir(env311.tmp_base)) == before  # the cell's folder and the links in it are gone
    assert_contained_cleanly(rec)


@pytest.mark.skipif(not ROOT, reason="the copy-on-write view needs root")
@pytest.mark.parametrize("caps", ["cgroup", "rlimit"])
def test_unbounded_writes_outside_the_folder_hit_the_memory_cap_and_the_verdict_says_so(env311, monkeypatch, caps):
    """The view's upper layers are a tmpfs of the cell's, as large as its memory cap, whose pages are charged
    to the writer's memory cgroup: a program filling /var/tmp is stopped by its cap (an OOM kill, or with the
    rlimit fallback a full tmpfs), its verdict says which, and nothing of it reaches the machine's disk."""
    if caps == "rlimit":
        monkeypatch.setenv("HANGMATRIX_CONTAIN_OFF", "cgroup")
    cap = 128 << 20
    rec = runner.run_cell(spec_of(env311, "writes_outside_forever", memory=cap))
    wrote = rec.containment["wrote_outside"]
    assert [w["path"].startswith("/var/tmp/hangmatrix-fills-") for w in wrote["paths"]] == [True], wrote
    assert rec.verdict == "error", rec.signature
    if caps == "cgroup":
        assert rec.signature.startswith("out of memory (cap 128 MiB), "), rec.signature
        assert rec.signature.endswith(" of it the program's writes outside its folder"), rec.signature
    else:
        assert rec.signature == (
            "the program's writes outside its folder filled the 128 MiB its copy-on-write view may hold (the "
            "cell's memory cap)"
        ), rec.signature
        assert wrote["full"] and wrote["bytes"] >= cap - (1 << 20), wrote
    assert not [n for n in os.listdir("/var/tmp") if n.startswith("hangmatrix-fills-")]
    assert_contained_cleanly(rec)


@pytest.mark.skipif(not ROOT, reason="the seal needs root (a mount namespace and the capability bounding set)")
def test_without_the_seal_a_root_case_writes_outside_and_the_record_says_so(env311, monkeypatch):
    monkeypatch.setenv("HANGMATRIX_CONTAIN_OFF", "fs")
    monkeypatch.setenv("CELL_TEST_OUTSIDE", env311.tmp_base)
    rec = runner.run_cell(spec_of(env311, "writes_outside"))
    escaped = rec.stdout_tail.split()[1]  # "wrote PATH" then more lines
    try:
        assert rec.stdout_tail.startswith("wrote "), rec.stdout_tail
        assert rec.containment["filesystem"].startswith("the machine's"), rec.containment
    finally:
        for path in (escaped, os.path.join(env311.tmp_base, "from-the-cell")):
            if os.path.exists(path):
                os.unlink(path)


def _case_process(name, deadline):
    """The host pid of this session's cell process running the named case."""
    while time.monotonic() < deadline:
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if (
                    any(name in part for part in proc.info["cmdline"] or [])
                    and proc.environ().get("HANGMATRIX_OWNER") == OWNER
                    and "HANGMATRIX_CELL" in proc.environ()
                ):
                    return proc.pid
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        time.sleep(0.05)
    return None


def test_kill_minus_one_inside_the_namespace_touches_nothing_outside(env311):
    """kill(-1, SIGKILL) as root outside a namespace would kill the whole machine. The case waits for a
    decision file; it gets `go` only once this test has seen from outside that the case's process has two
    entries in NSpid (a PID namespace of its own); otherwise `no`, and the test is skipped."""
    canary = subprocess.Popen(["sleep", "120"])
    try:
        with runner.Supervisors() as server, ThreadPoolExecutor(2) as pool:
            other = pool.submit(server.run, spec_of(env311, "seed_original", "patch_all", memory=None))
            pending = pool.submit(server.run, spec_of(env311, "kills_everything", timeout=30.0))
            pid = _case_process("kills_everything", time.monotonic() + 20)
            assert pid, "the case did not start"
            contained = len(watch.ns_pids(pid)) == 2
            for _ in range(400):  # the case starts in the working folder, then moves to its own (TMPDIR)
                if "hangmatrix-cell-" in os.readlink("/proc/%d/cwd" % pid):
                    break
                time.sleep(0.05)
            with open("/proc/%d/cwd/decision" % pid, "w") as f:
                f.write("go" if contained else "no")
            rec, other = pending.result(60), other.result(60)
        if not contained:
            pytest.skip("the cell is not in a PID namespace of its own here: kill(-1) is never run")
        assert canary.poll() is None, "a process outside the cell was killed"
        assert rec.verdict == "ok", rec.signature
        assert other.verdict == "deadlock", other.signature
        assert_contained_cleanly(rec)
    finally:
        canary.kill()
        canary.wait()


def test_without_a_pid_namespace_a_cgroup2_kill_takes_the_daemon_too(env311, monkeypatch):
    """The fallback tree: the subreaper keeps the double-forked setsid daemon in view, and where a cgroup2
    hierarchy is there (here the hybrid layout's /sys/fs/cgroup/unified) cgroup.kill takes it at once."""
    monkeypatch.setenv("HANGMATRIX_CONTAIN_OFF", "pidns")
    rec = runner.run_cell(spec_of(env311, "daemonizes", memory=None))
    assert rec.verdict == "ok" and rec.proof["left_running_at_exit"], rec.signature
    cgroup2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers") or os.path.isdir("/sys/fs/cgroup/unified")
    expected = "subreaper + cgroup.kill" if ROOT and cgroup2 else "subreaper, kill loop"
    assert rec.containment["tree"] == expected, rec.containment
    assert_contained_cleanly(rec)
