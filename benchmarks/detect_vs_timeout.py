"""Benchmark (run by hand): the same matrix in fixed-timeout mode and in detection mode, one after the
other in one run. Checks the verdicts are identical and prints wall and CPU time of both, their ratio,
the CPU floor (CPU seconds of all cells / cores) and, for hung cells, median and p95 launch-to-verdict
next to launch-to-quiescence (the floor no detector can beat).

    .venv/bin/python benchmarks/detect_vs_timeout.py --matrix default            # the whole default matrix
    .venv/bin/python benchmarks/detect_vs_timeout.py --case seed_original --python 3.11 --gevent 26.9.0
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from hangmatrix.model import settings  # noqa: E402
from hangmatrix.model.text import listed  # noqa: E402
from hangmatrix.run import runner
from hangmatrix.store import records  # noqa: E402


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def one_mode(items, detect, timeout, jobs, store=None):
    items = [item.replace(detect=detect, timeout=timeout) for item in items]
    t0, c0 = time.time(), os.times()
    recs = runner.execute(items, jobs=jobs, on_record=(lambda r: records.append(store, r)) if store else None)
    wall, c1 = time.time() - t0, os.times()
    harness_cpu = (c1.user - c0.user) + (c1.system - c0.system)
    # everything below the harness once reaped: the supervisor server, every supervisor, every cell
    below_cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    cell_cpu = sum(r.timings["cpu_cell_s"] or 0 for r in recs)
    watch_cpu = sum(r.timings["cpu_watch_s"] or 0 for r in recs)
    return {
        "wall_s": wall,
        "cell_cpu_s": cell_cpu,
        "watch_cpu_s": watch_cpu,
        "harness_cpu_s": harness_cpu,
        "all_cpu_s": harness_cpu + below_cpu,
        "records": {r.id: r for r in recs},
    }


def main():
    ap = argparse.ArgumentParser()
    for axis in ("case", "config", "start", "python", "gevent"):
        ap.add_argument("--" + axis, action="append", default=[])
    ap.add_argument("--matrix")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--jobs", type=int, default=runner.default_jobs())
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--records", help="keep both modes' records: FILE.fixed.jsonl and FILE.detect.jsonl")
    ap.add_argument("--detect-only", action="store_true", help="skip the fixed-timeout run (no verdict check)")
    args = ap.parse_args()
    items = runner.plan(
        *(listed(getattr(args, a)) for a in ("case", "config", "start", "python", "gevent")), matrix=args.matrix
    )
    cores = os.cpu_count()
    keep = (lambda mode: "%s.%s.jsonl" % (args.records, mode)) if args.records else (lambda mode: None)
    fixed = None if args.detect_only else one_mode(list(items), False, args.timeout, args.jobs, keep("fixed"))
    detect = one_mode(list(items), True, max(args.timeout, settings.DEFAULT_TIMEOUT), args.jobs, keep("detect"))
    if fixed is None:  # --detect-only, for tuning the detector: nothing to compare with
        fixed = {"wall_s": float("nan"), "records": detect["records"]}
    changed = [
        (cid, fixed["records"][cid].verdict, r.verdict)
        for cid, r in detect["records"].items()
        if fixed["records"][cid].verdict != r.verdict
    ]
    hung = [r for r in detect["records"].values() if r.verdict in ("deadlock", "stall")]
    dead = [r for r in hung if r.verdict == "deadlock"]
    stall = [r for r in hung if r.verdict == "stall"]
    floor = (detect["cell_cpu_s"]) / cores
    report = {
        "machine": "%d cores, %s" % (cores, os.uname().release),
        "cells": len(items),
        "verdicts_identical": not changed,
        "changed": changed[:20],
        "fixed": {k: round(v, 2) for k, v in fixed.items() if k != "records"},
        "detect": {k: round(v, 2) for k, v in detect.items() if k != "records"},
        "speedup": round(fixed["wall_s"] / detect["wall_s"], 2),
        "cpu_floor_s": round(floor, 2),
        "wall_over_floor": round(detect["wall_s"] / floor, 2) if floor else None,
        "wall_over_all_cpu_per_core": round(detect["wall_s"] * cores / detect["all_cpu_s"], 2),
        "deadlocks": len(dead),
        "stalls": len(stall),
        "deadlock_verdict_median_s": round(statistics.median([r.elapsed_s for r in dead]), 3) if dead else None,
        "deadlock_verdict_p95_s": round(pct([r.elapsed_s for r in dead], 0.95), 3) if dead else None,
        "quiescence_median_s": round(statistics.median([r.quiescent_at_s for r in dead]), 3) if dead else None,
        "quiescence_p95_s": round(pct([r.quiescent_at_s for r in dead], 0.95), 3) if dead else None,
        "stall_verdict_median_s": round(statistics.median([r.elapsed_s for r in stall]), 3) if stall else None,
        "stall_verdict_p95_s": round(pct([r.elapsed_s for r in stall], 0.95), 3) if stall else None,
    }
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0 if not changed else 1


if __name__ == "__main__":
    sys.exit(main())
