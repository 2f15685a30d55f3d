"""The table as data: CSV (one row per cell) and JSON (the records with the stamp and the claims), and the
trimming that keeps a full matrix's JSON small (stacks once per situation)."""

import csv
import io
import json

from .. import __version__
from ..model import order, versions
from .cells import cells, model
from .claims import claims
from .signatures import situation
from .stamp import stamp

CSV_FIELDS = (
    "id",
    "case",
    "config",
    "start",
    "python",
    "gevent",
    "greenlet",
    "verdict",
    "signature",
    "elapsed_s",
    "start_used",
    "runs",
    "verdicts_seen",
    "recorded_at",
)


def csv_text(records):
    """One row per cell (its newest record), in table order."""
    m = model(records)
    buf = io.StringIO()
    w = csv.writer(buf)  # RFC 4180 line ends: a field holding \r or \n is quoted
    w.writerow(CSV_FIELDS)
    for row in m.rows:
        for col in m.cols:
            cell = m.at(row, col)
            if not cell:
                continue
            rec = cell.record
            used = rec.start_used or {}
            w.writerow(
                [
                    cell.id,
                    *col,
                    *row,
                    rec.greenlet,
                    cell.verdict,
                    cell.signature,
                    rec.elapsed_s,
                    used.get("seen_in_tree") or used.get("reported") or "",
                    cell.runs,
                    " ".join(cell.verdicts),
                    rec.recorded_at,
                ]
            )
    return buf.getvalue()


def representatives(cs):
    """{cell id: id of the cell whose stacks stand for it}: one cell (the newest Python and gevent) per case,
    configuration, verdict and normalized signature. Stacks of one situation repeat across versions and
    start methods; pages and docs carry them once, the JSONL store keeps every one."""
    groups = {}
    for c in cs:
        groups.setdefault(situation(c), []).append(c)
    out = {}
    for group in groups.values():
        rep = max(
            group,
            key=lambda c: (
                versions.key(c.python),
                versions.key(c.gevent),
                order.start(c.start)[0] == 0,
                c.id,
            ),
        )
        for c in group:
            out[c.id] = rep.id
    return out


def trimmed(records):
    """The records with the bulky parts of the diagnosis (Python stacks, greenlets, fd tables; for a cell that
    worked, its threads too) kept only in each situation's representative; the others name it in
    diagnosis["stacks_as_in"]. An older run of a cell that ended in another situation than the cell's newest
    run has no representative: kept whole."""
    cs = cells(records)
    reps = representatives(cs)
    situations = {c.id: situation(c) for c in cs}
    newest = {id(c.record) for c in cs}
    out = []
    for rec in records:
        rep = reps.get(rec.id)
        if id(rec) in newest and rep == rec.id or not rec.diagnosis or situations.get(rep) != situation(rec):
            out.append(rec)
            continue
        out.append(
            rec.replace(diagnosis=dict(slim_diagnosis(rec), stacks_as_in=rep), extra=dict(rec.extra, trimmed=True))
        )
    return out


def slim_diagnosis(rec):
    """The diagnosis of a record that is not its situation's representative, as reports keep it: no stacks,
    greenlets or fd tables, and for a cell that worked no threads either (its representative has them)."""
    diag = rec.diagnosis
    slim = {k: v for k, v in diag.items() if k not in ("python_stacks", "greenlets")}
    drop = ("fds", "threads") if rec.works else ("fds",)
    slim["processes"] = [{k: v for k, v in p.items() if k not in drop} for p in diag.get("processes") or []]
    return slim


def json_text(records, stamp_info=None, trim=False):
    """The records, with the stamp and the claims: {"hangmatrix", "stamp", "claims", "records", "trimmed"}.
    trim: see trimmed() (compat.json is written trimmed; the JSONL store has every diagnosis whole)."""
    st = stamp_info or stamp(records)
    return (
        json.dumps(
            {
                "hangmatrix": __version__,
                "stamp": st,
                "claims": [c.as_json() for c in claims(records)],
                "trimmed": bool(trim),
                "records": [rec.to_json() for rec in (trimmed(records) if trim else records)],
            },
            indent=None,
            sort_keys=True,
            default=str,
        )
        + "\n"
    )
