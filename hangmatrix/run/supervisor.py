"""The supervisor: the process that runs and watches one cell, and makes its record.

The supervisor server (run/server.py) forks one supervisor per cell and calls `supervise`, which runs the
cell's stages, each in its own module:

- launch the cell in containment (run/lifecycle.py: Cell);
- watch it until the program ends, a verdict is proven, a limit is hit or the timeout runs out
  (run/watching.py: an Ending);
- look at the tree while it is there: the evidence the verdict is decided on and the record's findings
  (run/evidence.py);
- kill the whole tree and check it is gone, remove what the cell made (run/lifecycle.py);
- decide the verdict (run/conclusion.py, the one place) and shape the Record (`shape`, here).

The server sends the Record to the harness as one JSON line: JSON only at that edge.
"""

import dataclasses
import resource
import time
from dataclasses import dataclass
from typing import Optional

from ..model.cellspec import CellSpec
from ..model.record import JSON, Record
from . import conclusion, contain, records
from .evidence import Findings, gather
from .lifecycle import Cell, proc_shows_us
from .watching import watch_until_verdict


def supervise(spec: CellSpec) -> Record:
    """The supervisor's whole job for one cell: launch, watch, look, kill, decide; its Record."""
    refusal = conclusion.refused(spec, proc_shows_us())
    if refusal:
        return records.without_run(spec, *refusal)
    launched = records.base_record(spec)  # recorded_at: the launch
    cell = Cell(spec)
    try:
        cell.launch()
        evidence, findings = gather(cell, spec, watch_until_verdict(cell, spec))
    finally:
        after = _end(cell)
    decided = conclusion.decide(dataclasses.replace(evidence, counted_cap=after.counted_cap))
    return shape(launched, decided, evidence, findings, after)


@dataclass(frozen=True)
class Aftermath:
    """What the end of a cell left to record: its kill and clean-up, its containment, the CPU it used, and
    the cap the kernel counted it running into (read after the kill, its final count, before its cgroups go)."""

    cleanup: JSON
    containment: JSON
    cpu_s: JSON
    counted_cap: Optional[str]


def _end(cell: Cell) -> Aftermath:
    """Kill the tree, check it is gone, and remove what the cell made."""
    kill_s, survivors = cell.kill_tree()
    if cell.containment and cell.layers:
        cell.containment["wrote_outside"] = cell.writes()
    counted = contain.counted_cap(cell.cgroups, cell.containment) if cell.cgroups else None
    cleaned_at = time.monotonic()
    removed = cell.clean()
    cleanup = {
        "kill_s": kill_s,
        "clean_s": round(time.monotonic() - cleaned_at, 3),
        "survivors": survivors,
        "shm_removed": removed,
        "private_shm": cell.private_shm,
        "cgroups_left": cell.cgroups_left,
        "shm_left_alone": cell.shm_left_alone,
    }
    cpu_s = {
        "cell": round(sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]), 3),
        "watch": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 3),
    }
    return Aftermath(cleanup, cell.containment, cpu_s, counted)


def shape(
    launched: Record,
    decided: conclusion.Verdict,
    evidence: conclusion.Evidence,
    findings: Findings,
    after: Aftermath,
) -> Record:
    """The Record of a cell that ran, made in this one place: what every record has (launched), the verdict
    as decided, the cause, the findings of the look, and how the cell was contained and cleaned up after."""
    return launched.replace(
        verdict=decided.name,
        signature=decided.signature,
        proof=decided.proof,
        cause=evidence.cause,
        cleanup=after.cleanup,
        containment=after.containment,
        cpu_s=after.cpu_s,
        **findings.fields(),
    )
