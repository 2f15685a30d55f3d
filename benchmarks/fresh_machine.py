"""The README's main command as a fresh machine runs it: a fresh clone, and every cache empty.

    python benchmarks/fresh_machine.py [--rev HEAD] [--keep]

Clones this repository at --rev into a temporary folder and runs the README's main command there, with
hangmatrix's cache, uv's, pip's and virtualenv's all pointed at empty folders, so every environment is
built and every wheel downloaded as on a new machine. The interpreters (pyenv) are the machine's. Reports
the wall time, the time to the first verdict and the time at which each environment's first cell ended.
"""

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main_command(clone):
    """The README's main command, as the clone at --rev has it: the first indented line after `Main job`."""
    with open(os.path.join(clone, "README.md"), encoding="utf-8") as f:
        lines = f.read().split("Main job", 1)[1].splitlines()
    return next(line.strip() for line in lines if line.startswith("    ") and line.strip())


def _records(path):
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def _at(rec):
    """When the cell's verdict came, as a Unix time: recorded_at is its launch (UTC, to the second)."""
    return datetime.fromisoformat(rec["recorded_at"]).timestamp() + (rec.get("elapsed_s") or 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="hm-fresh-")
    try:
        clone = os.path.join(base, "repo")
        subprocess.run(["git", "clone", "-q", REPO, clone], check=True)
        subprocess.run(["git", "-C", clone, "checkout", "-q", args.rev], check=True)
        shared = os.path.join(os.path.dirname(REPO), "shared")
        if os.path.isdir(shared):
            os.symlink(shared, os.path.join(base, "shared"))
        caches = {
            "HANGMATRIX_CACHE": "hangmatrix",
            "UV_CACHE_DIR": "uv",
            "PIP_CACHE_DIR": "pip",
            "VIRTUALENV_OVERRIDE_APP_DATA": "virtualenv",
        }
        env = dict(os.environ, **{k: os.path.join(base, "cache", v) for k, v in caches.items()})
        env.pop("HANGMATRIX_DEBIAN_ROOT", None)
        started = time.time()
        proc = subprocess.run(["bash", "-c", main_command(clone)], cwd=clone, env=env, stdout=subprocess.DEVNULL)
        wall = time.time() - started
        store = os.path.join(clone, "results", "records.jsonl.gz")
        recs = _records(store)
        ended = sorted(
            datetime.fromisoformat(r["recorded_at"]).timestamp() - started for r in recs if r.get("recorded_at")
        )
        ran = [r for r in recs if r.get("events") is not None]
        first_run = min(datetime.fromisoformat(r["recorded_at"]).timestamp() - started for r in ran) if ran else None
        counts = {}
        for r in recs:
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        print("machine: %d cores, %s" % (os.cpu_count(), os.uname().release))
        print("rev %s, exit %d, %d records %s" % (args.rev, proc.returncode, len(recs), counts))
        print("wall %.1f s (%.0f min %.0f s)" % (wall, wall // 60, wall % 60))
        print("records store %s: %.2f MB" % (os.path.basename(store), os.path.getsize(store) / 1e6))
        if ended:
            print("first record at %.1f s; first verdict of a cell that ran at %.1f s" % (ended[0], first_run or -1))
            print("last verdict at %.1f s" % ended[-1])
        return proc.returncode
    finally:
        if args.keep:
            print("kept", base)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
