"""Running the build tools (uv, pip, virtualenv, debootstrap): one step at a time, each failure one line
that says whether it is worth retrying (the network) or a lasting defect of the environment."""

import os
import re
import shutil
import subprocess
import tempfile
import threading

from .errors import EnvError

# Network trouble is worth retrying; anything else about a build is remembered as the env's defect.
_TRANSIENT = re.compile(
    r"(?i)timed out|timeout|connection|network|temporary failure|resolve host|"
    r"name resolution|\b50[234]\b|max retries|ssl"
)
# A short check run in an env's own interpreter (import and patch gevent, find a module): how long it may take,
# and how many times that the one retry gets, for a machine under heavy load that starved the first try.
CHECK_TIMEOUT = 20.0
RECHECK_FACTOR = 3
_uv_memo: dict = {}
_uv_lock = threading.Lock()


def check(argv, **kwargs):
    """subprocess.run of a short check, tried once more, longer, if it timed out; None if both did."""
    for limit in (CHECK_TIMEOUT, CHECK_TIMEOUT * RECHECK_FACTOR):
        try:
            return subprocess.run(argv, capture_output=True, timeout=limit, **kwargs)
        except subprocess.TimeoutExpired:
            pass
    return None


def uv():
    """The uv binary, looked up once (uv.find_uv_bin is not thread-safe)."""
    with _uv_lock:
        if not _uv_memo:
            try:
                import uv as uv_package

                found = uv_package.find_uv_bin()
            except (ImportError, FileNotFoundError):
                found = shutil.which("uv")
            if not found:
                raise EnvError("uv is not installed (pip install uv)")
            _uv_memo["bin"] = found
            _uv_memo["version"] = subprocess.run([found, "--version"], capture_output=True, text=True).stdout.strip()
        return _uv_memo["bin"]


def uv_version():
    uv()
    return _uv_memo["version"]


def run(argv, stdin=None):
    """Run a build step; EnvError with the tool's own error line when it fails. The step gets a temp folder
    of its own, removed after it: what the tools leave in TMPDIR (uv's lock of the build backend it set up
    for an sdist, one per build) must not outlive the run."""
    with tempfile.TemporaryDirectory(prefix="hangmatrix-build-") as scratch:
        env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", PIP_DISABLE_PIP_VERSION_CHECK="1", TMPDIR=scratch)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, input=stdin, env=env, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EnvError("%s: %s" % (os.path.basename(argv[0]), exc)) from None
    if done.returncode != 0:
        reason = last_lines(done.stderr or done.stdout)
        raise EnvError(
            "%s failed: %s" % (" ".join(os.path.basename(a) for a in argv[:3]), reason),
            lasting=not _TRANSIENT.search(reason),
        )
    return done.stdout


def last_lines(text):
    """The lines that say what went wrong (error/cause lines, else the last line), as one line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    said = [line for line in lines if re.match(r"(?i)(error|cause|\w*Error\b|\w*Exception\b|╰─▶)", line)]
    return " | ".join((said or lines[-1:])[-3:])[:400] or "no output"
