"""The leak checks hold for an unprivileged user too (issue 15). Run as root, these tests become `nobody`
(uid 65534) with a copy of the repo, a venv of Debian's /usr/bin/python3 and a cell env built for it, all
in a 0755 folder of their own (root's home, pyenv and cache are out of nobody's reach): the reliability,
detection and seed tests run again as nobody, with user namespaces (a private /dev/shm) and with them
switched off (the injected code names what each cell creates; the supervisor unlinks exactly those).
Not root (GitHub's runners): the whole suite already runs unprivileged, and these are skipped."""
import json
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from conftest import GEVENT
from hangmatrix import envs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER = "nobody"
HARNESS_PACKAGES = ["gevent>=26.9.0", "rich>=13", "uv>=0.5", "pytest>=8", "pytest-timeout>=2.3", "hypothesis",
                    "psutil"]


@pytest.fixture(scope="module")
def sandbox():
    if os.geteuid() != 0:
        pytest.skip("not root: the suite itself is the unprivileged run")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", USER], check=True)
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("no /usr/bin/python3 for the unprivileged user to run")
    top = tempfile.mkdtemp(prefix="hangmatrix-unprivileged-", dir="/tmp")
    try:
        os.chmod(top, 0o755)
        src = os.path.join(top, "src")
        for name in ("hangmatrix", "cases", "tests", "benchmarks"):
            shutil.copytree(os.path.join(REPO, name), os.path.join(src, name),
                            ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
        for name in ("conftest.py", "pyproject.toml", "expectations.toml", "matrix.toml"):
            shutil.copy(os.path.join(REPO, name), src)
        uv = envs._uv()
        venv = os.path.join(top, "venv")
        subprocess.run([uv, "venv", "-q", "--python", "/usr/bin/python3", venv], check=True)
        subprocess.run([uv, "pip", "install", "-q", "--python", venv + "/bin/python"] + HARNESS_PACKAGES, check=True)
        envs.ensure_env(envs.find_interpreter("/usr/bin/python3"), GEVENT, cache_dir=os.path.join(top, "cache"))
        os.mkdir(os.path.join(top, "home"))
        subprocess.run(["chown", "-R", "%s:" % USER, top], check=True)
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def as_user(top, command, extra_env="", timeout=900):
    """Run `command` (argv after the venv's python) as the unprivileged user, in the copy of the repo."""
    env = "HOME={0}/home HANGMATRIX_CACHE={0}/cache PATH=/usr/bin:/bin PYTHONPATH={0}/src {1}".format(top, extra_env)
    line = "cd {0}/src && exec env -i {1} {0}/venv/bin/python {2}".format(top, env, command)
    return subprocess.run(["su", "-s", "/bin/sh", USER, "-c", line], capture_output=True, text=True, timeout=timeout)


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_reliability_detection_and_seed_tests_pass_as_an_unprivileged_user(sandbox):
    """The same tests and assertions (no process, /dev/shm entry or cell folder left), as nobody. The
    Python 2.7 seed tests are left out: nobody cannot reach root's pyenv, and Debian has no 2.7."""
    done = as_user(sandbox, "-m pytest -q -p no:cacheprovider tests/test_reliability.py tests/test_detection.py "
                            "tests/test_seed.py -k 'not python_27'")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout and " error" not in done.stdout, done.stdout


def test_user_namespace_gives_a_private_dev_shm_and_keeps_the_uids(sandbox):
    """The cell sees its own uid and gid (mapped to themselves), an empty /dev/shm of its own, and the
    watcher still reads every /proc file it needs from outside (a proven deadlock, roles, blocked calls)."""
    sentinel = "/dev/shm/hangmatrix-sentinel-%d" % os.getpid()
    open(sentinel, "w").close()
    try:
        out = os.path.join(sandbox, "home", "userns.jsonl")
        done = as_user(sandbox, "-m hangmatrix.cli run --case prints_ids,seed_original --config patch_all "
                                "--start spawn --python 3.11 --gevent %s --records %s --quiet" % (GEVENT, out),
                       extra_env="HANGMATRIX_CASES={0}/src/tests/cases".format(sandbox))
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
    per 8 cells before), and another user's entry beside them that must survive."""
    mine = "/dev/shm/sem.hangmatrix-other-run-%d" % os.getpid()
    as_user(sandbox, "-c \"open('%s', 'w').close()\"" % mine)
    before = set(os.listdir("/dev/shm"))
    try:
        out = os.path.join(sandbox, "home", "names.jsonl")
        done = as_user(sandbox, "-m hangmatrix.cli run --case seed_original,seed_terminating --config "
                                "patch_all,none,thread_false,thread_queue_false --start spawn,forkserver --python 3.11 "
                                "--gevent %s --records %s --quiet" % (GEVENT, out),
                       extra_env="HANGMATRIX_CONTAIN_OFF=userns")
        assert done.returncode == 0, done.stderr[-2000:]
        after = set(os.listdir("/dev/shm"))
        assert os.path.exists(mine), "an entry of another run was removed"
    finally:
        if os.path.exists(mine):
            os.unlink(mine)
    assert after - before == set(), "left in /dev/shm: %s" % sorted(after - before)
    recs = records(out)
    assert len(recs) == 16
    assert {r["containment"]["shm"] for r in recs} == {"names the cell created, unlinked after the kill"}
    hung = [r for r in recs if r["verdict"] in ("deadlock", "running")]
    assert hung and all(r["cleanup"]["shm_removed"] for r in hung)  # what the kill left was there, and went
