"""The look after the watch: what the supervisor gathers of a cell while its tree is still there, before
the kill. It is the evidence the verdict is decided on (conclusion.Evidence, decided in run/conclusion.py
after the kill) and the record's fields that do not depend on the verdict (Findings: the diagnosis with
its stacks, the output's tails, the events, the start method used). How deep it looks depends on what the
verdict would be (conclusion.provisional): a cell whose record the store keeps as a summary of its tree
(one that worked, under --keep compact) gets only that, with no look outside the tree and no stacks.
"""

import dataclasses
import functools
import linecache
import os
import time
from dataclasses import dataclass
from typing import List, Optional, Tuple

from ..envs import deps
from ..model import configs, verdicts, versions
from ..model.cellspec import CellSpec
from ..model.record import JSON
from ..observe import cause, spin, stacks, wakers
from ..store import compact
from . import conclusion, contain
from .lifecycle import OUTPUT_CAP, Cell


@dataclass(frozen=True)
class Findings:
    """The record's fields the look makes, whatever the verdict (Record's fields of the same names)."""

    elapsed_s: float
    diagnosis: JSON
    stdout_tail: str
    stderr_tail: str
    events: JSON
    start_used: JSON
    patch_point: Optional[JSON] = None
    quiescent_at_s: Optional[float] = None
    exit_code: Optional[int] = None  # a program that ended by itself

    def fields(self) -> JSON:
        """As Record.replace takes them (no copy of the diagnosis)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def gather(cell: Cell, spec: CellSpec, end: conclusion.Ending) -> Tuple[conclusion.Evidence, Findings]:
    """The look at the cell after the watch ended `end`, while the tree is still there: the evidence and
    the findings."""
    elapsed = round(time.monotonic() - cell.launched, 3)
    cell.read_events()  # what the program reported just before it ended (a patch point, say)
    out_at, err_at = (os.path.getsize(cell.paths[k]) for k in ("stdout", "stderr"))
    stdout, stderr = cell.tail("stdout", out_at), cell.tail("stderr", err_at)
    point = _patch_point(cell.events, cell.proc.pid)
    ev = conclusion.Evidence(
        ending=end,
        detect=spec.detect,
        endless=spec.case.endless,
        expect=spec.case.expect,
        config=spec.config["name"],
        needs_patch_point=configs.needs_patch_point(spec.config),
        patch_point=point,
        stdout=stdout,
        stderr=stderr,
        running_tests=tuple(running_tests(cell.events)),
        memory=cell.containment.get("memory") or "",
        memory_cap=cell.containment.get("memory_cap"),
    )
    if end.how == conclusion.EXITED:
        ev = dataclasses.replace(ev, **_exit_evidence(cell, spec))
    counted = contain.counted_cap(cell.cgroups, cell.containment)  # a cap hit makes it an error: a full look
    summary = compact.summarized(conclusion.provisional(ev, counted_cap=counted).name, spec.keep)
    diag: JSON = {}
    if end.snap is not None and end.snap.procs and end.how != conclusion.STOPPED:  # stopped: kill at once
        cell.note_shm(end.snap.procs)
        proven = end.found in verdicts.PROVEN_HANG
        diag = end.proven_diag if proven and end.proven_diag else cell.diagnose(summary=summary)
        if proven and not spec.detect:  # fixed-timeout mode: the proof's look is made now
            diag = _look_while_awake(cell, diag, [(p["pid"], p["tid"]) for p in end.proof.get("pollers", [])])
            ev = dataclasses.replace(ev, hang_unproven=tuple(wakers.unproven(end.found, end.proof, diag)))
        if conclusion.provisional(ev, diagnosis=diag).watched == "timeout":
            root = diag["processes"][0]["pid"] if diag.get("processes") else None
            diag = _look_while_awake(cell, diag, [(root, root)] if root else [])  # the signature names its wait
            ev = dataclasses.replace(ev, timeout_unproven=tuple(wakers.unproven("timeout", end.proof, diag)))
        if end.how != conclusion.EXITED and not summary:
            pids = [p["pid"] for p in diag["processes"]]
            diag["python_stacks"], diag["greenlets"] = stacks.python_stacks(
                pids,
                cell.paths["stacks"],
                cell.paths["greenlets"],
                faulthandler=not versions.python2(spec.provenance.python),
            )
    facts: JSON = {}
    if end.how == conclusion.EXITED:
        left = [{"pid": p["pid"], "role": p["role"]} for p in diag.get("processes", []) if p["pid"] != cell.proc.pid]
        if left:
            facts["left_running_at_exit"] = left
    if cell.trimmed:
        facts["output_trimmed"] = dict(cell.trimmed, cap_bytes=OUTPUT_CAP)
    ev = dataclasses.replace(ev, diagnosis=diag, facts=facts)
    watched = conclusion.provisional(ev).watched
    if watched in verdicts.PROVEN_HANG and diag.get("processes"):  # why it hangs: named once, after the proof
        found = cause.name(diag, cell.events, watched, functools.partial(_source_line, cell), stderr)
        ev = dataclasses.replace(ev, cause=found)
    elif watched == "timeout" and diag.get("processes") and not summary:  # a spin: the one cause a timeout gets
        spun = spin.evidence(diag["processes"][0]["pid"], cell.paths["stacks"])
        ev = dataclasses.replace(ev, cause=cause.busy_loop(spun, diag["processes"][0]) if spun else None)
    return ev, Findings(
        elapsed_s=elapsed,
        diagnosis=diag,
        stdout_tail=stdout,
        stderr_tail=stderr,
        events=_event_summary(cell.events),
        start_used=_start_used(spec, cell.events, diag),
        patch_point=point,
        quiescent_at_s=end.quiet_at,
        exit_code=end.code if end.how == conclusion.EXITED else None,
    )


AWAKE_RELOOKS = 5  # looks again, AWAKE_RELOOK_S apart, while a thread that matters is caught awake
AWAKE_RELOOK_S = 0.05


def _source_line(cell, path, line):
    """A line of a program's file as the cell saw it (inside the chroot of a Debian-root interpreter)."""
    return linecache.getline(cell.root + path if cell.root else path, line)


def _look_while_awake(cell, diag, threads):
    """The diagnosis, looked at again while one of threads (pid, tid) was caught awake: a poller between
    two polls hides what it watches, and who could end it (wakers.unseen_waits). A thread that stays awake
    (it spins) keeps the last look."""
    for _ in range(AWAKE_RELOOKS):
        if not wakers.unseen_waits(diag, threads):
            break
        time.sleep(AWAKE_RELOOK_S)
        diag = cell.diagnose()
    return diag


def _exit_evidence(cell, spec):
    """What a program that ended by itself leaves to judge it by, beyond its exit status and output: the
    reason its injected code refused the configuration, the exception it died of, and whether that names a
    module its environment lacks or a write the cell's filesystem refused."""
    uncaught = _uncaught(cell)
    program = spec.case.path or os.path.join(spec.case.cwd or "/", "-")  # a command's: its working folder's
    return dict(
        unsupported=next((e["reason"] for e in cell.events if e["ev"] == "unsupported"), ""),
        uncaught=uncaught,
        missing_module=deps.missing_module(uncaught, program, _env_python(spec)) if uncaught else "",
        read_only=cell.read_only(),
    )


def running_tests(events: List[JSON]) -> List[str]:
    """The tests still running when the cell was looked at (a `test` event without its `test_end`), pytest's
    node ids where pytest runs them (its unittest cases report both), in the order they began."""
    began = {}
    for e in events:
        key = (e.get("pid"), e.get("name"))
        if e["ev"] == "test" and isinstance(e.get("name"), str):
            began[key] = e
        elif e["ev"] == "test_end":
            began.pop(key, None)
    pytest_ones = [e["name"] for e in began.values() if e.get("runner") == "pytest"]
    names = pytest_ones or [e["name"] for e in began.values()]
    return list(dict.fromkeys(names))


def _patch_point(events, first_pid):
    """What the program called at its patch point, and where: the cell's first process's if it reached
    one, else the first any process of the tree reached; None if none did."""
    points = [{k: v for k, v in e.items() if k not in ("ev", "t")} for e in events if e["ev"] == "patch_point"]
    return next((p for p in points if p["pid"] == first_pid), points[0] if points else None)


def _uncaught(cell):
    """The exception the cell's first process died of, as it reported it (or None)."""
    cell.read_events()  # what it wrote just before it exited
    return next((e for e in cell.events if e["ev"] == "uncaught" and e["pid"] == cell.proc.pid), None)


def _env_python(spec):
    """The argv that runs the cell env's python (inside the root for chroot envs)."""
    return (["chroot", spec.root] if spec.root else []) + [spec.provenance.env_python]


def _event_summary(events):
    """Counts per event kind and function, plus the patch and start-method events verbatim."""
    counts = {}
    keep = []
    for e in events:
        key = e["ev"] + (":" + e["fn"] if "fn" in e else "")
        counts[key] = counts.get(key, 0) + 1
        if e["ev"] in (
            "patch_point",
            "patched",
            "start_method",
            "start_method_refused",
            "start_method_program",
            "unsupported",
            "process",
            "uncaught",
            "fork",
        ):
            keep.append({k: v for k, v in e.items() if k != "t"})
    return {"counts": counts, "notable": keep[:40]}


def _start_used(spec, events, diag):
    """The start method the cell really used: what the parent reported, confirmed by what the tree shows."""
    reported = next((e.get("current") for e in events if e["ev"] == "start_method"), None)
    seen = ""
    for p in diag.get("processes", []):
        if "forkserver import main" in p["cmdline"]:
            seen = "forkserver"
        elif "spawn_main" in p["cmdline"] and not seen:
            seen = "spawn"
    if not seen and len(diag.get("processes", [])) > 1:
        seen = "fork"
    return {
        "requested": spec.start,
        "reported": reported,
        "seen_in_tree": seen or None,
        "refused": next((e["error"] for e in events if e["ev"] == "start_method_refused"), None),
    }
