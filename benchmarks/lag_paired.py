"""Deadlock lag, two versions of hangmatrix paired (run by hand): the same deadlocking cells, run by one
version and then the other, alternating each round (before/after, then after/before, ...), so the load of
a shared machine falls on both alike. Lag = launch to verdict minus launch to quiescence (the cost of the
proof, not of the program). Prints, per round and pooled, each version's median and p95 lag, its wall
time, the load average around it, and whether the verdicts agree.

    .venv/bin/python benchmarks/lag_paired.py --before HEAD~1 --python 3.11,3.7 --rounds 4
    .venv/bin/python benchmarks/lag_paired.py --before HEAD~1 --contain-off pidns,cgroup   # as issue 17's 0.139 s

--look N measures the proof's own cost, free of the cells' scheduling: one seed deadlock (Python 3.11,
gevent 26.9.0, fork, its own /dev/shm as under the harness) is started once and left hung, and each
version in turn, alternating every round, times N full looks at it (diagnosis.diagnose with wakers.annotate,
as the supervisor makes when it proves a deadlock) and N looks without the wakers part.

    .venv/bin/python benchmarks/lag_paired.py --before df38e63 --look 10 --rounds 6

`--before` and `--after` are git revisions, each exported to a temporary folder (no worktree); without
--after, the after version is this working tree as it is.
The cells: the default matrix's cells of --case on --python whose verdict in docs/compat.json is deadlock
(only cells that deadlock measure a lag).
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DRIVER = r"""
import json, sys
from hangmatrix.run import runner
ids, pythons, case, jobs, out = json.loads(sys.argv[1])
items = [i for i in runner.plan([case], [], [], pythons, [], matrix="default") if i.id in set(ids)]
with open(out, "w") as f:
    for r in runner.execute(items, jobs=jobs):
        f.write(json.dumps({"id": r.id, "verdict": r.verdict, "elapsed_s": r.elapsed_s,
                            "quiescent_at_s": r.quiescent_at_s}) + "\n")
"""


LOOK_DRIVER = r"""
import json, os, sys, time
from hangmatrix.observe import diagnosis, wakers, watch
starter, n = int(sys.argv[1]), int(sys.argv[2])
snap = watch.sample(starter, full=True)
root = min(p for p, proc in snap.procs.items() if "seed_original" in proc.cmdline)
times = {"with wakers": [], "without": []}
for _ in range(n):
    for key, annotate in (("with wakers", wakers.annotate), ("without", None)):
        t = time.perf_counter()
        diagnosis.diagnose(snap, root, {}, annotate=annotate)
        times[key].append(time.perf_counter() - t)
print(json.dumps({"times": times, "processes": len(os.listdir("/proc"))}))
"""


def looks(args, trees):
    """The --look mode: both versions timing full looks at one hung seed tree, alternating."""
    sys.path.insert(0, REPO)
    from hangmatrix.envs.build import ensure_env
    from hangmatrix.envs.interpreters import find_interpreter

    python = os.path.join(ensure_env(find_interpreter("3.11"), "26.9.0").path, "bin", "python")
    seed = os.path.join(REPO, "cases", "seed_original.py")
    starter = subprocess.Popen(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            "mount -t tmpfs none /dev/shm && exec %s %s" % (python, seed),
        ],
        start_new_session=True,
    )
    got = {"before": {"with wakers": [], "without": []}, "after": {"with wakers": [], "without": []}}
    try:
        time.sleep(5)  # the seed program deadlocks within a second; leave it still
        for n in range(args.rounds):
            for version in ("before", "after") if n % 2 == 0 else ("after", "before"):
                load = os.getloadavg()[0]
                out = subprocess.run(
                    [sys.executable, "-c", LOOK_DRIVER, str(starter.pid), str(args.look)],
                    cwd=trees[version],
                    env=dict(os.environ, PYTHONPATH=trees[version]),
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                data = json.loads(out)
                for key, values in data["times"].items():
                    got[version][key] += values
                print(
                    "round %d %-6s look with wakers median %6.1f ms, without %6.1f ms (%d processes, load %.1f)"
                    % (
                        n + 1,
                        version,
                        statistics.median(data["times"]["with wakers"]) * 1e3,
                        statistics.median(data["times"]["without"]) * 1e3,
                        data["processes"],
                        load,
                    ),
                    flush=True,
                )
    finally:
        os.killpg(starter.pid, signal.SIGKILL)
        starter.wait()
    report = {
        v: {
            k: {"median_ms": round(statistics.median(x) * 1e3, 1), "p95_ms": round(pct(x, 0.95) * 1e3, 1)}
            for k, x in d.items()
        }
        for v, d in got.items()
    }
    print(json.dumps(report, indent=1))
    return report


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def deadlock_ids(case, pythons):
    """Ids of the cells docs/compat.json recorded as deadlock for case on these Python versions."""
    with open(os.path.join(REPO, "docs", "compat.json")) as f:
        recs = json.load(f)["records"]
    return sorted(
        {
            r["id"]
            for r in recs
            if r["case"] == case
            and r["verdict"] == "deadlock"
            and any(r["python"] == p or r["python"].startswith(p + ".") for p in pythons)
        }
    )


def export(rev, into):
    """The tree of git revision rev, in folder into (no worktree: an archive)."""
    archive = subprocess.run(["git", "-C", REPO, "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return into


def one_pass(tree, args, ids, out, contain_off):
    env = dict(os.environ, PYTHONPATH=tree)
    env.pop("HANGMATRIX_CONTAIN_OFF", None)
    if contain_off:
        env["HANGMATRIX_CONTAIN_OFF"] = contain_off
    load0, t0 = os.getloadavg()[0], time.monotonic()
    subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps([ids, args.python.split(","), args.case, args.jobs, out])],
        cwd=tree,
        env=env,
        check=True,
    )
    wall, load1 = time.monotonic() - t0, os.getloadavg()[0]
    recs = [json.loads(line) for line in open(out)]
    return {"wall_s": wall, "load": (load0, load1), "records": {r["id"]: r for r in recs}}


def lags(records):
    return [
        r["elapsed_s"] - r["quiescent_at_s"]
        for r in records.values()
        if r["verdict"] == "deadlock" and r.get("quiescent_at_s") is not None
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="git revision of the version to compare with")
    ap.add_argument("--after", help="git revision of the version to measure (default: this working tree)")
    ap.add_argument("--case", default="seed_original")
    ap.add_argument("--python", default="3.11,3.7")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2, help="cells at once (few: lag, not throughput)")
    ap.add_argument("--contain-off", default="", help="HANGMATRIX_CONTAIN_OFF for both versions")
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--look", type=int, default=0, help="time this many looks per version and round, instead")
    args = ap.parse_args()
    if args.look:
        work = tempfile.mkdtemp(prefix="hangmatrix-lag-")
        try:
            trees = {
                "before": export(args.before, tempfile.mkdtemp(dir=work)),
                "after": export(args.after, tempfile.mkdtemp(dir=work)) if args.after else REPO,
            }
            report = looks(args, trees)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=1)
        return
    ids = deadlock_ids(args.case, args.python.split(","))
    if not ids:
        sys.exit("no deadlocking cell of %s on Python %s in docs/compat.json" % (args.case, args.python))
    work = tempfile.mkdtemp(prefix="hangmatrix-lag-")
    try:
        trees = {
            "before": export(args.before, tempfile.mkdtemp(dir=work)),
            "after": export(args.after, tempfile.mkdtemp(dir=work)) if args.after else REPO,
        }
        passes = {"before": [], "after": []}
        for n in range(args.rounds):
            order = ("before", "after") if n % 2 == 0 else ("after", "before")
            for version in order:
                got = one_pass(
                    trees[version], args, ids, os.path.join(work, "%s-%d.jsonl" % (version, n)), args.contain_off
                )
                passes[version].append(got)
                lag = lags(got["records"])
                print(
                    "round %d %-6s %3d deadlocks of %3d cells, lag median %.3f p95 %.3f s, wall %5.1f s, load %.1f→%.1f"
                    % (
                        n + 1,
                        version,
                        len(lag),
                        len(got["records"]),
                        statistics.median(lag) if lag else float("nan"),
                        pct(lag, 0.95),
                        got["wall_s"],
                        *got["load"],
                    ),
                    flush=True,
                )
        report = {
            "cells": len(passes["after"][0]["records"]),
            "rounds": args.rounds,
            "jobs": args.jobs,
            "contain_off": args.contain_off,
            "machine": "%d cores, %s" % (os.cpu_count(), os.uname().release),
        }
        for version, runs in passes.items():
            report[version + "_rev"] = args.before if version == "before" else (args.after or "working tree")
            pooled = [x for run in runs for x in lags(run["records"])]
            report[version] = {
                "lag_median_s": round(statistics.median(pooled), 3),
                "lag_p95_s": round(pct(pooled, 0.95), 3),
                "deadlocks": len(pooled),
                "wall_s": [round(r["wall_s"], 1) for r in runs],
                "load": [tuple(round(x, 1) for x in r["load"]) for r in runs],
            }
        verdicts = {
            v: [{i: r["verdict"] for i, r in run["records"].items()} for run in runs] for v, runs in passes.items()
        }
        first = verdicts["before"][0]
        report["verdicts_identical"] = all(v == first for runs in verdicts.values() for v in runs)
        print(json.dumps(report, indent=1))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
