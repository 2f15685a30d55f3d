"""Two record sets compared: every cell whose verdict changed, grouped by direction (new hangs first).

compare(old_records, new_records, ignore=None) -> Diff (typed; Diff.as_json() is what `diff --json` prints:)
    {"matched_on": [axes], "ignored": [axes], "old": summary, "new": summary,
     "groups": [{"direction", "changes": [change]}]  (new hangs first; only non-empty groups),
     "changes": [change], "unchanged": int, "only_old": [key], "only_new": [key]}
    change = {"key", "case", "config", "start", "python", "gevent", "direction",
              "old": {"id", "verdict", "signature", "python", "gevent", "runs", "verdicts", "cause"}, "new": {...}}
    (a hang whose verdict stayed but whose cause kind changed is in "hangs changed cause"; a record written
    before causes, with none, changes nothing)
    (the newest run of a cell decides, newest as hangmatrix.model.record.by_cell says: the last in store
    order, as the tables show it; "verdicts" lists every verdict its runs gave. Where an ignored axis makes
    several cells one, the one whose newest run came last decides)
    Cells are matched on case, config, start, Python X.Y and gevent; an axis with one value on each side
    that differs (two gevent releases, two Pythons) is ignored automatically, or name them in `ignore`.
diff_text(result, old_name="A", new_name="B") -> str
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ..model import order, verdicts, versions
from ..model.record import Record, newest
from .cells import AXES, TableCell, cells

DIRECTIONS = (
    "new hangs",
    "new failures",
    "hangs changed kind",
    "hangs changed cause",
    "no longer hang",
    "fixed",
    "other changes",
)


def direction(old, new):
    """Which group a verdict change belongs to (new hangs first)."""
    if verdicts.is_hang(new) and not verdicts.is_hang(old):
        return "new hangs"
    if verdicts.failed(new) and not (verdicts.failed(old) or verdicts.is_hang(old)):
        return "new failures"
    if verdicts.is_hang(new) and verdicts.is_hang(old):
        return "hangs changed kind"
    if verdicts.is_hang(old):
        return "no longer hang"
    if verdicts.failed(old) and verdicts.works(new):
        return "fixed"
    return "other changes"


def _axis_value(rec, axis):
    return rec.python_short if axis == "python" else getattr(rec, axis)


@dataclass(frozen=True)
class Summary:
    """One record set: how many records, of which Pythons and gevent releases."""

    records: int
    pythons: List[str]
    gevents: List[str]

    @classmethod
    def of(cls, recs) -> "Summary":
        return cls(
            len(recs),
            sorted({r.python for r in recs}, key=versions.key),
            sorted({r.gevent for r in recs}, key=versions.key),
        )

    def as_json(self) -> Dict[str, Any]:
        return {"records": self.records, "pythons": list(self.pythons), "gevents": list(self.gevents)}


@dataclass(frozen=True)
class Side:
    """A changed cell on one side: its newest run's verdict, signature, versions and cause kind, how many
    runs it had and every verdict they gave."""

    id: str
    verdict: str
    signature: str
    python: str
    gevent: str
    runs: int
    verdicts: Tuple[str, ...]
    cause: str

    @classmethod
    def of(cls, cell: TableCell) -> "Side":
        named = ("id", "verdict", "signature", "python", "gevent", "runs", "verdicts")
        return cls(cause=cell.record.cause_kind, **{f: getattr(cell, f) for f in named})

    def as_json(self) -> Dict[str, Any]:
        out = dataclasses.asdict(self)
        out["verdicts"] = list(self.verdicts)
        return out


@dataclass(frozen=True)
class Change:
    """A cell whose verdict (or a hang's cause kind) changed: its key, the axes it was matched on (None for
    an ignored axis), the direction and both sides."""

    key: str
    direction: str
    old: Side
    new: Side
    case: Optional[str]
    config: Optional[str]
    start: Optional[str]
    python: Optional[str]  # X.Y
    gevent: Optional[str]

    def as_json(self) -> Dict[str, Any]:
        out = {"key": self.key, "direction": self.direction, "old": self.old.as_json(), "new": self.new.as_json()}
        return dict(out, **{a: getattr(self, a) for a in AXES})


@dataclass(frozen=True)
class Diff:
    """Two record sets compared (see module doc)."""

    matched_on: List[str]
    ignored: List[str]
    old: Summary
    new: Summary
    groups: List[Tuple[str, List[Change]]]  # (direction, its changes): new hangs first, non-empty only
    unchanged: int
    only_old: List[str]
    only_new: List[str]

    @property
    def changes(self) -> List[Change]:
        return [c for _, group in self.groups for c in group]

    def as_json(self) -> Dict[str, Any]:
        return {
            "matched_on": list(self.matched_on),
            "ignored": list(self.ignored),
            "old": self.old.as_json(),
            "new": self.new.as_json(),
            "groups": [{"direction": d, "changes": [c.as_json() for c in group]} for d, group in self.groups],
            "changes": [c.as_json() for c in self.changes],
            "unchanged": self.unchanged,
            "only_old": list(self.only_old),
            "only_new": list(self.only_new),
        }


def compare(
    old_records: Iterable[Record], new_records: Iterable[Record], ignore: Optional[Sequence[str]] = None
) -> Diff:
    """Every cell whose verdict changed between two record sets, grouped by direction (see module doc)."""
    old_records, new_records = list(old_records), list(new_records)
    old_cells, new_cells = cells(old_records), cells(new_records)
    if ignore is None:
        ignore = []
        for axis in ("python", "gevent"):
            a = {_axis_value(c.record, axis) for c in old_cells}
            b = {_axis_value(c.record, axis) for c in new_cells}
            if len(a) == 1 and len(b) == 1 and a != b:
                ignore = [*ignore, axis]
    matched_on = [a for a in AXES if a not in ignore]

    def key(rec):
        return tuple(_axis_value(rec, a) for a in matched_on)

    def index(records, cs):
        """{key: the cell whose newest run is the key's newest run}."""
        by_id = {c.id: c for c in cs}
        return {k: by_id[rec.id] for k, rec in newest(records, key=key).items()}

    old_i, new_i = index(old_records, old_cells), index(new_records, new_cells)
    changes = []
    unchanged = 0
    for k in sorted(set(old_i) & set(new_i), key=lambda k: tuple(order.BY_AXIS[a](x) for a, x in zip(matched_on, k))):
        o, n = old_i[k], new_i[k]
        kinds = o.record.cause_kind, n.record.cause_kind
        recaused = all(kinds) and kinds[0] != kinds[1]  # a record from before causes has none: no change
        if o.verdict == n.verdict and not recaused:
            unchanged += 1
            continue
        changes.append(
            Change(
                key="-".join(k),
                direction="hangs changed cause" if o.verdict == n.verdict else direction(o.verdict, n.verdict),
                old=Side.of(o),
                new=Side.of(n),
                **{a: _axis_value(o.record, a) if a in matched_on else None for a in AXES},
            )
        )
    groups = [(d, [c for c in changes if c.direction == d]) for d in DIRECTIONS]
    return Diff(
        matched_on=matched_on,
        ignored=list(ignore),
        old=Summary.of(old_records),
        new=Summary.of(new_records),
        groups=[(d, group) for d, group in groups if group],
        unchanged=unchanged,
        only_old=sorted("-".join(k) for k in set(old_i) - set(new_i)),
        only_new=sorted("-".join(k) for k in set(new_i) - set(old_i)),
    )


def diff_text(result: Diff, old_name="A", new_name="B") -> str:
    """The diff as a person reads it: one block per direction, each changed cell with both signatures."""

    def side(s):
        return "%d records; Python %s; gevent %s" % (
            s.records,
            ", ".join(s.pythons) or "-",
            ", ".join(s.gevents) or "-",
        )

    lines = [
        "%s: %s" % (old_name, side(result.old)),
        "%s: %s" % (new_name, side(result.new)),
        "cells matched on %s%s"
        % (
            ", ".join(result.matched_on),
            " (ignoring %s)" % ", ".join(result.ignored) if result.ignored else "",
        ),
    ]
    for direction_, group in result.groups:
        lines += ["", "%s (%d):" % (direction_, len(group))]
        for c in group:
            o, n = c.old, c.new
            where = " ".join(
                str(getattr(c, a)) if a != "python" else "py" + str(c.python)
                for a in AXES
                if getattr(c, a) is not None and a not in ("gevent",)
            )
            if c.gevent is not None:
                where += " gevent" + c.gevent
            moved = [a for a in ("python", "gevent") if getattr(o, a) != getattr(n, a)]
            if moved:
                where += " [%s]" % "; ".join("%s %s → %s" % (a, getattr(o, a), getattr(n, a)) for a in moved)
            flaky = "; ".join(
                "%s's %d runs disagree: %s" % (name, s.runs, ", ".join(s.verdicts))
                for name, s in ((old_name, o), (new_name, n))
                if len(s.verdicts) > 1
            )
            because = " (cause %s → %s)" % (o.cause or "-", n.cause or "-") if o.cause != n.cause else ""
            lines.append("  %s: %s → %s%s%s" % (where, o.verdict, n.verdict, because, " (%s)" % flaky if flaky else ""))
            lines.append("      %s: %s" % (old_name, o.signature or "(no signature)"))
            lines.append("      %s: %s" % (new_name, n.signature or "(no signature)"))
    lines += [
        "",
        "%d changed, %d unchanged; only in %s: %d; only in %s: %d"
        % (
            len(result.changes),
            result.unchanged,
            old_name,
            len(result.only_old),
            new_name,
            len(result.only_new),
        ),
    ]
    return "\n".join(lines)
