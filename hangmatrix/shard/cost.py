"""What a cell is expected to cost, in seconds of its own wall time, so shards can be balanced before
anything runs.

A cell's cost is what an earlier run of the same cell took when one is known; otherwise the mean of earlier
cells like it, from the most specific likeness that has data to the least: the same interpreter (X.Y),
gevent series (the release's first number: whether a configuration hangs, and so how soon the cell ends,
changes with it), start method and configuration; series, start method and configuration; interpreter,
start method and configuration; interpreter and start method; start method and configuration; start
method; every cell. (The exact release is too fine: most releases install on few interpreters, and the
model fitted on half the full run predicted the other half worse with it; docs/scale-out.md.) The built-in model
(hangmatrix/data/cost_model.json) is that table fitted from the committed
full run (docs/compat.json, `python -m hangmatrix.cli.cost_model docs/compat.json` rewrites it and prints its
error); a records file given to `plan --records` is fitted the same way and asked first.
"""

import hashlib
import json
import os

from ..model.record import by_cell, newest

MODEL_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "cost_model.json")
LEVELS = (
    ("python", "series", "start", "config"),
    ("series", "start", "config"),
    ("python", "start", "config"),
    ("python", "start"),
    ("start", "config"),
    ("start",),
    (),
)


def features(python, gevent, start, config):
    """The keys a cell is looked up by: python is X.Y, gevent the release, config the configuration's name."""
    return {"python": str(python), "series": str(gevent).split(".")[0], "start": str(start), "config": str(config)}


def _timed(records):
    """The records that say how long their cell took."""
    return [rec for rec in records if isinstance(rec.elapsed_s, (int, float))]


def _key(level, feats):
    return "|".join(feats[name] for name in level)


def _record_features(rec):
    return features(rec.python_short, rec.gevent, rec.start, rec.config)


def fit(records):
    """The model of these records: {"levels": {level name: {key: [mean seconds, cells]}}, "records": n}."""
    sums = {}
    for rec in records:
        seconds = rec.elapsed_s
        if not isinstance(seconds, (int, float)):
            continue
        feats = _record_features(rec)
        for level in LEVELS:
            bucket = sums.setdefault("|".join(level) or "all", {}).setdefault(_key(level, feats), [0.0, 0])
            bucket[0] += seconds
            bucket[1] += 1
    return {
        "levels": {
            name: {k: [round(s / n, 3), n] for k, (s, n) in sorted(keys.items())} for name, keys in sums.items()
        },
        "records": sum(n for _, n in sums.get("all", {}).values()),
    }


def predict(model, feats):
    """Seconds for a cell with these features: the most specific level the model has data for, or None."""
    for level in LEVELS:
        hit = model.get("levels", {}).get("|".join(level) or "all", {}).get(_key(level, feats))
        if hit:
            return hit[0]
    return None


def builtin():
    """The model shipped with the package (fitted from the committed full run)."""
    with open(MODEL_PATH, encoding="utf-8") as f:
        return json.load(f)


class Costs:
    """Expected seconds per cell: an earlier run's own cells first, then models, first that knows wins."""

    def __init__(self, records=(), models=None):
        self.known = {}  # every timed run of a cell counts: the mean is steadier than one run
        for cid, runs in by_cell(_timed(records)).items():
            self.known[cid] = [rec.elapsed_s for rec in runs]
        self.models = list(models) if models is not None else [builtin()]
        self.source = (
            "records of %d cells, then the built-in model" % len(self.known)
            if self.known
            else "the built-in cost model"
        )

    @classmethod
    def from_records(cls, records):
        records = list(records)
        return cls(records, [fit(records), builtin()])

    def of(self, cell_id, feats):
        if cell_id in self.known:
            runs = self.known[cell_id]
            return sum(runs) / len(runs)
        for model in self.models:
            seconds = predict(model, feats)
            if seconds is not None:
                return seconds
        return 1.0  # no model at all: every cell alike


def error(records, shards=16):
    """How wrong the model is on cells it was not fitted on: the records are halved (by a hash of the cell
    id), each half predicted from a model fitted on the other, and compared with what the cells took, per
    cell and per shard, the shards being the planner's own (hangmatrix.shard.split, by environment, on
    the predicted costs), since a shard's error is what unbalances a CI run.
    Returns {"cells", "cell_mae_s", "cell_mean_s", "shards", "shard_mean_abs_pct", "shard_max_abs_pct",
    "actual_max_over_mean" (the largest shard's real seconds over the mean's)}."""
    from . import split

    by_id = newest(_timed(records))  # the record of each cell: what the tables show, the cell as it now runs
    ids = sorted(by_id)
    if len(ids) < 2 * shards:
        return {"cells": len(ids)}
    coin = {cid: hashlib.sha256(cid.encode()).digest()[0] & 1 for cid in ids}  # not every other id: ids
    halves = ([c for c in ids if coin[c]], [c for c in ids if not coin[c]])  # sort by start method
    predicted, actual = {}, {}
    for mine, other in (halves, halves[::-1]):
        model = fit([by_id[i] for i in other])
        for cid in mine:
            predicted[cid] = predict(model, _record_features(by_id[cid])) or 0.0
            actual[cid] = by_id[cid].elapsed_s
    cells = [
        split.Cell(
            cid,
            "%s %s %s"
            % (by_id[cid].python_short, by_id[cid].gevent, ",".join(by_id[cid].provenance.get("requires") or ())),
            predicted[cid],
        )
        for cid in ids
    ]
    pcts, loads = [], []
    for group in split.split(cells, shards):
        real = sum(actual[c.id] for c in group)
        loads.append(real)
        if real:
            pcts.append(100.0 * abs(sum(predicted[c.id] for c in group) - real) / real)
    return {
        "cells": len(ids),
        "cell_mae_s": round(sum(abs(predicted[c] - actual[c]) for c in ids) / len(ids), 3),
        "cell_mean_s": round(sum(actual.values()) / len(ids), 3),
        "shards": shards,
        "shard_mean_abs_pct": round(sum(pcts) / len(pcts), 2) if pcts else None,
        "shard_max_abs_pct": round(max(pcts), 2) if pcts else None,
        "actual_max_over_mean": round(max(loads) * len(loads) / sum(loads), 3),
    }  # what a CI run waits for
