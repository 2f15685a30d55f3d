"""Where names are looked up: a user's ./matrix.toml before the built-in matrices (name by name), and
$HANGMATRIX_CASES, then ./cases, then the built-in cases; the first wins and the listings show the rest."""

import os
import shutil
import subprocess
import sys

import pytest

from hangmatrix.checks import baseline
from hangmatrix.model import cases, matrix, packaged

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = '[matrix.default]\nwhat = "ours"\ncases = ["mine"]\nconfigs = ["none"]\n'


def hangmatrix(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "hangmatrix.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env
    )


def test_a_users_matrix_wins_by_name_and_the_built_in_ones_stay_reachable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert matrix.load_matrix(None, "default").path == packaged.matrix_path()
    (tmp_path / "matrix.toml").write_text(OURS)
    assert matrix.load_matrix(None, "default").cases == ["mine"]
    assert matrix.load_matrix(None, "full").path == packaged.matrix_path()
    with pytest.raises(matrix.MatrixError) as err:
        matrix.load_matrix(None, "nope")
    assert str(err.value) == "no matrix named 'nope' (%s has: default; %s has: default, full, patterns, public)" % (
        tmp_path / "matrix.toml",
        packaged.matrix_path(),
    )
    (tmp_path / "matrix.toml").write_text("[matrix.default\n")  # a broken file of the user's is never skipped
    with pytest.raises(matrix.MatrixError, match="not valid TOML"):
        matrix.load_matrix(None, "full")


def test_a_users_baseline_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert baseline.default_path() == packaged.baseline_path()
    (tmp_path / "expectations.toml").write_text('expect = [ { verdict = "works" } ]\n')
    assert baseline.default_path() == "expectations.toml"


def test_case_folders_in_lookup_order(tmp_path, monkeypatch):
    extra, project = tmp_path / "extra", tmp_path / "project"
    (project / "cases").mkdir(parents=True)
    extra.mkdir()
    seed = os.path.join(packaged.cases_dir(), "seed_terminating.py")
    shutil.copy(seed, project / "cases" / "seed_terminating.py")
    shutil.copy(seed, extra / "seed_terminating.py")
    monkeypatch.chdir(project)
    monkeypatch.setenv("HANGMATRIX_CASES", str(extra))
    assert cases.dirs() == [str(extra), str(project / "cases"), packaged.cases_dir(), packaged.public_cases_dir()]
    assert cases.discover()["seed_terminating"].path == str(extra / "seed_terminating.py")
    assert "seed_original" in cases.discover() and "__init__" not in cases.discover()
    monkeypatch.chdir(REPO)  # the checkout's own cases/ is the built-in folder: listed once
    monkeypatch.delenv("HANGMATRIX_CASES")
    assert [os.path.realpath(d) for d in cases.dirs()] == [packaged.cases_dir(), packaged.public_cases_dir()]


def test_listings_name_each_source_and_what_is_hidden(tmp_path):
    (tmp_path / "cases").mkdir()
    shutil.copy(os.path.join(packaged.cases_dir(), "seed_original.py"), tmp_path / "cases")
    (tmp_path / "matrix.toml").write_text(OURS)
    env = {k: v for k, v in os.environ.items() if k != "HANGMATRIX_CASES"}
    done = hangmatrix("cases", cwd=str(tmp_path), env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "%s:" % (tmp_path / "cases") and lines[1].split()[0] == "seed_original"
    assert lines[2] == "built-in (%s):" % packaged.cases_dir()
    assert "(hidden by the one in %s)" % (tmp_path / "cases") in [line for line in lines if "seed_original" in line][1]
    done = hangmatrix("matrices", cwd=str(tmp_path), env=env)
    assert done.stdout.splitlines()[:3] == [
        "%s:" % (tmp_path / "matrix.toml"),
        "  %-24s ours" % "default",
        "built-in (%s):" % packaged.matrix_path(),
    ]
    assert "(hidden by the one in %s)" % (tmp_path / "matrix.toml") in done.stdout
