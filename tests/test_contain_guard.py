"""Nothing the harness mounts can land in the machine's mount namespace: a fresh /proc mounted there (it
happened once, from a namespace launch that asked for no private /dev/shm) hides every process of the
machine from everyone. Each test runs in a throwaway mount namespace (`unshare --mount --propagation
private`), so a failure harms nothing outside it; there "the machine's" namespace is the throwaway one."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mount and PID namespaces need root")

NAMESPACE_WITHOUT_SHM = r"""
import os
from hangmatrix.run import contain
null = os.open(os.devnull, os.O_RDWR)
r, w = os.pipe()
launch = contain.Launch(["/bin/sh", "-c", "exec readlink /proc/self"], dict(os.environ), "/", null, w, null, "",
                        contain.Cgroups("unused", 1), None, None)  # no private /dev/shm asked for
cell = contain.Namespace(launch)
os.close(w)
cell.wait(10)
cell.kill()
print("case's /proc/self:", os.read(r, 100).decode().strip())
print("own pid visible:", os.path.exists("/proc/%d/stat" % os.getpid()))
"""

GUARD = r"""
import os, sys
from hangmatrix.run import contain
here = contain.mount_namespace()
if sys.argv[1] == "shared":  # a namespace of its own whose mounts propagate (to the throwaway one only)
    contain._mount("none", "/", None, contain.MS_REC | (1 << 20))  # MS_SHARED
    assert contain._libc.unshare(contain.CLONE_NEWNS) == 0
try:
    contain.mount_over("proc", "/proc", "proc", 0, None, here)
    print("mounted")
except OSError as exc:
    print("refused:", exc)
print("own pid visible:", os.path.exists("/proc/%d/stat" % os.getpid()))
"""


def throwaway(program, *args):
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", program] + list(args),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_namespace_launch_without_private_shm_mounts_proc_only_in_its_own_mount_namespace():
    out = throwaway(NAMESPACE_WITHOUT_SHM)
    assert "own pid visible: True" in out, out  # the caller's /proc is untouched
    assert "case's /proc/self: 2" in out, out  # and the case still sees its own namespace's /proc


def test_mount_over_refuses_the_callers_own_mount_namespace():
    out = throwaway(GUARD, "same")
    assert "refused: refused to mount proc on /proc in the supervisor's own mount namespace" in out, out
    assert "own pid visible: True" in out, out


def test_mount_over_refuses_a_mount_that_would_propagate():
    out = throwaway(GUARD, "shared")
    assert "refused: refused to mount proc on /proc: the mount there propagates" in out, out
    assert "own pid visible: True" in out, out


BLINDED_MID_RUN = r"""
import ctypes, json, os, subprocess, sys, threading, time
import psutil
from hangmatrix.envs.build import ensure_env
from hangmatrix.envs.interpreters import find_interpreter
from hangmatrix.model import cases, configs
from hangmatrix.run import runner
tag, cases_dir, py, gevent = sys.argv[1:5]
os.environ["HANGMATRIX_OWNER"] = tag
spec = runner.make_spec(cases.select(["long_sleep"], [cases_dir])[0], configs.parse("none"), "fork",
                        ensure_env(find_interpreter(py), gevent), 60, True)

def ours():
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("HANGMATRIX_OWNER") == tag and "HANGMATRIX_CELL" in p.environ():
                found.append(p.pid)
        except psutil.Error:
            pass
    return found

done = []
run = threading.Thread(target=lambda: done.append(runner.run_cell(spec)))
run.start()
deadline = time.time() + 30
while not ours() and time.time() < deadline:
    time.sleep(0.05)
print("cell seen:", bool(ours()))
# a /proc of a fresh PID namespace over this (throwaway) mount namespace's: what hid everything once
subprocess.run(["unshare", "--pid", "--fork", "mount", "-t", "proc", "proc", "/proc"], check=True)
run.join(60)
ctypes.CDLL(None).umount2(b"/proc", 0)
time.sleep(2)
print("record:", json.dumps({"verdict": done[0].verdict, "signature": done[0].signature} if done else {}))
print("left:", ours())
"""


def test_a_supervisor_that_goes_blind_mid_run_says_so_and_leaves_nothing():
    """/proc replaced mid-run (as when a /proc of another PID namespace was mounted over the machine's):
    the supervisor sees neither its tree nor itself. It must say so (env-error), not guess a verdict,
    and still kill the cell: nothing of it is left once /proc is back."""
    from conftest import GEVENT, PY

    tag = "blind-%d" % os.getpid()
    out = throwaway(BLINDED_MID_RUN, tag, os.path.join(os.path.dirname(__file__), "cases"), PY, GEVENT)
    assert "cell seen: True" in out, out
    assert '"verdict": "env-error"' in out and "cannot see its own process under /proc" in out, out
    assert "left: []" in out, out
