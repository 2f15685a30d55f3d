"""A whole matrix run by two versions of hangmatrix, one after the other (run by hand, on a quiet machine):
verdicts compared cell by cell, wall time and how it compares with the CPU floor (the cells' CPU over the
cores), the cells' and supervisors' CPU, and the deadlock lag (launch to verdict minus launch to quiescence)
and launch to verdict. Issue 18 asks for this around its refactor: identical verdicts, lag and wall no
worse; issue 14 for supervisor CPU halved and wall at most 1.10x the floor.

    .venv/bin/python benchmarks/matrix_before_after.py --before fb8fc75 --matrix default
    .venv/bin/python benchmarks/matrix_before_after.py --before fb8fc75 --contain-off pidns,cgroup
    .venv/bin/python benchmarks/matrix_before_after.py --before 21d74be --python 3.11   # a slice of the matrix

--before is a git revision (exported to a temporary folder, as benchmarks/lag_paired.py does); the after
version is this working tree, or --after's revision. Each version runs the matrix once with --jobs as given,
from its own tree.

--together runs both versions at the same moment, one Python's slice of the matrix at a time (every case,
configuration, start method and release of that interpreter), --jobs cells at once each, and waits for both
before the next slice; the version started first alternates. Whatever the machine does then falls on both
alike (issues 24 and 25 ask for the wall time "measured with both versions at the same moment"). A version's
wall is the sum of its slices', each ending when its own harness exits; per-slice ratios show the noise. It
also gives each version's per-cell medians of launch (`containment.launch_s`), kill and clean-up
(`cleanup.kill_s`, `cleanup.clean_s`).

    .venv/bin/python benchmarks/matrix_before_after.py --before be886a4 --together --jobs 3
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


def start(tree, matrix, jobs, out, contain_off, python=""):
    """One version's harness running the matrix (or its python slice) into out, its output discarded."""
    env = dict(os.environ, PYTHONPATH=tree)
    env.pop("HANGMATRIX_CONTAIN_OFF", None)
    if contain_off:
        env["HANGMATRIX_CONTAIN_OFF"] = contain_off
    argv = [sys.executable, "-m", "hangmatrix.cli", "run", "--matrix", matrix, "--records", out, "--quiet"]
    if jobs:
        argv += ["--jobs", str(jobs)]
    if python:
        argv += ["--python", python]
    return subprocess.Popen(argv, cwd=tree, env=env, stdout=subprocess.DEVNULL)


def read(out):
    """{cell id: the record as JSON}: read as any reader of the JSONL would, independent of either version."""
    records = {}
    for line in open(out):
        rec = json.loads(line)
        records[rec["id"]] = rec
    return records


def run(tree, matrix, jobs, out, contain_off, python=""):
    load0, t0 = os.getloadavg()[0], time.monotonic()
    if start(tree, matrix, jobs, out, contain_off, python).wait():
        raise SystemExit("the run of %s failed" % tree)
    wall, load1 = time.monotonic() - t0, os.getloadavg()[0]
    return {"wall_s": wall, "load": (load0, load1), "records": read(out)}


def together(trees, args, work):
    """Both versions at the same moment, one Python's slice at a time: {name: totals}, and per-slice walls."""
    sys.path.insert(0, REPO)
    from hangmatrix.envs.interpreters import discover

    slices = [interp.short for interp in discover()] if not args.python else args.python.split(",")
    results = {name: {"wall_s": 0.0, "records": {}, "load": [None, None]} for name, _ in trees}
    for n, python in enumerate(slices):
        order = trees if n % 2 == 0 else list(reversed(trees))  # the version started first alternates
        load0, t0, running, walls = os.getloadavg()[0], time.monotonic(), {}, {}
        for name, tree in order:
            out = os.path.join(work, "%s-%s.jsonl" % (name, python))
            running[name] = (start(tree, args.matrix, args.jobs, out, args.contain_off, python), out)
        while len(walls) < len(running):
            for name, (proc, _) in running.items():
                if name not in walls and proc.poll() is not None:
                    walls[name] = time.monotonic() - t0
                    if proc.returncode:
                        for other, _ in running.values():
                            if other.poll() is None:
                                other.terminate()
                                other.wait()
                        raise SystemExit("the %s run of Python %s failed (exit %d)" % (name, python, proc.returncode))
            time.sleep(0.05)
        load1 = os.getloadavg()[0]
        for name, (_, out) in running.items():
            result = results[name]
            result["wall_s"] += walls[name]
            result["records"].update(read(out))
            result["load"] = [result["load"][0] if result["load"][0] is not None else load0, load1]
        print(
            "py %-5s %s, ratio %.3f, load %.1f→%.1f"
            % (
                python,
                ", ".join("%s %.1f s" % (name, walls[name]) for name, _ in trees),
                walls[trees[1][0]] / walls[trees[0][0]],
                load0,
                load1,
            ),
            flush=True,
        )
    return results


def medians(records):
    """Per-cell medians in ms: launch, kill and clean-up."""
    found = {"launch": [], "kill": [], "clean-up": []}
    for rec in records.values():
        for key, value in (
            ("launch", (rec.get("containment") or {}).get("launch_s")),
            ("kill", (rec.get("cleanup") or {}).get("kill_s")),
            ("clean-up", (rec.get("cleanup") or {}).get("clean_s")),
        ):
            if value is not None:
                found[key].append(value)
    return ", ".join("%s %.1f ms" % (k, 1000 * statistics.median(v)) for k, v in found.items() if v)


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
    print("        medians a cell: %s" % medians(result["records"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="git revision of the version before")
    parser.add_argument("--after", default="", help="git revision of the version after (default: this tree)")
    parser.add_argument(
        "--together",
        action="store_true",
        help="both versions at the same moment, one Python's slice at a time, --jobs cells each",
    )
    parser.add_argument("--matrix", default="default")
    parser.add_argument("--jobs", type=int, default=0, help="cells at once (default: hangmatrix's default)")
    parser.add_argument(
        "--after-first",
        action="store_true",
        help="run the after version first (a second pair in the other order tells drift from a difference)",
    )
    parser.add_argument("--contain-off", default="", help="HANGMATRIX_CONTAIN_OFF for both versions")
    parser.add_argument("--keep", default="", help="a folder to keep both versions' records in (JSONL)")
    parser.add_argument("--python", default="", help="only these interpreters of the matrix (as `run --python`)")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="hangmatrix-before-after-")
    try:
        before_dir = os.path.join(work, "before")
        os.makedirs(before_dir)
        before_tree = export(args.before, before_dir)
        after_tree = REPO
        if args.after:
            os.makedirs(os.path.join(work, "after"))
            after_tree = export(args.after, os.path.join(work, "after"))
        order = (("before", before_tree), ("after", after_tree))
        if args.together:
            results = together(order, args, work)
            for name, _ in order:
                summary(name, results[name])
            print("wall after/before: %.3f" % (results["after"]["wall_s"] / results["before"]["wall_s"]))
        else:
            results = {}
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
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            for name in ("before", "after"):
                with open(os.path.join(args.keep, name + ".jsonl"), "w") as f:
                    f.writelines(json.dumps(rec) + "\n" for rec in results[name]["records"].values())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
