"""Shared fixtures: the cell environment most tests use, a helper that runs one real cell, and a guard
that fails any test after which a cell process, a named semaphore or a cell folder is left behind."""
import glob
import os
import tempfile
import uuid

import psutil
import pytest

from hangmatrix.model import cases, configs
from hangmatrix.run import runner

PY = "3.11"
GEVENT = "26.9.0"
OWNER = os.environ.setdefault("HANGMATRIX_OWNER", uuid.uuid4().hex)  # inherited by this session's cells
# This session's temp folder (cell folders included), so other runs on the machine never confuse the checks.
SESSION_TMP = tempfile.mkdtemp(prefix="hangmatrix-tests-")
os.environ["TMPDIR"] = SESSION_TMP
tempfile.tempdir = None


def pytest_addoption(parser):
    parser.addoption("--update-baseline", action="store_true",
                     help="rewrite the built-in expectations.toml (tests/test_baseline.py) and public_expectations.toml (tests/test_public_cases.py), in hangmatrix/data/, from this run's verdicts")


def pytest_sessionfinish(session, exitstatus):
    import shutil
    shutil.rmtree(SESSION_TMP, ignore_errors=True)


def cell_processes():
    """Live processes started for a cell of this test session (their environment carries our owner tag)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            env = proc.environ()
            if env.get("HANGMATRIX_OWNER") == OWNER and "HANGMATRIX_CELL" in env \
                    and proc.status() != psutil.STATUS_ZOMBIE:
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


@pytest.fixture(scope="session")
def env311():
    from hangmatrix import envs
    return envs.ensure_env(envs.find_interpreter(PY), GEVENT)


@pytest.fixture(scope="session")
def run_one(env311):
    """run_one('seed_original', 'patch_all', 'fork') -> the record of one real run."""
    def run(case, config, start, env=None, timeout=20.0, detect=True, folders=None):
        chosen = cases.select([case], folders)[0]
        spec = runner.make_spec(chosen, configs.parse(config), start, env or env311, timeout, detect)
        return runner.run_cell(spec)
    return run
