"""What `--each-test` costs per test (run by hand): a suite of N trivial tests whose conftest.py patches
(monkey.patch_all()), each test run plainly as its own `python -m pytest NODE_ID` in the cell environment
(pytest's own start-up, per test) against the same tests as hangmatrix cells (`run --each-test`, one cell
at a time), the two taking turns for --rounds rounds. Reports medians per test and their difference, and
what the collection (once per command) takes.

    .venv/bin/python benchmarks/each_test_cost.py --tests 20 --rounds 3
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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hangmatrix.envs.build import ensure_env  # noqa: E402
from hangmatrix.envs.interpreters import find_interpreter  # noqa: E402
from hangmatrix.model import cases  # noqa: E402
from hangmatrix.run import runner  # noqa: E402

COMMAND = "python -m pytest -q -p no:cacheprovider"


def make_suite(folder, n):
    with open(os.path.join(folder, "conftest.py"), "w") as f:
        f.write("from gevent import monkey\n\nmonkey.patch_all()\n")
    with open(os.path.join(folder, "pytest.ini"), "w") as f:
        f.write("[pytest]\n")
    with open(os.path.join(folder, "test_many.py"), "w") as f:
        f.writelines("def test_%d():\n    assert %d + 1 == %d\n\n\n" % (i, i, i + 1) for i in range(n))


def plain(env, suite, nodes):
    """Seconds per test, each as its own pytest process (the cell's interpreter, no hangmatrix)."""
    out = []
    for node in nodes:
        began = time.monotonic()
        subprocess.run([env.python] + COMMAND.split()[1:] + [node], cwd=suite, capture_output=True, check=True)
        out.append(time.monotonic() - began)
    return out


def cells(suite, python, gevent):
    """(seconds of planning with the collection, seconds per cell at one cell at a time, the records)."""
    began = time.monotonic()
    items = runner.plan(
        config_names=["as-written"],
        starts=["fork"],
        pythons=[python],
        gevents=[gevent],
        requires=["pytest"],
        commands=[cases.command(COMMAND)],
        project=suite,
        each_test=True,
        warn=lambda *_: None,
    )
    planned = time.monotonic() - began
    began = time.monotonic()
    recs = runner.execute(items, jobs=1)
    return planned, (time.monotonic() - began) / len(items), recs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--python", default="3.11")
    parser.add_argument("--gevent", default="26.9.0")
    args = parser.parse_args()
    suite = tempfile.mkdtemp(prefix="hangmatrix-each-test-")
    try:
        make_suite(suite, args.tests)
        env = ensure_env(find_interpreter(args.python), args.gevent, requires=("pytest",))
        nodes = ["test_many.py::test_%d" % i for i in range(args.tests)]
        per_plain, per_cell, plans, verdicts = [], [], [], set()
        for _ in range(args.rounds):
            per_plain += plain(env, suite, nodes)
            planned, cell_s, recs = cells(suite, args.python, args.gevent)
            plans.append(planned)
            per_cell.append(cell_s)
            verdicts |= {r.verdict for r in recs}
            per_cell_elapsed = [r.elapsed_s for r in recs]
        report = {
            "tests": args.tests,
            "rounds": args.rounds,
            "plain_pytest_per_test_s": round(statistics.median(per_plain), 3),
            "cell_per_test_s": round(statistics.median(per_cell), 3),
            "overhead_per_test_s": round(statistics.median(per_cell) - statistics.median(per_plain), 3),
            "cell_elapsed_median_s": round(statistics.median(per_cell_elapsed), 3),
            "plan_with_collection_s": round(statistics.median(plans), 3),
            "verdicts": sorted(verdicts),
            "load": os.getloadavg(),
        }
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(suite, ignore_errors=True)


if __name__ == "__main__":
    main()
