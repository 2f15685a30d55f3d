"""Benchmark (run by hand): `hangmatrix envs build` of a matrix from scratch, then again (reuse), in a
throw-away cache with cold uv and pip caches, so nothing built earlier on this machine helps.

    .venv/bin/python benchmarks/envs_build.py                  # the default matrix
    .venv/bin/python benchmarks/envs_build.py --debian-root    # plus 3.14/3.15 (builds the root too)
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed_build(extra, env):
    """Wall seconds of one `envs build` in a fresh process, and its summary line."""
    started = time.time()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from hangmatrix import cli; sys.exit(cli.main(['envs', 'build'] + sys.argv[1:]))",
        ]
        + extra,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = done.stdout.strip().splitlines() or [done.stderr.strip()]
    return time.time() - started, lines[-1], [line for line in lines if line.startswith("env-error")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", default="default")
    parser.add_argument("--debian-root", action="store_true")
    parser.add_argument("--keep", action="store_true", help="leave the throw-away cache in place")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="hangmatrix-bench-")
    env = dict(
        os.environ,
        HANGMATRIX_CACHE=os.path.join(scratch, "hangmatrix"),
        UV_CACHE_DIR=os.path.join(scratch, "uv"),
        PIP_CACHE_DIR=os.path.join(scratch, "pip"),
    )
    extra = ["--matrix", args.matrix] + (["--debian-root"] if args.debian_root else [])
    try:
        for label in ("from scratch", "reuse"):
            seconds, summary, errors = timed_build(extra, env)
            print("%-12s %6.1f s wall   %s" % (label, seconds, summary))
            for line in errors if label == "from scratch" else []:
                print("    " + line)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
