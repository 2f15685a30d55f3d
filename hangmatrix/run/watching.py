"""The watch: sample a cell's tree until the program ends, a verdict is proven, a limit is hit or the
timeout runs out, and say how it ended (a conclusion.Ending; the verdict itself is decided after, in
run/conclusion.py).

Each sample goes through the transitions in order, as pytest-xdist's loop_once hands each event to its
handler: the program exited, the watch went blind, the harness stopped it, the output outgrew its cap (it
is trimmed, the watch goes on), the tree outgrew the process limit, the Detector proved something (a proof
due is checked against who can end each wait), the tree is still (the look ahead), the timeout ran out.
The first that ends the watch ends it; else the watch sleeps until the next sample is due (the tree still
or moving: observe/schedule.py). In fixed-timeout mode (detect off) the same observation runs, but the
verdict waits for the timeout.
"""

import contextlib
import json
import time
from typing import IO, Any, List, Optional, Tuple

from ..model import settings, verdicts
from ..model.cellspec import CellSpec
from ..observe import schedule, verdict, wakers, watch
from . import conclusion
from .lifecycle import MAX_PROCESSES, OUTPUT_CAP, Cell, proc_shows_us

RECHECK_S = 0.5  # after a proof failed on a wait an outside party can end, look again at most this often
LOOK_AHEAD_SAMPLES = 2  # still samples after which the deadlock proof's look is made, before the proof is due
STOP: list = []  # set by SIGTERM (the server or the harness died): the watch loop ends and the tree is killed

Found = Tuple[str, dict]  # what the Detector proved, and its proof
Look = Tuple[watch.Sample, dict, List[str]]  # a look made ahead: full sample, diagnosis, unproven


def watch_until_verdict(cell: Cell, spec: CellSpec) -> conclusion.Ending:
    """Watch the launched cell until the watch ends; how it ended, for the look after it (run/evidence.py)."""
    dump_path = settings.dump_samples()  # recorded samples for the classifier's tests
    with open(dump_path, "a") if dump_path else contextlib.nullcontext() as dump:
        return Watch(cell, spec, dump).run()


class Watch:
    """One cell's watch: its Detector and progress marks, the last sample, the proof so far, and the look
    made ahead of a deadlock's proof."""

    def __init__(self, cell: Cell, spec: CellSpec, dump: Optional[IO[str]] = None) -> None:
        self.cell, self.spec, self.dump = cell, spec, dump
        self.detector = verdict.Detector(endless=spec.case.endless)
        self.marks = verdict.Marks()
        self.snap: Any = None
        self.proof: dict = {}
        self.fixed_mode_found: Optional[Found] = None  # fixed-timeout mode: what the Detector last found
        self.proven_diag: Optional[dict] = None
        self.look: Optional[Look] = None
        self.recheck_at = 0.0

    def run(self) -> conclusion.Ending:
        while True:
            ending = self.loop_once()
            if ending is not None:
                return ending

    def loop_once(self) -> Optional[conclusion.Ending]:
        """One sample, handed to each transition in turn; the Ending of the first that ends the watch."""
        elapsed = time.monotonic() - self.cell.launched
        self.observe()
        ending = self.exited() or self.blind() or self.stopped()
        if ending is None:
            self.output_capped()  # never ends the watch
            ending = self.too_many() or self.detected() or self.timed_out(elapsed)
        if ending is None:
            self.cell.wait_exit(
                schedule.next_sample_in(elapsed, self.detector, time.monotonic()) if self.spec.detect else 0.25
            )
        return ending

    def observe(self) -> None:
        """Sample the tree, read the cell's events, update the program's progress marks."""
        cell, marks = self.cell, self.marks
        self.snap = cell.sample(previous=self.snap)
        cell.read_events()
        marks.events = cell.progress_events
        marks.ticks = max(cell.ticks.values(), default=0)
        marks.output = cell.output_size()
        if self.dump:
            self.dump.write(json.dumps({"sample": watch.to_json(self.snap), "marks": vars(marks)}) + "\n")

    def _end(
        self, how: str, found: str = "", proof: Optional[dict] = None, code: Optional[int] = None
    ) -> conclusion.Ending:
        """How the watch ended, with the last sample and the proof's look for the look after it."""
        quiet_at = round(self.detector.quiet_since - self.cell.launched, 3) if found == "deadlock" else None
        return conclusion.Ending(
            how,
            found,
            self.proof if proof is None else proof,
            code,
            quiet_at if how == conclusion.PROVEN else None,
            self.proven_diag,
            self.snap,
        )

    # ------------------------------------------------------------ transitions: each ends the watch or not

    def exited(self) -> Optional[conclusion.Ending]:
        code = self.cell.proc.poll()
        return self._end(conclusion.EXITED, code=code) if code is not None else None

    def blind(self) -> Optional[conclusion.Ending]:
        """/proc stopped showing the supervisor itself (and so the tree)."""
        if self.snap.procs or proc_shows_us():
            return None
        return self._end(conclusion.BLIND, proof={"why": conclusion.BLIND_WHY})

    def stopped(self) -> Optional[conclusion.Ending]:
        return self._end(conclusion.STOPPED) if STOP else None

    def output_capped(self) -> None:
        """Output over its cap is trimmed, keeping its head and tail on disk: the cap never decides the verdict."""
        if self.marks.output > OUTPUT_CAP:
            self.cell.trim_output()

    def too_many(self) -> Optional[conclusion.Ending]:
        if len(self.snap.procs) <= MAX_PROCESSES:
            return None
        return self._end(conclusion.LIMIT, proof={"why": "more than %d processes in the tree" % MAX_PROCESSES})

    def detected(self) -> Optional[conclusion.Ending]:
        """Feed the Detector; a proven hang must also survive the look at who can end its waits."""
        io_total = sum(p.rchar + p.wchar for p in self.snap.procs.values())
        found = self.detector.feed(self.snap, self.marks, io_total)
        if not self.spec.detect:
            self.fixed_mode_found, found = found, None  # fixed-timeout mode: observe the same way, wait it out
        if found and found[0] in verdicts.PROVEN_HANG:
            found = self.proof_due(found)
        elif not found and self.spec.detect and _look_ahead(self.look, self.detector, self.recheck_at):
            self.still()
        if not found:
            return None
        self.proof.pop("unproven", None)  # an earlier look's, no longer true: this look proved it
        return self._end(conclusion.PROVEN, found[0], dict(self.proof, **found[1]))

    def proof_due(self, found: Found) -> Optional[Found]:
        """A deadlock or stall the samples prove, if nothing outside the tree can end a wait on its chain
        (the look made ahead, when it still holds, else a look now) and, for a deadlock, no wait ended
        during the look; else None, and the watch goes on."""
        if time.monotonic() < self.recheck_at:
            return None  # the last look found a wait an outside party can end: not again so soon
        look = self.look
        if found[0] == "deadlock" and look is not None and _look_holds(look, self.detector, self.snap):
            _, self.proven_diag, unproven = look  # looked at during this still run, and still since
            after = self.snap
        else:
            self.proven_diag = self.cell.diagnose()
            unproven, after = wakers.unproven(found[0], found[1], self.proven_diag), None
        self.look = None  # one decision per look
        if unproven:  # something outside could still end a wait: no proof, keep watching
            self.proof["unproven"] = unproven
            self.recheck_at = time.monotonic() + RECHECK_S
            return None
        if found[0] == "deadlock" and not verdict.still(self.snap, after or self.cell.sample()):
            return None  # a wait ended during the look (a timer fired, say): no proof, watch on
        return found

    def still(self) -> None:
        """Still for LOOK_AHEAD_SAMPLES samples: look at who can end each wait now, while the proof's time runs."""
        full = self.cell.sample(full=True)
        ahead = self.cell.diagnose(full)
        self.look = (full, ahead, wakers.unproven("deadlock", {}, ahead))

    def timed_out(self, elapsed: float) -> Optional[conclusion.Ending]:
        """The backstop: in fixed-timeout mode, with what the Detector last found, for the conclusion."""
        if elapsed <= self.spec.timeout:
            return None
        if not self.spec.detect and self.fixed_mode_found:
            name, proof = self.fixed_mode_found
            return self._end(conclusion.TIMEOUT, name, dict(self.proof, **proof))
        return self._end(conclusion.TIMEOUT)


def _look_ahead(look: Optional[Look], detector: verdict.Detector, recheck_at: float) -> bool:
    """Whether to look at who can end the tree's waits now: the tree has been still and all-untimed for
    LOOK_AHEAD_SAMPLES samples, this still run has no look yet and no recheck is pending. The look then
    runs while the proof's window (min_quiet_s) runs, instead of after it: the proof comes that much sooner,
    and is as strong (_look_holds)."""
    return (
        detector.still_samples >= LOOK_AHEAD_SAMPLES
        and time.monotonic() >= recheck_at
        and (look is None or look[0].t < detector.quiet_since)
    )


def _look_holds(look: Optional[Look], detector: verdict.Detector, snap: watch.Sample) -> bool:
    """Whether a look made ahead (full sample, diagnosis, unproven) speaks for the proof at `snap`: it was
    made during the current still run, and every thread is as it was then (verdict.still), so no wait
    ended since the look began and what it saw is what the proof is about."""
    return look is not None and look[0].t >= detector.quiet_since and verdict.still(look[0], snap)
