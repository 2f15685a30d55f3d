"""A cell's own start and clean-up, two versions of hangmatrix paired (run by hand, as root): the same short
real cell (seed_terminating, Python 3.11, gevent 26.9.0, none, fork: it ends `ok` in about half a second)
run one at a time by each version in turn, each round's leader alternating, so the load of a shared
machine falls on both alike. Per version, from its records: the supervisor's launch (`containment.launch_s`:
cgroups, namespaces, the filesystem's view, up to the case's exec), its clean-up (`cleanup.clean_s`: the
cell's folder, its layers and cgroups), the kill, and each cell's wall as the harness sees it; medians, and
after ÷ before.

    .venv/bin/python benchmarks/cell_cost_paired.py --before 8cb5794 --cells 40
    .venv/bin/python benchmarks/cell_cost_paired.py --before HEAD --before-off overlay   # the view's own cost

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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lag_paired import export  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DRIVER = r"""
import json, sys, time
from hangmatrix.envs.build import ensure_env
from hangmatrix.envs.interpreters import find_interpreter
from hangmatrix.model import cases, configs, packaged
from hangmatrix.run import runner
n, python, gevent = json.loads(sys.argv[1])
case = cases.select(["seed_terminating"], [packaged.cases_dir()])[0]
spec = runner.make_spec(case, configs.parse("none"), "fork", ensure_env(find_interpreter(python), gevent), 30)
out = []
with runner.Supervisors() as server:
    for _ in range(n):
        t0 = time.monotonic()
        r = server.run(spec)
        wall = time.monotonic() - t0
        out.append({"verdict": r.verdict, "wall_s": wall, "launch_s": (r.containment or {}).get("launch_s"),
                    "clean_s": (r.cleanup or {}).get("clean_s"), "kill_s": (r.cleanup or {}).get("kill_s"),
                    "filesystem": (r.containment or {}).get("filesystem")})
print(json.dumps(out))
"""

MEASURES = ("launch_s", "clean_s", "kill_s", "wall_s")


def one_pass(tree, n, python, gevent, contain_off=""):
    env = dict(os.environ, PYTHONPATH=tree)
    env.pop("HANGMATRIX_CONTAIN_OFF", None)
    if contain_off:
        env["HANGMATRIX_CONTAIN_OFF"] = contain_off
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps([n, python, gevent])],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="git revision of the version to compare with")
    ap.add_argument("--after", help="git revision of the version to measure (default: this working tree)")
    ap.add_argument("--cells", type=int, default=40, help="cells per version")
    ap.add_argument("--per-round", type=int, default=5, help="cells a version runs before the other's turn")
    ap.add_argument("--before-off", default="", help="HANGMATRIX_CONTAIN_OFF for the before version only")
    ap.add_argument("--python", default="3.11")
    ap.add_argument("--gevent", default="26.9.0")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="hangmatrix-paired-")
    try:
        trees = {}
        for name, rev in (("before", args.before), ("after", args.after)):
            os.mkdir(os.path.join(work, name))
            trees[name] = export(rev, os.path.join(work, name)) if rev else REPO
        got = {name: [] for name in trees}
        load0 = os.getloadavg()[0]
        for n in range(0, args.cells, args.per_round):
            order = ["before", "after"] if (n // args.per_round) % 2 == 0 else ["after", "before"]
            for name in order:
                off = args.before_off if name == "before" else ""
                got[name] += one_pass(trees[name], min(args.per_round, args.cells - n), args.python, args.gevent, off)
        load1 = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d cells per version, %d at a turn, load %.1f→%.1f" % (args.cells, args.per_round, load0, load1))
    report = {"load": [load0, load1]}
    for name, cells in got.items():
        verdicts = sorted({c["verdict"] for c in cells})
        report[name] = {m: round(statistics.median(c[m] for c in cells) * 1e3, 1) for m in MEASURES}
        report[name]["verdicts"] = verdicts
        report[name]["filesystem"] = sorted({c["filesystem"] or "" for c in cells})
        print(
            "%-6s medians: launch %6.1f ms, clean-up %6.1f ms, kill %6.1f ms, cell wall %6.1f ms; verdicts %s"
            % ((name,) + tuple(report[name][m] for m in MEASURES) + (verdicts,))
        )
    ratios = {m: round(report["after"][m] / report["before"][m], 3) if report["before"][m] else None for m in MEASURES}
    report["after_over_before"] = ratios
    print("after ÷ before: " + ", ".join("%s %s" % (m, ratios[m]) for m in MEASURES))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
