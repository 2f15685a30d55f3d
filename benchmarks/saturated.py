"""Benchmark (run by hand): no false hang under full CPU load. Runs a matrix with detection while one
busy loop per core keeps every core saturated, and compares each cell's verdict with a run on an idle
machine (made first, or read from --idle FILE). A cell that hangs (deadlock, stall, timeout) under load
but worked on the idle machine is a false hang unless the cell is a known race (expectations.toml lists
ok or a hang for it). Prints the counts and every changed cell.

    .venv/bin/python benchmarks/saturated.py --matrix default
    .venv/bin/python benchmarks/saturated.py --matrix default --idle /tmp/bench/default.detect.jsonl
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from hangmatrix.checks import baseline  # noqa: E402
from hangmatrix.model import packaged, record, settings, verdicts
from hangmatrix.model.text import listed  # noqa: E402
from hangmatrix.run import runner
from hangmatrix.store import records

BASELINE = packaged.baseline_path()


def saturated(items, jobs, store=None):
    """Run the cells with a busy loop on every core; the loops are killed when the run ends."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count())]
    try:
        t0 = time.time()
        recs = runner.execute(items, jobs=jobs, on_record=(lambda r: records.append(store, r)) if store else None)
        return recs, time.time() - t0
    finally:
        for b in burners:
            b.kill()
            b.wait()


def main():
    ap = argparse.ArgumentParser()
    for axis in ("case", "config", "start", "python", "gevent"):
        ap.add_argument("--" + axis, action="append", default=[])
    ap.add_argument("--matrix")
    ap.add_argument("--jobs", type=int, default=runner.default_jobs())
    ap.add_argument("--idle", help="records of an idle-machine run of the same matrix (else one is made)")
    ap.add_argument("--records", help="keep the loaded run's records here")
    args = ap.parse_args()
    items = runner.plan(
        *(listed(getattr(args, a)) for a in ("case", "config", "start", "python", "gevent")),
        matrix=args.matrix,
        timeout=settings.DEFAULT_TIMEOUT,
    )
    if args.idle:
        idle = {r.id: r.verdict for r in record.newest(records.read(args.idle)).values()}
    else:
        idle = {r.id: r.verdict for r in runner.execute(list(items), jobs=args.jobs)}
    loaded, wall = saturated(list(items), args.jobs, args.records)
    rules = baseline.load(BASELINE)
    changed, false_hangs = [], []
    for rec in loaded:
        before = idle.get(rec.id)
        if before is None or before == rec.verdict:
            continue
        _, rule = rules.find(rec)
        known_race = rule is not None and len(rule.verdicts) > 1 and rec.verdict in rule.verdicts
        changed.append({"id": rec.id, "idle": before, "loaded": rec.verdict, "known_race": known_race})
        if verdicts.is_hang(rec.verdict) and not verdicts.is_hang(before) and not known_race:
            false_hangs.append(changed[-1])
    counts = {}
    for rec in loaded:
        counts[rec.verdict] = counts.get(rec.verdict, 0) + 1
    report = {
        "cells": len(loaded),
        "cores_saturated": os.cpu_count(),
        "loaded_wall_s": round(wall, 1),
        "verdicts_loaded": counts,
        "changed": changed,
        "false_hangs": len(false_hangs),
    }
    print(json.dumps(report, indent=1))
    return 1 if false_hangs else 0


if __name__ == "__main__":
    sys.exit(main())
