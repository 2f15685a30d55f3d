"""The three ways an environment is made, each as of a date: uv for Python 3.6+ on the host, virtualenv
20.21.1 and the env's own pip for Python 2.7 (uv cannot drive it), and uv from the host filling a venv inside
the Debian root (pip in there cannot reach the index, and nothing can be compiled there). Each returns the
env's python, a line naming the builder, and the late wheels it had to take."""

import glob
import os
import platform
import re
import shutil
import sys
import threading

from ..model import versions
from . import index, steps
from .errors import EnvError
from .files import locked

VIRTUALENV = "virtualenv==20.21.1"  # the last virtualenv that still creates Python 2.7 environments
# What gevent ever depended on; 2.7 environments get each constrained to its newest release of the period.
ERA_PACKAGES = ("greenlet", "zope.event", "zope.interface", "setuptools", "cffi", "pycparser")
_tool_lock = threading.Lock()


def kind(interp):
    """How an interpreter's envs are made: in the Debian root, by virtualenv and pip (2.7), or by uv."""
    return "root" if interp.root else "virtualenv" if interp.python2 else "uv"


def layout(interp):
    """The part of an env's cache name that says how its kind of env is laid out: "-pip" for uv's since they
    carry their own pip (before, `pip` in a cell was another interpreter's), so an env built without it is
    never reused; "" for the others (virtualenv's always had pip; the Debian root's cannot reach the index)."""
    return "-pip" if kind(interp) == "uv" else ""


def make(interp, requirement, cutoff, path, base):
    """Build the env at path with gevent's requirement as of cutoff: (python, builder, late wheels)."""
    if kind(interp) == "root":
        return _build_in_root(interp, requirement, cutoff, path)
    if kind(interp) == "virtualenv":
        return _build_with_virtualenv(interp, requirement, cutoff, path, base)
    return _build_with_uv(interp, requirement, cutoff, path)


def installed(path):
    """name -> version of every distribution in the env, read from its metadata dirs (no process)."""
    found = {}
    for meta in glob.glob(os.path.join(path, "lib", "python*", "site-packages", "*-info")):
        parts = os.path.basename(meta).rsplit(".", 1)[0].split("-")
        if len(parts) >= 2:
            found[re.sub(r"[-_.]+", "-", parts[0]).lower()] = parts[1]
    return dict(sorted(found.items()))


def add_requires(interp, python, path, requires, cutoff, late):
    """The program's requirements, installed after gevent with everything gevent's step installed pinned:
    gevent, greenlet and the rest stay those of the plain env (a requirement that needs others is an
    env-error saying so). As of the cutoff, or the newest when cutoff is None. Returns late wheels."""
    pins = os.path.join(path, "hangmatrix-pins.txt")
    with open(pins, "w") as f:
        f.writelines("%s==%s\n" % kv for kv in installed(path).items() if kv[0] not in ("pip", "wheel"))
    try:
        if kind(interp) == "virtualenv":
            return _pip_install_as_of(python, path, pins, requires, cutoff)
        if kind(interp) == "root":
            target, options = _root_target(interp), ["--target", _site(path), "--only-binary", ":all:"]
        else:
            target, options = ["--python", python], []
        return _uv_install(target, options, interp, list(requires), cutoff, ["-c", pins], late)
    except EnvError as exc:
        raise EnvError("requires %s: %s" % (", ".join(requires), exc), lasting=exc.lasting) from None


def _pip_install_as_of(python, path, pins, requires, cutoff):
    """pip (Python 2.7) has no --exclude-newer: install, then cap every project that came out newer than
    the cutoff at its newest release of the period and install again, until none is newer."""
    pinned, capped = set(installed(path)), {}
    constraints = os.path.join(path, "hangmatrix-requires-constraints.txt")
    for _ in range(8):
        with open(pins) as f, open(constraints, "w") as out:
            out.write(f.read())
            out.writelines("%s<=%s\n" % kv for kv in sorted(capped.items()))
        steps.run(
            [python, "-m", "pip", "install", "-q", "--no-warn-script-location", "--prefer-binary", "-c", constraints]
            + list(requires)
        )
        if cutoff is None:
            return {}
        newer = {}
        for name, version in installed(path).items():
            newest = None if name in pinned or name in capped else index.newest_by(name, cutoff)
            try:
                if newest and versions.parse(version) > versions.parse(newest):
                    newer[name] = newest
            except versions.Invalid:
                continue
        if not newer:
            return {}
        capped.update(newer)
    raise EnvError("the requirements did not settle on releases as of %s" % cutoff, lasting=True)


def _build_with_uv(interp, requirement, cutoff, path):
    """uv venv + install as of the cutoff date; gevent itself only from a wheel. pip too, of the same date:
    `pip` in a cell is the cell's, as in an activated venv made by `python -m venv`."""
    steps.run([steps.uv(), "venv", "--no-config", "-q", "--python", interp.path, path])
    python = os.path.join(path, "bin", "python")
    target = ["--python", python]
    late = _uv_install(target, ["--only-binary", "gevent"], interp, [requirement, "setuptools", "pip"], cutoff)
    return python, steps.uv_version(), late


def _build_in_root(interp, requirement, cutoff, path):
    """A venv made by the root's python, filled from the host by uv for that interpreter's wheel tags
    (pip inside the root cannot reach the index, and nothing can be compiled there)."""
    inside = path[len(interp.root) :]
    steps.run(interp.command([interp.path, "-m", "venv", "--without-pip", inside]))
    late = _uv_install(
        _root_target(interp),
        ["--target", _site(path), "--only-binary", ":all:"],
        interp,
        [requirement, "setuptools"],
        cutoff,
    )
    return inside + "/bin/python", steps.uv_version(), late


def _site(path):
    site = glob.glob(os.path.join(path, "lib", "python*", "site-packages"))
    if not site:
        raise EnvError("the root's venv has no site-packages", lasting=True)
    return site[0]


def _root_target(interp):
    """uv's options naming a root interpreter's version and platform (uv runs on the host)."""
    newest = max(m for m in (17, 28) + tuple(range(31, 41)) if m <= interp.glibc_minor)  # the targets uv knows
    return ["--python-version", interp.short, "--python-platform", "%s-manylinux_2_%d" % (platform.machine(), newest)]


def _uv_install(target, options, interp, wanted, cutoff, constraints=(), late=None):
    """Install wanted (gevent + setuptools, which gevent 20-22 import and venvs of the period carried; or a
    program's requirements) as of the cutoff (None: the newest); where that fails and a dependency had no
    wheel for this interpreter yet, take its first release with one. Returns {package: day} for those late
    wheels. late: such days already taken (for packages the constraints pin)."""
    known = ["--exclude-newer-package=%s=%s" % kv for kv in (late or {}).items()]
    when = ["--exclude-newer", cutoff] + known if cutoff else []
    base = [steps.uv(), "pip", "install", "--no-config", "-q"] + target + options + list(constraints) + when
    try:
        steps.run(base + wanted)
        return {}
    except EnvError as first:
        if not first.lasting or not cutoff:
            raise
        try:
            resolved = steps.run(
                [
                    steps.uv(),
                    "pip",
                    "compile",
                    "--no-config",
                    "-q",
                    "--no-header",
                    "--no-annotate",
                    "--only-binary",
                    ":all:",
                    "-",
                ]
                + target
                + list(constraints),
                stdin="\n".join(wanted),
            )
        except EnvError:
            raise first from None  # not a matter of dates: the first reason says what is wrong
        names = [line.split("==")[0] for line in resolved.splitlines() if "==" in line]
        found = index.late_wheels([n for n in names if n != "gevent" and n not in (late or {})], interp, cutoff)
        if not found:
            raise first
        steps.run(
            base + ["--only-binary", ":all:"] + ["--exclude-newer-package=%s=%s" % kv for kv in found.items()] + wanted
        )
        return found


def _build_with_virtualenv(interp, requirement, cutoff, path, base):
    """virtualenv 20.21.1 (uv cannot drive 2.7) + the env's own pip, every package gevent ever depended
    on constrained to its newest release of the period. (The faulthandler backport would belong here, but
    the index no longer has it: 2.7 cells get the harness's pure-Python stack dump instead.)"""
    tool = _virtualenv_tool(base)
    steps.run([tool, "-m", "virtualenv", "--quiet", "--no-periodic-update", "--no-wheel", "-p", interp.path, path])
    constraints = os.path.join(path, "hangmatrix-constraints.txt")
    with open(constraints, "w") as f:
        for name in ERA_PACKAGES:
            newest = index.newest_by(name, cutoff)
            if newest:
                f.write("%s<=%s\n" % (name, newest))
    python = os.path.join(path, "bin", "python")
    steps.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-warn-script-location",
            "--prefer-binary",
            "--only-binary",
            "gevent",
            "-c",
            constraints,
            requirement,
            "setuptools",
        ]
    )
    pip = installed(path).get("pip", "?")
    return python, "%s + pip %s" % (VIRTUALENV.replace("==", " "), pip), {}


def _virtualenv_tool(base):
    """A host venv holding virtualenv 20.21.1 (it cannot live beside the newest tox)."""
    tool = os.path.join(base, "tools", VIRTUALENV.replace("==", "-"))
    python = os.path.join(tool, "bin", "python")
    with _tool_lock, locked(tool + ".lock"):
        if not os.path.exists(os.path.join(tool, ".complete")):
            shutil.rmtree(tool, ignore_errors=True)
            steps.run([steps.uv(), "venv", "--no-config", "-q", "--python", sys.executable, tool])
            steps.run([steps.uv(), "pip", "install", "--no-config", "-q", "--python", python, VIRTUALENV])
            open(os.path.join(tool, ".complete"), "w").close()
    return python
