"""When the supervisor samples (observe/schedule.py): fewer samples while no proof can begin, the deadlock
proof's last sample exactly when the proof can complete, and the proof itself (three still samples over
at least 0.1 s) untouched. The tree is driven through a simulated clock: each sample is taken when the
schedule says, as the supervisor's loop does."""

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from hangmatrix.observe import schedule, verdict
from hangmatrix.observe.watch import Proc, Sample, Thread

LOOP_S = 0.002  # what one pass of the loop costs in simulated time (a sample, reading events)


def parent(t, syscall="read", args=(5, 0, 4), state="S", run_ns=1000, slices=10):
    """The seed's parent: one thread, in `syscall` (a pipe read, untimed) unless told otherwise."""
    return Sample(
        t, {100: Proc(100, 1, "python", {100: Thread(100, "python", state, syscall, args, "", run_ns, slices, 100)})}
    )


def drive(tree_at, until=5.0, marks_at=lambda t: verdict.Marks(), detector=None):
    """Sample tree_at(t) on the schedule until a verdict or `until`; returns (verdict, its time, sample
    times, detector)."""
    det = detector or verdict.Detector(endless=True)
    t, times = 0.0, []
    while t < until:
        times.append(t)
        found = det.feed(tree_at(t), marks_at(t))
        if found:
            return found, t, times, det
        t += LOOP_S
        t += schedule.next_sample_in(t, det, t)
    return None, t, times, det


def moving_then_still(settle):
    """Running (its CPU time rising) until `settle`, then asleep in an untimed pipe read for good."""

    def tree_at(t):
        if t < settle:
            return parent(t, "running", (), "R", run_ns=int(t * 1e9) + 1, slices=int(t * 1000) + 1)
        return parent(t, run_ns=int(settle * 1e9) + 2, slices=int(settle * 1000) + 2)

    return tree_at


def test_while_nothing_can_be_proven_it_samples_less_often():
    """A tree that keeps running is sampled every NOT_STILL_S at least, not every 25 ms."""
    found, _, times, _ = drive(moving_then_still(settle=99.0), until=1.0)
    assert found is None
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= schedule.NOT_STILL_S
    assert len(times) <= 1.0 / schedule.NOT_STILL_S + 1


def test_while_the_progress_marks_move_it_samples_less_still():
    """Output growing, events arriving, threads running: sampled every MOVING_S; once the marks stop (the
    threads still run), every NOT_STILL_S again."""
    stop = 1.0
    _, _, times, _ = drive(
        moving_then_still(settle=99.0), until=2.0, marks_at=lambda t: verdict.Marks(output=int(min(t, stop) * 1000))
    )
    gaps = [(a, b - a) for a, b in zip(times, times[1:])]
    assert all(gap >= schedule.MOVING_S for a, gap in gaps if a < stop - schedule.MOVING_S)
    assert all(schedule.NOT_STILL_S <= gap < schedule.MOVING_S for a, gap in gaps if a > stop + schedule.MOVING_S)


def test_the_deadlock_proof_completes_when_it_first_can():
    """Once the tree is still, the proof's samples are spread so that the last comes when the proof can
    complete (0.1 s after the first still sample), not an interval later, and never before."""
    for settle in (0.3, 0.517, 2.0, 4.73, 9.0):
        found, at, times, det = drive(moving_then_still(settle), until=settle + 2)
        assert found and found[0] == "deadlock", settle
        first_still = min(t for t in times if t >= settle)
        slow = max(schedule.interval(settle), schedule.NOT_STILL_S)
        assert first_still - settle <= slow + LOOP_S  # noticed within one gap of the slower pace
        assert det.quiet_since == first_still
        late = schedule.PAST_DUE_S + schedule.SOONEST_S + LOOP_S
        assert det.min_quiet_s <= at - first_still <= det.min_quiet_s + late, (settle, at)
        assert found[1]["quiet_samples"] >= det.quiet_samples


def test_the_schedule_returns_to_fast_as_soon_as_the_marks_stop():
    """Progress marks that move hold the proof back (its window starts when they stop); the first sample
    that sees them stopped and the tree still starts the proof's countdown at once."""
    stop = 1.2

    def marks_at(t):
        return verdict.Marks(events=int(min(t, stop) * 100))

    found, at, times, det = drive(parent, until=3.0, marks_at=marks_at)  # every thread still from the start
    assert found and found[0] == "deadlock"
    last_move = max(t for t in times if t < stop)
    first_stopped = min(t for t in times if t >= stop)
    assert det.min_quiet_s <= at - first_stopped
    assert at - last_move <= det.min_quiet_s + schedule.NOT_STILL_S + schedule.PAST_DUE_S + 2 * LOOP_S


def test_a_proof_held_back_does_not_make_it_spin():
    """A still tree whose proof the supervisor holds back (a wait an outside party can end: it looks again
    every 0.5 s) is sampled at the usual pace, not every few milliseconds."""
    det = verdict.Detector(endless=True)
    t, gaps = 0.0, []
    for _ in range(40):
        det.feed(parent(t), verdict.Marks())  # the supervisor ignores the verdict: no proof yet
        gap = schedule.next_sample_in(t, det, t)
        gaps.append(gap)
        t += gap
    assert all(g >= schedule.NOT_STILL_S for g in gaps[5:])


@given(
    st.lists(st.tuples(st.booleans(), st.floats(0.0, 0.3)), min_size=1, max_size=30),
    st.floats(0.0, 6.0),
)
@settings(max_examples=200, deadline=None)
def test_no_schedule_makes_a_deadlock_of_less_than_the_proof(phases, start):
    """Whatever the tree does (phases of running and of stillness, each of some length), a deadlock is
    only found after three identical still samples spanning at least min_quiet_s, and the gap the schedule
    asks for stays within [SOONEST_S, the usual interval or NOT_STILL_S]."""
    edges, t = [], start
    for running, length in phases:
        edges.append((t, running))
        t += length
    end = t

    def tree_at(now):
        running = next((r for at, r in reversed(edges) if at <= now), edges[0][1])
        if now >= end:
            running = False
        ran = sum(1 for at, r in edges if at <= now and r)  # CPU counters only grow
        if running:
            return parent(now, "running", (), "R", run_ns=int(now * 1e9) + 1, slices=int(now * 1e4) + 1)
        return parent(now, run_ns=ran * 7 + 1, slices=ran + 1)

    det = verdict.Detector(endless=True)
    now, seen = start, []
    while now < end + 1.0:
        snap = tree_at(now)
        found = det.feed(snap, verdict.Marks())
        seen.append(snap)
        if found:
            assert found[0] == "deadlock"
            still = [s for s in seen if s.t >= det.quiet_since]
            assert len(still) >= 3 and now - det.quiet_since >= det.min_quiet_s
            keys = {dataclasses.astuple(s.procs[100].threads[100])[2:] for s in still}
            assert len(keys) == 1  # the same thread, in the same wait, not having run
            break
        gap = schedule.next_sample_in(now - start, det, now)
        assert schedule.SOONEST_S <= gap <= max(schedule.interval(now - start), schedule.NOT_STILL_S, schedule.MOVING_S)
        now += gap
    else:
        raise AssertionError("a tree still for good was never found deadlocked")
