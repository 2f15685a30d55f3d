"""The conclusion: the one place a cell's verdict and signature are decided (docs/proof.md has the rules).

The watch ends in an `Ending`: the program exited, observe/verdict.py's Detector proved a hang (or an
endless case's progress), the timeout ran out, the harness stopped it, or the watch could not go on. The
supervisor then looks at the tree while it is still there and gathers the `Evidence`; `decide` turns it
into the record's `Verdict`, and nothing after it changes that. `decide` is pure (it looks at nothing
itself), so the supervisor also asks it, on the evidence gathered so far, what the verdict would be: to
choose how deep to look next (a summary for a cell that worked, a second look at a timed-out parent, the
cause of a proven hang). A cell decided without a run gets its verdict here too (`refused`,
`supervisor_failed`, `unbuilt`).
"""

import dataclasses
import os
import re
import signal
from dataclasses import dataclass, field
from typing import Any, Optional, Tuple

from ..model import verdicts
from ..model.cause import Cause
from ..model.cellspec import CellSpec
from ..model.planned import PlannedCell
from ..model.record import JSON
from ..observe import cause, verdict
from . import cellside, contain

# How the watch ended (Ending.how)
EXITED = "exited"  # the program ended by itself: its exit code says how
PROVEN = "proven"  # the Detector proved a deadlock, a stall or (an endless case) running
TIMEOUT = "timeout"  # the backstop ran out (in fixed-timeout mode, with what the Detector last found)
STOPPED = "stopped"  # the harness stopped the supervisor (SIGTERM) before a verdict
LIMIT = "limit"  # the tree outgrew what the watch allows (Ending.proof["why"])
BLIND = "blind"  # the watch lost sight of the tree (Ending.proof["why"])

STOPPED_WHY = "the harness stopped before a verdict"
BLIND_WHY = (
    "this supervisor cannot see its own process under /proc (a /proc of another PID namespace is "
    "mounted over it?): it cannot watch a cell"
)


@dataclass(frozen=True)
class Ending:
    """How the watch ended, with what the supervisor looks at next (the last sample, a proof's look)."""

    how: str
    found: str = ""  # what the Detector proved (PROVEN), or last found at a fixed timeout (TIMEOUT)
    proof: JSON = field(default_factory=dict)  # the Detector's proof; `why` for LIMIT and BLIND
    code: Optional[int] = None  # the program's exit status (EXITED)
    quiet_at: Optional[float] = None  # seconds from launch to the tree's stillness (a deadlock's)
    proven_diag: Optional[JSON] = None  # the diagnosis the deadlock's proof looked at
    snap: Any = None  # the last sample (observe.watch.Sample), None before the first


@dataclass(frozen=True)
class Evidence:
    """What the supervisor saw of the cell, for `decide`: the ending, how the program ended and what it
    printed, the look at the tree, and the caps the kernel counted."""

    ending: Ending
    detect: bool = True  # False: fixed-timeout mode, where the verdict waits for the timeout
    endless: bool = False
    expect: str = ""  # the regex the case's stdout must match
    config: str = ""  # the configuration's name
    needs_patch_point: bool = False  # the configuration patches at the program's patch_all() call
    patch_point: Optional[JSON] = None  # the patch point the program reached (None: none)
    stdout: str = ""  # the tails, as at the verdict
    stderr: str = ""
    unsupported: str = ""  # the reason the cell's injected code gave before it exited UNSUPPORTED_EXIT
    uncaught: Optional[JSON] = None  # the exception the cell's first process died of, as it reported it
    missing_module: str = ""  # a module the environment lacks, as deps.missing_module words it
    read_only: bool = False  # the cell's filesystem refused writes (the seal, or a mount the view could not overlay)
    diagnosis: JSON = field(default_factory=dict)
    facts: JSON = field(default_factory=dict)  # what the look adds to the proof (left_running_at_exit, ...)
    hang_unproven: Optional[Tuple[str, ...]] = None  # fixed-timeout mode: the outside waits of its hang
    timeout_unproven: Optional[Tuple[str, ...]] = None  # what outside could end of a timed-out tree's waits
    cause: Optional[Cause] = None  # why it hangs (a proven hang's; a timeout's busy loop)
    running_tests: Tuple[str, ...] = ()  # the tests still running at the look
    memory: str = ""  # the memory cap's mechanism (containment["memory"]: RLIMIT_DATA is the fallback)
    memory_cap: Optional[int] = None
    counted_cap: Optional[str] = None  # a cap the kernel counted the cell running into (contain.counted_cap)


@dataclass(frozen=True)
class Verdict:
    """The record's verdict, its signature and its proof; `watched` is the verdict before a cap."""

    name: str
    signature: str
    proof: JSON
    watched: str


def decide(ev: Evidence) -> Verdict:
    """The verdict of a cell that ran: what the watch saw, unless a cap decided how the cell ended."""
    name, sig, proof = _watched(ev)
    cap = _cap(ev, name)
    if cap:
        return Verdict("error", cap, dict(proof, before_cap={"verdict": name, "signature": sig}), name)
    return Verdict(name, sig, proof, name)


def _watched(ev: Evidence) -> Tuple[str, str, JSON]:
    end = ev.ending
    proof = dict(end.proof, **ev.facts)
    unapplied = ev.needs_patch_point and ev.patch_point is None
    if end.how == EXITED:
        name, sig = _exited(ev, unapplied)
    elif end.how in (STOPPED, LIMIT):
        name, sig = "error", proof.get("why", STOPPED_WHY)
    elif end.how == BLIND:
        name, sig = "env-error", proof.get("why", BLIND_WHY)
    else:  # PROVEN, TIMEOUT
        name = end.found or "timeout"
        if name in verdicts.PROVEN_HANG and not ev.detect and ev.hang_unproven:  # no proof at the fixed timeout
            name, proof["unproven"] = "timeout", list(ev.hang_unproven)
        if name == "timeout" and ev.timeout_unproven is not None:
            proof.setdefault("unproven", list(ev.timeout_unproven))
        sig = "" if name == "running" else verdict.signature(name, ev.diagnosis, proof, ev.stderr)
        if ev.cause is not None and name in verdicts.PROVEN_HANG + ("timeout",):  # why it hangs, first
            sig = cause.lead(ev.cause, sig)
    if unapplied and end.how not in (EXITED, STOPPED):  # no proof it never patches: the verdict stands, said so
        proof["patch_point"] = "not reached before the verdict: %s was never applied" % ev.config
        sig = (sig + "; " if sig else "") + "before any patch_all() call (%s not applied)" % ev.config
    tests = list(ev.running_tests) if name in verdicts.PROVEN_HANG + ("timeout",) else []
    if tests:  # the test the hang is in: pytest's node id, unittest's `test_x (module.Class)`
        proof["running_tests"] = tests
        sig = (sig + "; " if sig else "") + "in test %s" % ", ".join(tests)
    return name, sig, proof


def _exited(ev: Evidence, unapplied: bool) -> Tuple[str, str]:
    """(verdict, signature) of a cell whose program ended by itself."""
    code = ev.ending.code if ev.ending.code is not None else 0
    if code == cellside.UNSUPPORTED_EXIT and ev.unsupported:
        return "unsupported", ev.unsupported
    name, sig = ended(code, ev.endless, ev.expect, ev.stdout, ev.stderr)
    if name == "error":  # a module the environment lacks, a write the seal refused: ours, not the program's
        fault = ev.missing_module or (contain.refused_by_seal(ev.uncaught) if ev.read_only else "")
        name, sig = ("env-error", fault) if fault else (name, sig)
    if unapplied and name != "env-error":  # observed: the run made no patch_all() call to replace
        name, sig = (
            "unsupported",
            "the program never called gevent.monkey.patch_all() (it ran to its end "
            "without one: %s%s), so %s had nothing to replace; its verdicts are under none and as-written"
            % (name, ": " + sig if sig else "", ev.config),
        )
    return name, sig


def ended(returncode: int, endless: bool, expect: str, stdout: str, stderr: str) -> Tuple[str, str]:
    """(verdict, signature) of a program that ended by itself, from its exit status and output."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "signal %d" % -returncode
        return "crash", "killed by %s%s" % (name, _also(stderr))
    if returncode != 0:
        exc = verdict.last_exception(stderr) or (stderr.strip().splitlines() or ["no stderr"])[-1][:300]
        return "error", "exit %d: %s" % (returncode, exc)
    if endless:
        return "error", "an endless case exited (code 0)" + _also(stderr)
    if expect and not re.search(expect, stdout, re.M):
        tail = stdout.strip().splitlines()[-1:] or ["(no output)"]
        return "error", "output check failed: no line matches %r (last line: %s)%s" % (
            expect,
            tail[0][:200],
            _also(stderr),
        )
    swallowed = verdict.hub_failure(stderr)
    if swallowed:  # the program went on, but something it ran failed: not plain ok (docs/proof.md)
        return "error", "exit 0, but the hub reported %s" % swallowed
    return "ok", ""


def _also(stderr: str) -> str:
    exc = verdict.last_exception(stderr)
    return "; after %s" % exc if exc else ""


def _cap(ev: Evidence, watched: str) -> str:
    """The signature of a cap the cell ran into, or '': the kernel's own counts for a cgroup; under the
    rlimit fallback, a cell that failed with the interpreter's MemoryError (or ENOMEM)."""
    if (
        ev.memory == "RLIMIT_DATA"
        and ev.memory_cap
        and verdicts.failed(watched)
        and ("MemoryError" in ev.stderr or "Cannot allocate memory" in ev.stderr)
    ):
        return "out of memory (cap %s)" % contain.human(ev.memory_cap)
    return ev.counted_cap or ""


def provisional(ev: Evidence, **more: Any) -> Verdict:
    """What `decide` says on the evidence so far with `more` of it: the supervisor's guide to what to look
    at next, never the record's verdict."""
    return decide(dataclasses.replace(ev, **more))


# ---------------------------------------------------------------- cells decided without a run


def needs_no_run(cell: PlannedCell) -> Optional[Tuple[str, str]]:
    """(verdict, signature) of a planned cell that needs no run: a broken case, a case or start method the
    interpreter cannot have. None for a cell to run."""
    case, interp = cell.case, cell.interpreter
    if case.problem:
        return "error", case.problem
    if not case.supports(interp.version):
        return "unsupported", "%s needs Python %s" % (case.name, case.python)
    if cell.start in ("spawn", "forkserver") and interp.python2:
        return "unsupported", "Python %s has no %s start method (fork only)" % (interp.version, cell.start)
    return None


def refused(spec: CellSpec, sees_itself: bool) -> Optional[Tuple[str, str]]:
    """(verdict, signature) of a cell its supervisor will not launch, or None: a /proc it cannot see itself
    in (sees_itself False), a working folder that does not exist."""
    if not sees_itself:
        return "env-error", BLIND_WHY
    if spec.case.cwd and not spec.root and not os.path.isdir(spec.case.cwd):
        return (
            "env-error",
            "the working folder %s does not exist (run hangmatrix from the program's folder, or name one with "
            "--project)" % spec.case.cwd,
        )
    return None


def supervisor_failed(why: str) -> Tuple[str, str]:
    """(verdict, signature) of a cell whose supervisor failed: the harness's error, said as such."""
    return "error", "harness supervisor failed: %s" % why


def unbuilt(why: str) -> Tuple[str, str]:
    """(verdict, signature) of a cell whose environment could not be built."""
    return "env-error", why
