"""What each containment mechanism costs (run by hand, as root): the same slice of cells run with containment
on and with one mechanism at a time switched off (HANGMATRIX_CONTAIN_OFF), the variants taking turns in a
rotating order each round so a shared machine's load falls on all alike. Per pass: wall, the cells' CPU,
the supervisors' CPU, the load average around it, and the memory cgroups the kernel counts (live and
dying: /proc/cgroups) before and after. Verdicts are compared across every pass.

    .venv/bin/python benchmarks/contain_cost.py --python 3.11 --gevent 26.9.0 --rounds 3
    .venv/bin/python benchmarks/contain_cost.py --variants on,pidns,cgroup,pidns+cgroup --jobs 6
    .venv/bin/python benchmarks/contain_cost.py --micro 40     # each mechanism's own cost, one program
    .venv/bin/python benchmarks/contain_cost.py --whole-matrix --variants on,pidns+cgroup+fs   # issue 13's pair

--whole-matrix runs the whole default matrix in both modes, interleaved: each round is one Python's slice of
it (every case, configuration, start method and release), the variants taking turns leading, and the totals
over all rounds are the matrix's wall and CPU per variant. Interleaving by slice keeps a drifting machine
from favouring whichever mode ran second, as two whole runs one after the other did (5-7%). It is not
enough on a machine whose speed swings within minutes: the same slice's on/off ratio ranged 0.83 to 1.30
round by round (2026-12-02), so a total's ratio carries a few percent of noise either way
(`round_wall_ratios` in the report shows it).

--together starts each round's variants at the same moment, --jobs split between them, so whatever the
machine does falls on all of them alike; each variant's wall ends when its own harness exits (the one
that finishes first leaves the machine to the other, so wall differences come out damped: its CPU totals
are the sharper figure).

    .venv/bin/python benchmarks/contain_cost.py --whole-matrix --variants on,pidns+cgroup+fs --together

--micro N launches one short real program (an interpreter importing gevent and multiprocessing, from the
3.11 cell env) N times per variant, one at a time and the variants interleaved, the way the supervisor
does (contain.Cgroups, contain.Namespace or Popen with contain.Launch.prepare_to_exec), and reports per launch the
wall time from setup to the cgroups' removal and the CPU time of the process and what it reaped.

A variant names what is switched off (`on`: nothing; `pidns+cgroup+fs`: the PID namespace, the cgroups and
the sealed filesystem). As root the private /dev/shm
is a mount namespace that no switch turns off (`userns` only matters unprivileged: benchmarks/unprivileged.py).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DRIVER = r"""
import json, os, sys
from hangmatrix.run import runner
cases, pythons, gevents, starts, jobs, out = json.loads(sys.argv[1])
items = runner.plan(cases, [], starts, pythons, gevents, matrix="default")  # an empty axis: the matrix's
t0 = os.times()
recs = runner.execute(items, jobs=jobs)
t1 = os.times()
with open(out, "w") as f:
    json.dump({"below_cpu_s": (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system),
               "records": [{"id": r.id, "verdict": r.verdict, "elapsed_s": r.elapsed_s, "cpu_s": r.cpu_s,
                            "containment": r.containment} for r in recs]}, f)
"""


def memory_cgroups():
    """The memory controller's cgroup count from /proc/cgroups: live ones and those removed but still
    pinned by memory charged to them (dying)."""
    with open("/proc/cgroups") as f:
        for line in f:
            fields = line.split()
            if fields and fields[0] == "memory":
                return int(fields[2])
    return 0


def _axis(value):
    return [v for v in value.split(",") if v]


def passes_at_once(variants, args, outdir, n, jobs):
    """One pass of this round's slice per variant, all started together (one variant: a pass alone), each
    with `jobs` cells at once, its records in outdir; {variant: its figures}, each pass's wall ending when its
    own harness exits. A pass that fails stops the others before the benchmark exits."""
    load0, cg0, t0 = os.getloadavg()[0], memory_cgroups(), time.monotonic()
    running = {}
    for variant in variants:
        env = dict(os.environ, PYTHONPATH=REPO)
        env["HANGMATRIX_CONTAIN_OFF"] = "" if variant == "on" else variant.replace("+", ",")
        out = os.path.join(outdir, "%s-%d.json" % (variant, n))
        selection = [_axis(args.case), _axis(args.python), _axis(args.gevent), _axis(args.start), jobs, out]
        running[variant] = (
            subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps(selection)], cwd=REPO, env=env),
            out,
        )
    walls = {}
    while len(walls) < len(running):
        for variant, (proc, _) in running.items():
            if variant not in walls and proc.poll() is not None:
                walls[variant] = time.monotonic() - t0
                if proc.returncode:
                    for other, _ in running.values():
                        if other.poll() is None:
                            other.terminate()  # its harness's stdin closes: its server stops every cell
                            other.wait()
                    raise SystemExit("the %s pass failed (exit %d)" % (variant, proc.returncode))
        time.sleep(0.02)
    got = {}
    for variant, (_, out) in running.items():
        with open(out) as f:
            data = json.load(f)
        recs = data["records"]
        got[variant] = {
            "wall_s": walls[variant],
            "load": (load0, os.getloadavg()[0]),
            "memory_cgroups": (cg0, memory_cgroups()),
            "cell_cpu_s": sum(r["cpu_s"]["cell"] for r in recs if r.get("cpu_s")),
            "watch_cpu_s": sum(r["cpu_s"]["watch"] for r in recs if r.get("cpu_s")),
            "below_cpu_s": data["below_cpu_s"],
            "verdicts": {r["id"]: r["verdict"] for r in recs},
            "mechanisms": sorted(
                {
                    "%s / %s" % ((r.get("containment") or {}).get("tree"), (r.get("containment") or {}).get("memory"))
                    for r in recs
                }
            ),
        }
    return got


MICRO_PROGRAM = "import gevent, gevent.monkey, multiprocessing, multiprocessing.pool"


def micro_once(variant, python, work, n):
    """One launch of the micro program under variant, as the supervisor launches a cell; (wall s, CPU s)."""
    from hangmatrix.run import contain

    off = set() if variant == "on" else set(variant.split("+"))
    before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    cgroups = contain.Cgroups("hangmatrix-micro-%d-%d" % (os.getpid(), n), 1 << 30)
    if "cgroup" not in off:
        cgroups.setup()
    with open(os.devnull, "rb") as null_in, open(os.devnull, "wb") as null:
        launch = contain.Launch(
            [python, "-c", MICRO_PROGRAM],
            dict(os.environ),
            work,
            null_in.fileno(),
            null.fileno(),
            null.fileno(),
            "",
            cgroups,
            None,
            "mount namespace (root)",
            writable=None if "fs" in off else [work],
        )
        proc = (
            contain.Namespace(launch)
            if "pidns" not in off
            else subprocess.Popen(
                launch.argv,
                preexec_fn=launch.prepare_to_exec,
                stdin=null_in,
                stdout=null,
                stderr=null,
                cwd=work,
                start_new_session=True,
            )
        )
        proc.wait()
        if "pidns" not in off:
            proc.kill()  # init ends once its namespace is empty: reaps it, as at the end of a cell
            proc.close()
    cgroups.remove()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.monotonic() - t0, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def micro(args):
    sys.path.insert(0, REPO)
    from hangmatrix.envs.build import ensure_env
    from hangmatrix.envs.interpreters import find_interpreter

    python = os.path.join(
        ensure_env(find_interpreter(args.python.split(",")[0]), args.gevent.split(",")[0]).path, "bin", "python"
    )
    variants = args.variants.split(",")
    got = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="hangmatrix-micro-") as work:
        load0 = os.getloadavg()[0]
        for n in range(args.micro):
            for variant in variants[n % len(variants) :] + variants[: n % len(variants)]:
                got[variant].append(micro_once(variant, python, work, n))
        load1 = os.getloadavg()[0]
    print("%d launches per variant of %s -c %r, load %.1f→%.1f" % (args.micro, python, MICRO_PROGRAM, load0, load1))
    report = {}
    for variant, pairs in got.items():
        walls, cpus = [w for w, _ in pairs], [c for _, c in pairs]
        report[variant] = {
            "wall_ms_median": round(statistics.median(walls) * 1e3, 1),
            "cpu_ms_median": round(statistics.median(cpus) * 1e3, 1),
            "cpu_ms_mean": round(statistics.mean(cpus) * 1e3, 1),
        }
        print(
            "%-13s wall median %6.1f ms, CPU median %6.1f ms (mean %6.1f)"
            % (
                variant,
                report[variant]["wall_ms_median"],
                report[variant]["cpu_ms_median"],
                report[variant]["cpu_ms_mean"],
            )
        )
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", default="seed_original,seed_terminating")
    ap.add_argument("--python", default="3.11")
    ap.add_argument("--gevent", default="26.9.0")
    ap.add_argument("--start", default="fork,spawn,forkserver,default")
    ap.add_argument("--variants", default="on,pidns,cgroup,pidns+cgroup")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=6)
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--records", help="keep each pass's per-cell records (id, verdict, elapsed, CPU) in this folder")
    ap.add_argument("--micro", type=int, default=0, help="launches per variant of one short program, instead")
    ap.add_argument("--whole-matrix", action="store_true", help="the default matrix, one Python's slice a round")
    ap.add_argument(
        "--together",
        action="store_true",
        help="run each round's variants at the same time, --jobs shared between them, so the machine's drift "
        "falls on all alike (one after another, it swings a round's ratio by up to 30%% here)",
    )
    args = ap.parse_args()
    slices = [args.python]
    if args.whole_matrix:
        from hangmatrix.envs.interpreters import discover

        slices = [interp.short for interp in discover()]  # the default matrix's pythons axis: "discovered"
        args.case = args.gevent = args.start = ""
        args.rounds = len(slices)
    if args.micro:
        report = micro(args)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=1)
        return
    variants = args.variants.split(",")
    passes = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="hangmatrix-contain-") as work:
        outdir = args.records or work  # each pass's per-cell records: kept only in a folder named by --records
        os.makedirs(outdir, exist_ok=True)
        for n in range(args.rounds):
            args.python = slices[n % len(slices)]
            order = variants[n % len(variants) :] + variants[: n % len(variants)]  # each variant leads a round
            batches = [order] if args.together else [[v] for v in order]
            for batch in batches:
                jobs = max(1, args.jobs // len(batch))
                for variant, got in passes_at_once(batch, args, outdir, n, jobs).items():
                    passes[variant].append(got)
                    print(
                        "round %d %-13s py %-5s %4d cells wall %6.1f s, cell CPU %6.1f s, supervisors %5.1f s,"
                        " all below %6.1f s, load %.1f→%.1f, memory cgroups %d→%d; %s"
                        % (
                            n + 1,
                            variant,
                            args.python,
                            len(got["verdicts"]),
                            got["wall_s"],
                            got["cell_cpu_s"],
                            got["watch_cpu_s"],
                            got["below_cpu_s"],
                            *got["load"],
                            *got["memory_cgroups"],
                            "; ".join(got["mechanisms"]),
                        ),
                        flush=True,
                    )
    by_variant = {v: {cid: vd for p in runs for cid, vd in p["verdicts"].items()} for v, runs in passes.items()}
    first = by_variant[variants[0]]
    differ = sorted(
        (cid, tuple(by_variant[v].get(cid) for v in variants))
        for cid in first
        if any(by_variant[v].get(cid) != first[cid] for v in variants)
    )
    report = {
        "cells": len(first),
        "rounds": args.rounds,
        "jobs": args.jobs,
        "together": args.together,
        "machine": "%d cores, %s" % (os.cpu_count(), os.uname().release),
        "verdicts_identical": not differ,
        "verdicts_differ": differ,
    }
    for variant, runs in passes.items():
        report[variant] = {
            key: {"median": round(statistics.median(r[key] for r in runs), 1), "each": [round(r[key], 1) for r in runs]}
            for key in ("wall_s", "cell_cpu_s", "watch_cpu_s", "below_cpu_s")
        }
        report[variant]["load"] = [tuple(round(x, 1) for x in r["load"]) for r in runs]
        report[variant]["total"] = {
            key: round(sum(r[key] for r in runs), 1) for key in ("wall_s", "cell_cpu_s", "watch_cpu_s")
        }
    if len(variants) > 1:
        base = report[variants[-1]]["total"]["wall_s"]
        report["wall_ratio_%s_over_%s" % (variants[0], variants[-1])] = round(
            report[variants[0]]["total"]["wall_s"] / base, 3
        )
        each = [a["wall_s"] / b["wall_s"] for a, b in zip(passes[variants[0]], passes[variants[-1]])]
        report["round_wall_ratios"] = {  # the noise a total ratio carries: the same ratio round by round
            "each": [round(r, 3) for r in each],
            "median": round(statistics.median(each), 3),
        }
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
