"""What the injected sitecustomize costs a cell's Python process: CPU of `python -c CODE` in a cell env,
bare, injected from source (as every cell process was before), and injected from the bytecode the harness
now writes (Env.compile_staged), interleaved, medians.

    python benchmarks/inject_cost.py --python 3.11 --gevent 26.9.0 [-n 30] [--code "import gevent.monkey"]
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hangmatrix.envs.build import ensure_env  # noqa: E402
from hangmatrix.envs.interpreters import find_interpreter  # noqa: E402
from hangmatrix.run import runner  # noqa: E402


def cpu_of(argv, environ):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, env=environ, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default="3.11")
    ap.add_argument("--gevent", default="26.9.0")
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--code", default="pass")
    args = ap.parse_args()
    env = ensure_env(find_interpreter(args.python), args.gevent)
    if env.interpreter.root:
        sys.exit("a Debian-root interpreter: run this on a host one")
    work = tempfile.mkdtemp(prefix="hm-inject-cost-")
    try:
        source, compiled = os.path.join(work, "source"), os.path.join(work, "compiled")
        for folder in (source, compiled):
            shutil.copytree(runner.INJECT_DIR, folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        env.compile_staged(os.path.join(compiled, "sitecustomize.py"))
        cell = {"config": {"kind": "none", "name": "none"}, "start": "fork", "marked": True, "progress": [],
                "workers": [], "events": os.path.join(work, "events"), "stacks": os.path.join(work, "stacks"),
                "greenlets": os.path.join(work, "greenlets"), "shm_names": False}  # fmt: skip
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HANGMATRIX"))}
        base["PYTHONDONTWRITEBYTECODE"] = "1"
        variants = {
            "bare": base,
            "injected, source": dict(base, PYTHONPATH=source, HANGMATRIX_CELL=json.dumps(cell)),
            "injected, bytecode": dict(base, PYTHONPATH=compiled, HANGMATRIX_CELL=json.dumps(cell)),
        }
        cpu = {name: [] for name in variants}
        for _ in range(args.n):
            for name, environ in variants.items():
                cpu[name].append(cpu_of([env.python, "-c", args.code], environ))
        print("Python %s, gevent %s, %r, %d runs each (CPU, median):" % (args.python, args.gevent, args.code, args.n))
        for name, values in cpu.items():
            print("  %-20s %.1f ms" % (name, statistics.median(values) * 1000))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
