"""The table model: records become cells (one per cell id: its newest record, how many runs it had and
every verdict they gave), and cells a grid of rows (Python × gevent) and columns (case × configuration ×
start method), each axis in hangmatrix.model.order's order. Every rendering reads this model."""

from ..model import order, versions
from ..store import records as records_mod

AXES = ("case", "config", "start", "python", "gevent")


def python_short(rec):
    """X.Y of a record's Python (`3.11` of `3.11.7`)."""
    short = (rec.get("provenance") or {}).get("python_short")
    if short:
        return str(short)
    return versions.short(rec.get("python", ""))


def cell_id(rec):
    """A record's cell id (records before ids were written get theirs from their axes)."""
    if rec.get("id"):
        return rec["id"]
    return records_mod.cell_id(
        rec.get("case"), python_short(rec), rec.get("gevent"), rec.get("config"), rec.get("start")
    )


def case_what(rec):
    """The case's one-line description as the run recorded it ("" for records from before it was kept)."""
    return str((rec.get("provenance") or {}).get("case_what") or "")


def cells(records):
    """One cell per id: the newest record, how many runs it had and every verdict they gave."""
    by_id = {}
    for rec in records:
        cid = cell_id(rec)
        cell = by_id.get(cid)
        if cell is None:
            cell = by_id[cid] = {"id": cid, "runs": 0, "verdicts": []}
        cell["runs"] += 1
        if rec.get("verdict") not in cell["verdicts"]:
            cell["verdicts"].append(rec.get("verdict"))
        cell["rec"] = rec
    for cell in by_id.values():
        rec = cell["rec"]
        cell.update(
            case=str(rec.get("case")),
            config=str(rec.get("config")),
            start=str(rec.get("start")),
            python=str(rec.get("python")),
            gevent=str(rec.get("gevent")),
            verdict=rec.get("verdict"),
            signature=rec.get("signature") or "",
            flaky=len(cell["verdicts"]) > 1,
        )
    return list(by_id.values())


def model(records):
    """Rows (Python x gevent), columns (case x config x start) and the grid of cells between them; `whats`
    holds each case's description from its newest record that has one."""
    cs = cells(records)
    rows = sorted({(c["python"], c["gevent"]) for c in cs}, key=lambda r: (versions.key(r[0]), versions.key(r[1])))
    cols = sorted(
        {(c["case"], c["config"], c["start"]) for c in cs},
        key=lambda k: (order.case(k[0]), order.config(k[1]), order.start(k[2])),
    )
    grid = {(c["python"], c["gevent"], c["case"], c["config"], c["start"]): c for c in cs}
    whats = {}
    for c in cs:
        what = case_what(c["rec"])
        if what and (c["rec"].get("recorded_at") or "") >= whats.get(c["case"], ("", ""))[0]:
            whats[c["case"]] = (c["rec"].get("recorded_at") or "", what)
    return {
        "rows": rows,
        "cols": cols,
        "grid": grid,
        "cells": cs,
        "cases": sorted({k[0] for k in cols}, key=order.case),
        "configs": sorted({k[1] for k in cols}, key=order.config),
        "starts": sorted({k[2] for k in cols}, key=order.start),
        "whats": {case: what for case, (_, what) in whats.items()},
    }
