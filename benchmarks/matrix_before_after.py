"""A whole matrix run by two versions of hangmatrix, one after the other (run by hand, on a quiet machine):
verdicts compared cell by cell, wall time and how it compares with the CPU floor (the cells' CPU over the
cores), the cells' and supervisors' CPU, and the deadlock lag (launch to verdict minus launch to quiescence)
and launch to verdict. Issue 18 asks for this around its refactor: identical verdicts, lag and wall no
worse; issue 14 for supervisor CPU halved and wall at most 1.10x the floor.

    .venv/bin/python benchmarks/matrix_before_after.py --before fb8fc75 --matrix default
    .venv/bin/python benchmarks/matrix_before_after.py --before fb8fc75 --contain-off pidns,cgroup
    .venv/bin/python benchmarks/matrix_before_after.py --before 21d74be --python 3.11   # a slice of the matrix

--before is a git revision (exported to a temporary folder, as benchmarks/lag_paired.py does); the after
version is this working tree. Each version runs the matrix once with --jobs as given, from its own tree.
For both versions at the same moment (so the machine's drift falls on both), use
`benchmarks/cell_cost_paired.py --slice all`.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lag_paired import export, lags  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(tree, matrix, jobs, out, contain_off, python=""):
    env = dict(os.environ, PYTHONPATH=tree)
    env.pop("HANGMATRIX_CONTAIN_OFF", None)
    if contain_off:
        env["HANGMATRIX_CONTAIN_OFF"] = contain_off
    argv = [sys.executable, "-m", "hangmatrix.cli", "run", "--matrix", matrix, "--records", out, "--quiet"]
    if jobs:
        argv += ["--jobs", str(jobs)]
    if python:
        argv += ["--python", python]
    load0, t0 = os.getloadavg()[0], time.monotonic()
    subprocess.run(argv, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    wall, load1 = time.monotonic() - t0, os.getloadavg()[0]
    records = {}
    for line in open(out):
        rec = json.loads(line)
        records[rec["id"]] = rec
    return {"wall_s": wall, "load": (load0, load1), "records": records}


def summary(name, result):
    recs = result["records"].values()
    lag = sorted(lags(result["records"]))
    cpu = {k: sum((r.get("cpu_s") or {}).get(k, 0) for r in recs) for k in ("cell", "watch")}
    p95 = lag[int(0.95 * (len(lag) - 1))] if lag else float("nan")
    floor = cpu["cell"] / (os.cpu_count() or 1)  # the cells' own CPU spread over every core: no run is faster
    to_verdict = [r["elapsed_s"] for r in recs if r["verdict"] == "deadlock"]
    print(
        "%-7s %5d cells  wall %6.1f s (%.2fx the CPU floor of %.1f s)  load %.1f→%.1f  cell CPU %6.1f s  "
        "supervisor CPU %5.1f s  deadlock lag median %.3f s, p95 %.3f s; launch to verdict median %.3f s "
        "(%d deadlocks)"
        % (
            name,
            len(result["records"]),
            result["wall_s"],
            result["wall_s"] / floor if floor else float("nan"),
            floor,
            result["load"][0],
            result["load"][1],
            cpu["cell"],
            cpu["watch"],
            statistics.median(lag) if lag else float("nan"),
            p95,
            statistics.median(to_verdict) if to_verdict else float("nan"),
            len(lag),
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="git revision of the version before")
    parser.add_argument("--matrix", default="default")
    parser.add_argument("--jobs", type=int, default=0, help="cells at once (default: hangmatrix's default)")
    parser.add_argument(
        "--after-first",
        action="store_true",
        help="run the after version first (a second pair in the other order tells drift from a difference)",
    )
    parser.add_argument("--contain-off", default="", help="HANGMATRIX_CONTAIN_OFF for both versions")
    parser.add_argument("--python", default="", help="only these interpreters of the matrix (as `run --python`)")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="hangmatrix-before-after-")
    try:
        before_dir = os.path.join(work, "before")
        os.makedirs(before_dir)
        before_tree = export(args.before, before_dir)
        results = {}
        order = (("before", before_tree), ("after", REPO))
        for name, tree in reversed(order) if args.after_first else order:
            results[name] = run(
                tree, args.matrix, args.jobs, os.path.join(work, name + ".jsonl"), args.contain_off, args.python
            )
            summary(name, results[name])
        before, after = results["before"]["records"], results["after"]["records"]
        common = sorted(set(before) & set(after))
        changed = [cid for cid in common if before[cid]["verdict"] != after[cid]["verdict"]]
        print("verdicts: %d cells in both, %d changed%s" % (len(common), len(changed), ":" if changed else ""))
        for cid in changed:
            print("  %s: %s -> %s" % (cid, before[cid]["verdict"], after[cid]["verdict"]))
        counts = {}
        for rec in after.values():
            counts[rec["verdict"]] = counts.get(rec["verdict"], 0) + 1
        print("after's verdicts: " + ", ".join("%s %d" % kv for kv in sorted(counts.items())))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
