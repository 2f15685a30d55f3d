"""`hangmatrix advise`, run as a user runs it, on real programs and real gevent releases: its exit status,
its recommendation, and the records of the cells it ran (the recommended change really works in each)."""

import os
import subprocess
import sys

import pytest

from conftest import PY
from hangmatrix.store import records

pytestmark = pytest.mark.slow  # minutes of real cells: `pytest -m 'not slow'` skips it in a quick loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS = os.path.join(ROOT, "tests", "programs")
HM = [sys.executable, "-m", "hangmatrix.cli"]


def advise(*args, records_path=None):
    extra = ["--records", records_path] if records_path else []
    return subprocess.run(HM + ["advise"] + list(args) + extra, capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_seed_fails_as_written_and_a_flag_change_fixes_it_everywhere(tmp_path, env311):
    """The issue's acceptance: Python 3.11, gevent 24.11.1 and 26.9.0, fork, spawn and forkserver."""
    store = str(tmp_path / "advise.jsonl")
    out = advise(
        "cases/seed_original.py", "--python", PY, "--gevent", "24.11.1", "--gevent", "26.9.0", records_path=store
    )
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert (
        lines[-1] == "recommendation: monkey.patch_all(thread=False, queue=False) in place of "
        "monkey.patch_all() on line 14 of cases/seed_original.py"
    ), lines[-1]
    recs = records.read(store)
    written = [r for r in recs if r.config == "as-written"]
    assert len(written) == 6 and all(r.verdict == "deadlock" and r.signature for r in written)
    for rec in written:  # the as-written verdicts are printed with their signatures
        assert any(rec.signature in line and rec.start in line for line in lines)
    fixed = [r for r in recs if r.config == "flags:queue=0,thread=0"]
    assert sorted((r.gevent, r.start) for r in fixed) == sorted(  # each cell run, then run once more
        (g, s) for g in ("24.11.1", "26.9.0") for s in ("fork", "spawn", "forkserver") for _ in range(2)
    )
    assert all(r.verdict == "running" for r in fixed), [(r.id, r.verdict) for r in fixed]
    assert "works in every cell asked for, and again in 1 more run of each" in out.stdout


def test_a_patch_point_inside_a_library_is_changed_there(env311):
    out = advise(
        os.path.join(PROGRAMS, "imports_a_patcher.py"), "--python", PY, "--gevent", "26.9.0", "--start", "fork"
    )
    assert out.returncode == 1, out.stdout + out.stderr
    library = os.path.relpath(os.path.join(PROGRAMS, "grequests_like.py"), ROOT)  # as said in the working folder
    assert (
        "its patch point: curious_george.patch_all(thread=False, select=False) on line 3 of %s (library "
        "grequests_like, imported by " % library in out.stdout
    )
    assert out.stdout.splitlines()[-1].startswith(
        "recommendation: curious_george.patch_all(thread=False, select=False, queue=False) in place of "
        "curious_george.patch_all(thread=False, select=False) on line 3 of %s" % library
    ), out.stdout


def test_a_program_that_works_as_written_exits_0(env311):
    out = advise(os.path.join(PROGRAMS, "works_as_written.py"), "--python", PY, "--gevent", "26.9.0")
    assert out.returncode == 0, out.stdout + out.stderr
    assert [line.split()[-2:] for line in out.stdout.splitlines() if line.startswith("  py")] == [
        [start, "ok"] for start in ("fork", "spawn", "forkserver")
    ]
    assert out.stdout.splitlines()[-1].startswith("recommendation: no change")
    assert "candidate" not in out.stdout


def test_nothing_fixes_a_program_that_fails_without_gevent_exits_3(env311):
    out = advise(
        os.path.join(PROGRAMS, "fails_without_patching.py"), "--python", PY, "--gevent", "26.9.0", "--start", "fork"
    )
    assert out.returncode == 3, out.stdout + out.stderr
    assert "skipped: the program never called gevent.monkey.patch_all()" in out.stdout
    assert "error" in out.stdout and "results were not written" in out.stdout
    assert out.stdout.splitlines()[-1] == "recommendation: none of the candidate changes works"


def test_bad_input_exits_2_with_one_line(env311):
    for args in (
        ["no_such_program.py"],
        [os.path.join(PROGRAMS, "README.md")],
        [os.path.join(PROGRAMS, "works_as_written.py"), "--start", "sideways"],
        [os.path.join(PROGRAMS, "works_as_written.py"), "--python", "1.5"],
    ):
        out = advise(*args)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("hangmatrix: "), out.stderr
