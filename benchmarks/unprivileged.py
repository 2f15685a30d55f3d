"""Unprivileged runs (run by hand, as root): a sandbox for an ordinary user (default `nobody`) with a copy
of the repo, a venv of Debian's /usr/bin/python3 and a cell env for it, all in a 0755 folder of its own
(root's home, pyenv and cache are out of that user's reach); then a matrix run as that user, once with
user namespaces (private /dev/shm) and once with them switched off (exact names), counting the /dev/shm
entries each leaves behind. tests/test_unprivileged.py uses the same sandbox.

    .venv/bin/python benchmarks/unprivileged.py --matrix default          # what nobody can run of it
    .venv/bin/python benchmarks/unprivileged.py --case seed_original --start spawn,forkserver
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from hangmatrix.envs import steps  # noqa: E402
from hangmatrix.envs.build import ensure_env  # noqa: E402
from hangmatrix.envs.interpreters import find_interpreter  # noqa: E402

USER = "nobody"
GEVENT = "26.9.0"
HARNESS_PACKAGES = ["gevent>=26.9.0", "rich>=13", "uv>=0.5", "pytest>=8", "pytest-timeout>=2.3", "hypothesis",
                    "psutil"]


def build_sandbox(gevent=GEVENT, user=USER):
    """The sandbox folder, owned by the user; the caller removes it."""
    top = tempfile.mkdtemp(prefix="hangmatrix-unprivileged-", dir="/tmp")
    try:
        os.chmod(top, 0o755)
        src = os.path.join(top, "src")
        for name in ("hangmatrix", "cases", "tests", "benchmarks"):
            shutil.copytree(os.path.join(REPO, name), os.path.join(src, name),
                            ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
        # the built-in cases as the package they are once installed (setup.py maps cases/ to it)
        shutil.copytree(os.path.join(REPO, "cases"), os.path.join(src, "hangmatrix", "builtin_cases"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("conftest.py", "pyproject.toml"):
            shutil.copy(os.path.join(REPO, name), src)
        venv = os.path.join(top, "venv")
        subprocess.run([steps.uv(), "venv", "-q", "--python", "/usr/bin/python3", venv], check=True)
        subprocess.run([steps.uv(), "pip", "install", "-q", "--python", venv + "/bin/python"] + HARNESS_PACKAGES,
                       check=True)
        ensure_env(find_interpreter("/usr/bin/python3"), gevent, cache_dir=os.path.join(top, "cache"))
        os.mkdir(os.path.join(top, "home"))
        subprocess.run(["chown", "-R", "%s:" % user, top], check=True)
    except BaseException:
        shutil.rmtree(top, ignore_errors=True)
        raise
    return top


def as_user(top, command, extra_env="", timeout=1800, user=USER):
    """Run `command` (arguments of the sandbox venv's python) as the user, in the copy of the repo, with a
    clean environment but the machine's certificate and package-index settings (cell envs are built from
    the index as that user)."""
    network = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in sorted(os.environ.items())
                       if re.search(r"CERT|CA_BUNDLE|^PIP_|^UV_|^(HTTPS?|NO)_PROXY$", k, re.I))
    env = "HOME={0}/home HANGMATRIX_CACHE={0}/cache PATH=/usr/bin:/bin PYTHONPATH={0}/src {2} {1}".format(
        top, extra_env, network)
    line = "cd {0}/src && exec env -i {1} {0}/venv/bin/python {2}".format(top, env, command)
    return subprocess.run(["su", "-s", "/bin/sh", user, "-c", line], capture_output=True, text=True, timeout=timeout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--matrix")
    parser.add_argument("--case", default="seed_original,seed_terminating")
    parser.add_argument("--start", default="spawn,forkserver")
    args = parser.parse_args()
    selection = "--matrix %s" % args.matrix if args.matrix else \
        "--case %s --start %s --python 3.11 --gevent %s" % (args.case, args.start, GEVENT)
    top = build_sandbox()
    try:
        for label, extra in (("user namespace", ""), ("exact names", "HANGMATRIX_CONTAIN_OFF=userns")):
            out = os.path.join(top, "home", "records-%d.jsonl" % len(extra))
            before, started = set(os.listdir("/dev/shm")), time.monotonic()
            done = as_user(top, "-m hangmatrix.cli run %s --records %s --quiet" % (selection, out), extra)
            left = set(os.listdir("/dev/shm")) - before
            recs = [json.loads(line) for line in open(out)] if os.path.exists(out) else []
            starts = {}
            for r in recs:
                starts[r["start"]] = starts.get(r["start"], 0) + 1
            print("%-15s %d cells (%s) in %.0f s, exit %d; /dev/shm entries left: %d; removed after kills: %d"
                  % (label, len(recs), ", ".join("%s %d" % kv for kv in sorted(starts.items())),
                     time.monotonic() - started, done.returncode, len(left),
                     sum(len(r.get("cleanup", {}).get("shm_removed", [])) for r in recs)))
            verdicts = {}
            for r in recs:
                verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
            print("                verdicts: %s; python %s" % (
                ", ".join("%s %d" % kv for kv in sorted(verdicts.items())), sorted({r["python"] for r in recs})))
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
