"""Programs as their users have them, no header and no marked line (tests/programs/), run for real on
Python 3.11 with gevent 26.9.0: `as-written` runs the program's own patch_all(...) call; every other
configuration applies at the first patch_all() call the program makes, in its main module or inside a
library it imports; a program that never patches is `unsupported` wherever a configuration would replace
a call; `flags:` configurations change the program's own flags."""

import os

import pytest

from conftest import GEVENT, PY, wait_of
from hangmatrix.model import configs
from hangmatrix.run import runner

PROGRAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs")
PROVEN = {"ok", "running", "deadlock", "stall", "error"}


def program(name):
    return os.path.join(PROGRAMS, name + ".py")


def run(name, config_names, starts=("fork",)):
    """{(config, start): record} of real runs."""
    items = runner.plan(
        case_names=[program(name)],
        config_names=list(config_names),
        starts=list(starts),
        pythons=[PY],
        gevents=[GEVENT],
        timeout=20.0,
    )
    return {(rec.config, rec.start): rec for rec in runner.execute(items)}


def notable(rec, ev):
    return [e for e in rec.events["notable"] if e["ev"] == ev]


@pytest.fixture(scope="module")
def unedited(env311):
    """The unedited Pool program under as-written and every named configuration, fork and spawn."""
    return run("unedited_pool", configs.NAMED, ("fork", "spawn"))


def test_every_named_configuration_gets_a_proven_verdict(unedited):
    assert set(unedited) == {(c, s) for c in configs.NAMED for s in ("fork", "spawn")}
    for (config, start), rec in unedited.items():
        assert rec.verdict in PROVEN, (config, start, rec.verdict, rec.signature)
        if rec.verdict == "deadlock":
            assert wait_of(rec).startswith("parent blocked in "), rec.signature
            assert rec.quiescent_at_s is not None and rec.cleanup["survivors"] == []
        assert rec.patch_point["line"] == 4 and rec.patch_point["in"] == "main module", rec.patch_point
        assert rec.start_used["reported"] == start


def test_as_written_runs_the_programs_own_call_and_records_it(unedited):
    for start in ("fork", "spawn"):
        rec = unedited[("as-written", start)]
        point = rec.patch_point
        assert point["call"] == "patch_all(thread=False, select=False)"
        assert point["source"] == "monkey.patch_all(thread=False, select=False)"
        assert point["file"].endswith("unedited_pool.py") and point["module"] == "__main__"
        assert notable(rec, "patched")[0]["call"] == "patch_all(thread=False, select=False) (as written)"
        # gevent 26.9.0 with real threads and a patched queue: the Pool's task handler dies with LoopExit
        assert rec.verdict == "deadlock" and "LoopExit" in rec.signature, rec.signature
    # the configurations replace that call: unpatched it works, with thread patched too it hangs another way
    assert unedited[("none", "fork")].verdict == "ok"
    assert "[0, 1, 4, 9, 16]" in unedited[("none", "fork")].stdout_tail
    whole = unedited[("patch_all", "fork")]
    assert whole.verdict == "deadlock" and "LoopExit" not in whole.signature
    assert notable(whole, "patched")[0]["call"] == "patch_all()"


def test_flags_configurations_start_from_the_programs_own_flags(env311):
    cells = run("unedited_pool", ["flags:queue=0", "flags:thread=1"])
    queue_off = cells[("flags:queue=0", "fork")]
    assert notable(queue_off, "patched")[0]["call"] == "patch_all(thread=False, select=False, queue=False)"
    assert queue_off.verdict == "ok", queue_off.signature
    thread_on = cells[("flags:thread=1", "fork")]
    assert notable(thread_on, "patched")[0]["call"] == "patch_all(thread=True, select=False)"
    assert thread_on.verdict == "deadlock" and "LoopExit" not in thread_on.signature, thread_on.signature
    # the same configuration on a program whose own call is patch_all(): thread stays patched, it hangs
    items = runner.plan(
        case_names=["seed_terminating"],
        config_names=["flags:queue=0"],
        starts=["fork"],
        pythons=[PY],
        gevents=[GEVENT],
        timeout=20.0,
    )
    [seed] = runner.execute(items)
    assert notable(seed, "patched")[0]["call"] == "patch_all(queue=False)"
    assert seed.verdict == "deadlock", seed.signature


def test_patch_point_inside_an_imported_library_is_found_there(env311):
    cells = run("imports_a_patcher", ["as-written", "none", "flags:queue=0"])
    written = cells[("as-written", "fork")]
    point = written.patch_point
    assert point["in"] == "library grequests_like" and point["module"] == "grequests_like"
    assert point["file"].endswith("grequests_like.py") and point["line"] == 3
    assert point["source"] == "curious_george.patch_all(thread=False, select=False)"
    assert written.verdict == "deadlock" and "LoopExit" in written.signature, written.signature
    assert cells[("none", "fork")].verdict == "ok", cells[("none", "fork")].signature
    assert (
        notable(cells[("flags:queue=0", "fork")], "patched")[0]["call"]
        == "patch_all(thread=False, select=False, queue=False)"
    )
    assert cells[("flags:queue=0", "fork")].verdict == "ok"


def test_a_program_that_never_patches_is_unsupported_where_a_call_would_be_replaced(env311):
    cells = run("never_patches", configs.NAMED)
    for config in ("none", "as-written"):
        assert cells[(config, "fork")].verdict == "ok", cells[(config, "fork")].signature
        assert cells[(config, "fork")].patch_point is None  # a null is absence (model/record.py)
    for config in set(configs.NAMED) - {"none", "as-written"}:
        rec = cells[(config, "fork")]
        assert rec.verdict == "unsupported", (config, rec.verdict)
        assert "never called gevent.monkey.patch_all()" in rec.signature and config in rec.signature


def test_a_hang_before_the_patch_point_keeps_its_proven_verdict(env311):
    """Not reaching patch_all() by the verdict does not prove the program never calls it: no guess."""
    rec = run("hangs_before_patching", ["thread_false"])[("thread_false", "fork")]
    assert rec.verdict == "deadlock" and wait_of(rec).startswith("parent blocked in read() on pipe:")
    assert "before any patch_all() call (thread_false not applied)" in rec.signature
    assert rec.proof["patch_point"].startswith("not reached")


def test_start_method_without_a_patch_point_and_over_the_programs_own_choice(env311):
    spawned = run("never_patches", ["none"], ("spawn",))[("none", "spawn")]
    assert spawned.verdict == "ok" and spawned.start_used["reported"] == "spawn"
    own = run("sets_its_own_start_method", ["as-written"], ("fork", "default"))
    forced = own[("as-written", "fork")]
    assert forced.verdict == "ok", forced.signature
    [asked] = notable(forced, "start_method_program")
    assert asked["asked"] == "spawn" and asked["kept"] == "fork" and asked["line"] == 12
    # a spawned process starts an interpreter (and our sitecustomize) afresh; a forked one does not
    assert forced.events["counts"]["start"] == 1
    left = own[("as-written", "default")]
    assert left.verdict == "ok" and not notable(left, "start_method_program")
    assert left.events["counts"]["start"] >= 3  # the parent and two spawned pool workers


@pytest.mark.debian_root
def test_on_python_314_the_start_method_applies_with_and_without_a_patch_point(run_one, debian_root_built):
    """3.14's default is forkserver and gevent's patch_all() forces fork: at the program's own call the
    refusal is recorded and the cell still runs what it asked; without any patch_all() the method is set
    where multiprocessing picks its context, with nothing to refuse."""
    from hangmatrix.envs.build import ensure_env
    from hangmatrix.envs.interpreters import find_interpreter

    env = ensure_env(find_interpreter("3.14", debian_root=True), "26.9.0")
    patched = run_one(program("unedited_pool"), "as-written", "spawn", env=env)
    assert patched.python.startswith("3.14") and patched.patch_point["line"] == 4
    assert "context has already been set" in patched.start_used["refused"]
    assert patched.start_used["reported"] == "spawn"
    assert patched.verdict in PROVEN, patched.signature
    plain = run_one(program("never_patches"), "none", "spawn", env=env)
    assert plain.verdict == "ok" and plain.start_used["reported"] == "spawn"
    assert not plain.start_used["refused"]
