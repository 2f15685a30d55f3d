"""The table model: records become cells (one per cell id: its newest record, how many runs it had and
every verdict they gave), and cells a grid of rows (Python × gevent) and columns (case × configuration ×
start method), each axis in hangmatrix.model.order's order. Every rendering reads this model."""

from ..model import order, versions
from ..model.record import by_cell

AXES = ("case", "config", "start", "python", "gevent")


def case_what(rec):
    """The case's one-line description as the run recorded it ("" for records from before it was kept)."""
    return str((rec.get("provenance") or {}).get("case_what") or "")


def cells(records):
    """One cell per id (hangmatrix.model.record.by_cell): the newest record, how many runs it had and every
    verdict they gave."""
    out = []
    for cid, runs in by_cell(records).items():
        seen = []
        for run in runs:
            if run.get("verdict") not in seen:
                seen.append(run.get("verdict"))
        rec = runs[-1]
        out.append(
            {
                "id": cid,
                "runs": len(runs),
                "verdicts": seen,
                "rec": rec,
                "case": str(rec.get("case")),
                "config": str(rec.get("config")),
                "start": str(rec.get("start")),
                "python": str(rec.get("python")),
                "gevent": str(rec.get("gevent")),
                "verdict": rec.get("verdict"),
                "signature": rec.get("signature") or "",
                "flaky": len(seen) > 1,
            }
        )
    return out


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
