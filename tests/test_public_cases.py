"""The public-record cases (hangmatrix/data/public_cases/, docs/public-cases.md): each runs for real, as
written, with its own requires, on the reporter's Python and gevent where they install (else 3.11 / 26.9.0),
and hangmatrix must say what the reporter or the maintainer said. Every cell of the `public` matrix must also
meet its expectation in hangmatrix/data/public_expectations.toml, which `pytest tests/test_public_cases.py
--update-baseline`
rewrites from this run (as tests/test_baseline.py does for the built-in cases)."""

import os
import re

import pytest

from conftest import GEVENT, PY
from hangmatrix.checks import baseline
from hangmatrix.model import cases, configs, matrix, packaged
from hangmatrix.run import runner
from hangmatrix.store import records

pytestmark = pytest.mark.slow  # minutes of real cells: `pytest -m 'not slow'` skips it in a quick loop

BASELINE = packaged.public_baseline_path()
PUBLIC = sorted(cases.discover([packaged.public_cases_dir()]))
STARTS = list(configs.STARTS)
HOOK = "public_gevent_2023_fork_hook_threadpool"
HOOK_RUNS = 3  # it is racy: a single run can exit
SPIN = "public_gevent_966_waitpid_wnohang_spin"
UNDER_PYTEST = "public_gevent_2017_pytest_event_thread"
GEVENTMP = "public_geventmp_30_unittest_parallel"
EXECNET = "public_execnet_75_xdist_gevent_execmodel"
XDIST_MONKEY = "public_xdist_1069_monkey_module_workers"
XDIST_LOOPEXIT = "public_xdist_254_patched_parametrize"
IPYTHON = "public_gevent_1079_ipython_history_thread"
RACY_RUNS = 3


def _plan(names, python, gevent, starts=STARTS, timeout=20.0):
    return runner.plan(
        case_names=names,
        config_names=["as-written"],
        starts=starts,
        pythons=[python],
        gevents=[gevent],
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def runs():
    """The `public` matrix (every public case on 3.11 with gevent 24.2.1 and 26.9.0, each start method), the
    racy case twice more, and the cells of the reporters' own versions: all run at once. Returns the list of
    records (repeats kept)."""
    items = runner.plan(matrix="public", case_names=[c for c in PUBLIC if c != SPIN])
    for release in ("24.2.1", GEVENT):  # the spin runs to its backstop: one start method, a short one
        items += _plan([SPIN], PY, release, ["fork"], timeout=4.0)
    for _ in range(HOOK_RUNS - 1):
        items += _plan([HOOK], PY, GEVENT)
    items += _plan(["public_gevent_1988_popen_import_order"], PY, "23.7.0", ["default"])  # the reporter's
    items += _plan(["public_gevent_1876_pool_initializer"], "3.9", "21.12.0", ["default"])  # the reporter's
    items += _plan(["public_grequests_97*"], "2.7", "1.1.2", ["default"], timeout=10.0)  # Python 2, as reported
    for _ in range(RACY_RUNS):  # racy, each of them: the reporter's outcome in one of three runs at least
        items += _plan([GEVENTMP], "3.12", "25.4.2", ["default"])  # the reporter's Python; before the fix
        items += _plan(["public_grequests_100_manager_list"], "2.7", "1.1.2", ["default"], timeout=10.0)
    items += _plan([EXECNET], "3.8", "21.1.2", ["default"], timeout=10.0)  # pytest-xdist#653's versions
    return runner.execute(items)


def _in_matrix(runs):
    """The records of the `public` matrix's cells: what public_expectations.toml covers."""
    m = matrix.load_matrix(None, "public")
    return [r for r in runs if r.provenance["python_short"] in m.pythons and r.gevent in m.gevents]


def _cells(runs, case, python=PY, gevent=GEVENT, starts=STARTS):
    ids = {records.cell_id(case, python, gevent, "as-written", s) for s in starts}
    found = [r for r in runs if r.id in ids]
    assert {r.id for r in found} == ids, "cells not run: %s" % sorted(ids - {r.id for r in found})
    return found


def _uncaught(rec):
    return ["%s: %s" % (e["type"], e["message"]) for e in rec.events["notable"] if e["ev"] == "uncaught"]


def test_update_public_baseline_when_asked(request, runs):
    if not (
        request.config.getoption("--update-baseline", default=False)
        or os.environ.get("HANGMATRIX_UPDATE_BASELINE") == "1"
    ):
        pytest.skip("run with --update-baseline (or HANGMATRIX_UPDATE_BASELINE=1) to rewrite public_expectations.toml")
    baseline.update(_in_matrix(runs), BASELINE)
    assert baseline.check(_in_matrix(runs), baseline.load(BASELINE)) == []  # the rewritten file holds this run


def test_every_cell_meets_its_expectation(runs):
    failures = baseline.check(_in_matrix(runs), baseline.load(BASELINE))
    assert not failures, "\n".join(str(f) for f in failures)


def test_gevent_1988_the_reported_type_error(runs):
    """Reporter: TypeError 'NoneType' object is not callable (3.11.5, gevent 23.7.0); maintainer: patching in
    the wrong order. A program error, on every start method, then and now."""
    cells = _cells(runs, "public_gevent_1988_popen_import_order") + _cells(
        runs, "public_gevent_1988_popen_import_order", gevent="23.7.0", starts=["default"]
    )
    for rec in cells:
        assert rec.verdict == "error", rec.id
        assert "TypeError: 'NoneType' object is not callable" in rec.signature, rec.id


def test_grequests_100_errno_11_from_the_manager(runs):
    """Reporter (Python 2.7, Linux): the Manager fails with IOError [Errno 11]. On 2.7 with gevent 1.1.2 it
    is that exact error; on 3.11 / 26.9.0 with fork (Linux's default) the same errno as BlockingIOError."""
    olds = [
        r
        for r in runs
        if r.id == records.cell_id("public_grequests_100_manager_list", "2.7", "1.1.2", "as-written", "default")
    ]
    assert len(olds) == RACY_RUNS and all(r.verdict == "error" for r in olds), [r.signature for r in olds]
    # the Manager's handshake races: EAGAIN (the report's) or EPIPE, each an IOError of the Manager's connection
    assert all(re.search(r"IOError: \[Errno (11|32)\]", r.signature) for r in olds), [r.signature for r in olds]
    assert any("IOError: [Errno 11] Resource temporarily unavailable" in r.signature for r in olds)
    assert olds[0].provenance["packages"].get("grequests"), "grequests must be installed in the cell env"
    for rec in _cells(runs, "public_grequests_100_manager_list", starts=["fork", "default"]):
        assert rec.verdict == "error", rec.id
        assert any(u.startswith("BlockingIOError: [Errno 11]") for u in _uncaught(rec)), (rec.id, _uncaught(rec))


def test_gevent_2023_fork_hook_gets_stuck_on_311(runs):
    """Reporter: stuck on Python 3.11 (racy: a run can exit). Proven at least once in 3 runs of each start
    method, always with the parent in epoll_wait(), never an error."""
    hook = [r for r in runs if r.case == HOOK and r.gevent == GEVENT]
    assert len(hook) == len(STARTS) * HOOK_RUNS
    verdicts = [r.verdict for r in hook]
    assert set(verdicts) <= {"deadlock", "ok"}, verdicts
    assert "deadlock" in verdicts, verdicts
    for rec in hook:
        if rec.verdict == "deadlock":
            assert "epoll_wait()" in rec.signature, rec.signature
            assert "ended!" not in rec.stdout_tail


def test_gevent_2023_tqdm_stuck_at_exit_with_the_commenters_versions(runs):
    """Commenter: gevent 24.2.1 with tqdm 4.66.2 prints 0..4 and gets stuck at exit. Resolved as of 24.2.1's
    date, tqdm is 4.66.x, and every start method is a deadlock after the fifth line."""
    for rec in _cells(runs, "public_gevent_2023_tqdm_threadpool", gevent="24.2.1"):
        assert rec.provenance["packages"]["tqdm"].startswith("4.66."), rec.provenance["packages"]
        assert rec.verdict == "deadlock", rec.id
        assert rec.stdout_tail.split() == ["0", "1", "2", "3", "4"]


def test_gevent_1876_pool_hangs_after_continuing_at_pdb(runs):
    """Reporter (3.9.10, gevent 21.12.0): after typing c at pdb the 16 initializers print okay, then it hangs.
    With the case's stdin it is the seed's deadlock: the parent in read() on a pipe the pool workers hold."""
    cells = _cells(runs, "public_gevent_1876_pool_initializer", starts=["fork", "default"]) + _cells(
        runs, "public_gevent_1876_pool_initializer", "3.9", "21.12.0", ["default"]
    )
    for rec in cells:
        assert rec.verdict == "deadlock", rec.id
        assert re.search(r"parent blocked in read\(\) on pipe:.*16 pool workers", rec.signature), rec.signature
        assert rec.cause.kind == "hub-blocked" and "result handler" in rec.cause.text, rec.cause
        assert rec.stdout_tail.count("okay") == 16, rec.stdout_tail


def test_gevent_1876_without_stdin_pdb_quits(tmp_path):
    """The stdin header is what makes the report's run: the same program with stdin empty quits at pdb."""
    src = os.path.join(packaged.public_cases_dir(), "public_gevent_1876_pool_initializer.py")
    with open(src) as f:
        text = "".join(line for line in f if "hangmatrix: stdin" not in line)
    copy = tmp_path / "pdb_no_stdin.py"
    copy.write_text(text)
    [rec] = runner.execute(_plan([str(copy)], PY, GEVENT, ["fork"]))
    assert rec.verdict == "error" and "BdbQuit" in rec.signature, (rec.verdict, rec.signature)


def test_grequests_97_never_finishes_with_grequests_imported(runs):
    """Reporter (Python 2): the workers' Queue program, fine without grequests, is broken with it imported.
    With gevent 1.1.2 the four workers finish, then the parent never gets to "Done": it is still running at the
    backstop. On Python 3 the case is unsupported (it imports the Python 2 Queue module)."""
    [rec] = _cells(runs, "public_grequests_97_process_queue", "2.7", "1.1.2", ["default"])
    assert rec.verdict == "timeout" and "running" in rec.signature, (rec.verdict, rec.signature)
    assert rec.stdout_tail.count("finished") == 4 and "Done" not in rec.stdout_tail
    assert {r.verdict for r in _cells(runs, "public_grequests_97_process_queue")} == {"unsupported"}


def test_gevent_1865_a_native_lock_held_across_a_greenlet_switch(runs):
    """PR #2191 (merged): Executor.submit holds the native _global_shutdown_lock across Thread.start(), so a
    worker greenlet that forks runs the at-fork hook that takes it while another greenlet holds it: the
    process deadlocks on 24.2.1, every start method; fixed since (26.9.0 runs)."""
    for rec in _cells(runs, "public_gevent_1865_fork_in_executor_worker", gevent="24.2.1"):
        assert rec.verdict == "deadlock", (rec.id, rec.signature)
        found = rec.cause
        assert found.kind == "lock-held-across-switch", found.text
        assert found.where.file.endswith("public_gevent_1865_fork_in_executor_worker.py")
        assert found.where.line == 19 and "`concurrent.futures.thread._global_shutdown_lock`" in found.text
    for rec in _cells(runs, "public_gevent_1865_fork_in_executor_worker"):
        assert rec.verdict == "ok", (rec.id, rec.signature)


def test_otel_3897_the_swallowed_assertion_error_is_no_plain_ok(runs):
    """Reporter (3.12.3, gevent 24.2.1): `<callback …> failed with AssertionError` on stderr, exit 0."""
    for rec in _cells(runs, "public_otel_3897_hub_callback_assertion", gevent="24.2.1"):
        assert rec.verdict == "error" and rec.exit_code == 0, (rec.id, rec.signature)
        assert re.search(r"failed with AssertionError: \(None, <callback at 0x\w+ args=\(\[\],\)>\)", rec.signature)


def test_gevent_966_the_spin_is_a_busy_loop_never_an_error(runs):
    """Reporter: the WNOHANG loop never gets the result: a spin, printing a line a turn (16 MiB in a second)."""
    for release in ("24.2.1", GEVENT):
        [rec] = _cells(runs, SPIN, gevent=release, starts=["fork"])
        assert rec.verdict == "timeout", (rec.id, rec.signature)
        assert rec.cause.kind == "busy-loop" and 20 <= rec.cause.where.line <= 27, rec.cause


@pytest.mark.parametrize("case", ["public_debugpy_1005_check_output", "public_gevent_600_process_join_after_popen"])
def test_controls_work_without_the_debugger_and_since_the_fix(runs, case):
    """debugpy 1005's calls were slow only under the debugger; gevent 600's join was fixed (its test passes)."""
    for rec in _cells(runs, case):
        assert rec.verdict == "ok", (rec.id, rec.signature)


def test_gevent_2017_hangs_under_pytest_in_test_a(runs):
    """Reporter (gevent#2017, pytest#11919): the module hangs when pytest runs it. Under `python -m pytest`
    (its `cmd` header) every cell deadlocks, and the signature names the test: test_a."""
    for rec in _cells(runs, UNDER_PYTEST) + _cells(runs, UNDER_PYTEST, gevent="24.2.1"):
        assert rec.verdict == "deadlock", (rec.id, rec.signature)
        assert rec.signature.endswith("in test %s.py::test_a" % UNDER_PYTEST), rec.signature


def test_gevent_2017_run_as_a_file_only_prints_a():
    """The same module as `python FILE` (no pytest): test_a is never called; it prints "a" and ends."""
    case = cases.load(os.path.join(packaged.public_cases_dir(), UNDER_PYTEST + ".py"))
    case.cmd = []
    [rec] = runner.execute([runner.make_item(case, configs.parse("as-written"), "fork", *_axes(), 20.0)])
    assert (rec.verdict, rec.stdout_tail) == ("ok", "a\n"), rec.signature


def _axes():
    from hangmatrix.envs.interpreters import find_interpreter

    return find_interpreter(PY), GEVENT


def test_geventmp_30_hangs_after_the_tests_until_unittest_parallels_fix(runs):
    """Reporter (geventmp#30, Python 3.12): under `python -m gevent.monkey --module unittest_parallel` the tests
    run, then it hangs; maintainer: a bug of unittest-parallel, fixed by its #26. With unittest-parallel as of
    gevent 25.4.2's date both tests pass, then a proven hang (racy: at least once in three runs); as of 26.9.0's
    date (the fix released) it ends."""
    befores = [r for r in runs if r.id == records.cell_id(GEVENTMP, "3.12", "25.4.2", "as-written", "default")]
    assert len(befores) == RACY_RUNS and all(r.stderr_tail.count(") ... ok") == 2 for r in befores)
    assert {r.verdict for r in befores} <= {"deadlock", "stall", "ok", "error"}, [r.signature for r in befores]
    # a run that ends may end with the hub's swallowed AssertionError (an error since issue 26), never another
    assert all(r.signature.startswith("exit 0, but the hub reported") for r in befores if r.verdict == "error")
    hung = [r for r in befores if r.verdict in ("deadlock", "stall")]
    assert hung, "no hang in %d runs" % RACY_RUNS  # racy: 2 of 3 runs hung here
    assert all("in test" not in r.signature for r in hung)  # after the tests, not in one
    for rec in _cells(runs, GEVENTMP):
        assert rec.verdict == "ok" and "Ran 2 tests" in rec.stderr_tail, (rec.id, rec.signature)


def test_execnet_75_hangs_before_any_test_on_python_3(runs):
    """Reporters (execnet#75, pytest-xdist#653): on Python 3 `pytest -d --tx popen//execmodel=gevent` hangs
    before scanning for tests. With their versions (3.8, gevent 21.1.2, pytest-xdist 2.2) and on 3.11 with
    24.2.1's: a hang, the worker started (`gw0 I`) and no test reported; pytest-xdist 3.6+ (26.9.0's date)
    refuses the spec, an error that says so."""
    [theirs] = _cells(runs, EXECNET, "3.8", "21.1.2", ["default"])
    for rec in [theirs] + _cells(runs, EXECNET, gevent="24.2.1"):
        assert rec.verdict in ("deadlock", "stall", "timeout"), (rec.id, rec.signature)
        assert "test_assert" not in rec.stdout_tail and "passed" not in rec.stdout_tail, rec.stdout_tail
    for rec in _cells(runs, EXECNET):
        assert rec.verdict == "error" and "duplicate key: 'execmodel'" in rec.stdout_tail, rec.id


def test_xdist_1069_the_workers_are_not_patched(runs):
    """Reporter (pytest-xdist#1069, open): `python -m gevent.monkey --module pytest` passes, with `-n auto` test_auto
    fails: the controller is patched, the xdist workers (execnet subprocesses) are not. Every cell: error, the
    run's failure in test_auto with the program's own "not patched!"."""
    for rec in _cells(runs, XDIST_MONKEY) + _cells(runs, XDIST_MONKEY, gevent="24.2.1"):
        assert rec.verdict == "error" and rec.exit_code == 1, (rec.id, rec.signature)
        assert "FAILED %s.py::test_auto - SystemExit" % XDIST_MONKEY in rec.stdout_tail, rec.stdout_tail
        assert "E   SystemExit: not patched!" in rec.stdout_tail, rec.stdout_tail


def test_xdist_254_loop_exit_breaks_the_run(runs):
    """Maintainer (pytest-xdist#254, 2017): a patched test module under xdist "breaks quite spectacularly":
    INTERNALERROR and gevent's LoopExit ('This operation would block forever'). Still so: the controller ends
    in INTERNALERROR (exit 3) with no test run, and the workers die of LoopExit, which is the signature where
    their stderr came before the controller's end (racy: the test asks for it in one cell of the eight)."""
    cells = _cells(runs, XDIST_LOOPEXIT) + _cells(runs, XDIST_LOOPEXIT, gevent="24.2.1")
    for rec in cells:
        assert rec.verdict == "error" and rec.exit_code == 3, (rec.id, rec.signature)
        assert "INTERNALERROR>" in rec.stdout_tail and "no tests ran" in rec.stdout_tail, rec.stdout_tail
    assert any("LoopExit: This operation would block forever" in r.signature for r in cells), [
        r.signature for r in cells
    ]


def test_gevent_1079_under_ipython_the_result_is_right(runs):
    """Reporter (gevent#1079, Python 3.5): run in IPython the result is right, after IPython's history-saving
    thread complains (LoopExit then). Under `python -m IPython` the three counters print and the run ends (ok);
    the history thread still complains on stderr, now with a KeyError from threading's bookkeeping."""
    for rec in _cells(runs, IPYTHON) + _cells(runs, IPYTHON, gevent="24.2.1"):
        assert rec.verdict == "ok", (rec.id, rec.signature)
        counts = re.fullmatch(r"\[(\d+), (\d+), (\d+)\]\n", rec.stdout_tail)
        assert counts and all(int(n) > 0 for n in counts.groups()), rec.stdout_tail
        assert "HistorySavingThread" in rec.stderr_tail, rec.stderr_tail
