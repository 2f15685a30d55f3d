"""What a stored record keeps. A cell that worked (ok, running) or did not run its program the way the
configuration asks (unsupported) has nothing to explain: its record keeps the verdict, signature,
provenance, timings, events, output tails and a summary of its process tree (each process and each
thread's blocked call), not the Python stacks, greenlets, fd tables, pipes and wake-up analysis, which
are most of a full record's size. Every other verdict (a hang, an error, a crash, an env-error) keeps its
whole diagnosis. `hangmatrix run --keep full` keeps everything for every cell.
"""

from typing import Any, Dict

from ..model import verdicts
from ..model.record import KEEP_COMPACT, KEEP_FULL, Record

KEEPS = (KEEP_COMPACT, KEEP_FULL)
NOTHING_TO_EXPLAIN = verdicts.WORKS + ("unsupported",)
THREAD_SUMMARY = ("tid", "name", "state", "call", "wchan", "wait")
PROCESS_SUMMARY = ("pid", "ppid", "role", "cmdline")
LEFT_OUT = "python stacks, greenlets, fds, pipes and wake-ups left out (%s: nothing to explain; --keep full keeps them)"


def kept(rec: Record, keep: str = KEEP_COMPACT) -> Record:
    """The record as the store keeps it: compact when asked and its verdict has nothing to explain (a
    record without a diagnosis, decided before launch, has nothing to cut and stays as it is)."""
    if not summarized(rec.verdict, keep) or rec.compact or not rec.diagnosis:
        return rec
    return rec.replace(diagnosis=tree_summary(rec), kept=KEEP_COMPACT)


def summarized(verdict: str, keep: str) -> bool:
    """Whether a record of this verdict, kept as `keep`, keeps only a summary of its tree (so the supervisor
    need not look for what the summary drops: who can end each wait, the Python stacks)."""
    if keep not in KEEPS:
        raise ValueError("keep must be one of %s, not %r" % (", ".join(KEEPS), keep))
    return keep == KEEP_COMPACT and verdict in NOTHING_TO_EXPLAIN


def tree_summary(rec: Record) -> Dict[str, Any]:
    """The diagnosis cut to its tree: processes (pid, ppid, role, command line) and their threads (state,
    blocked call, kernel wait), with diagnosis["compact"] saying what was left out."""
    diag = rec.diagnosis
    out = {k: v for k, v in diag.items() if k not in ("processes", "python_stacks", "greenlets")}
    out["processes"] = [
        dict(
            {k: p.get(k) for k in PROCESS_SUMMARY},
            threads=[{k: t.get(k) for k in THREAD_SUMMARY} for t in p.get("threads") or []],
        )
        for p in diag.get("processes") or []
    ]
    out["compact"] = LEFT_OUT % rec.verdict
    return out
