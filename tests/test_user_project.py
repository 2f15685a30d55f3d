"""A user's project uses hangmatrix on its own code, exactly as the README tells: pip-install hangmatrix into
a fresh venv, then, from a copy of examples/user-project (own cases, matrix file and expectations), get the
table, the upgrade check and advise. The project ships `patch_all(thread=False)` in unedited programs and pins
gevent 24.11.1; its
thumbnail service deadlocks under gevent 25.4.2 (measured), so that upgrade must fail the check."""

import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # minutes of real cells: `pytest -m 'not slow'` skips it in a quick loop

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "examples", "user-project")
PINNED, NEXT = "24.11.1", "25.4.2"


def sh(argv, cwd, env, timeout=300):
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """(project dir, env, hangmatrix executable) after `pip install` of this repo into a fresh venv."""
    tmp = tmp_path_factory.mktemp("user")
    # pip builds a source tree in place (build/, *.egg-info): give it a copy so the repo stays clean
    src = tmp / "hangmatrix-src"
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(
            ".*", "build", "*.egg-info", "__pycache__", "results", "tests", "examples", "docs", "benchmarks"
        ),
    )
    venv = tmp / "venv"
    keep = ("HANGMATRIX_OWNER", "HANGMATRIX_CACHE")  # the leak guard's tag; the env cache a user would share
    env = {
        k: v
        for k, v in os.environ.items()
        if k in keep or not k.startswith(("HANGMATRIX_", "PYTHON", "VIRTUAL_ENV", "GITHUB_"))
    }
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = sh([str(venv / "bin" / "pip"), "install", "-q", str(src)], str(tmp), env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    proj = tmp / "project"
    shutil.copytree(EXAMPLE, proj)
    return str(proj), env, str(venv / "bin" / "hangmatrix")


def test_own_cases_run_and_make_the_table(project):
    proj, env, hangmatrix = project
    done = sh([hangmatrix, "run", "--matrix", "quick", "--quiet"], proj, env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sorted(line.split()[0] + " " + line.split()[2] for line in lines) == [
        "ok export_executor-py3.11-gevent%s-as-written-fork" % PINNED,
        "ok export_executor-py3.11-gevent%s-selective-fork" % PINNED,
        "ok price_feed-py3.11-gevent%s-as-written-fork" % PINNED,
        "ok price_feed-py3.11-gevent%s-selective-fork" % PINNED,
        "ok thumbnail_pool-py3.11-gevent%s-as-written-fork" % PINNED,
        "ok thumbnail_pool-py3.11-gevent%s-selective-fork" % PINNED,
    ]
    from hangmatrix.store import records

    feed = [
        r
        for r in records.read(os.path.join(proj, "results", "records.jsonl.gz"))
        if r.case == "price_feed" and r.config == "as-written"
    ]
    assert feed[0].patch_point["in"] == "library grequests" and feed[0].provenance["requires"] == ["grequests"]
    done = sh([hangmatrix, "table", "--out", "results/table"], proj, env)
    assert done.returncode == 0, done.stderr
    md = open(os.path.join(proj, "results", "table", "compat.md"), encoding="utf-8").read()
    assert "## thumbnail_pool" in md and "## export_executor" in md
    from hangmatrix.envs.interpreters import find_interpreter

    assert "| %s | %s | ✅ | ✅ |" % (find_interpreter("3.11").version, PINNED) in md  # this machine's 3.11 build


def test_upgrade_check_fails_on_the_release_that_hangs_our_service(project):
    proj, env, hangmatrix = project
    done = sh([hangmatrix, "upgrade-check", "--matrix", "quick", "--gevent", NEXT], proj, env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "thumbnail_pool py3.11 as-written fork: ok or running -> deadlock" in done.stdout
    # price_feed's only patching is grequests's own patch_all(thread=False, select=False), at import
    assert "price_feed py3.11 as-written fork: ok or running -> deadlock" in done.stdout
    assert "As expected: 4 cells." in done.stdout
    done = sh([hangmatrix, "upgrade-check", "--matrix", "quick", "--gevent", NEXT, "--against", PINNED], proj, env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "thumbnail_pool py3.11 as-written fork: ok -> deadlock" in done.stdout


def test_upgrade_check_passes_on_the_pinned_release(project):
    proj, env, hangmatrix = project
    done = sh([hangmatrix, "upgrade-check", "--matrix", "quick", "--gevent", PINNED], proj, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        done.stdout.rstrip()
        .splitlines()[-1]
        .startswith("OK: no new hang or failure (gevent %s against the baseline expectations.toml)" % PINNED)
    )


def test_advise_on_our_unedited_program(project):
    """As the project's README shows it: works as written on the pin; on the release that hangs it, the
    exact change to its own patch_all call, which works on both releases and every start method."""
    proj, env, hangmatrix = project
    done = sh([hangmatrix, "advise", "cases/thumbnail_pool.py", "--python", "3.11", "--gevent", PINNED], proj, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" ok") == 3
    done = sh(
        [hangmatrix, "advise", "cases/thumbnail_pool.py", "--python", "3.11", "--gevent", PINNED, "--gevent", NEXT],
        proj,
        env,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        done.stdout.splitlines()[-1] == "recommendation: monkey.patch_all(thread=False, queue=False) in place "
        "of monkey.patch_all(thread=False) on line 5 of cases/thumbnail_pool.py"
    )
