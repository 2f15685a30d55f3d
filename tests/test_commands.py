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
PINNED = ["--python", PY, "--gevent", "24.11.1", "--start", "fork", "--quiet"]  # the example project's pin


def hm(*args, cwd=None):
    return subprocess.run(HM + list(args), capture_output=True, text=True, timeout=600, cwd=cwd)


def run_cli(tmp_path, *args, axes=AXES, cwd=None):
    """{config: record} of `hangmatrix run ARGS` (which must succeed)."""
    out = tmp_path / "r.jsonl"
    done = hm("run", *args, "--records", str(out), *axes, cwd=cwd)
    assert done.returncode == 0, done.stderr
    with open(out) as f:
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
    cmd = ["--cmd", "python -m pytest -q -p no:cacheprovider", "--requires", "pytest"]
    recs = run_cli(tmp_path, "--project", SUITE, *cmd, "--config", "as-written", "--config", "none")
    assert recs["none"]["verdict"] == "ok" and "2 passed" in recs["none"]["stdout_tail"], recs["none"]
    hung = recs["as-written"]
    assert hung["verdict"] == "deadlock", hung["signature"]
    assert hung["signature"].endswith("; in test test_pool.py::test_pool_map"), hung["signature"]
    assert hung["proof"]["running_tests"] == ["test_pool.py::test_pool_map"]
    assert hung["id"] == "pytest-py%s-gevent%s-as-written-fork" % (PY, GEVENT)
    assert hung["patch_point"]["file"] == os.path.join(SUITE, "conftest.py"), hung["patch_point"]
    assert hung["provenance"]["case_cmd"] == ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def test_args_reach_the_programs_argv_in_its_working_folder(env311, tmp_path):
    rec = run_cli(tmp_path, "--case", "app.py", "--args", "--workers 4", "--config", "as-written", cwd=AT_HOME)
    rec = rec["as-written"]
    assert (rec["verdict"], rec["stdout_tail"]) == ("ok", "the data beside the program --workers 4\n"), rec
    assert rec["provenance"]["case_args"] == ["--workers", "4"] and rec["provenance"]["case_cwd"] == AT_HOME


EXAMPLE = os.path.join(os.path.dirname(HERE), "examples", "user-project")


def test_a_project_runs_its_pytest_suite_with_its_package_and_requirements_installed(env311, tmp_path):
    """examples/user-project: a src-layout package (installed non-editable from a copy, so `import thumbs`
    works only through the install), requirements.txt (its gevent pin gives way to the axis) and
    requirements-dev.txt; its conftest ships patch_all(thread=False), and plain patch_all() hangs the pool test."""
    reqs = [a for f in ("requirements.txt", "requirements-dev.txt") for a in ("--requirements", f)]
    cmd = ["--project", ".", "--cmd", "python -m pytest -q -p no:cacheprovider", *reqs]
    recs = run_cli(tmp_path, *cmd, "--config", "as-written", "--config", "patch_all", axes=PINNED, cwd=EXAMPLE)
    ok = recs["as-written"]
    assert ok["verdict"] == "ok" and "3 passed" in ok["stdout_tail"], (ok["signature"], ok["stdout_tail"])
    assert set(ok["provenance"]["requires_resolved"]) == {"grequests", "pytest", "thumbs"}
    assert any(r.startswith("thumbs @ file://") for r in ok["provenance"]["requires"])
    assert recs["patch_all"]["verdict"] == "deadlock", recs["patch_all"]["signature"]


def test_a_project_whose_install_fails_is_an_env_error_with_the_installers_reason(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "broken"\nversion = "0.1"\n[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n'
    )
    (tmp_path / "setup.py").write_text('raise SystemExit("this project does not build here")\n')
    rec = run_cli(tmp_path, "--project", str(tmp_path), "--cmd", "python -c pass", "--config", "none")["none"]
    assert rec["verdict"] == "env-error" and "Failed to build `broken @" in rec["signature"], rec["signature"]
    assert "\n" not in rec["signature"]


def test_a_unittest_run_names_the_test_case_that_hangs(env311, tmp_path):
    suite = os.path.join(HERE, "programs", "unittest_suite")
    cmd = ["--project", suite, "--cmd", "python -m unittest test_pool_case", "--config", "as-written"]
    rec = run_cli(tmp_path, *cmd)["as-written"]
    assert rec["verdict"] == "deadlock", rec["signature"]
    assert "; in test test_pool_map (test_pool_case.PoolTest" in rec["signature"], rec["signature"]


def test_each_test_runs_every_collected_test_as_a_cell_of_its_own(env311, tmp_path):
    cmd = ["--cmd", "python -m pytest -p no:cacheprovider test_pool.py", "--requires", "pytest", "--each-test"]
    done = hm("run", "--project", SUITE, *cmd, "--config", "as-written", "--records", str(tmp_path / "r"), *AXES)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "r") as f:
        recs = {r["case"]: r for r in map(json.loads, f)}
    assert set(recs) == {"pytest-test_pool-test_sum", "pytest-test_pool-test_pool_map"}, set(recs)
    assert recs["pytest-test_pool-test_sum"]["verdict"] == "ok"
    hung = recs["pytest-test_pool-test_pool_map"]
    assert hung["verdict"] == "deadlock" and hung["signature"].endswith("in test test_pool.py::test_pool_map")
    assert hung["provenance"]["case_cmd"][1:] == [
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "test_pool.py::test_pool_map",
    ]


@pytest.mark.slow  # builds an environment per release bisected
def test_bisect_on_a_command_case_finds_the_release_that_hangs_the_suite():
    reqs = [a for f in ("requirements.txt", "requirements-dev.txt") for a in ("--requirements", f)]
    cmd = ["--project", ".", "--cmd", "python -m pytest -p no:cacheprovider", *reqs, "--config", "as-written"]
    done = hm("bisect", *cmd, "--start", "fork", "--python", PY, "--good", "24.11.1", "--bad", "25.4.2", cwd=EXAMPLE)
    assert done.returncode == 0, done.stderr
    assert "first changed: gevent 25.4.1 (deadlock)" in done.stdout, done.stdout
    assert "in test tests/test_render.py::test_render_all" in done.stdout
