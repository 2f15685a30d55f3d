"""The pytest plugin (issue 12) as a team uses it: a fresh project with two unedited programs (one deadlocks
under its own patch_all(), one finishes), hangmatrix's wheel installed into a fresh venv with pytest and
pytest-xdist, and `pytest --hangmatrix` run there, then --lf, then -n 2. Then, with this checkout's own
install, the plugin's bad input, expectations, pyproject matrices, -x and the hangmatrix_cell fixture.
Every verdict comes from real cells (Python 3.11, gevent 26.9.0)."""

import os
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import version

import psutil
import pytest

from conftest import GEVENT, PY, sh

pytestmark = pytest.mark.slow  # minutes of real cells: `pytest -m 'not slow'` skips it in a quick loop

HERE = os.path.dirname(os.path.abspath(__file__))
HANGS, WORKS = "pool_patch_all", "works_as_written"
PIPE_READ = re.compile(r"parent blocked in read\(\) on pipe:\[\d+\]")


def cell(case):
    return "%s-py%s-gevent%s-as-written-fork" % (case, PY, GEVENT)


def make_project(folder, matrix_text=None):
    """A user's project: cases/ with the two programs, a matrix.toml naming them (as-written, fork)."""
    os.makedirs(os.path.join(folder, "cases"))
    for name in (HANGS, WORKS):
        shutil.copy(os.path.join(HERE, "programs", name + ".py"), os.path.join(folder, "cases"))
    with open(os.path.join(folder, "matrix.toml"), "w") as f:
        f.write(
            matrix_text
            or '[matrix.default]\ncases = ["cases/%s.py", "cases/%s.py"]\nconfigs = ["as-written"]\n'
            'starts = ["fork"]\npythons = ["%s"]\ngevents = ["%s"]\n'
            % (HANGS, WORKS, PY, GEVENT)
        )
    return folder


def junit(path):
    """{test name: (outcome, failure message, {property: value})} of a JUnit XML file."""
    out = {}
    for case in ET.parse(path).iter("testcase"):
        failure = case.find("failure")
        outcome = "failed" if failure is not None else "skipped" if case.find("skipped") is not None else "passed"
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        out[case.get("name")] = (outcome, failure.get("message") if failure is not None else "", props)
    return out


def processes_of(folder):
    """Live processes whose command line or executable lies under folder (a venv: pytest, its xdist
    workers, the supervisor servers and the cells all run from it or its cell environments' children)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "exe", "status"]):
        try:
            text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["exe"] or "")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if folder in text and proc.info["status"] != psutil.STATUS_ZOMBIE and proc.pid != os.getpid():
            found.append((proc.pid, text[:200]))
    return found


def multiprocessing_shm():
    """/dev/shm entries named as multiprocessing names its semaphores and shared memory (other developers'
    tests on this machine put sentinels of their own there, which come and go)."""
    return {n for n in os.listdir("/dev/shm") if n.startswith(("sem.mp-", "mp-", "psm_", "wnsm_"))}


@pytest.fixture(scope="module")
def user_pytest(installed, work):
    """(pytest of the fresh venv, its env): the wheel's venv with the test runner a team would add: pytest
    and pytest-xdist, the releases this checkout's own venv has (uv's cache has them)."""
    exe, env, _ = installed
    venv = os.path.dirname(os.path.dirname(exe))
    done = sh(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "install",
            "-q",
            "--python",
            os.path.join(venv, "bin", "python"),
            "pytest==%s" % version("pytest"),
            "pytest-xdist==%s" % version("pytest-xdist"),
        ],
        work,
        env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return os.path.join(venv, "bin", "pytest"), env


def test_a_fresh_project_runs_its_cells_as_pytest_items(user_pytest, work):
    pytest_exe, env = user_pytest
    venv = os.path.dirname(os.path.dirname(pytest_exe))
    project = make_project(os.path.join(work, "plugin-project"))
    cell_tmp = os.path.join(work, "plugin-tmp")  # the cells' folders go here: it must end empty
    os.mkdir(cell_tmp)
    env = dict(env, TMPDIR=cell_tmp)
    shm = multiprocessing_shm()

    done = sh([pytest_exe, "--hangmatrix", "-v", "--junitxml=first.xml"], project, env)
    assert done.returncode == 1, done.stdout[-5000:] + done.stderr[-3000:]
    first = junit(os.path.join(project, "first.xml"))
    assert {name: outcome for name, (outcome, _, _) in first.items()} == {cell(HANGS): "failed", cell(WORKS): "passed"}
    assert first[cell(HANGS)][2]["verdict"] == "deadlock" and first[cell(WORKS)][2]["verdict"] == "ok"
    message = first[cell(HANGS)][1]
    assert "deadlock" in message and PIPE_READ.search(message), message
    assert "rule 1 of the default expectation" in message  # no expectations.toml: the rule that failed
    assert "process tree (as sampled before the kill)" in done.stdout  # the diagnosis, as `show` prints it
    assert "matrix.toml::%s PASSED" % cell(WORKS) in done.stdout
    table = sh([os.path.join(venv, "bin", "hangmatrix"), "table"], project, env)  # the records are in the store
    assert table.returncode == 0 and HANGS in table.stdout and WORKS in table.stdout, table.stdout + table.stderr

    done = sh([pytest_exe, "--hangmatrix", "--lf", "--junitxml=lf.xml"], project, env)
    assert done.returncode == 1, done.stdout[-3000:]
    assert {name: outcome for name, (outcome, _, _) in junit(os.path.join(project, "lf.xml")).items()} == {
        cell(HANGS): "failed"
    }
    assert "rerun previous 1 failure" in done.stdout and "1 failed in" in done.stdout, done.stdout[-2000:]

    done = sh(
        [pytest_exe, "--hangmatrix", "-p", "xdist", "-n", "2", "-p", "no:cacheprovider", "--junitxml=xdist.xml"],
        project,
        env,
    )
    assert done.returncode == 1, done.stdout[-3000:]
    spread = junit(os.path.join(project, "xdist.xml"))
    assert {n: o for n, (o, _, _) in spread.items()} == {n: o for n, (o, _, _) in first.items()}
    assert PIPE_READ.search(spread[cell(HANGS)][1])
    assert "created: 2/2 workers" in done.stdout, done.stdout[:2000]
    assert processes_of(venv) + processes_of(project) == [], "left running after pytest -n 2"
    # xdist itself makes pytest's base temp folder (pytest-of-USER, kept by pytest on purpose): not ours
    assert [n for n in os.listdir(cell_tmp) if not n.startswith("pytest-of-")] == [], "cell folders left behind"
    assert multiprocessing_shm() - shm == set(), "named semaphores left in /dev/shm"


# ---------------------------------------------------------------- this checkout's install


def run_pytest(project, *args, timeout=600):
    return sh([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"] + list(args), project, None, timeout)


def test_bad_input_is_one_line(tmp_path):
    project = make_project(str(tmp_path / "p"))
    done = run_pytest(project, "--hangmatrix", "--hangmatrix-matrix", "nightly")
    assert done.returncode == 4
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(
        "ERROR: hangmatrix: no matrix named 'nightly' (%s has: default;" % os.path.join(project, "matrix.toml")
    ), done.stderr
    done = run_pytest(project, "--hangmatrix", "--hangmatrix-jobs", "many")
    assert done.returncode == 4 and "hangmatrix: --hangmatrix-jobs: 'many' is not a number" in done.stderr
    done = run_pytest(project, "--hangmatrix", "--hangmatrix-memory", "lots")  # its own option, not the CLI's
    said = "hangmatrix: --hangmatrix-memory wants a size like 2G, 512M or 2GiB, not 'lots'"
    assert done.returncode == 4 and said in done.stderr, done.stderr
    done = run_pytest(project, "--hangmatrix", "--hangmatrix-detect", "maybe")
    assert done.returncode == 4 and "hangmatrix: --hangmatrix-detect: 'maybe' is not on or off" in done.stderr
    done = run_pytest(project, "--hangmatrix", "--hangmatrix-writable", "no-such-folder")
    said = "hangmatrix: --hangmatrix-writable no-such-folder: not an existing folder"
    assert done.returncode == 4 and said in done.stderr, done.stderr
    env = dict(os.environ, HANGMATRIX_DEBIAN_ROOT="maybe")
    done = sh([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--hangmatrix"], project, env)
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 4 and len(errors) == 1, done.stderr
    assert errors[0].startswith("ERROR: hangmatrix: HANGMATRIX_DEBIAN_ROOT='maybe' (environment variable): "), errors
    done = run_pytest(project, "--co", "-q")  # without --hangmatrix: nothing collected, nothing run
    assert done.returncode == 5 and "no tests collected" in done.stdout, done.stdout


def test_expectations_from_pyproject_project_with_x_and_k(tmp_path):
    """The matrix from [tool.hangmatrix] in pyproject.toml, the project's expectations.toml saying the
    pool program deadlocks: both cells pass, the deadlock as expected. Then -k picks a cell by an axis."""
    project = make_project(str(tmp_path / "p"))
    os.rename(os.path.join(project, "matrix.toml"), os.path.join(project, "matrix.orig"))
    with open(os.path.join(project, "matrix.orig")) as f:
        matrix_text = f.read().replace("[matrix.default]", "[tool.hangmatrix.matrix.default]")
    with open(os.path.join(project, "pyproject.toml"), "w") as f:
        f.write('[project]\nname = "p"\nversion = "0"\n\n' + matrix_text)
    with open(os.path.join(project, "expectations.toml"), "w") as f:
        f.write('expect = [\n  { case = "%s", verdict = "deadlock" },\n  { verdict = "works" },\n]\n' % HANGS)
    done = run_pytest(project, "--hangmatrix", "-v", "-rA")
    assert done.returncode == 0, done.stdout[-4000:]
    assert "pyproject.toml::%s PASSED" % cell(HANGS) in done.stdout
    assert "pyproject.toml::%s PASSED" % cell(WORKS) in done.stdout
    assert "expectations %s" % os.path.join(project, "expectations.toml") in done.stdout

    with open(os.path.join(project, "expectations.toml"), "w") as f:  # now the deadlock is a regression
        f.write('expect = [ { verdict = "works" } ]\n')
    done = run_pytest(project, "--hangmatrix", "-v", "-k", "pool and fork")
    assert done.returncode == 1 and "1 failed, 1 deselected" in done.stdout, done.stdout[-3000:]
    assert (
        "REGRESSION: a new hang" in done.stdout
        and "rule 1 of %s" % os.path.join(project, "expectations.toml") in done.stdout
    )


def test_x_stops_and_stores_only_what_finished(tmp_path):
    """-x after the first failure: the cells still running are killed (the guard checks nothing is left)
    and their aborted runs are not stored as records."""
    project = make_project(
        str(tmp_path / "p"),
        (
            '[matrix.default]\ncases = ["cases/%s.py", "cases/%s.py"]\nconfigs = ["as-written", "none", "patch_all", '
            '"thread_false", "selective", "lazy"]\nstarts = ["fork", "spawn"]\npythons = ["%s"]\ngevents = ["%s"]\n'
            % (HANGS, WORKS, PY, GEVENT)
        ),
    )
    done = run_pytest(project, "--hangmatrix", "--co", "-q", "-k", "works and thread_false and spawn")
    assert done.returncode == 0 and "1/24 tests collected (23 deselected)" in done.stdout, done.stdout[-3000:]
    assert "matrix.toml::%s-py%s-gevent%s-thread_false-spawn" % (WORKS, PY, GEVENT) in done.stdout
    assert not os.path.exists(os.path.join(project, "results")), "--co ran cells"

    done = run_pytest(project, "--hangmatrix", "-x", "--hangmatrix-jobs", "2", "--hangmatrix-records", "r.jsonl")
    assert done.returncode == 1 and "stopping after 1 failures" in done.stdout, done.stdout[-3000:]
    from hangmatrix.store import records

    stored = records.read(os.path.join(project, "r.jsonl"))
    assert 1 <= len(stored) < 24
    assert not any("harness supervisor failed" in r.signature for r in stored), [r.signature for r in stored]


def test_the_fixture_runs_one_cell_for_a_hand_written_test(tmp_path):
    project = make_project(str(tmp_path / "p"))
    with open(os.path.join(project, "test_ours.py"), "w") as f:
        f.write(
            "def test_pool(hangmatrix_cell):\n"
            "    rec = hangmatrix_cell('cases/%s.py', start='fork', python='%s', gevent='%s')\n"
            "    assert rec.verdict == 'deadlock' and 'read()' in rec.signature\n"
            "    assert rec.id == '%s'\n"
            "def test_squares(hangmatrix_cell):\n"
            "    assert hangmatrix_cell('cases/%s.py', config='none', python='%s', gevent='%s').verdict == 'ok'\n"
            "def test_bad(hangmatrix_cell):\n"
            "    hangmatrix_cell('cases/nothing.py')\n" % (HANGS, PY, GEVENT, cell(HANGS), WORKS, PY, GEVENT)
        )
    done = run_pytest(project, "-v", "test_ours.py")
    assert "test_pool PASSED" in done.stdout and "test_squares PASSED" in done.stdout, done.stdout[-4000:]
    assert "test_bad FAILED" in done.stdout and "CellRequestError: hangmatrix_cell: no case named" in done.stdout
    from hangmatrix.store import records

    assert {r.id for r in records.read(os.path.join(project, "results", "records.jsonl.gz"))} == {
        cell(HANGS),
        "%s-py%s-gevent%s-none-default" % (WORKS, PY, GEVENT),
    }


def test_repeat_gives_flake_rates_and_a_new_pass_is_reported_as_such(tmp_path):
    """--hangmatrix-repeat 3: three items for the cell, each a real run with its own record, and a flake
    rate in the summary. The expectations say the finishing program deadlocks: each run is a NEW PASS, and
    acknowledging it as the failure text says (hangmatrix baseline --update) makes the next run pass."""
    project = make_project(str(tmp_path / "p"))
    with open(os.path.join(project, "expectations.toml"), "w") as f:
        f.write('expect = [ { verdict = "deadlock" } ]\n')
    done = run_pytest(project, "--hangmatrix", "-v", "-k", WORKS, "--hangmatrix-repeat", "3")
    assert done.returncode == 1 and "3 failed, 3 deselected" in done.stdout, done.stdout[-3000:]
    for run in (1, 2, 3):
        assert "matrix.toml::%s[run%d] FAILED" % (cell(WORKS), run) in done.stdout
    # counted in the failures' own texts: with CI set, pytest's summary repeats each message uncut
    assert done.stdout.split("short test summary info")[0].count("NEW PASS: acknowledge it") == 3
    assert "hangmatrix: verdicts of repeated cells" in done.stdout
    assert re.search(r"ok +ok 3/3 +95% CI [0-9.]+-1\.00 +" + re.escape(cell(WORKS)), done.stdout), done.stdout[-1500:]
    from hangmatrix.store import records

    stored = records.read(os.path.join(project, "results", "records.jsonl.gz"))
    assert [r.id for r in stored] == [cell(WORKS)] * 3 and {r.verdict for r in stored} == {"ok"}

    acknowledge = re.search(r"hangmatrix baseline --update .*", done.stdout).group(0)
    hangmatrix = os.path.join(os.path.dirname(sys.executable), "hangmatrix")
    done = sh([hangmatrix] + acknowledge.split()[1:], project)
    assert done.returncode == 0, done.stdout + done.stderr
    done = run_pytest(project, "--hangmatrix", "-v", "-k", WORKS)
    assert done.returncode == 0 and "matrix.toml::%s PASSED" % cell(WORKS) in done.stdout, done.stdout[-3000:]


def test_a_matrix_case_table_runs_a_command_as_a_pytest_item(tmp_path):
    """A case table (issue 25): the project's own pytest suite as one cell per configuration."""
    suite = os.path.join(HERE, "programs", "pytest_suite")
    project = make_project(
        str(tmp_path / "p"),
        '[matrix.default]\ncases = [{name = "suite", cmd = "python -m pytest -q -p no:cacheprovider", '
        'project = %r}]\nconfigs = ["as-written", "none"]\nstarts = ["fork"]\npythons = ["%s"]\ngevents = ["%s"]\n'
        'requirements = ["pytest"]\n' % (suite, PY, GEVENT),
    )
    done = run_pytest(project, "--hangmatrix", "-rA")
    assert done.returncode == 1, done.stdout[-3000:]
    assert re.search(r"FAILED matrix.toml::suite-py%s-gevent%s-as-written-fork" % (PY, GEVENT), done.stdout)
    assert re.search(r"PASSED matrix.toml::suite-py%s-gevent%s-none-fork" % (PY, GEVENT), done.stdout), done.stdout
    assert "in test test_pool.py::test_pool_map" in done.stdout
