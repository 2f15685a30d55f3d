"""Programs run as at home (issue 25): in the working folder they are run from, writing where they write
(/tmp, ~), running `python` as a subprocess. Real programs (tests/programs/at_home/) on Python 3.11 with
gevent 26.9.0, `as-written`: each prints what it prints when run plainly from its folder, and nothing it
writes outside the cell's folder reaches the machine (as root: a copy-on-write view, listed in the record)."""

import os
import subprocess

import pytest

from conftest import GEVENT, PY
from hangmatrix.envs.build import ensure_env
from hangmatrix.envs.interpreters import find_interpreter
from hangmatrix.model import cases, configs
from hangmatrix.report import show
from hangmatrix.run import runner

HOME = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs", "at_home")
ROOT = os.geteuid() == 0
LOCK, STATE = "/tmp/app.lock", os.path.expanduser("~/.app-state")


def run(name, args=(), cwd=HOME, **extra):
    case = cases.at_home(cases.load(os.path.join(HOME, name + ".py")), cwd, args)
    for key, value in extra.items():
        setattr(case, key, value)
    items = [runner.make_item(case, configs.parse("as-written"), "fork", find_interpreter(PY), GEVENT, 20.0)]
    return runner.execute(items)[0]


def plainly(name, *args):
    """The program run plainly from its folder, in the cell's environment."""
    env = runner.ensure_env(find_interpreter(PY), GEVENT)
    return subprocess.run([env.python, name + ".py", *args], cwd=HOME, capture_output=True, text=True)


@pytest.fixture
def no_lock_files():
    """The lock and state files do not exist before, and are removed after (whatever the run did)."""
    for path in (LOCK, STATE):
        assert not os.path.exists(path), "%s exists before the test: remove it first" % path
    yield
    for path in (LOCK, STATE):
        if os.path.exists(path):
            os.unlink(path)


def test_a_program_reading_a_file_of_its_working_folder_through_its_helper_prints_it(env311):
    rec = run("app", args=["--workers", "4"])
    assert (rec.verdict, rec.stdout_tail) == ("ok", plainly("app", "--workers", "4").stdout), rec.signature
    assert rec.stdout_tail == "the data beside the program --workers 4\n"


def test_lock_and_state_files_work_and_never_reach_the_machine(env311, no_lock_files):
    rec = run("locks")
    assert (rec.verdict, rec.stdout_tail) == ("ok", "locked\n"), rec.signature
    assert not os.path.exists(LOCK) and not os.path.exists(STATE)
    if ROOT:
        assert rec.containment["filesystem"].startswith("copy-on-write"), rec.containment
        wrote = {w["path"]: w for w in rec.containment["wrote_outside"]["paths"]}
        assert set(wrote) == {LOCK, STATE}, wrote
        assert (wrote[LOCK]["size"], wrote[STATE]["size"]) == (0, len("state\n"))
        shown = show.render(rec)
        assert "wrote outside its folder" in shown and LOCK in shown and STATE in shown, shown


@pytest.mark.skipif(not ROOT, reason="the read-only seal is root's")
def test_under_the_read_only_seal_a_refused_write_is_the_harness_env_error(env311, no_lock_files, monkeypatch):
    monkeypatch.setenv("HANGMATRIX_CONTAIN_OFF", "overlay")
    rec = run("locks")
    assert rec.verdict == "env-error", (rec.verdict, rec.signature)
    assert "refused a write to /tmp/app.lock" in rec.signature and "--writable /tmp" in rec.signature


def test_python_in_a_subprocess_is_the_cells_interpreter(env311):
    rec = run("child_python")
    assert rec.verdict == "ok", (rec.signature, rec.stderr_tail)
    assert rec.stdout_tail.startswith("child: %s " % GEVENT) and "same interpreter: True" in rec.stdout_tail


def test_pip_in_a_cell_is_the_cell_envs_own(env311):
    """`pip` on the cell's PATH is the cell env's pip (period-faithful: resolved as of its gevent's date)."""
    rec = run("child_pip")
    env = ensure_env(find_interpreter(PY), GEVENT)
    assert rec.verdict == "ok", (rec.signature, rec.stderr_tail)
    assert rec.stdout_tail.startswith("pip %s from %s/" % (env.packages["pip"], env.path)), rec.stdout_tail
    assert "in the environment: True" in rec.stdout_tail


def test_a_missing_working_folder_is_an_env_error_naming_it(env311, tmp_path):
    rec = run("app", cwd=str(tmp_path / "gone"))
    assert rec.verdict == "env-error" and str(tmp_path / "gone") in rec.signature, rec.signature
