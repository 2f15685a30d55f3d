"""Soak (run by hand): the default matrix three times back to back with --repeat 3, in one harness
process; prints process count, the harness's open fds, /dev/shm entries and its memory after each round.

    .venv/bin/python benchmarks/soak.py                     # the default matrix
    .venv/bin/python benchmarks/soak.py --case seed_original --python 3.11 --gevent 26.9.0
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from hangmatrix.model.text import listed  # noqa: E402
from hangmatrix.run import runner  # noqa: E402


def own_shm():
    """/dev/shm entries of our own user (another user's runs on the machine are not our leak)."""
    count = 0
    for name in os.listdir("/dev/shm"):
        try:
            count += os.lstat(os.path.join("/dev/shm", name)).st_uid == os.getuid()
        except OSError:
            continue
    return count


def footprint():
    """What a leak would grow: processes on the machine, our fds, /dev/shm, our resident memory."""
    import psutil

    me = psutil.Process()
    return {
        "processes": len(psutil.pids()),
        "children": len(me.children(recursive=True)),
        "fds": me.num_fds(),
        "dev_shm": own_shm(),
        "rss_mb": round(me.memory_info().rss / 2**20, 1),
    }


def soak(items, rounds=3, repeat=3, jobs=None):
    marks = [footprint()]
    for _ in range(rounds):
        runner.execute([i for i in items for _ in range(repeat)], jobs=jobs)
        marks.append(footprint())
    return marks


def main():
    ap = argparse.ArgumentParser()
    for axis in ("case", "config", "start", "python", "gevent"):
        ap.add_argument("--" + axis, action="append", default=[])
    ap.add_argument("--matrix", default=None)
    args = ap.parse_args()
    matrix = args.matrix or (None if any([args.case, args.python, args.gevent]) else "default")
    items = runner.plan(
        *(listed(getattr(args, a)) for a in ("case", "config", "start", "python", "gevent")), matrix=matrix
    )
    marks = soak(items)
    print(json.dumps({"cells_per_round": 3 * len(items), "footprint_before_and_after_each_round": marks}, indent=1))


if __name__ == "__main__":
    main()
