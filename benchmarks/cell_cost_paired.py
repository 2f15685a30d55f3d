"""A cell's own start and clean-up, two versions of hangmatrix paired (run by hand, as root): the same short
real cell (seed_terminating, Python 3.11, gevent 26.9.0, none, fork: it ends `ok` in about half a second)
run one at a time by each version in turn, each round's leader alternating, so the load of a shared
machine falls on both alike. Per version, from its records: the supervisor's launch (`containment.launch_s`:
cgroups, namespaces, the filesystem's view, up to the case's exec), its clean-up (`cleanup.clean_s`: the
cell's folder, its layers and cgroups), the kill, and each cell's wall as the harness sees it; medians, and
after ÷ before.

    .venv/bin/python benchmarks/cell_cost_paired.py --before 8cb5794 --cells 40
    .venv/bin/python benchmarks/cell_cost_paired.py --before HEAD --before-off overlay   # the view's own cost
    .venv/bin/python benchmarks/cell_cost_paired.py --before 8cb5794 --pytest   # a test as --each-test runs it

--pytest makes the cell one trivial test run as `python -m pytest -q NODE` in a project whose conftest.py
patches (as benchmarks/each_test_cost.py's, one test), and times the same test run plainly between the
versions' turns: a cell's wall over pytest's own start-up is what --each-test costs a test.

--slice PY runs a slice of the default matrix instead (`run --matrix default --python PY --jobs J`), both
versions at the same moment, as a whole-matrix comparison does: each version's wall, the cells' and the
supervisors' CPU, launch and clean-up medians over its cells, and whether the verdicts agree cell by cell.

    .venv/bin/python benchmarks/cell_cost_paired.py --before 8cb5794 --slice 3.11 --jobs 3
    .venv/bin/python benchmarks/cell_cost_paired.py --before 8cb5794 --slice all --jobs 3   # the whole matrix

`--before` and `--after` are git revisions, each exported to a temporary folder (no worktree); without
--after, the after version is this working tree as it is.
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
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lag_paired import export  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DRIVER = r"""
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from hangmatrix.envs.build import ensure_env
from hangmatrix.envs.interpreters import find_interpreter
from hangmatrix.model import cases, configs, packaged
from hangmatrix.run import runner
n, python, gevent, jobs, suite = json.loads(sys.argv[1])
if suite:  # one test of a pytest suite, as --each-test runs it
    cell = runner.plan(config_names=["as-written"], starts=["fork"], pythons=[python], gevents=[gevent],
                       requires=["pytest"], commands=[cases.command(PYTEST + " test_one.py::test_one")],
                       project=suite, warn=lambda *_: None)[0]
    env = ensure_env(cell.interpreter, cell.gevent, requires=cell.env_key[2], newest=cell.env_key[3])
    spec = runner.launch_spec(cell, env, runner.memory_cap(None, jobs))
else:
    case = cases.select(["seed_terminating"], [packaged.cases_dir()])[0]
    spec = runner.make_spec(case, configs.parse("none"), "fork", ensure_env(find_interpreter(python), gevent), 30)
def one(server):
    t0 = time.monotonic()
    r = server.run(spec)
    wall = time.monotonic() - t0
    return {"verdict": r.verdict, "wall_s": wall, "launch_s": (r.containment or {}).get("launch_s"),
            "elapsed_s": r.elapsed_s,
            "clean_s": (r.cleanup or {}).get("clean_s"), "kill_s": (r.cleanup or {}).get("kill_s"),
            "filesystem": (r.containment or {}).get("filesystem")}
with runner.Supervisors() as server, ThreadPoolExecutor(jobs) as pool:
    out = list(pool.map(lambda _: one(server), range(n)))
print(json.dumps(out))
"""

MEASURES = ("launch_s", "elapsed_s", "clean_s", "kill_s", "wall_s")
PYTEST = "python -m pytest -q -p no:cacheprovider"
DRIVER = DRIVER.replace("PYTEST", repr(PYTEST))


def make_suite(folder):
    """A trivial test whose conftest.py patches, as benchmarks/each_test_cost.py's."""
    with open(os.path.join(folder, "conftest.py"), "w") as f:
        f.write("from gevent import monkey\n\nmonkey.patch_all()\n")
    with open(os.path.join(folder, "pytest.ini"), "w") as f:
        f.write("[pytest]\n")
    with open(os.path.join(folder, "test_one.py"), "w") as f:
        f.write("def test_one():\n    assert 1 + 1 == 2\n")


def plain_pytest(suite, python, gevent, n):
    """Seconds of each of n plain runs of the test (pytest's own start-up), in the cell's environment."""
    sys.path.insert(0, REPO)
    from hangmatrix.envs.build import ensure_env
    from hangmatrix.envs.interpreters import find_interpreter

    env = ensure_env(find_interpreter(python), gevent, requires=("pytest",))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HANGMATRIX"))}
    out = []
    for _ in range(n):
        began = time.monotonic()
        argv = [env.python] + PYTEST.split()[1:] + ["test_one.py::test_one"]
        subprocess.run(argv, cwd=suite, env=clean, capture_output=True, check=True)
        out.append({"wall_s": time.monotonic() - began})
    return out


def one_pass(tree, n, python, gevent, jobs, contain_off="", suite=""):
    env = dict(os.environ, PYTHONPATH=tree)
    env.pop("HANGMATRIX_CONTAIN_OFF", None)
    if contain_off:
        env["HANGMATRIX_CONTAIN_OFF"] = contain_off
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps([n, python, gevent, jobs, suite])],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_slice(tree, python, jobs, out):
    """One version's `run --matrix default --python PY`: (wall s, its records)."""
    sys.path.insert(0, REPO)
    from hangmatrix.model import record

    env = dict(os.environ, PYTHONPATH=tree)
    env.pop("HANGMATRIX_CONTAIN_OFF", None)
    argv = [sys.executable, "-m", "hangmatrix.cli", "run", "--matrix", "default", "--jobs", str(jobs)]
    argv += (["--python", python] if python != "all" else []) + ["--records", out, "--quiet"]
    began = time.monotonic()
    subprocess.run(argv, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - began
    with open(out) as f:
        return wall, [record.Record.from_json(json.loads(line)) for line in f if line.strip()]


def slices(trees, args, work):
    load0 = os.getloadavg()[0]
    with ThreadPoolExecutor(2) as pool:
        runs = {
            name: pool.submit(run_slice, tree, args.slice, args.jobs, os.path.join(work, name + ".jsonl"))
            for name, tree in trees.items()
        }
        got = {name: run.result() for name, run in runs.items()}
    print(
        "the default matrix's %s slice, both versions at once, %d jobs each, load %.1f→%.1f"
        % (args.slice, args.jobs, load0, os.getloadavg()[0])
    )
    report = {}
    for name, (wall, recs) in got.items():
        report[name] = {
            "cells": len(recs),
            "wall_s": round(wall, 1),
            "cell_cpu_s": round(sum((r.cpu_s or {}).get("cell", 0) for r in recs), 1),
            "supervisor_cpu_s": round(sum((r.cpu_s or {}).get("watch", 0) for r in recs), 1),
            "launch_ms": round(statistics.median((r.containment or {}).get("launch_s") or 0 for r in recs) * 1e3, 1),
            "clean_ms": round(statistics.median((r.cleanup or {}).get("clean_s") or 0 for r in recs) * 1e3, 1),
        }
        print("%-6s %s" % (name, report[name]))
    verdicts = [{r.id: r.verdict for r in got[name][1]} for name in ("before", "after")]
    changed = sorted(i for i in set(verdicts[0]) & set(verdicts[1]) if verdicts[0][i] != verdicts[1][i])
    report["verdicts_changed"] = changed
    report["after_over_before"] = {
        k: round(report["after"][k] / report["before"][k], 3) if report["before"][k] else None
        for k in ("wall_s", "cell_cpu_s", "supervisor_cpu_s", "launch_ms", "clean_ms")
    }
    print("verdicts changed: %s; after ÷ before: %s" % (changed or "none", report["after_over_before"]))
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="git revision of the version to compare with")
    ap.add_argument("--after", help="git revision of the version to measure (default: this working tree)")
    ap.add_argument("--cells", type=int, default=40, help="cells per version")
    ap.add_argument("--per-round", type=int, default=5, help="cells a version runs before the other's turn")
    ap.add_argument("--jobs", type=int, default=1, help="cells at once in a turn (both versions: 2 × jobs)")
    ap.add_argument("--together", action="store_true", help="the two versions' turns at the same moment")
    ap.add_argument("--before-off", default="", help="HANGMATRIX_CONTAIN_OFF for the before version only")
    ap.add_argument("--python", default="3.11")
    ap.add_argument("--gevent", default="26.9.0")
    ap.add_argument("--pytest", action="store_true", help="the cell: one trivial pytest test, as --each-test runs one")
    ap.add_argument("--slice", help="a slice of the default matrix (a Python, or all), both versions at once")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="hangmatrix-paired-")
    try:
        trees = {}
        for name, rev in (("before", args.before), ("after", args.after)):
            os.mkdir(os.path.join(work, name))
            trees[name] = export(rev, os.path.join(work, name)) if rev else REPO
        if args.slice:
            report = slices(trees, args, work)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump(report, f, indent=1)
            return
        suite = ""
        if args.pytest:
            suite = os.path.join(work, "suite")
            os.mkdir(suite)
            make_suite(suite)
        got = {name: [] for name in trees}
        plain = []
        load0 = os.getloadavg()[0]
        for n in range(0, args.cells, args.per_round):
            order = ["before", "after"] if (n // args.per_round) % 2 == 0 else ["after", "before"]
            turn = min(args.per_round, args.cells - n)
            with ThreadPoolExecutor(2 if args.together else 1) as pool:
                passes = {
                    name: pool.submit(
                        one_pass,
                        trees[name],
                        turn,
                        args.python,
                        args.gevent,
                        args.jobs,
                        args.before_off if name == "before" else "",
                        suite,
                    )
                    for name in order
                }
                for name in order:
                    got[name] += passes[name].result()
            if suite:  # pytest's own start-up, between the versions' turns
                plain += plain_pytest(suite, args.python, args.gevent, turn)
        load1 = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        "%d cells per version, %d a turn, %d at once%s, load %.1f→%.1f"
        % (args.cells, args.per_round, args.jobs, " (both versions together)" if args.together else "", load0, load1)
    )
    report = {"load": [load0, load1]}
    if plain:
        report["plain_pytest_ms"] = round(statistics.median(c["wall_s"] for c in plain) * 1e3, 1)
        print("plain pytest, median: %.1f ms a test" % report["plain_pytest_ms"])
    for name, cells in got.items():
        verdicts = sorted({c["verdict"] for c in cells})
        report[name] = {m: round(statistics.median(c[m] for c in cells) * 1e3, 1) for m in MEASURES}
        report[name]["verdicts"] = verdicts
        report[name]["filesystem"] = sorted({c["filesystem"] or "" for c in cells})
        print(
            "%-6s medians: launch %6.1f ms, to verdict %6.1f ms, clean-up %6.1f ms, kill %6.1f ms, cell wall %6.1f ms; "
            "verdicts %s" % ((name,) + tuple(report[name][m] for m in MEASURES) + (verdicts,))
        )
    ratios = {m: round(report["after"][m] / report["before"][m], 3) if report["before"][m] else None for m in MEASURES}
    report["after_over_before"] = ratios
    print("after ÷ before: " + ", ".join("%s %s" % (m, ratios[m]) for m in MEASURES))
    if plain:
        report["over_plain_ms"] = {n: round(report[n]["wall_s"] - report["plain_pytest_ms"], 1) for n in trees}
        print("a cell's wall over plain pytest, medians: %s" % report["over_plain_ms"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
