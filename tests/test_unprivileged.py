"""The leak checks hold for an unprivileged user too (issue 15). Run as root, these tests become `nobody`
(uid 65534) with a copy of the repo, a venv of Debian's /usr/bin/python3 and a cell env built for it, all
in a 0755 folder of their own (root's home, pyenv and cache are out of nobody's reach): the reliability,
detection and seed tests run again as nobody, with user namespaces (a private /dev/shm) and with them
switched off (the injected code names what each cell creates; the supervisor unlinks exactly those).
Not root (GitHub's runners): the whole suite already runs unprivileged, and these are skipped."""

import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys

import psutil
import pytest

from conftest import GEVENT, PY

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
from unprivileged import USER, as_user, build_sandbox  # noqa: E402

pytestmark = pytest.mark.slow  # minutes of real cells: `pytest -m 'not slow'` skips it in a quick loop


@pytest.fixture(scope="module")
def sandbox():
    if os.geteuid() != 0:
        pytest.skip("not root: the suite itself is the unprivileged run")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", USER], check=True)
    version = (
        subprocess.run(
            ["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if os.path.exists("/usr/bin/python3")
        else ""
    )
    if version != PY:
        pytest.skip("the tests need Python %s as /usr/bin/python3 for the unprivileged user (found %r)" % (PY, version))
    top = build_sandbox(GEVENT)
    try:
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def user_shm():
    """The unprivileged user's /dev/shm entries (a root run beside these tests leaves its own)."""
    uid, found = pwd.getpwnam(USER).pw_uid, set()
    for name in os.listdir("/dev/shm"):
        try:
            if os.lstat(os.path.join("/dev/shm", name)).st_uid == uid:
                found.add(name)
        except OSError:
            continue
    return found


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_reliability_detection_and_seed_tests_pass_as_an_unprivileged_user(sandbox):
    """The same tests and assertions (no process, /dev/shm entry or cell folder left), as nobody. The
    Python 2.7 seed tests are left out: nobody cannot reach root's pyenv, and Debian has no 2.7."""
    done = as_user(
        sandbox,
        "-m pytest -q -p no:cacheprovider tests/test_reliability.py tests/test_detection.py "
        "tests/test_seed.py -k 'not python_27'",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout and " error" not in done.stdout, done.stdout


def test_user_namespace_gives_a_private_dev_shm_and_keeps_the_uids(sandbox):
    """The cell sees its own uid and gid (mapped to themselves), an empty /dev/shm of its own, and the
    watcher still reads every /proc file it needs from outside (a proven deadlock, roles, blocked calls)."""
    sentinel = "/dev/shm/hangmatrix-sentinel-%d" % os.getpid()
    open(sentinel, "w").close()
    try:
        out = os.path.join(sandbox, "home", "userns.jsonl")
        done = as_user(
            sandbox,
            "-m hangmatrix.cli run --case prints_ids,seed_original --config patch_all "
            "--start spawn --python 3.11 --gevent %s --records %s --quiet" % (GEVENT, out),
            extra_env="HANGMATRIX_CASES={0}/src/tests/cases".format(sandbox),
        )
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        os.unlink(sentinel)
    by_case = {r["case"]: r for r in records(out)}
    ids = by_case["prints_ids"]
    assert ids["containment"]["shm"] == "user namespace + mount namespace (unprivileged)", ids["containment"]
    assert ids["verdict"] == "ok" and "uid=65534 gid=65534 shm=\n" in ids["stdout_tail"], ids["stdout_tail"]
    seed = by_case["seed_original"]
    assert seed["verdict"] == "deadlock", seed["signature"]
    assert {"parent", "pool worker 1", "resource tracker"} <= {p["role"] for p in seed["diagnosis"]["processes"]}


def test_exact_names_fallback_leaves_no_entry_and_touches_no_other(sandbox):
    """User namespaces switched off: spawn and forkserver cells of the seed cases (which left 12 entries
    per 8 cells before) and of a case holding a named semaphore and a shared-memory segment, with another
    run's entry beside them that must survive."""
    mine = "/dev/shm/sem.hangmatrix-other-run-%d" % os.getpid()
    as_user(sandbox, "-c \"open('%s', 'w').close()\"" % mine)
    before = user_shm()
    try:
        out = os.path.join(sandbox, "home", "names.jsonl")
        done = as_user(
            sandbox,
            "-m hangmatrix.cli run --case seed_original,seed_terminating,shm_hang --config "
            "patch_all,none,thread_false,thread_queue_false --start spawn,forkserver --python 3.11 "
            "--gevent %s --records %s --quiet" % (GEVENT, out),
            extra_env="HANGMATRIX_CONTAIN_OFF=userns HANGMATRIX_CASES={0}/src/tests/cases".format(sandbox),
        )
        assert done.returncode == 0, done.stderr[-2000:]
        after = user_shm()
        assert os.path.exists(mine), "an entry of another run was removed"
    finally:
        if os.path.exists(mine):
            os.unlink(mine)
    assert after - before == set(), "left in /dev/shm: %s" % sorted(after - before)
    recs = records(out)
    assert len(recs) == 24
    assert {r["containment"]["shm"] for r in recs} == {"names the cell created, unlinked after the kill"}
    hung = [r for r in recs if r["verdict"] in ("deadlock", "running")]
    assert hung and all(r["cleanup"]["shm_removed"] for r in hung)  # what the kill left was there, and went
    assert all(r["cleanup"]["shm_left_alone"] == [] for r in recs)
    segments = [p for r in recs if r["case"] == "shm_hang" for p in r["cleanup"]["shm_removed"]]
    assert any("/psm_" in p for p in segments) and any("/sem.mp-" in p for p in segments), segments


SUPERVISOR_KILLED = r"""
import json, os, sys, time
from concurrent.futures import ThreadPoolExecutor
import psutil
from hangmatrix.envs.build import ensure_env
from hangmatrix.envs.interpreters import find_interpreter
from hangmatrix.model import cases, configs
from hangmatrix.run import runner
spec = runner.make_spec(cases.select(["shm_hang"], ["tests/cases"])[0], configs.parse("none"), "spawn",
                        ensure_env(find_interpreter("/usr/bin/python3"), sys.argv[1]), 60, False)
def segments():
    return [
        n for n in os.listdir("/dev/shm") if n.startswith("psm_") and os.stat("/dev/shm/" + n).st_uid == os.getuid()
    ]
already = set(segments())  # another run's, as this user: not this cell's
server = runner.Supervisors()
with ThreadPoolExecutor(max_workers=1) as pool:
    pending = pool.submit(server.run, spec)
    deadline = time.time() + 60
    while not set(segments()) - already and time.time() < deadline:
        time.sleep(0.05)
    print("segment seen:", bool(set(segments()) - already))
    psutil.Process(server.proc.pid).children()[0].kill()
    rec = pending.result(timeout=60)
time.sleep(3)  # the server adopts the orphans within a second
server.close()
print("record:", json.dumps({"verdict": rec.verdict, "signature": rec.signature}))
"""


def test_a_supervisor_killed_outright_in_the_names_fallback_leaves_nothing(sandbox):
    """No PID namespace, no private /dev/shm (user namespaces off): the supervisor of a cell holding a
    named semaphore and a shared-memory segment is SIGKILLed. Its orphans (before: PID 1's, for good) are
    killed by the server, which also unlinks the names the cell reported creating and removes its folder."""
    tmp = os.path.join(sandbox, "home", "tmp-killed")  # the user's cell folders go here, and only its own
    os.mkdir(tmp)
    os.chown(tmp, pwd.getpwnam(USER).pw_uid, pwd.getpwnam(USER).pw_gid)
    before = user_shm()
    done = as_user(
        sandbox,
        "-c %s %s" % (shlex.quote(SUPERVISOR_KILLED), GEVENT),
        extra_env="HANGMATRIX_CONTAIN_OFF=userns HANGMATRIX_OWNER=killed-%d TMPDIR=%s" % (os.getpid(), tmp),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "segment seen: True" in done.stdout, done.stdout
    assert '"verdict": "error"' in done.stdout and "harness supervisor failed" in done.stdout, done.stdout
    assert user_shm() - before == set()
    assert os.listdir(tmp) == [], "left in the user's temp folder: %s" % os.listdir(tmp)
    owner = "killed-%d" % os.getpid()
    left = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("HANGMATRIX_OWNER") == owner and "HANGMATRIX_CELL" in proc.environ():
                left.append(proc.pid)
        except psutil.Error:
            continue
    assert left == [], "cell processes outlived their supervisor"
