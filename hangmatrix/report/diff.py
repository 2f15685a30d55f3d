"""Two record sets compared: every cell whose verdict changed, grouped by direction (new hangs first).

diff(old_records, new_records, ignore=None) -> dict
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

from ..model import order, verdicts, versions
from ..model.record import newest
from .cells import AXES, cells

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


def cause_kind(rec):
    """The kind of a record's cause (`hub-blocked`), '' when it has none (not a hang, or written before)."""
    return rec.cause_kind


def _axis_value(rec, axis):
    return rec.python_short if axis == "python" else getattr(rec, axis)


def _side_summary(recs):
    return {
        "records": len(recs),
        "pythons": sorted({r.python for r in recs}, key=versions.key),
        "gevents": sorted({r.gevent for r in recs}, key=versions.key),
    }


def diff(old_records, new_records, ignore=None):
    """Every cell whose verdict changed between two record sets, grouped by direction (see module doc)."""
    old_cells, new_cells = cells(old_records), cells(new_records)
    if ignore is None:
        ignore = []
        for axis in ("python", "gevent"):
            a = {_axis_value(c.record, axis) for c in old_cells}
            b = {_axis_value(c.record, axis) for c in new_cells}
            if len(a) == 1 and len(b) == 1 and a != b:
                ignore.append(axis)
    matched_on = [a for a in AXES if a not in ignore]

    def key(rec):
        return tuple(_axis_value(rec, a) for a in matched_on)

    def index(records, cs):
        """{key: the cell whose newest run is the key's newest run}."""
        by_id = {c.id: c for c in cs}
        return {k: by_id[rec.id] for k, rec in newest(records, key=key).items()}

    def side(c):
        return {
            "id": c.id,
            "verdict": c.verdict,
            "signature": c.signature,
            "python": c.python,
            "gevent": c.gevent,
            "runs": c.runs,
            "verdicts": list(c.verdicts),
            "cause": c.record.cause_kind,
        }

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
        change = {
            "key": "-".join(k),
            "direction": "hangs changed cause" if o.verdict == n.verdict else direction(o.verdict, n.verdict),
            "old": side(o),
            "new": side(n),
        }
        for a in AXES:
            change[a] = _axis_value(o.record, a) if a in matched_on else None
        changes.append(change)
    groups = [{"direction": d, "changes": [c for c in changes if c["direction"] == d]} for d in DIRECTIONS]
    changes = [c for g in groups for c in g["changes"]]
    return {
        "matched_on": matched_on,
        "ignored": list(ignore),
        "old": _side_summary(old_records),
        "new": _side_summary(new_records),
        "groups": [g for g in groups if g["changes"]],
        "changes": changes,
        "unchanged": unchanged,
        "only_old": sorted("-".join(k) for k in set(old_i) - set(new_i)),
        "only_new": sorted("-".join(k) for k in set(new_i) - set(old_i)),
    }


def diff_text(result, old_name="A", new_name="B"):
    """The diff as a person reads it: one block per direction, each changed cell with both signatures."""

    def side(s):
        return "%d records; Python %s; gevent %s" % (
            s["records"],
            ", ".join(s["pythons"]) or "-",
            ", ".join(s["gevents"]) or "-",
        )

    lines = [
        "%s: %s" % (old_name, side(result["old"])),
        "%s: %s" % (new_name, side(result["new"])),
        "cells matched on %s%s"
        % (
            ", ".join(result["matched_on"]),
            " (ignoring %s)" % ", ".join(result["ignored"]) if result["ignored"] else "",
        ),
    ]
    for group in result["groups"]:
        lines += ["", "%s (%d):" % (group["direction"], len(group["changes"]))]
        for c in group["changes"]:
            o, n = c["old"], c["new"]
            where = " ".join(
                str(c[a]) if a != "python" else "py" + str(c[a])
                for a in AXES
                if c[a] is not None and a not in ("gevent",)
            )
            if c["gevent"] is not None:
                where += " gevent" + c["gevent"]
            moved = [a for a in ("python", "gevent") if o[a] != n[a]]
            if moved:
                where += " [%s]" % "; ".join("%s %s → %s" % (a, o[a], n[a]) for a in moved)
            flaky = "; ".join(
                "%s's %d runs disagree: %s" % (name, s["runs"], ", ".join(s["verdicts"]))
                for name, s in ((old_name, o), (new_name, n))
                if len(s.get("verdicts", ())) > 1
            )
            because = (
                " (cause %s → %s)" % (o["cause"] or "-", n["cause"] or "-") if o.get("cause") != n.get("cause") else ""
            )
            lines.append(
                "  %s: %s → %s%s%s" % (where, o["verdict"], n["verdict"], because, " (%s)" % flaky if flaky else "")
            )
            lines.append("      %s: %s" % (old_name, o["signature"] or "(no signature)"))
            lines.append("      %s: %s" % (new_name, n["signature"] or "(no signature)"))
    lines += [
        "",
        "%d changed, %d unchanged; only in %s: %d; only in %s: %d"
        % (
            len(result["changes"]),
            result["unchanged"],
            old_name,
            len(result["only_old"]),
            new_name,
            len(result["only_new"]),
        ),
    ]
    return "\n".join(lines)
