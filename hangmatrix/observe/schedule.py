"""When the supervisor samples the tree next. Sampling costs the supervisor's CPU; a late sample delays a
verdict. A proof's soundness does not depend on how densely the tree is sampled: what a thread did between
two samples shows in counters that only grow (its CPU time, the times it was scheduled), and the program's
progress marks only grow too. So the schedule only decides how soon a proof can begin and end:

- while the program's own progress marks (its events, output, ticks, io, threads) move, no deadlock or
  stall can be proven (each proof needs them unmoved for its whole window): sample every MOVING_S at
  least; while some thread runs or waits with a timeout, no deadlock proof can begin: every NOT_STILL_S at
  least (each delays noticing that the tree became still by at most that much);
- once a sample finds every thread in an untimed wait, the proof's remaining samples are spread so that
  the last falls exactly when the proof can first be complete (verdict.Detector.proof_due: min_quiet_s
  after the still run began and after the last progress), not an interval after it;
- otherwise the usual interval by the cell's age: fast while a verdict is likeliest, slower later.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .verdict import Detector

# Each delays noticing that the tree became still by up to its length: on the default matrix, 0.1 / 0.075
# made deadlock verdicts 67 ms later from launch (median 0.841 s against 0.774 s) for all the look-ahead won.
MOVING_S = 0.06  # between samples while the progress marks move
NOT_STILL_S = 0.05  # between samples while no deadlock proof can begin
SOONEST_S = 0.005  # never sooner than this after the last sample
PAST_DUE_S = 0.001  # the proof's last sample aims this far past its due time: one a hair early costs a gap


def interval(elapsed: float) -> float:
    """The usual gap between samples, by the cell's age: fast while a verdict is likeliest (the seed
    deadlock is still at ~0.15 s), slower later."""
    return 0.025 if elapsed < 1.5 else 0.05 if elapsed < 4 else 0.1


def next_sample_in(elapsed: float, detector: "Detector", now: float) -> float:
    """Seconds to wait before the next sample, given the Detector that was fed the last one, the cell's
    age and the time now (monotonic)."""
    slow = max(interval(elapsed), NOT_STILL_S)
    due = detector.proof_due()
    if due is not None and due[1]:  # a still run that needs more samples: spread them up to its end
        at, samples = due
        return min(slow, max(SOONEST_S, (at + PAST_DUE_S - now) / samples))
    return max(slow, MOVING_S) if detector.moving() else slow
