"""Benchmark (run by hand; long): a matrix split by `hangmatrix plan` into N shards, some of them run one
after another on this machine as a CI job would run each, each shard's wall time measured; then the
merged shards' audit and their verdicts against a one-machine run of the same cells (`hangmatrix diff`).
Results: docs/scale-out.md.

    .venv/bin/python benchmarks/scale_out.py --matrix full --shards 16 --run 1,6,11,16 --against docs/compat.json
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HANGMATRIX = [sys.executable, "-m", "hangmatrix.cli"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", default="full")
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--run", default="1,6,11,16", help="which shards to run, in this order")
    parser.add_argument(
        "--against", default=os.path.join(REPO, "docs", "compat.json"), help="a one-machine run of the same matrix"
    )
    parser.add_argument("--out", default=os.path.join(REPO, "results", "scale-out"))
    parser.add_argument("--plan", help="an earlier `plan --json` to run the shards of (default: plan now)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    plan_path = os.path.join(args.out, "plan.json")
    if args.plan:
        shutil.copyfile(args.plan, plan_path + ".tmp")
        os.replace(plan_path + ".tmp", plan_path)
    else:
        with open(plan_path + ".tmp", "w") as f:
            subprocess.run(
                HANGMATRIX + ["plan", "--matrix", args.matrix, "--shards", str(args.shards), "--json"],
                stdout=f,
                check=True,
                cwd=REPO,
            )
        os.replace(plan_path + ".tmp", plan_path)
    with open(plan_path) as f:
        plan = json.load(f)["include"]
    summary = {
        "matrix": args.matrix,
        "shards": args.shards,
        "plan": plan[0]["plan"],
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "runs": [],
    }
    for k in [int(x) for x in args.run.split(",")]:
        records = os.path.join(args.out, "shard-%d.jsonl" % k)
        if os.path.exists(records):
            os.unlink(records)
        load = os.getloadavg()
        before = os.times()
        started = time.time()
        subprocess.run(
            HANGMATRIX
            + [
                "run",
                "--matrix",
                args.matrix,
                "--shard",
                "%d/%d" % (k, args.shards),
                "--plan",
                plan_path,
                "--records",
                records,
                "--quiet",
            ],
            check=True,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        )
        wall = time.time() - started
        after = os.times()
        recs = [json.loads(line) for line in open(records) if line.strip()]
        verdicts = {}
        for rec in recs:
            verdicts[rec["verdict"]] = verdicts.get(rec["verdict"], 0) + 1
        entry = {
            "shard": k,
            "cells": len(plan[k - 1]["cells"]),
            "envs": plan[k - 1]["envs"],
            "expected_s": plan[k - 1]["expected_s"],  # the cost model's sum of the cells' own seconds
            "cell_s": round(sum(r.get("elapsed_s") or 0 for r in recs), 1),  # what they took
            "wall_s": round(wall, 1),
            "cpu_s": round(
                after.children_user + after.children_system - before.children_user - before.children_system, 1
            ),  # the run and all it reaped
            "verdicts": verdicts,
            "started": time.strftime("%H:%M:%S", time.gmtime(started)),
            "load_1min_before": round(load[0], 2),
            "load_1min_after": round(os.getloadavg()[0], 2),
        }
        summary["runs"].append(entry)
        print(json.dumps(entry), flush=True)
    walls = [r["wall_s"] for r in summary["runs"]]
    summary["max_over_mean"] = round(max(walls) / (sum(walls) / len(walls)), 3)
    summary["model_error_pct"] = [
        round(100.0 * (r["expected_s"] - r["cell_s"]) / r["cell_s"], 1) for r in summary["runs"] if r["cell_s"]
    ]
    files = [os.path.join(args.out, "shard-%d.jsonl" % r["shard"]) for r in summary["runs"]]
    audit = subprocess.run(HANGMATRIX + ["merged"] + files, capture_output=True, text=True, cwd=REPO)
    summary["merged"] = audit.stdout
    diff = subprocess.run(
        HANGMATRIX + ["diff", args.against, args.out, "--json"], capture_output=True, text=True, cwd=REPO
    )
    result = json.loads(diff.stdout)
    summary["diff"] = {
        "unchanged": result["unchanged"],
        "changed": [
            {"key": c["key"], "old": c["old"]["verdict"], "new": c["new"]["verdict"]} for c in result["changes"]
        ],
        "only_new": len(result["only_new"]),
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "merged"}, indent=1))
    print(summary["merged"])


if __name__ == "__main__":
    main()
