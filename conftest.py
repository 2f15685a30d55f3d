"""Shared fixtures: the cell environment most tests use, a helper that runs one real cell, and a guard
that fails any test after which a cell process, a named semaphore or a cell folder is left behind."""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import psutil
import pytest

from hangmatrix.model import cases, configs
from hangmatrix.run import runner

PY = "3.11"
GEVENT = "26.9.0"
OWNER = os.environ.setdefault("HANGMATRIX_OWNER", uuid.uuid4().hex)  # inherited by this session's cells
if os.environ.get("PYTEST_XDIST_WORKER"):  # under -n, each worker's guard sees only its own cells
    OWNER = os.environ["HANGMATRIX_OWNER"] = "%s-%s" % (OWNER, os.environ["PYTEST_XDIST_WORKER"])
# This session's temp folder (cell folders included), so other runs on the machine never confuse the checks.
SESSION_TMP = tempfile.mkdtemp(prefix="hangmatrix-tests-")
os.environ["TMPDIR"] = SESSION_TMP
tempfile.tempdir = None


def wait_of(rec):
    """A proven hang's signature without the cause it leads with (`kind at file:line (function): `): the
    tree's wait, as the signature read before causes were named."""
    sig, found = rec.signature, rec.cause
    if found:
        head = found.headline + ": "
        assert sig.startswith(head), sig
        return sig[len(head) :]
    return sig


def pytest_addoption(parser):
    parser.addoption(
        "--update-baseline",
        action="store_true",
        help="rewrite the built-in expectations.toml (tests/test_baseline.py) and public_expectations.toml "
        "(tests/test_public_cases.py), in hangmatrix/data/, from this run's verdicts",
    )


def pytest_sessionfinish(session, exitstatus):
    import shutil

    shutil.rmtree(SESSION_TMP, ignore_errors=True)


def cell_processes():
    """Live processes started for a cell of this test session (their environment carries our owner tag)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            env = proc.environ()
            if (
                env.get("HANGMATRIX_OWNER") == OWNER
                and "HANGMATRIX_CELL" in env
                and proc.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def shm_entries():
    """/dev/shm entries of our own user: our cells run as we do, so another user's runs on a shared machine
    (an unprivileged test run beside a root one) cannot make a test fail."""
    found = set()
    for name in os.listdir("/dev/shm"):
        try:
            if os.lstat(os.path.join("/dev/shm", name)).st_uid == os.getuid():
                found.add(name)
        except OSError:
            continue
    return found


def cell_dirs():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "hangmatrix-cell-*")))


@pytest.fixture(autouse=True)
def nothing_left_behind():
    """Every test: no cell process, /dev/shm entry or cell folder survives it."""
    shm, dirs = shm_entries(), cell_dirs()
    yield
    assert cell_processes() == [], "cell processes outlived the test"
    assert shm_entries() - shm == set(), "named semaphores or shared memory left in /dev/shm"
    assert cell_dirs() - dirs == set(), "cell folders left in %s" % tempfile.gettempdir()


@pytest.fixture
def debian_root_built():
    """The Debian root's host folder (built first when HANGMATRIX_DEBIAN_ROOT=1); without it the test is
    skipped, saying how to get it."""
    from hangmatrix.envs import debian_root
    from hangmatrix.model import settings

    root = debian_root.path(build=settings.debian_root() is True)
    if not root:
        pytest.skip("no Debian root built (HANGMATRIX_DEBIAN_ROOT=1 builds it, about a minute)")
    return root


@pytest.fixture(scope="session")
def env311():
    from hangmatrix.envs.build import ensure_env
    from hangmatrix.envs.interpreters import find_interpreter

    return ensure_env(find_interpreter(PY), GEVENT)


@pytest.fixture(scope="session")
def run_one(env311):
    """run_one('seed_original', 'patch_all', 'fork') -> the record of one real run."""

    def run(case, config, start, env=None, timeout=20.0, detect=True, folders=None):
        chosen = cases.select([case], folders)[0]
        spec = runner.make_spec(chosen, configs.parse(config), start, env or env311, timeout, detect)
        return runner.run_cell(spec)

    return run


# ---------------------------------------------------------------- hangmatrix built and installed as users get it

REPO = os.path.dirname(os.path.abspath(__file__))
# What a build must not see: tools, caches and outputs of this checkout (the copy it builds from).
NOT_SOURCE = (
    ".git",
    ".venv",
    ".tools",
    ".tox",
    ".hypothesis",
    ".pytest_cache",
    "build",
    "dist",
    "results",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
)


def sh(argv, cwd, env=None, timeout=600):
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def work():
    """A temporary folder outside the checkout, removed with everything in it after the session
    (the wheel is built once, for tests/test_install.py and tests/test_pytest_plugin.py)."""
    folder = tempfile.mkdtemp(prefix="hangmatrix-install-")
    assert not os.path.realpath(folder).startswith(os.path.realpath(REPO) + os.sep)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def built(work):
    """(wheel, sdist) from `uv build` of a copy of the checkout (a build writes *.egg-info into its source)."""
    src = os.path.join(work, "src")
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    out = os.path.join(work, "dist")
    done = sh([sys.executable, "-m", "uv", "build", "-q", "--out-dir", out, src], work)
    assert done.returncode == 0, done.stderr[-3000:]
    shutil.rmtree(src)
    wheels, sdists = glob.glob(os.path.join(out, "*.whl")), glob.glob(os.path.join(out, "*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, os.listdir(out)
    return wheels[0], sdists[0]


@pytest.fixture(scope="session")
def installed(work, built):
    """(hangmatrix executable, env, an empty folder) after installing the wheel into a fresh venv."""
    venv = os.path.join(work, "venv")
    keep = ("HANGMATRIX_OWNER", "HANGMATRIX_CACHE")  # the leak guard's tag; the env cache a user would share
    env = {
        k: v
        for k, v in os.environ.items()
        if k in keep or not k.startswith(("HANGMATRIX_", "PYTHON", "VIRTUAL_ENV", "GITHUB_"))
    }
    done = sh([sys.executable, "-m", "uv", "venv", "-q", "--python", sys.executable, venv], work, env)
    assert done.returncode == 0, done.stderr
    done = sh(
        [sys.executable, "-m", "uv", "pip", "install", "-q", "--python", os.path.join(venv, "bin", "python"), built[0]],
        work,
        env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    empty = os.path.join(work, "empty")
    os.mkdir(empty)
    return os.path.join(venv, "bin", "hangmatrix"), env, empty
