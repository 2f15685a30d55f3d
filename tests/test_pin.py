"""hangmatrix installed the way a team pinned to an older gevent installs it (issue 27): with pip, into the
team's own virtual environment, beside its `gevent==24.11.1`. The pin must survive, a requirements file holding
both must resolve, and the cells run on the pinned release unless another is asked for; with no gevent at all,
the newest release on the index is used and named. Real pip, real venvs, real cells."""

import json
import os
import subprocess
import sys

import pytest

from conftest import GEVENT, PY, sh

pytestmark = pytest.mark.slow  # fresh virtual environments and real cells: a minute or two

PIN = "24.11.1"
# A team's project: one program that works, and a matrix that does not name a gevent release (so the one the
# team has installed is used), as a team's CI job would have it.
PROGRAM = """import gevent.monkey
gevent.monkey.patch_all()
import gevent

def square(x):
    gevent.sleep(0.01)
    return x * x

if __name__ == "__main__":
    print([g.get() for g in [gevent.spawn(square, x) for x in range(4)]])
"""
MATRIX = (
    """[matrix.default]
cases = ["squares"]
configs = ["as-written"]
starts = ["fork"]
pythons = ["%s"]
"""
    % PY
)


def venv(folder, *installs):
    """A fresh virtual environment made by the standard library, each install a `pip install` in it, as a team
    does by hand; returns its bin folder."""
    done = sh([sys.executable, "-m", "venv", folder], os.path.dirname(folder))
    assert done.returncode == 0, done.stderr
    bin_dir = os.path.join(folder, "bin")
    for args in installs:
        done = sh([os.path.join(bin_dir, "pip"), "install", "-q", "--disable-pip-version-check", *args], folder)
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
    return bin_dir


def gevent_in(bin_dir):
    code = "import importlib.metadata as m; print(m.version('gevent'))"
    done = sh([os.path.join(bin_dir, "python"), "-c", code], "/")
    return done.stdout.strip() if done.returncode == 0 else None


def user_env():
    """The environment a user's shell would give: none of this test session's hangmatrix or venv variables."""
    keep = ("HANGMATRIX_OWNER", "HANGMATRIX_CACHE")
    return {
        k: v
        for k, v in os.environ.items()
        if k in keep or not k.startswith(("HANGMATRIX_", "PYTHON", "VIRTUAL_ENV", "PYTEST_"))
    }


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def team(work, built):
    """The team's venv: its pin and pytest first, then the hangmatrix wheel with plain `pip install`."""
    bin_dir = venv(os.path.join(work, "team-venv"), ["gevent==%s" % PIN, "pytest"], [built[0]])
    project = os.path.join(work, "team-project")
    os.makedirs(os.path.join(project, "cases"))
    with open(os.path.join(project, "cases", "squares.py"), "w") as f:
        f.write(PROGRAM)
    with open(os.path.join(project, "matrix.toml"), "w") as f:
        f.write(MATRIX)
    return bin_dir, project


def test_installing_the_wheel_keeps_the_teams_gevent_pin(team):
    bin_dir, _ = team
    assert gevent_in(bin_dir) == PIN
    done = sh([os.path.join(bin_dir, "pip"), "check"], "/")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("asked", [None, GEVENT])
def test_pytest_hangmatrix_runs_on_the_pinned_release_unless_asked(team, work, asked):
    bin_dir, project = team
    store = os.path.join(work, "team-%s.jsonl" % (asked or "pin"))
    argv = [os.path.join(bin_dir, "pytest"), "--hangmatrix", "--hangmatrix-records", store, "-p", "no:cacheprovider"]
    argv += ["--hangmatrix-gevent", asked] if asked else []
    done = subprocess.run(argv, cwd=project, env=user_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (rec,) = records(store)
    assert rec["gevent"] == (asked or PIN) and rec["verdict"] == "ok", rec
    assert gevent_in(bin_dir) == PIN  # the run changed nothing in the team's environment


def test_one_requirements_file_with_the_pin_and_hangmatrix_resolves(work, built):
    reqs = os.path.join(work, "team-requirements.txt")
    with open(reqs, "w") as f:
        f.write("gevent==%s\n%s\n" % (PIN, built[0]))
    bin_dir = venv(os.path.join(work, "reqs-venv"), ["-r", reqs])
    assert gevent_in(bin_dir) == PIN
    assert os.path.exists(os.path.join(bin_dir, "hangmatrix"))


def test_without_gevent_the_newest_release_is_used_and_named(work, built):
    from hangmatrix.envs.index import gevent_releases
    from hangmatrix.envs.interpreters import find_interpreter

    bin_dir = venv(os.path.join(work, "bare-venv"), [built[0]])
    assert gevent_in(bin_dir) is None
    newest = gevent_releases(find_interpreter(PY))[-1]
    store = os.path.join(work, "bare.jsonl")
    argv = [os.path.join(bin_dir, "hangmatrix"), "run", "--case", "seed_original", "--config", "patch_all"]
    argv += ["--start", "fork", "--python", PY, "--records", store, "--quiet"]
    done = subprocess.run(argv, cwd=work, env=user_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no gevent installed beside hangmatrix: the newest release on the index, %s" % newest in done.stderr
    (rec,) = records(store)
    assert rec["gevent"] == newest and rec["verdict"] == "deadlock", rec
