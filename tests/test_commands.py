"""Commands and projects as cases (issue 25, items 2 and 3): `--cmd 'python -m pytest ...'` runs the cell's
interpreter, the patch point and every configuration apply in the command's Python processes, `--args`
reaches a program's sys.argv, a matrix case can be a table, and the cell id stays readable. Real runs of a
real pytest (tests/programs/pytest_suite: its conftest.py patches, one test maps over a fork Pool) on Python
3.11 with gevent 26.9.0."""

import json
import os
import subprocess
import sys

import pytest

from conftest import GEVENT, PY
from hangmatrix.model import cases, matrix

HERE = os.path.dirname(os.path.abspath(__file__))
SUITE = os.path.join(HERE, "programs", "pytest_suite")
AT_HOME = os.path.join(HERE, "programs", "at_home")
HM = [sys.executable, "-m", "hangmatrix.cli"]
AXES = ["--python", PY, "--gevent", GEVENT, "--start", "fork", "--quiet"]


def hm(*args, cwd=None):
    return subprocess.run(HM + list(args), capture_output=True, text=True, timeout=600, cwd=cwd)


def records(path):
    with open(path) as f:
        return {r["config"]: r for r in map(json.loads, f)}


@pytest.mark.parametrize(
    "command, name",
    [
        ("python -m pytest tests/test_pool.py -x", "pytest-test_pool"),
        ("python -m pytest -q -p no:cacheprovider", "pytest"),
        ("python -m gevent.monkey --module unittest_parallel --level test", "gevent.monkey-unittest_parallel"),
        ("pytest tests/test_a.py::test_b", "pytest-test_a-test_b"),
        ("python3.11 -c 'print(1)'", "print_1"),
    ],
)
def test_a_command_case_is_named_readably_from_its_command(command, name):
    case = cases.command(command)
    assert (case.name, case.path, case.cmd[0]) == (name, "", command.split()[0])
    assert cases.command(command, "given").name == "given"


def test_a_bad_command_is_one_line():
    with pytest.raises(cases.CaseError, match="cannot be read"):
        cases.command("python -c 'unclosed")


def test_a_matrix_case_can_be_a_table_with_a_command_or_a_program_and_arguments(tmp_path):
    (tmp_path / "matrix.toml").write_text(
        '[matrix.default]\ncases = ["seed_original", {name = "suite", cmd = "python -m pytest -x", project = "p", '
        'env = {A = "1"}, stdin = "y"}, {path = "app.py", args = "--workers 4"}]\n'
    )
    m = matrix.load_matrix(str(tmp_path / "matrix.toml"))
    assert m.cases[0] == "seed_original"
    assert m.cases[1]["project"] == str(tmp_path / "p") and m.cases[2]["path"] == str(tmp_path / "app.py")
    assert matrix.parse(__import__("tomllib").loads(m.to_toml())["matrix"]["default"], "default", m.path) == m
    case = cases.from_table(m.cases[1])
    assert (case.name, case.cmd, case.cwd, case.env, case.stdin) == (
        "suite",
        ["python", "-m", "pytest", "-x"],
        str(tmp_path / "p"),
        {"A": "1"},
        "y",
    )
    for bad, why in (({"cmd": "x", "path": "y"}, "one of them"), ({"cmd": "x", "shell": 1}, "no key 'shell'")):
        with pytest.raises(matrix.MatrixError, match=why):
            matrix.parse({"cases": [bad]}, "m", str(tmp_path / "matrix.toml"))


def test_pytest_as_a_command_in_its_project_hangs_under_patch_all_and_works_without(env311, tmp_path):
    out = tmp_path / "r.jsonl"
    done = hm(
        "run",
        "--project",
        SUITE,
        "--cmd",
        "python -m pytest -q -p no:cacheprovider",
        "--requires",
        "pytest",
        "--config",
        "as-written",
        "--config",
        "none",
        "--records",
        str(out),
        *AXES,
    )
    assert done.returncode == 0, done.stderr
    recs = records(out)
    assert recs["none"]["verdict"] == "ok" and "2 passed" in recs["none"]["stdout_tail"], recs["none"]
    hung = recs["as-written"]
    assert hung["verdict"] == "deadlock", hung["signature"]
    assert hung["id"] == "pytest-py%s-gevent%s-as-written-fork" % (PY, GEVENT)
    assert hung["patch_point"]["file"] == os.path.join(SUITE, "conftest.py"), hung["patch_point"]
    assert hung["provenance"]["case_cmd"] == ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def test_args_reach_the_programs_argv_in_its_working_folder(env311, tmp_path):
    out = tmp_path / "r.jsonl"
    done = hm(
        "run",
        "--case",
        "app.py",
        "--args",
        "--workers 4",
        "--config",
        "as-written",
        "--records",
        str(out),
        *AXES,
        cwd=AT_HOME,
    )
    assert done.returncode == 0, done.stderr
    rec = records(out)["as-written"]
    assert (rec["verdict"], rec["stdout_tail"]) == ("ok", "the data beside the program --workers 4\n"), rec
    assert rec["provenance"]["case_args"] == ["--workers", "4"] and rec["provenance"]["case_cwd"] == AT_HOME
