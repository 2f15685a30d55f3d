"""Unprivileged runs (run by hand, as root): a sandbox for an ordinary user (default `nobody`) with a copy
of the repo, a venv of Debian's /usr/bin/python3 and a cell env for it, all in a 0755 folder of its own
(root's home, pyenv and cache are out of that user's reach); then a matrix run as that user, once with
user namespaces (private /dev/shm) and once with them switched off (exact names), counting what each
leaves behind: /dev/shm entries, processes and cell folders of that user. tests/test_unprivileged.py uses
the same sandbox.

With --matrix, the user also gets root's pyenv interpreters, at their own paths, without /root being opened
to anyone: the user's run happens in a mount namespace of its own where /root is an empty tmpfs holding
only a read-only bind of /root/.pyenv/versions (pyenv builds with a shared libpython find it through an
absolute rpath, so a copy elsewhere would not run). The matrix's cell envs are built into the sandbox by
root first. --root also runs the same selection as root and compares every cell's verdict.

    .venv/bin/python benchmarks/unprivileged.py --matrix default --root       # the whole default matrix
    .venv/bin/python benchmarks/unprivileged.py --matrix default --python 3.7,3.12 --root   # a slice of it
    .venv/bin/python benchmarks/unprivileged.py --case seed_original --start spawn,forkserver
"""

import argparse
import json
import os
import pwd
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
HARNESS_PACKAGES = ["gevent>=26.9.0", "rich>=13", "uv>=0.5", "pytest>=8", "pytest-timeout>=2.3", "hypothesis", "psutil"]


PYENV_VERSIONS = "/root/.pyenv/versions"


def build_sandbox(gevent=GEVENT, user=USER, matrix=None, pythons=""):
    """The sandbox folder, owned by the user; the caller removes it. matrix: also build that matrix's
    cell envs (for --python pythons, else all its interpreters) into the sandbox's cache."""
    top = tempfile.mkdtemp(prefix="hangmatrix-unprivileged-", dir="/tmp")
    try:
        os.chmod(top, 0o755)
        src = os.path.join(top, "src")
        for name in ("hangmatrix", "cases", "tests", "benchmarks"):
            shutil.copytree(
                os.path.join(REPO, name),
                os.path.join(src, name),
                ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"),
            )
        # the built-in cases as the package they are once installed (setup.py maps cases/ to it)
        shutil.copytree(
            os.path.join(REPO, "cases"),
            os.path.join(src, "hangmatrix", "builtin_cases"),
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        for name in ("conftest.py", "pyproject.toml"):
            shutil.copy(os.path.join(REPO, name), src)
        venv = os.path.join(top, "venv")
        subprocess.run([steps.uv(), "venv", "-q", "--python", "/usr/bin/python3", venv], check=True)
        subprocess.run(
            [steps.uv(), "pip", "install", "-q", "--python", venv + "/bin/python"] + HARNESS_PACKAGES, check=True
        )
        ensure_env(find_interpreter("/usr/bin/python3"), gevent, cache_dir=os.path.join(top, "cache"))
        if matrix:
            os.mkdir(os.path.join(top, "pythons"))  # where the user's mount namespace binds root's pyenv first
            build = [sys.executable, "-m", "hangmatrix.cli", "envs", "build", "--matrix", matrix]
            for version in filter(None, pythons.split(",")):
                build += ["--python", version]
            subprocess.run(
                build,
                check=True,
                cwd=REPO,
                env=dict(os.environ, HANGMATRIX_CACHE=os.path.join(top, "cache")),
                stdout=subprocess.DEVNULL,
            )
        os.mkdir(os.path.join(top, "home"))
        subprocess.run(["chown", "-R", "%s:" % user, top], check=True)
    except BaseException:
        shutil.rmtree(top, ignore_errors=True)
        raise
    return top


def as_user(top, command, extra_env="", timeout=1800, user=USER):
    """Run `command` (arguments of the sandbox venv's python) as the user, in the copy of the repo, with a
    clean environment but the machine's certificate and package-index settings (cell envs are built from
    the index as that user). When the sandbox has a `pythons` folder (build_sandbox's matrix), in a mount
    namespace where /root holds only root's pyenv interpreters, read-only (see the module's docstring)."""
    network = " ".join(
        "%s=%s" % (k, shlex.quote(v))
        for k, v in sorted(os.environ.items())
        if re.search(r"CERT|CA_BUNDLE|^PIP_|^UV_|^(HTTPS?|NO)_PROXY$", k, re.I)
    )
    pythons = os.path.join(top, "pythons")
    env = "HOME={0}/home HANGMATRIX_CACHE={0}/cache PATH=/usr/bin:/bin PYTHONPATH={0}/src {2} {1}".format(
        top, extra_env, network
    )
    if os.path.isdir(pythons):
        env = "PYENV_ROOT=/root/.pyenv " + env
    line = "cd {0}/src && exec env -i {1} {0}/venv/bin/python {2}".format(top, env, command)
    su = "exec su -s /bin/sh %s -c %s" % (user, shlex.quote(line))
    if not os.path.isdir(pythons):
        return subprocess.run(["/bin/sh", "-c", su], capture_output=True, text=True, timeout=timeout)
    binds = " && ".join(
        [
            "mount --bind -o ro {0} {1}".format(PYENV_VERSIONS, pythons),  # kept before /root is covered
            "mount -t tmpfs -o mode=0755,size=1m hangmatrix-root /root",
            "mkdir -p {0}".format(PYENV_VERSIONS),
            "mount --bind -o ro {1} {0}".format(PYENV_VERSIONS, pythons),
            su,
        ]
    )
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", binds],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def leftovers(uid, before):
    """What the user has now and had not in `before` (an earlier call's result, or None): /dev/shm entries,
    processes, and cell folders in /tmp, each owned by uid."""

    def owned(folder, prefix=""):
        found = set()
        for name in os.listdir(folder):
            try:
                if name.startswith(prefix) and os.lstat(os.path.join(folder, name)).st_uid == uid:
                    found.add(name)
            except OSError:
                continue
        return found

    now = {
        "shm": owned("/dev/shm"),
        "folders": owned("/tmp", "hangmatrix-"),
        "processes": {p for p in owned("/proc") if p.isdigit()},
    }
    return {k: v - before[k] for k, v in now.items()} if before else now


def tally(recs, key):
    counts = {}
    for r in recs:
        counts[r[key]] = counts.get(r[key], 0) + 1
    return ", ".join("%s %d" % kv for kv in sorted(counts.items()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--matrix")
    parser.add_argument("--python", default="", help="with --matrix: only these versions of it (a slice)")
    parser.add_argument("--case", default="seed_original,seed_terminating")
    parser.add_argument("--start", default="spawn,forkserver")
    parser.add_argument("--root", action="store_true", help="also run the selection as root; compare verdicts")
    parser.add_argument("--root-records", help="compare verdicts with this root run's records instead")
    parser.add_argument("--save", help="copy the user's records files into this folder")
    parser.add_argument("--modes", default="userns,names", help="user namespace (userns), exact names (names)")
    args = parser.parse_args()
    if args.matrix:
        selection = "--matrix %s%s" % (args.matrix, "".join(" --python " + v for v in args.python.split(",") if v))
    else:
        selection = "--case %s --start %s --python 3.11 --gevent %s" % (args.case, args.start, GEVENT)
    uid = pwd.getpwnam(USER).pw_uid
    print(
        "machine: %d cores, %s; load %s"
        % (os.cpu_count(), os.uname().release, " ".join("%.1f" % x for x in os.getloadavg())),
        flush=True,
    )
    top = build_sandbox(matrix=args.matrix, pythons=args.python)
    try:
        runs = {}
        modes = [("user namespace", "", "userns"), ("exact names", "HANGMATRIX_CONTAIN_OFF=userns", "names")]
        for label, extra, key in [m for m in modes if m[2] in args.modes.split(",")]:
            out = os.path.join(top, "home", "records-%s.jsonl" % key)
            before, load, started = leftovers(uid, None), os.getloadavg()[0], time.monotonic()
            done = as_user(
                top, "-m hangmatrix.cli run %s --records %s --quiet" % (selection, out), extra, timeout=6 * 3600
            )
            left = leftovers(uid, before)
            recs = [json.loads(line) for line in open(out)] if os.path.exists(out) else []
            runs[label] = recs
            if args.save and os.path.exists(out):
                shutil.copy(out, args.save)
            print(
                "%-15s %d cells (%s) in %.0f s (load %.1f→%.1f), exit %d; left: /dev/shm %d, processes %d, "
                "cell folders %d; /dev/shm entries removed after kills: %d"
                % (
                    label,
                    len(recs),
                    tally(recs, "start"),
                    time.monotonic() - started,
                    load,
                    os.getloadavg()[0],
                    done.returncode,
                    len(left["shm"]),
                    len(left["processes"]),
                    len(left["folders"]),
                    sum(len(r.get("cleanup", {}).get("shm_removed", [])) for r in recs),
                ),
                flush=True,
            )
            print(
                "                verdicts: %s; python %s; shm: %s"
                % (
                    tally(recs, "verdict"),
                    sorted({r["python"] for r in recs}),
                    sorted({str((r.get("containment") or {}).get("shm")) for r in recs}),
                ),
                flush=True,
            )
            if done.returncode:
                print("                stderr: " + done.stderr[-1500:], flush=True)
        if args.root or args.root_records:
            out = args.root_records or os.path.join(top, "root.jsonl")
            started, load = time.monotonic(), os.getloadavg()[0]
            if not args.root_records:
                subprocess.run(
                    [sys.executable, "-m", "hangmatrix.cli", "run"]
                    + shlex.split(selection)
                    + ["--records", out, "--quiet"],
                    cwd=REPO,
                    check=False,
                )
            root = {r["id"]: r["verdict"] for r in map(json.loads, open(out))}
            print(
                "root            %d cells%s; verdicts: %s"
                % (
                    len(root),
                    ""
                    if args.root_records
                    else " in %.0f s (load %.1f→%.1f)" % (time.monotonic() - started, load, os.getloadavg()[0]),
                    tally([{"v": v} for v in root.values()], "v"),
                ),
                flush=True,
            )
            for label, recs in runs.items():
                differ = [(r["id"], root.get(r["id"]), r["verdict"]) for r in recs if root.get(r["id"]) != r["verdict"]]
                print(
                    "%-15s vs root: %d of %d cells the same verdict; differ: %s"
                    % (label, len(recs) - len(differ), len(recs), differ[:20]),
                    flush=True,
                )
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
