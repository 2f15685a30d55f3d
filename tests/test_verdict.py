"""The classifier: replayed on samples recorded from real runs (tests/data, made with
HANGMATRIX_DUMP_SAMPLES), and checked by property over generated process trees."""

import dataclasses
import json
import os
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from hangmatrix.observe import verdict, waits, wakers, watch
from hangmatrix.observe.watch import Proc, Sample, Thread
from hangmatrix.run import conclusion

DATA = os.path.join(os.path.dirname(__file__), "data")


def replay(name, endless):
    det = verdict.Detector(endless=endless)
    for n, line in enumerate(open(os.path.join(DATA, name))):
        row = json.loads(line)
        found = det.feed(watch.from_json(row["sample"]), verdict.Marks(**row["marks"]))
        if found:
            return n, found
    return n, None


def test_recorded_seed_deadlock_is_proven_after_the_tree_is_still():
    n, found = replay("seed_original-patch_all-fork.jsonl", endless=True)
    assert found[0] == "deadlock"
    assert found[1]["quiet_samples"] >= 3 and n >= 3


def test_recorded_spawn_deadlock_is_proven():
    assert replay("seed_original-patch_all-spawn.jsonl", endless=True)[1][0] == "deadlock"


def test_recorded_working_seed_is_running_never_deadlocked():
    assert replay("seed_original-none-fork.jsonl", endless=True)[1][0] == "running"


def test_recorded_terminating_run_gets_no_hang_verdict():
    assert replay("seed_terminating-none-fork.jsonl", endless=False)[1] is None


# ---------------------------------------------------------------- generated trees

UNTIMED = [
    ("read", (5, 0, 4)),
    ("futex", (1, 0x189, 0, 0)),
    ("wait4", (0xFFFFFFFFFFFFFFFF, 0, 0, 0)),
    ("epoll_wait", (7, 0, 64, 0xFFFFFFFF)),
    ("poll", (0, 1, 0xFFFFFFFFFFFFFFFF)),
]
TIMED = [
    ("futex", (1, 0x189, 0, 0x7FFF0000)),
    ("epoll_wait", (7, 0, 64, 1000)),
    ("clock_nanosleep", (1, 0, 0, 0)),
    ("select", (0, 0, 0, 0, 0x7FFF0000)),
    ("poll", (0, 1, 50)),
]

call = st.sampled_from(UNTIMED + TIMED + [("running", ())])


@st.composite
def trees(draw):
    procs = {}
    for i in range(draw(st.integers(1, 4))):
        pid = 100 + i
        threads = {}
        for j in range(draw(st.integers(1, 3))):
            sc, args = draw(call)
            state = "R" if sc == "running" else "S"
            threads[pid * 10 + j] = Thread(
                pid * 10 + j,
                "python",
                state,
                sc,
                args,
                "",
                draw(st.integers(0, 10**9)),
                draw(st.integers(0, 1000)),
                pid,
            )
        procs[pid] = Proc(pid, 1 if i == 0 else 100, "python case.py", threads)
    return procs


def kinds(procs):
    return [waits.wait_kind(t) for p in procs.values() for t in p.threads.values()]


@given(trees(), st.integers(3, 8))
@settings(max_examples=200, deadline=None)
def test_deadlock_only_when_every_thread_waits_untimed(procs, repeats):
    det = verdict.Detector()
    results = [det.feed(Sample(0.05 * k, procs), verdict.Marks()) for k in range(repeats)]
    deadlocked = any(r and r[0] == "deadlock" for r in results)
    assert deadlocked == all(k == "untimed" for k in kinds(procs))


@given(trees())
@settings(max_examples=100, deadline=None)
def test_no_deadlock_while_anything_changes(procs):
    det = verdict.Detector()
    for k in range(10):
        for p in procs.values():
            for t in p.threads.values():
                t.slices += 1  # every thread woke between samples
        assert det.feed(Sample(0.05 * k, procs), verdict.Marks()) is None


@given(trees())
@settings(max_examples=100, deadline=None)
def test_no_deadlock_while_the_program_makes_progress(procs):
    det = verdict.Detector()
    for k in range(10):
        assert det.feed(Sample(0.05 * k, procs), verdict.Marks(events=k)) is None


def test_a_long_timed_wait_is_never_a_stall():
    procs = {1: Proc(1, 0, "python", {1: Thread(1, "python", "S", "clock_nanosleep", (1, 0, 0, 0), "", 5, 5, 1)})}
    det = verdict.Detector()
    assert all(det.feed(Sample(0.1 * k, procs), verdict.Marks()) is None for k in range(100))


def test_polling_without_progress_is_a_stall_naming_the_poller():
    main = Thread(1, "python", "S", "read", (5, 0, 4), "", 5, 5, 1)
    poller = Thread(2, "Thread-1", "S", "clock_nanosleep", (1, 0, 0, 0), "", 5, 5, 1)
    det = verdict.Detector(stall_s=2.0)
    found = None
    for k in range(40):
        poller = dataclasses.replace(poller, slices=poller.slices + 1)  # each sample reads fresh values
        found = det.feed(Sample(0.1 * k, {1: Proc(1, 0, "python", {1: main, 2: poller})}), verdict.Marks())
        if found:
            break
    assert found[0] == "stall" and 2.0 <= k * 0.1 <= 2.5
    assert found[1]["pollers"][0]["name"] == "Thread-1"


@given(st.sampled_from(UNTIMED), st.sampled_from(TIMED))
def test_wait_kinds(untimed, timed):
    assert waits.wait_kind(Thread(1, "t", "S", untimed[0], untimed[1], "", 0, 0)) == "untimed"
    assert waits.wait_kind(Thread(1, "t", "S", timed[0], timed[1], "", 0, 0)) == "timed"
    assert waits.wait_kind(Thread(1, "t", "R", "running", (), "", 0, 0)) is None


def test_exception_of_a_helper_thread_is_found_on_stderr():
    err = (
        'Exception in thread Thread-1:\nTraceback (most recent call last):\n  File "x.py", line 1, in f\n'
        "    g()\ngevent.exceptions.LoopExit: This operation would block forever\n"
    )
    assert verdict.last_exception(err) == "gevent.exceptions.LoopExit: This operation would block forever"
    assert conclusion.ended(1, False, "", "", err)[1].endswith("LoopExit: This operation would block forever")
    assert conclusion.ended(-11, False, "", "", "")[0] == "crash"
    assert conclusion.ended(0, False, "^done$", "nope\n", "")[0] == "error"
    assert conclusion.ended(0, False, "^done$", "done\n", "") == ("ok", "")


# opentelemetry-python#3897's stderr as the reporter posted it (Python 3.12.3, gevent 24.2.1): the program exits 0
LINKABLE = "gevent._gevent_c_abstract_linkable.AbstractLinkable._notify_links"
OTEL_3897_STDERR = f"""Traceback (most recent call last):
  File "src/gevent/_abstract_linkable.py", line 287, in {LINKABLE}
  File "src/gevent/_abstract_linkable.py", line 333, in {LINKABLE}
AssertionError: (None, <callback at 0x7f72a5936040 args=([],)>)
2024-05-01T14:26:07Z <callback at 0x7f72a5936040 args=([],)> failed with AssertionError
"""


def test_a_failure_the_hub_swallowed_is_an_error_not_ok():
    name, sig = conclusion.ended(0, False, "", "", OTEL_3897_STDERR)
    assert name == "error"
    assert sig == (
        "exit 0, but the hub reported <callback at 0x7f72a5936040 args=([],)> failed with "
        "AssertionError: (None, <callback at 0x7f72a5936040 args=([],)>)"
    )
    greenlet = "Traceback (most recent call last):\nZeroDivisionError: division by zero\n"
    greenlet += "<Greenlet at 0x7f: f> failed with ZeroDivisionError\n"
    twice = conclusion.ended(0, False, "", "", greenlet * 2)[1]
    assert twice.endswith("ZeroDivisionError: division by zero (and 1 more)")
    assert conclusion.ended(0, False, "", "", "a line that says failed with nothing\n") == ("ok", "")


def test_a_run_records_its_samples_and_they_replay_to_its_verdict(run_one, tmp_path, monkeypatch):
    """HANGMATRIX_DUMP_SAMPLES (how tests/data was made) still records every sample of a real run, and
    the detector fed them again proves the same verdict at the same sample."""
    dump = tmp_path / "samples.jsonl"
    monkeypatch.setenv("HANGMATRIX_DUMP_SAMPLES", str(dump))
    rec = run_one("seed_original", "patch_all", "fork")
    assert rec.verdict == "deadlock"
    rows = [json.loads(line) for line in open(dump)]
    det = verdict.Detector(endless=True)
    found = [det.feed(watch.from_json(r["sample"]), verdict.Marks(**r["marks"])) for r in rows]
    assert found[-1] and found[-1][0] == "deadlock" and not any(found[:-1])
    assert found[-1][1]["quiet_samples"] == rec.proof["quiet_samples"]


# ---------------------------------------------------------------- a stall's proof is checked on every poller


def _poller_diag(wake):
    thread = {"tid": 7531, "call": "running()" if wake is None else "pselect6(...)"}
    if wake is not None:
        thread["wake"] = wake
    return {"processes": [{"pid": 7531, "role": "parent", "threads": [thread]}]}


def test_a_stall_whose_poller_was_caught_awake_is_not_proven_yet():
    """The CI run where outside_tcp_poll got `stall`: the look caught the poller between polls, so what it
    watched (a TCP socket an outside server answers) went unseen and nothing stood in the proof's way."""
    proof = {"pollers": [{"pid": 7531, "tid": 7531, "name": "python", "syscall": "pselect6", "wakeups": 19}]}
    awake = wakers.unproven("stall", proof, _poller_diag(None))
    assert awake and "awake when looked at" in awake[0]
    seen_inside = wakers.unproven("stall", proof, _poller_diag({"inside": [], "outside": []}))
    assert seen_inside == []
    seen_outside = wakers.unproven("stall", proof, _poller_diag({"inside": [], "outside": ["peer outside"]}))
    assert seen_outside == ["parent (thread 7531) in pselect6(): peer outside"]


# ---------------------------------------------------------------- a deadlock's look must find the tree unchanged


def _timerfd_reader(state="S", run_ns=5_000_000, slices=40):
    reader = Thread(201, "python", state, "read", (3, 0x7F00, 8), "", run_ns, slices, 200)
    return Sample(1.0, {200: Proc(200, 1, "python outside_timerfd.py", {201: reader})})


def test_a_wait_that_ended_during_the_look_is_no_deadlock():
    """Under load, test_outside's timerfd cell was once called a deadlock: the look read the timerfd as
    disarmed because it had just fired, while the woken reader had not run yet. After the look the tree
    must still be as the detector saw it: asleep in the same calls, not having run."""
    before = _timerfd_reader()
    assert verdict.still(before, _timerfd_reader())
    assert not verdict.still(before, _timerfd_reader(state="R"))  # woken, waiting for a CPU
    assert not verdict.still(before, _timerfd_reader(run_ns=5_100_000, slices=41))  # ran since
    gone = Sample(1.1, {})
    assert not verdict.still(before, gone)


def test_a_look_made_ahead_speaks_for_the_proof_only_if_nothing_moved_since():
    """The supervisor looks at who can end the tree's waits while the deadlock proof's window runs; the
    proof may use that look only if it was made during the same still run and every thread is still
    asleep in the same call without having run since (else it looks again, after the proof)."""
    from hangmatrix.run import watching

    det = verdict.Detector()
    for t in (1.0, 1.05):
        assert det.feed(dataclasses.replace(_timerfd_reader(), t=t), verdict.Marks()) is None
    look = (dataclasses.replace(_timerfd_reader(), t=1.06), {"processes": []}, [])
    proof_sample = dataclasses.replace(_timerfd_reader(), t=1.1)
    assert det.feed(proof_sample, verdict.Marks())[0] == "deadlock"
    assert watching._look_holds(look, det, proof_sample)
    assert not watching._look_holds(look, det, dataclasses.replace(_timerfd_reader(run_ns=5_000_001), t=1.1))
    assert not watching._look_holds(look, det, dataclasses.replace(_timerfd_reader(state="R"), t=1.1))
    before_the_run = (dataclasses.replace(_timerfd_reader(), t=0.99), {"processes": []}, [])
    assert not watching._look_holds(before_the_run, det, proof_sample)
    assert not watching._look_holds(None, det, proof_sample)
    assert not watching._look_ahead(look, det, recheck_at=0.0)  # this still run has its look already
    assert watching._look_ahead(before_the_run, det, recheck_at=0.0)
    assert not watching._look_ahead(None, det, recheck_at=time.monotonic() + 60)  # a recheck is pending


def test_a_timed_out_parent_caught_awake_is_looked_at_again():
    """The CI run where outside_tcp_poll's timeout read `parent blocked in running()`: the final look caught
    the poller between two polls, so the TCP peer outside, which the signature names, went unseen."""
    from hangmatrix.run import evidence

    class Looks:
        def __init__(self, *diags):
            self.diags = list(diags)

        def diagnose(self):
            return self.diags.pop(0)

    asleep = _poller_diag({"inside": [], "outside": ["TCP 127.0.0.1:1 → 127.0.0.1:2 (peer outside the tree)"]})
    assert evidence._look_while_awake(Looks(_poller_diag(None), asleep), _poller_diag(None), [(7531, 7531)]) is asleep
    spinning = Looks(*[_poller_diag(None)] * evidence.AWAKE_RELOOKS)
    last = evidence._look_while_awake(spinning, _poller_diag(None), [(7531, 7531)])
    assert not last["processes"][0]["threads"][0].get("wake") and not spinning.diags  # gave up after its looks


def test_the_conclusion_decides_each_rule_of_docs_proof_once():
    """run/conclusion.decide, the one place a verdict is decided, on evidence as the supervisor gathers it:
    each rule of docs/proof.md that rewrites what the watch proposed, and the verdict before a cap kept."""
    exited = conclusion.Ending(conclusion.EXITED, code=1)
    oom = "Traceback (most recent call last):\nMemoryError\n"
    capped = conclusion.decide(
        conclusion.Evidence(exited, stderr=oom, memory="RLIMIT_DATA", memory_cap=256 << 20)
    )  # the rlimit fallback: a failure of MemoryError is the cap's
    assert (capped.name, capped.signature, capped.watched) == ("error", "out of memory (cap 256 MiB)", "error")
    assert capped.proof["before_cap"] == {"verdict": "error", "signature": "exit 1: MemoryError"}
    counted = conclusion.decide(conclusion.Evidence(conclusion.Ending(conclusion.EXITED, code=0), counted_cap="x"))
    assert (counted.name, counted.signature, counted.watched) == ("error", "x", "ok")
    unapplied = conclusion.Evidence(exited, config="patch_all", needs_patch_point=True)
    assert conclusion.decide(unapplied).name == "unsupported"  # it never called patch_all(): nothing to replace
    missing = dataclasses.replace(unapplied, missing_module="no module named 'x'")
    assert (conclusion.decide(missing).name, conclusion.decide(missing).signature) == (
        "env-error",
        "no module named 'x'",
    )
    fixed = conclusion.Ending(conclusion.TIMEOUT, found="deadlock")  # fixed-timeout mode: proven at the backstop
    unproven = conclusion.decide(conclusion.Evidence(fixed, detect=False, hang_unproven=("peer outside",)))
    assert (unproven.name, unproven.proof["unproven"]) == ("timeout", ["peer outside"])
    assert conclusion.decide(conclusion.Evidence(fixed, detect=False, hang_unproven=())).name == "deadlock"
    stopped = conclusion.decide(conclusion.Evidence(conclusion.Ending(conclusion.STOPPED)))
    assert (stopped.name, stopped.signature) == ("error", "the harness stopped before a verdict")
