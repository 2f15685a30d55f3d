"""The post's claims, measured: for each fix the seed post offered (and its hang), where it holds. The
claims are about the seed's programs; a table of other programs has no claims section
(hangmatrix.report.markdown and .html ask seed_present()). A measured claim is a typed value; its JSON
(Claim.as_json) is what compat.json's "claims" holds."""

from dataclasses import dataclass
from typing import Any, Dict, List

from ..model import order, versions
from .cells import cells
from .ranges import span


@dataclass(frozen=True)
class Promise:
    """What the post says of one configuration: that it hangs, or that it works."""

    name: str
    config: str
    wants: str  # "hang" or "works"
    text: str


CLAIMS = (
    Promise("patch_all hangs", "patch_all", "hang", "`monkey.patch_all()` makes the program hang"),
    Promise(
        "selective works",
        "selective",
        "works",
        "patching only what is used (`patch_socket()` + `patch_time()`) works",
    ),
    Promise("thread_false works", "thread_false", "works", "`monkey.patch_all(thread=False)` works"),
    Promise("lazy works", "lazy", "works", "importing gevent lazily, after the fork, inside the worker, works"),
)


@dataclass
class Stretch:
    """Consecutive gevent releases of one Python where a claim has one status (a `partly` release stands
    alone, with the cells that broke it in `exceptions`). Grown while claims() walks the releases."""

    status: str
    first: str
    last: str
    gevents: List[str]
    exceptions: List[str]

    def as_json(self) -> Dict[str, Any]:
        return {
            "status": self.status,
            "from": self.first,
            "to": self.last,
            "gevents": list(self.gevents),
            "exceptions": list(self.exceptions),
        }


@dataclass(frozen=True)
class OnPython:
    """A claim on one Python: its stretches of gevent releases, oldest first."""

    python: str
    runs: List[Stretch]

    def as_json(self) -> Dict[str, Any]:
        return {"python": self.python, "runs": [r.as_json() for r in self.runs]}


@dataclass(frozen=True)
class Claim:
    """A promise measured: its overall status, where it holds per Python, how many cells were tested and
    what they said, and a sentence summing it up."""

    promise: Promise
    cases: List[str]
    status: str
    by_python: List[OnPython]
    cells: int
    verdicts: Dict[str, int]
    summary: str

    @property
    def name(self) -> str:
        return self.promise.name

    @property
    def text(self) -> str:
        return self.promise.text

    def as_json(self) -> Dict[str, Any]:
        return {
            "name": self.promise.name,
            "config": self.promise.config,
            "wants": self.promise.wants,
            "text": self.promise.text,
            "cases": list(self.cases),
            "status": self.status,
            "by_python": [e.as_json() for e in self.by_python],
            "cells": self.cells,
            "verdicts": dict(self.verdicts),
            "summary": self.summary,
        }


STATUS_WORDS = {"holds": "holds", "partly": "holds partly", "fails": "does not hold", "untested": "untested"}


def seed_present(records):
    """Whether any of the seed's cases is in the records: only then do the post's claims mean anything."""
    return any(r.case in order.SEED_CASES for r in records)


def _holds(rec, wants):
    return rec.hangs if wants == "hang" else rec.works


def claims(records, cases=None):
    """For each claim of the post, where it holds: per Python, runs of gevent releases with a status
    (`holds` in every case and start method tried, `partly`, `fails`). Unsupported and env-error cells
    are untested. Default cases: the seed programs present in the records, else all cases."""
    cs = cells(records)
    present = {c.case for c in cs}
    if cases is None:
        cases = [c for c in order.SEED_CASES if c in present] or sorted(present)
    out = []
    for claim in CLAIMS:
        chosen = [c for c in cs if c.config == claim.config and c.case in cases and not c.record.untested]
        pairs = {}
        for c in chosen:
            pairs.setdefault(c.row, []).append(c)
        status = {}
        exceptions = {}
        for pair, group in pairs.items():
            good = [c for c in group if _holds(c.record, claim.wants)]
            status[pair] = "holds" if len(good) == len(group) else "fails" if not good else "partly"
            exceptions[pair] = (
                ["%s/%s: %s" % (c.case, c.start, c.verdict) for c in group if not _holds(c.record, claim.wants)]
                if status[pair] == "partly"
                else []
            )
        by_python = []
        for py in sorted({p for p, _ in pairs}, key=versions.key):
            gvs = sorted((g for p, g in pairs if p == py), key=versions.key)
            runs: List[Stretch] = []
            for gv in gvs:
                st = status[(py, gv)]
                if runs and runs[-1].status == st and st != "partly":
                    runs[-1].last = gv
                    runs[-1].gevents.append(gv)
                else:
                    runs.append(Stretch(st, gv, gv, [gv], exceptions[(py, gv)]))
            by_python.append(OnPython(py, runs))
        values = set(status.values())
        overall = "untested" if not values else values.pop() if len(values) == 1 else "partly"
        counts = {}
        for c in chosen:
            counts[c.verdict] = counts.get(c.verdict, 0) + 1
        out.append(
            Claim(
                claim,
                list(cases),
                overall,
                by_python,
                len(chosen),
                counts,
                _summary(overall, by_python, chosen, counts),
            )
        )
    return out


def ranges_for(by_python, wanted):
    """`Python 3.11.7 × gevent 20.9.0–24.11.1; Python 3.12.1 × …`: where a claim has the status wanted."""
    parts = []
    for entry in by_python:
        gv = [span(r.first, r.last) for r in entry.runs if r.status == wanted]
        if gv:
            parts.append("Python %s × gevent %s" % (entry.python, ", ".join(gv)))
    return "; ".join(parts)


def _summary(overall, by_python, chosen, counts):
    tally = ", ".join("%s %d" % kv for kv in sorted(counts.items()))
    if overall == "untested":
        return "untested (no runnable cell)"
    pys = [e.python for e in by_python]
    gvs = sorted({g for e in by_python for r in e.runs for g in r.gevents}, key=versions.key)
    if overall in ("holds", "fails"):
        return "%s on every combination tested: Python %s × gevent %s (%d cells: %s)" % (
            "holds" if overall == "holds" else "does not hold",
            span(pys[0], pys[-1]),
            span(gvs[0], gvs[-1]),
            len(chosen),
            tally,
        )
    bits = []
    for label, key in (("holds on", "holds"), ("partly on", "partly"), ("does not hold on", "fails")):
        text = ranges_for(by_python, key)
        if text:
            bits.append("%s %s" % (label, text))
    return "; ".join(bits) + " (%d cells: %s)" % (len(chosen), tally)


def one_line(claim):
    """A claim's status in one line: how many Python × gevent pairs it holds on, partly holds on and fails
    on, and the versions each status spans (`within`: the smallest box holding them, not a promise about
    every pair inside it)."""
    if claim.status == "untested":
        return "untested (no runnable cell)"
    pairs: Dict[str, List[Any]] = {}
    for entry in claim.by_python:
        for run in entry.runs:
            for gv in run.gevents:
                pairs.setdefault(run.status, []).append((entry.python, gv))
    total = sum(len(v) for v in pairs.values())
    bits = []
    for status in ("holds", "partly", "fails"):
        got = pairs.get(status)
        if not got:
            continue
        pys = sorted({p for p, _ in got}, key=versions.key)
        gvs = sorted({g for _, g in got}, key=versions.key)
        bits.append(
            "%s on %d of %d Python × gevent pairs (within Python %s × gevent %s)"
            % (STATUS_WORDS[status], len(got), total, span(pys[0], pys[-1]), span(gvs[0], gvs[-1]))
        )
    return "; ".join(bits)
