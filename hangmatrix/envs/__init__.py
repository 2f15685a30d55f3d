"""Interpreters and gevent environments for the cells.

Each cell runs in a real virtual environment holding one gevent release with the greenlet, setuptools and
zope packages of that release's own time (resolved as of its upload date): an old gevent against a greenlet
from years later is an environment defect that looks like a deadlock. An environment that is not sound
(install or import failure, a greenlet binary mismatch, a hang at import) raises EnvError, and its cells
become `env-error`, never a hang. Interpreters come from pyenv, uv, PATH, explicit paths and, opt-in, a
Debian unstable root filesystem (Python 3.14/3.15) that cells enter through chroot.
"""
import argparse
import concurrent.futures
import datetime
import fcntl
import glob
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Optional

from . import deps
from ..model import matrix as matrix_mod

try:
    from packaging import tags as _tags
    from packaging.utils import parse_wheel_filename
    from packaging.version import InvalidVersion, Version
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging import tags as _tags
    from pip._vendor.packaging.utils import parse_wheel_filename
    from pip._vendor.packaging.version import InvalidVersion, Version

VIRTUALENV = "virtualenv==20.21.1"  # the last virtualenv that still creates Python 2.7 environments
GRACE_DAYS = 3  # greenlet and zope releases made alongside a gevent release belong to its period
CHECK_TIMEOUT = 20.0
INDEX_TTL = 24 * 3600
# What gevent ever depended on; 2.7 environments get each constrained to its newest release of the period.
ERA_PACKAGES = ("greenlet", "zope.event", "zope.interface", "setuptools", "cffi", "pycparser")
MANIFEST = "hangmatrix-env.json"
ROOT_PYTHONS = ("python3.14", "python3.15")
ROOT_ENVS, ROOT_STAGE, ROOT_TMP = "/opt/hangmatrix/envs", "/opt/hangmatrix/stage", "/tmp/hangmatrix"
# Network trouble is worth retrying; anything else about a build is remembered as the env's defect.
_TRANSIENT = re.compile(r"(?i)timed out|timeout|connection|network|temporary failure|resolve host|"
                        r"name resolution|\b50[234]\b|max retries|ssl")


class EnvError(Exception):
    """One-line reason. Cells of such an env become verdict `env-error`."""

    def __init__(self, reason, lasting=False):
        super().__init__(" ".join(str(reason).split()))
        self.lasting = lasting  # a property of the env (cached), not of the moment (network)


def cache_dir():
    return os.environ.get("HANGMATRIX_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hangmatrix")


_cache_home = cache_dir  # ensure_env's cache_dir argument hides the function


def _want_debian_root(flag=False):
    return bool(flag) or os.environ.get("HANGMATRIX_DEBIAN_ROOT", "") not in ("", "0")


# ---------------------------------------------------------------- interpreters

@dataclass(frozen=True)
class Interpreter:
    path: str            # python executable as the cell command sees it (inside the root for chroot ones)
    version: str         # full, e.g. "3.11.7"
    implementation: str  # "cpython"
    build: str           # sys.version on one line
    default_start: str   # multiprocessing default start method
    source: str          # "pyenv", "path", "uv", "explicit", "debian-root"
    root: Optional[str] = None  # host dir of the chroot for debian-root interpreters
    abi: str = ""        # wheel ABI tag: cp311, cp37m, cp27mu (decides which wheels install)
    libc: str = ""       # glibc version, e.g. "2.36" (decides which manylinux wheels install)

    @property
    def short(self):
        return ".".join(self.version.split(".")[:2])

    @property
    def key(self):
        """Names this build in the cache: version plus a hash of where it lives."""
        where = (self.root or "") + ":" + (self.path if self.root else os.path.realpath(self.path))
        return "cp%s-%s" % (self.version, hashlib.sha1(where.encode()).hexdigest()[:8])

    def command(self, argv):
        return ["chroot", self.root] + list(argv) if self.root else list(argv)


# Runs on 2.7 and 3.x alike.
_PROBE = r"""
import json, os, platform, sys, sysconfig
try:
    import multiprocessing
    start = multiprocessing.get_start_method()
except AttributeError:
    start = "fork"
soabi = sysconfig.get_config_var("SOABI") or ""
if soabi.startswith("cpython-"):
    abi = "cp" + soabi.split("-")[1]
else:
    abi = "cp%d%d%s" % (sys.version_info[0], sys.version_info[1], "mu" if sys.maxunicode > 0xffff else "m")
try:
    libc = os.confstr("CS_GNU_LIBC_VERSION").split()[-1]
except (AttributeError, ValueError, OSError):  # 2.7 does not know the name
    import ctypes
    get = ctypes.CDLL(None).gnu_get_libc_version
    get.restype = ctypes.c_char_p
    libc = get().decode()
print(json.dumps({"version": platform.python_version(), "implementation": platform.python_implementation().lower(),
                  "build": " ".join(sys.version.split()), "default_start": start, "abi": abi, "libc": libc}))
"""
_probe_memo = {}
_probe_lock = threading.Lock()


def _probe(path, source, root=None):
    """The interpreter at path, or an EnvError saying why it is not one the matrix can use."""
    host = root + path if root else path
    try:
        stamp = os.stat(host).st_mtime
    except OSError:
        raise EnvError("no Python at %s" % host) from None
    memo_key = (path, root, stamp)
    with _probe_lock:
        known, found = memo_key in _probe_memo, _probe_memo.get(memo_key)
    if not known:
        argv = (["chroot", root] if root else []) + [path, "-E", "-c", _PROBE]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            info = json.loads(out.stdout.strip().splitlines()[-1])
            found = Interpreter(path=path, source=source, root=root, **info)
        except (OSError, subprocess.SubprocessError, ValueError, IndexError, TypeError):
            found = None
        with _probe_lock:
            _probe_memo[memo_key] = found
    if found is None or found.implementation != "cpython":
        raise EnvError("%s is not a working CPython" % host)
    return replace(found, source=source)


def _usable(interp):
    return interp.short == "2.7" or Version(interp.short) >= Version("3.6")


def _candidates(extra_paths):
    """(path, source) for every python executable worth probing, most trusted source first."""
    found = [(p, "explicit") for p in extra_paths]
    pyenv = os.environ.get("PYENV_ROOT") or os.path.join(os.path.expanduser("~"), ".pyenv")
    found += [(p, "pyenv") for p in sorted(glob.glob(os.path.join(pyenv, "versions", "*", "bin", "python")))]
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    uv_dir = os.environ.get("UV_PYTHON_INSTALL_DIR") or os.path.join(data, "uv", "python")
    found += [(p, "uv") for p in sorted(glob.glob(os.path.join(uv_dir, "*", "bin", "python3")))]
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if d and os.path.basename(d.rstrip("/")) != "shims":  # pyenv shims refuse unselected versions
            found += [(p, "path") for p in sorted(glob.glob(os.path.join(d, "python*")))
                      if re.match(r"python(\d(\.\d+)?)?$", os.path.basename(p))]
    return found


def _probe_all(candidates, root=None):
    def one(item):
        try:
            return _probe(item[0], item[1], root)
        except EnvError:
            return None
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return [i for i in pool.map(one, candidates) if i and _usable(i)]


def discover(extra_paths=(), debian_root=False):
    """Every usable CPython (2.7, 3.6+), one per minor version (explicit > pyenv > uv > PATH), sorted."""
    chosen, seen = {}, set()
    for interp in _probe_all(_candidates(extra_paths)):  # in the order of trust
        real = os.path.realpath(interp.path)
        if real not in seen:
            seen.add(real)
            chosen.setdefault(interp.short, interp)
    if _want_debian_root(debian_root):
        for interp in root_interpreters(debian_root_dir(build=True)):
            chosen.setdefault(interp.short, interp)
    return sorted(chosen.values(), key=lambda i: Version(i.version))


def root_interpreters(root):
    """The Pythons of the Debian root (run only inside it)."""
    if not root:
        return []
    return _probe_all([("/usr/bin/" + name, "debian-root") for name in ROOT_PYTHONS
                       if os.path.exists(os.path.join(root, "usr/bin", name))], root)


def find_interpreter(spec, debian_root=False):
    """An interpreter by version ("3.11", "3.11.7") or path; an already built Debian root is used for the
    versions it has, and built first when debian_root is asked for."""
    if "/" in spec or os.path.exists(spec):
        interp = _probe(spec, "explicit")
        if not _usable(interp):
            raise EnvError("%s is Python %s; cells need 2.7 or 3.6+" % (spec, interp.version))
        return interp
    found = discover()
    root = None
    for look_in_root in (False, True):
        if look_in_root:
            root = debian_root_dir(build=_want_debian_root(debian_root))
            found += root_interpreters(root)
        for interp in found:
            if spec in (interp.short, interp.version):
                return interp
    hint = "" if root else "; HANGMATRIX_DEBIAN_ROOT=1 adds 3.14 and 3.15 from a Debian root"
    raise EnvError("no Python %s on this machine (found: %s)%s"
                   % (spec, ", ".join(sorted({i.short for i in found}, key=Version)), hint))


# ---------------------------------------------------------------- the Debian root

_root_lock = threading.Lock()


def debian_root_dir(build=True):
    """Host dir of the Debian unstable root with python3.14/3.15, built once with debootstrap (its own
    default mirror); None when it does not exist and build is False. Nothing is mounted in it: measured,
    multiprocessing (fork, spawn, forkserver, named semaphores in its own /dev/shm directory) runs without
    /proc, and the host reads the cells' /proc entries from outside."""
    root = os.path.join(cache_dir(), "debian-root")
    if os.path.exists(os.path.join(root, ".complete")):
        return root
    if not build:
        return None
    if os.geteuid() != 0:
        raise EnvError("building the Debian root needs root (debootstrap, chroot)")
    with _root_lock, _locked(root + ".lock"):
        if os.path.exists(os.path.join(root, ".complete")):
            return root
        if not shutil.which("debootstrap"):
            _run(["apt-get", "update", "-q"])
            _run(["apt-get", "install", "-y", "-q", "debootstrap"])
        tmp = root + ".tmp"
        for stale in (tmp, root):
            _remove_tree(stale)
        started = time.time()
        packages = ",".join(ROOT_PYTHONS + tuple(p + "-venv" for p in ROOT_PYTHONS) + ("ca-certificates",))
        _run(["debootstrap", "--variant=minbase", "--include=" + packages, "sid", tmp])
        for d in (ROOT_ENVS, ROOT_STAGE, ROOT_TMP):
            os.makedirs(tmp + d, exist_ok=True)
        with open(os.path.join(tmp, ".complete"), "w") as f:
            json.dump({"built": _now(), "seconds": round(time.time() - started, 1)}, f)
        os.rename(tmp, root)
    return root


def _remove_tree(path):
    """rmtree that first lazily unmounts anything a killed debootstrap left mounted inside."""
    if not os.path.exists(path):
        return
    real = os.path.realpath(path) + "/"
    with open("/proc/mounts") as f:
        points = [line.split()[1] for line in f if line.split()[1].startswith(real)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- the index's metadata

_index_memo = {}
_index_lock = threading.Lock()


_GET_INDEX = "from pip._internal.models.index import PyPI; print(PyPI.pypi_url)"


def _index_url(name):
    """The JSON API of pip's default index (the host is pip's to name, never this repo's);
    HANGMATRIX_INDEX_JSON points elsewhere. Without pip here, ask the interpreter this venv was made from."""
    base = os.environ.get("HANGMATRIX_INDEX_JSON")
    if not base:
        try:
            from pip._internal.models.index import PyPI
            base = PyPI.pypi_url
        except ImportError:
            python = getattr(sys, "_base_executable", sys.executable)
            base = subprocess.run([python, "-c", _GET_INDEX], capture_output=True, text=True).stdout.strip()
    if not base:
        raise EnvError("no pip to name the package index; set HANGMATRIX_INDEX_JSON")
    return "%s/%s/json" % (base.rstrip("/"), name)


def _releases(name):
    """{version: [(filename, upload datetime, yanked)]} of a project, cached on disk for a day (and used
    stale when the index cannot be reached)."""
    with _index_lock:
        if name in _index_memo:
            return _index_memo[name]
        path = os.path.join(cache_dir(), "index", name + ".json")
        fresh = os.path.exists(path) and time.time() - os.path.getmtime(path) < INDEX_TTL
        if not fresh:
            try:
                with urllib.request.urlopen(_index_url(name), timeout=60) as resp:
                    data = json.load(resp)
                trimmed = {v: [(f["filename"], f["upload_time_iso_8601"], f.get("yanked", False)) for f in files]
                           for v, files in data["releases"].items()}
                _write_json(path, trimmed)
            except (OSError, ValueError, KeyError) as exc:
                if not os.path.exists(path):
                    raise EnvError("cannot read the package index's metadata for %s: %s" % (name, exc)) from None
        with open(path) as f:
            raw = json.load(f)
        releases = {}
        for v, files in raw.items():
            try:
                Version(v)
            except InvalidVersion:
                continue
            releases[v] = [(fn, datetime.datetime.fromisoformat(t.replace("Z", "+00:00")), y) for fn, t, y in files]
        _index_memo[name] = releases
        return releases


def _supported_tags(interp):
    """The wheel tags the interpreter accepts (computed on the host from its ABI and glibc)."""
    major, minor = (int(x) for x in interp.version.split(".")[:2])
    arch = platform.machine()
    libc_minor = int(interp.libc.split(".")[1]) if interp.libc.count(".") else 17
    plats = ["manylinux_2_%d_%s" % (m, arch) for m in range(libc_minor, 4, -1)]
    plats += ["%s_%s" % (legacy, arch) for legacy, m in
              (("manylinux2014", 17), ("manylinux2010", 12), ("manylinux1", 5)) if libc_minor >= m]
    plats.append("linux_" + arch)
    abi = interp.abi or "cp%d%d" % (major, minor)
    supported = set(_tags.cpython_tags((major, minor), [abi], plats))
    supported |= set(_tags.compatible_tags((major, minor), "cp%d%d" % (major, minor), plats))
    return frozenset(supported)


def _fits(filename, supported):
    if not filename.endswith(".whl"):
        return False
    try:
        return bool(parse_wheel_filename(filename)[3] & supported)
    except Exception:  # an old, irregular file name
        return False


def _wheel_times(name, version, supported):
    """Upload times of the version's wheels this interpreter can install."""
    return [t for fn, t, yanked in _releases(name).get(version, ()) if not yanked and _fits(fn, supported)]


def gevent_releases(interpreter):
    """Releases from 1.1 on (no pre-releases) with a wheel for the interpreter, oldest first."""
    supported = _supported_tags(interpreter)
    found = [v for v in _releases("gevent") if not Version(v).is_prerelease and Version(v) >= Version("1.1")
             and _wheel_times("gevent", v, supported)]
    return sorted(found, key=Version)


def default_gevents(interpreter):
    """The oldest, a middle and the newest installable release."""
    return matrix_mod.spread(gevent_releases(interpreter))


def _cutoff(interp, gevent):
    """The resolution date: the release (or its first wheel for this interpreter) plus GRACE_DAYS."""
    files = _releases("gevent").get(gevent)
    if not files:
        known = sorted(_releases("gevent"), key=Version)
        raise EnvError("gevent %s is not a release on the package index (newest: %s)" % (gevent, known[-1]))
    wheels = _wheel_times("gevent", gevent, _supported_tags(interp))
    if not wheels:
        raise EnvError("gevent %s has no wheel for Python %s (%s, glibc %s)" % (gevent, interp.version, interp.abi,
                                                                                interp.libc))
    when = max(min(t for _, t, _ in files), min(wheels)) + datetime.timedelta(days=GRACE_DAYS)
    return when.date().isoformat()


def _end_of(day):
    return datetime.datetime.fromisoformat(day + "T23:59:59+00:00")


def _newest_by(name, day):
    """The newest final release of a project uploaded by the end of that day."""
    end = _end_of(day)
    made = [v for v, files in _releases(name).items()
            if files and not Version(v).is_prerelease and not all(y for _, _, y in files)
            and min(t for _, t, _ in files) <= end]
    return max(made, key=Version) if made else None


def _late_wheels(names, interp, day):
    """{name: first day with a wheel} for dependencies that had no wheel for the interpreter by that day:
    the only way to install them where nothing can be built (the Debian root) or the build failed."""
    supported, end, late = _supported_tags(interp), _end_of(day), {}
    for name in names:
        times = [t for v in _releases(name) if not Version(v).is_prerelease
                 for t in _wheel_times(name, v, supported)]
        if times and not any(t <= end for t in times):
            late[name] = min(times).date().isoformat()
    return late


# ---------------------------------------------------------------- environments

@dataclass
class Env:
    interpreter: Interpreter
    gevent: str          # installed gevent version
    greenlet: str        # installed greenlet version
    python: str          # the env's python as the cell command sees it (inside the root for chroot envs)
    packages: dict       # name -> version of everything installed (provenance)
    resolved_as_of: str  # the resolution date (ISO)
    path: str            # host path of the env dir
    reused: bool = True  # False when ensure_env built it just now
    requires: tuple = ()          # the program's requirements (canonical, sorted) installed beside gevent
    requires_newest: bool = False  # resolved as of the build day instead of the gevent release's date
    requires_resolved: dict = None  # name -> installed version of each required project
    requires_as_of: str = ""       # the day the requirements were resolved as of

    def command(self, argv, cwd=None):
        """Full argv to exec on the host. chroot resets the working directory to /, so for chroot envs
        pass the cell's host cwd here too (it must lie under the root)."""
        root = self.interpreter.root
        if not root:
            return list(argv)
        chdir = ["/usr/bin/env", "--chdir=" + self.visible(cwd)] if cwd else []
        return ["chroot", root] + chdir + list(argv)

    def visible(self, host_path):
        """The path under which the cell sees host_path (identity, or the path inside the root)."""
        root = self.interpreter.root
        if not root:
            return host_path
        full = os.path.abspath(host_path)
        if full != root and not full.startswith(root.rstrip("/") + "/"):
            raise EnvError("%s is outside the Debian root %s (stage it or create it under tmp_base)" % (full, root))
        inside = os.path.relpath(full, root)
        return "/" if inside == "." else "/" + inside

    @property
    def tmp_base(self):
        """Where per-cell working dirs go: somewhere the cell can see."""
        root = self.interpreter.root
        return root + ROOT_TMP if root else tempfile.gettempdir()

    def stage(self, host_path):
        """Make a file or dir reachable by the cell; for chroot envs a content-addressed copy in the root."""
        root = self.interpreter.root
        if not root:
            return host_path
        if os.path.abspath(host_path).startswith(root.rstrip("/") + "/"):
            return self.visible(host_path)
        inside = "%s/%s/%s" % (ROOT_STAGE, _content_hash(host_path), os.path.basename(host_path.rstrip("/")))
        dest = root + inside
        if not os.path.exists(dest):
            tmp = "%s.tmp-%d-%d" % (dest, os.getpid(), threading.get_ident())
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            ignore = shutil.ignore_patterns("*.pyc", *_NOT_STAGED)
            shutil.copytree(host_path, tmp, ignore=ignore) if os.path.isdir(host_path) else shutil.copy2(host_path, tmp)
            try:
                os.rename(tmp, dest)
            except OSError:  # another process staged the same content first
                shutil.rmtree(tmp, ignore_errors=True) if os.path.isdir(tmp) else os.unlink(tmp)
        return inside

    def stage_program(self, program):
        """The program's path as the cell runs it. For chroot envs its whole folder is staged, so the
        program imports its own sibling modules as a normal script run does (sys.path[0] is its folder)."""
        if not self.interpreter.root:
            return program
        folder, name = os.path.split(os.path.abspath(program))
        return self.stage(folder) + "/" + name


_NOT_STAGED = ("__pycache__", ".git", ".hg", ".tox", ".venv", "venv", "node_modules")  # never a program's modules


def _content_hash(path):
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for top, dirs, files in sorted(os.walk(path)):
            dirs[:] = sorted(d for d in dirs if d not in _NOT_STAGED)
            for name in sorted(f for f in files if not f.endswith(".pyc")):
                full = os.path.join(top, name)
                digest.update(os.path.relpath(full, path).encode() + b"\0")
                with open(full, "rb") as f:
                    digest.update(f.read())
    else:
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def _envs_dir(interp, base):
    return interp.root + ROOT_ENVS if interp.root else os.path.join(base, "envs")


def _complete(envs_dir, prefix):
    """The manifest of a finished env for this interpreter and release, newest first, or None."""
    found = glob.glob(os.path.join(envs_dir, prefix + "-[0-9]*", MANIFEST))
    return max(found, key=os.path.getmtime) if found else None


def _load(manifest_path, interp, reused=True):
    with open(manifest_path) as f:
        m = json.load(f)
    return Env(interpreter=interp, gevent=m["gevent"], greenlet=m["greenlet"], python=m["python"],
               packages=m["packages"], resolved_as_of=m["resolved_as_of"], path=os.path.dirname(manifest_path),
               reused=reused, requires=tuple(m.get("requires", ())), requires_newest=m.get("requires_newest", False),
               requires_resolved=m.get("requires_resolved", {}), requires_as_of=m.get("requires_as_of", ""))


def ensure_env(interpreter, gevent, cache_dir=None, retry=False, requires=(), newest=False):
    """The env of a gevent release on the interpreter, resolved as of the release's date, built and checked
    or reused; a manifest on disk means reuse without starting any process. A failed build is remembered
    with its reason and not retried unless retry is set. Raises EnvError with a one-line reason.
    requires: the program's requirements, installed beside gevent and resolved as of the same date (or, with
    newest, as of the build); they are part of the env's key."""
    requires = _requirements(requires)
    newest = bool(newest and requires)  # nothing to resolve: the plain env
    return _ensure(interpreter, "gevent" + gevent + deps.label(requires, newest), gevent, "gevent==" + gevent,
                   lambda: _cutoff(interpreter, gevent), cache_dir, retry, requires, newest)


def _requirements(requires):
    try:
        return deps.normalize(requires)
    except deps.RequirementError as exc:
        raise EnvError(str(exc), lasting=True) from None


def ensure_wheel_env(interpreter, wheels, cache_dir=None, retry=False, requires=(), newest=False):
    """The env of a local gevent wheel (a build the index does not have): the first of wheels (a path or a
    list) that fits the interpreter, its dependencies resolved as of today; cached by the wheel's content."""
    wheels = [wheels] if isinstance(wheels, str) else list(wheels)
    fitting = [w for w in wheels if _fits(os.path.basename(w), _supported_tags(interpreter))]
    if not fitting:
        raise EnvError("no wheel for Python %s (%s) among %s" % (
            interpreter.version, interpreter.abi, ", ".join(os.path.basename(w) for w in wheels)), lasting=True)
    wheel = os.path.abspath(fitting[0])
    with open(wheel, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    gevent = str(parse_wheel_filename(os.path.basename(wheel))[1])
    requires = _requirements(requires)
    newest = bool(newest and requires)
    return _ensure(interpreter, "wheel-" + digest + deps.label(requires, newest), gevent, wheel, lambda: _now()[:10],
                   cache_dir, retry, requires, newest)


def _ensure(interp, label, gevent, requirement, resolution_date, cache_dir, retry, requires=(), newest=False):
    """Reuse the finished env KEY-label-DATE, or build it under a lock (DATE from resolution_date(), asked
    only when building); the manifest is written last, so a killed build never looks complete."""
    base = cache_dir or _cache_home()
    envs_dir = _envs_dir(interp, base)
    prefix = "%s-%s" % (interp.key, label)
    failed = os.path.join(base, "envs", prefix + ".failed")
    found = _complete(envs_dir, prefix)
    if found:
        return _load(found, interp)
    if os.path.exists(failed) and not retry:
        with open(failed) as f:
            raise EnvError(f.read().strip(), lasting=True)
    cutoff = resolution_date()
    os.makedirs(envs_dir, exist_ok=True)
    with _locked(os.path.join(base, "envs", "." + prefix + ".lock")):
        found = _complete(envs_dir, prefix)  # built by someone else meanwhile
        if found:
            return _load(found, interp)
        path = os.path.join(envs_dir, "%s-%s" % (prefix, cutoff))
        shutil.rmtree(path, ignore_errors=True)  # what a killed build left (it has no manifest)
        try:
            manifest = _build(interp, gevent, requirement, cutoff, path, base, requires, newest)
        except EnvError as exc:
            shutil.rmtree(path, ignore_errors=True)
            if exc.lasting:
                with open(failed, "w") as f:
                    f.write(str(exc) + "\n")
            raise
        if os.path.exists(failed):
            os.unlink(failed)
        _write_json(os.path.join(path, MANIFEST), manifest)
    return _load(os.path.join(path, MANIFEST), interp, reused=False)


def _build(interp, gevent, requirement, cutoff, path, base, requires=(), newest=False):
    started = time.time()
    kind = _builder(interp)
    if kind == "root":
        python, builder, late = _build_in_root(interp, requirement, cutoff, path)
    elif kind == "virtualenv":
        python, builder, late = _build_with_virtualenv(interp, requirement, cutoff, path, base)
    else:
        python, builder, late = _build_with_uv(interp, requirement, cutoff, path)
    requires_as_of = (_now()[:10] if newest else cutoff) if requires else ""
    if requires:
        late = dict(late, **_add_requires(interp, python, path, requires, None if newest else cutoff, late))
    check = _check_sound(interp, python, path, gevent)
    packages = _installed(path)
    if packages.get("gevent") != gevent:
        raise EnvError("asked for gevent %s, installed %s" % (gevent, packages.get("gevent")), lasting=True)
    return {"gevent": gevent, "greenlet": packages.get("greenlet", ""), "python": python, "packages": packages,
            "requirement": requirement, "resolved_as_of": cutoff, "late_wheels": late, "builder": builder,
            "requires": list(requires), "requires_newest": newest, "requires_as_of": requires_as_of,
            "requires_resolved": {n: packages.get(n, "") for n in deps.names(requires)},
            "check": check, "interpreter": asdict(interp), "built": _now(),
            "build_seconds": round(time.time() - started, 1)}


def _builder(interp):
    """How an interpreter's envs are made: in the Debian root, by virtualenv and pip (2.7), or by uv."""
    return "root" if interp.root else "virtualenv" if interp.short == "2.7" else "uv"


def _add_requires(interp, python, path, requires, cutoff, late):
    """The program's requirements, installed after gevent with everything gevent's step installed pinned:
    gevent, greenlet and the rest stay those of the plain env (a requirement that needs others is an
    env-error saying so). As of the cutoff, or the newest when cutoff is None. Returns late wheels."""
    pins = os.path.join(path, "hangmatrix-pins.txt")
    with open(pins, "w") as f:
        f.writelines("%s==%s\n" % kv for kv in _installed(path).items() if kv[0] not in ("pip", "wheel"))
    try:
        if _builder(interp) == "virtualenv":
            return _pip_install_as_of(python, path, pins, requires, cutoff)
        if _builder(interp) == "root":
            target, options = _root_target(interp), ["--target", _site(path), "--only-binary", ":all:"]
        else:
            target, options = ["--python", python], []
        return _uv_install(target, options, interp, list(requires), cutoff, ["-c", pins], late)
    except EnvError as exc:
        raise EnvError("requires %s: %s" % (", ".join(requires), exc), lasting=exc.lasting) from None


def _pip_install_as_of(python, path, pins, requires, cutoff):
    """pip (Python 2.7) has no --exclude-newer: install, then cap every project that came out newer than
    the cutoff at its newest release of the period and install again, until none is newer."""
    pinned, capped = set(_installed(path)), {}
    constraints = os.path.join(path, "hangmatrix-requires-constraints.txt")
    for _ in range(8):
        with open(pins) as f, open(constraints, "w") as out:
            out.write(f.read())
            out.writelines("%s<=%s\n" % kv for kv in sorted(capped.items()))
        _run([python, "-m", "pip", "install", "-q", "--no-warn-script-location", "--prefer-binary",
              "-c", constraints] + list(requires))
        if cutoff is None:
            return {}
        newer = {}
        for name, version in _installed(path).items():
            newest = None if name in pinned or name in capped else _newest_by(name, cutoff)
            try:
                if newest and Version(version) > Version(newest):
                    newer[name] = newest
            except InvalidVersion:
                continue
        if not newer:
            return {}
        capped.update(newer)
    raise EnvError("the requirements did not settle on releases as of %s" % cutoff, lasting=True)


def _build_with_uv(interp, requirement, cutoff, path):
    """uv venv + install as of the cutoff date; gevent itself only from a wheel."""
    _run([_uv(), "venv", "--no-config", "-q", "--python", interp.path, path])
    python = os.path.join(path, "bin", "python")
    target = ["--python", python]
    late = _uv_install(target, ["--only-binary", "gevent"], interp, [requirement, "setuptools"], cutoff)
    return python, _uv_version(), late


def _build_in_root(interp, requirement, cutoff, path):
    """A venv made by the root's python, filled from the host by uv for that interpreter's wheel tags
    (pip inside the root cannot reach the index, and nothing can be compiled there)."""
    inside = path[len(interp.root):]
    _run(interp.command([interp.path, "-m", "venv", "--without-pip", inside]))
    late = _uv_install(_root_target(interp), ["--target", _site(path), "--only-binary", ":all:"], interp,
                       [requirement, "setuptools"], cutoff)
    return inside + "/bin/python", _uv_version(), late


def _site(path):
    site = glob.glob(os.path.join(path, "lib", "python*", "site-packages"))
    if not site:
        raise EnvError("the root's venv has no site-packages", lasting=True)
    return site[0]


def _root_target(interp):
    """uv's options naming a root interpreter's version and platform (uv runs on the host)."""
    libc_minor = int(interp.libc.split(".")[1])
    newest = max(m for m in (17, 28) + tuple(range(31, 41)) if m <= libc_minor)  # the targets uv knows
    return ["--python-version", interp.short, "--python-platform", "%s-manylinux_2_%d" % (platform.machine(), newest)]


def _uv_install(target, options, interp, wanted, cutoff, constraints=(), late=None):
    """Install wanted (gevent + setuptools, which gevent 20-22 import and venvs of the period carried; or a
    program's requirements) as of the cutoff (None: the newest); where that fails and a dependency had no
    wheel for this interpreter yet, take its first release with one. Returns {package: day} for those late
    wheels. late: such days already taken (for packages the constraints pin)."""
    known = ["--exclude-newer-package=%s=%s" % kv for kv in (late or {}).items()]
    when = ["--exclude-newer", cutoff] + known if cutoff else []
    base = [_uv(), "pip", "install", "--no-config", "-q"] + target + options + list(constraints) + when
    try:
        _run(base + wanted)
        return {}
    except EnvError as first:
        if not first.lasting or not cutoff:
            raise
        try:
            resolved = _run([_uv(), "pip", "compile", "--no-config", "-q", "--no-header", "--no-annotate",
                             "--only-binary", ":all:", "-"] + target + list(constraints), stdin="\n".join(wanted))
        except EnvError:
            raise first from None  # not a matter of dates: the first reason says what is wrong
        names = [line.split("==")[0] for line in resolved.splitlines() if "==" in line]
        found = _late_wheels([n for n in names if n != "gevent" and n not in (late or {})], interp, cutoff)
        if not found:
            raise first
        _run(base + ["--only-binary", ":all:"] + ["--exclude-newer-package=%s=%s" % kv for kv in found.items()]
             + wanted)
        return found


def _build_with_virtualenv(interp, requirement, cutoff, path, base):
    """virtualenv 20.21.1 (uv cannot drive 2.7) + the env's own pip, every package gevent ever depended
    on constrained to its newest release of the period. (The faulthandler backport would belong here, but
    the index no longer has it: 2.7 cells get the harness's pure-Python stack dump instead.)"""
    tool = _virtualenv_tool(base)
    _run([tool, "-m", "virtualenv", "--quiet", "--no-periodic-update", "--no-wheel", "-p", interp.path, path])
    constraints = os.path.join(path, "hangmatrix-constraints.txt")
    with open(constraints, "w") as f:
        for name in ERA_PACKAGES:
            newest = _newest_by(name, cutoff)
            if newest:
                f.write("%s<=%s\n" % (name, newest))
    python = os.path.join(path, "bin", "python")
    _run([python, "-m", "pip", "install", "-q", "--no-warn-script-location", "--prefer-binary",
          "--only-binary", "gevent", "-c", constraints, requirement, "setuptools"])
    pip = _installed(path).get("pip", "?")
    return python, "%s + pip %s" % (VIRTUALENV.replace("==", " "), pip), {}


_tool_lock = threading.Lock()


def _virtualenv_tool(base):
    """A host venv holding virtualenv 20.21.1 (it cannot live beside the newest tox)."""
    tool = os.path.join(base, "tools", VIRTUALENV.replace("==", "-"))
    python = os.path.join(tool, "bin", "python")
    with _tool_lock, _locked(tool + ".lock"):
        if not os.path.exists(os.path.join(tool, ".complete")):
            shutil.rmtree(tool, ignore_errors=True)
            _run([_uv(), "venv", "--no-config", "-q", "--python", sys.executable, tool])
            _run([_uv(), "pip", "install", "--no-config", "-q", "--python", python, VIRTUALENV])
            open(os.path.join(tool, ".complete"), "w").close()
    return python


_CHECK = ("import gevent, gevent.monkey, greenlet; gevent.monkey.patch_all(); gevent.sleep(0.01); "
          "print(gevent.__version__ + ' ' + greenlet.__version__)")


def _check_sound(interp, python, path, gevent):
    """Import and patch in a short child: a greenlet binary mismatch, an import failure or a hang (the
    mismatch can hang even without patching) is a defect of the env, not a cell result."""
    argv = interp.command([python, "-E", "-W", "always::RuntimeWarning", "-c", _CHECK])
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=CHECK_TIMEOUT, cwd=path)
    except subprocess.TimeoutExpired:
        raise EnvError("gevent %s hung for %ds at import/patch_all (greenlet %s)"
                       % (gevent, CHECK_TIMEOUT, _installed(path).get("greenlet", "?")), lasting=True) from None
    mismatch = [line for line in done.stderr.splitlines() if "size changed" in line]
    if mismatch:
        raise EnvError("greenlet %s is binary-incompatible with gevent %s: %s"
                       % (_installed(path).get("greenlet", "?"), gevent, mismatch[0].strip()), lasting=True)
    if done.returncode < 0:
        raise EnvError("gevent %s (greenlet %s) crashed with signal %d at import/patch_all/sleep"
                       % (gevent, _installed(path).get("greenlet", "?"), -done.returncode), lasting=True)
    if done.returncode != 0:
        raise EnvError("gevent %s does not import and patch: %s" % (gevent, _last_lines(done.stderr)), lasting=True)
    return done.stdout.strip()


def _installed(path):
    """name -> version of every distribution in the env, read from its metadata dirs (no process)."""
    found = {}
    for meta in glob.glob(os.path.join(path, "lib", "python*", "site-packages", "*-info")):
        parts = os.path.basename(meta).rsplit(".", 1)[0].split("-")
        if len(parts) >= 2:
            found[re.sub(r"[-_.]+", "-", parts[0]).lower()] = parts[1]
    return dict(sorted(found.items()))


# ---------------------------------------------------------------- small helpers

_uv_memo = {}
_uv_lock = threading.Lock()


def _uv():
    """The uv binary and its version, looked up once (uv.find_uv_bin is not thread-safe)."""
    with _uv_lock:
        if not _uv_memo:
            try:
                import uv
                found = uv.find_uv_bin()
            except (ImportError, FileNotFoundError):
                found = shutil.which("uv")
            if not found:
                raise EnvError("uv is not installed (pip install uv)")
            _uv_memo["bin"] = found
            _uv_memo["version"] = subprocess.run([found, "--version"], capture_output=True, text=True).stdout.strip()
        return _uv_memo["bin"]


def _uv_version():
    _uv()
    return _uv_memo["version"]


def _run(argv, stdin=None):
    """Run a build step; EnvError with the tool's own error line when it fails."""
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", PIP_DISABLE_PIP_VERSION_CHECK="1")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, input=stdin, env=env, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvError("%s: %s" % (os.path.basename(argv[0]), exc)) from None
    if done.returncode != 0:
        reason = _last_lines(done.stderr or done.stdout)
        raise EnvError("%s failed: %s" % (" ".join(os.path.basename(a) for a in argv[:3]), reason),
                       lasting=not _TRANSIENT.search(reason))
    return done.stdout


def _last_lines(text):
    """The lines that say what went wrong (error/cause lines, else the last line), as one line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    said = [line for line in lines if re.match(r"(?i)(error|cause|\w*Error\b|\w*Exception\b|╰─▶)", line)]
    return " | ".join((said or lines[-1:])[-3:])[:400] or "no output"


@contextmanager
def _locked(path):
    """An exclusive lock between threads and processes building the same thing."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.tmp-%d-%d" % (path, os.getpid(), threading.get_ident())
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------- hangmatrix envs

def _all_manifests(base):
    root = debian_root_dir(build=False)
    dirs = [os.path.join(base, "envs")] + ([root + ROOT_ENVS] if root else [])
    return sorted(m for d in dirs for m in glob.glob(os.path.join(d, "*", MANIFEST)))


def _wanted_pairs(args):
    """(interpreter, gevent) from --python/--gevent, else from the matrix."""
    m = matrix_mod.load_matrix(args.matrix_file, args.matrix)
    pythons = args.python or m.pythons
    root = args.debian_root or m.debian_root
    if args.python:
        interps = [find_interpreter(p, debian_root=root) for p in pythons]
    else:
        interps = m.select(discover([p for p in pythons if "/" in p], debian_root=root))
    if args.gevent and args.gevent not in (["default"], ["all"]):
        return [(i, g) for i in interps for g in args.gevent]
    chosen = matrix_mod.Matrix(pythons=["discovered"], gevents=args.gevent or m.gevents)
    return chosen.pairs(interps, gevent_releases)


def _build_cmd(args):
    """Build the envs in parallel. Exit 1 only for failures that are not remembered (network, a bad name):
    a remembered env-error is a finding about that env, not a failure of this command."""
    started = time.time()
    pairs = _wanted_pairs(args)
    counts = {"built": 0, "reused": 0, "env-error": 0}
    passing = []  # failures of the moment (network), not of the env: worth running again
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(ensure_env, i, g, None, args.retry): (i, g) for i, g in pairs}
        for future in concurrent.futures.as_completed(futures):
            interp, gv = futures[future]
            try:
                env = future.result()
            except EnvError as exc:
                counts["env-error"] += 1
                passing += [] if exc.lasting else [exc]
                print("env-error  %-7s gevent %-12s %s" % (interp.version, gv, exc), flush=True)
                continue
            state = "reused" if env.reused else "built"
            counts[state] += 1
            print("%-10s %-7s gevent %-12s greenlet %-8s as of %s" % (state, interp.version, gv, env.greenlet,
                                                                     env.resolved_as_of), flush=True)
    print("%d environments (%s) in %.1f s" % (len(pairs), ", ".join("%d %s" % (n, k) for k, n in counts.items()),
                                               time.time() - started))
    return 1 if passing else 0


def _list_cmd(args):
    base = cache_dir()
    for path in _all_manifests(base):
        with open(path) as f:
            m = json.load(f)
        late = " late wheels: " + ", ".join("%s %s" % kv for kv in m.get("late_wheels", {}).items()) \
            if m.get("late_wheels") else ""
        requires = "  requires: %s (%s, as of %s)" % (", ".join(
            "%s %s" % kv for kv in m["requires_resolved"].items()), "; ".join(m["requires"]),
            "newest" if m.get("requires_newest") else m["requires_as_of"]) if m.get("requires") else ""
        print("%-7s gevent %-12s greenlet %-8s as of %s  %s%s%s" % (m["interpreter"]["version"], m["gevent"],
              m["greenlet"], m["resolved_as_of"], os.path.dirname(path), late, requires))
    for path in sorted(glob.glob(os.path.join(base, "envs", "*.failed"))):
        with open(path) as f:
            print("env-error %s: %s" % (os.path.basename(path)[:-len(".failed")], f.read().strip()))
    return 0


def _prune_cmd(args):
    """Remove builds that never finished, envs whose interpreter is gone, and with --failed the remembered
    failures, with --matrix the envs that matrix does not use, with --all the whole cache."""
    base = cache_dir()
    doomed = []
    if args.all:
        doomed = [base]
    else:
        root = debian_root_dir(build=False)
        for d in [os.path.join(base, "envs")] + ([root + ROOT_ENVS] if root else []):
            doomed += [p for p in glob.glob(os.path.join(d, "*")) if os.path.isdir(p)
                       and not os.path.exists(os.path.join(p, MANIFEST)) and not _busy(p)]
        keep = None
        if args.matrix:
            keep = {(i.key, g) for i, g in _wanted_pairs(argparse.Namespace(
                matrix=args.matrix, matrix_file=args.matrix_file, python=None, gevent=None, debian_root=False))}
        for path in _all_manifests(base):
            with open(path) as f:
                m = json.load(f)
            interp = Interpreter(**m["interpreter"])
            gone = not os.path.exists((interp.root or "") + interp.path)
            if gone or (keep is not None and (interp.key, m["gevent"]) not in keep):
                doomed.append(os.path.dirname(path))
        if args.failed:
            doomed += glob.glob(os.path.join(base, "envs", "*.failed"))
    for path in doomed:
        print(("would remove " if args.dry_run else "removing ") + path)
        if not args.dry_run:
            _remove_tree(path) if os.path.isdir(path) else os.unlink(path)
    return 0


def _busy(env_path):
    """True while some process builds this env (it holds the lock)."""
    name = os.path.basename(env_path)
    lock = os.path.join(cache_dir(), "envs", "." + name.rsplit("-", 3)[0] + ".lock")
    if not os.path.exists(lock):
        return False
    with open(lock) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def envs_main(argv):
    """hangmatrix envs list | build | prune."""
    parser = argparse.ArgumentParser(prog="hangmatrix envs", description="Cell environments (cached in %s)."
                                     % cache_dir())
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="environments in the cache, and remembered failures")
    build = sub.add_parser("build", help="build (or reuse) the environments of a matrix, in parallel")
    prune = sub.add_parser("prune", help="remove unfinished builds and envs of vanished interpreters")
    for p in (build, prune):
        p.add_argument("--matrix", default="default" if p is build else None, help="matrix name in the file")
        p.add_argument("--matrix-file", default=None, help="default: ./matrix.toml, else the built-in one")
    build.add_argument("--python", action="append", help="version or path (repeatable); default: the matrix")
    build.add_argument("--gevent", action="append", help="release, 'default' or 'all' (repeatable)")
    build.add_argument("--jobs", type=int, default=4)
    build.add_argument("--retry", action="store_true", help="retry envs that failed before")
    build.add_argument("--debian-root", action="store_true", help="include Python 3.14/3.15 from a Debian root")
    prune.add_argument("--failed", action="store_true", help="also forget remembered failures")
    prune.add_argument("--all", action="store_true", help="remove the whole cache, Debian root included")
    prune.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    try:
        return {"list": _list_cmd, "build": _build_cmd, "prune": _prune_cmd}[args.cmd](args)
    except (EnvError, matrix_mod.MatrixError) as exc:
        print("hangmatrix envs: %s" % exc, file=sys.stderr)
        return 2
