"""The interpreters cells can run on: every CPython 2.7 / 3.6+ found in pyenv, uv's folder, PATH, explicit
paths and the Debian root, each probed (version, ABI, glibc, default start method) by running it once."""

import concurrent.futures
import glob
import hashlib
import json
import os
import re
import subprocess
import threading
from dataclasses import dataclass, replace
from typing import Optional

from ..model import settings, versions
from . import debian_root as root_mod
from .errors import EnvError


@dataclass(frozen=True)
class Interpreter:
    path: str  # python executable as the cell command sees it (inside the root for chroot ones)
    version: str  # full, e.g. "3.11.7"
    implementation: str  # "cpython"
    build: str  # sys.version on one line
    default_start: str  # multiprocessing default start method
    source: str  # "pyenv", "path", "uv", "explicit", "debian-root"
    root: Optional[str] = None  # host dir of the chroot for debian-root interpreters
    abi: str = ""  # wheel ABI tag: cp311, cp37m, cp27mu (decides which wheels install)
    libc: str = ""  # glibc version, e.g. "2.36" (decides which manylinux wheels install)

    @property
    def short(self):
        return versions.short(self.version)

    @property
    def python2(self):
        return versions.python2(self.version)

    @property
    def glibc_minor(self):
        """The Y of glibc 2.Y, which decides the manylinux wheels that install; 17 (manylinux2014's floor)
        when the probe could not say."""
        parts = self.libc.split(".")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 17

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
PROBE_TIMEOUT = 30  # seconds for one interpreter to say what it is
_probe_memo: dict = {}
_probe_lock = threading.Lock()


def probe(path, source, root=None):
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
            out = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT)
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
    return interp.python2 or versions.parse(interp.short) >= versions.parse("3.6")


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
            found += [
                (p, "path")
                for p in sorted(glob.glob(os.path.join(d, "python*")))
                if re.match(r"python(\d(\.\d+)?)?$", os.path.basename(p))
            ]
    return found


def _probe_all(candidates, root=None):
    def one(item):
        try:
            return probe(item[0], item[1], root)
        except EnvError:
            return None

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return [i for i in pool.map(one, candidates) if i and _usable(i)]


def discover(extra_paths=(), debian_root=False, say=None):
    """Every usable CPython (2.7, 3.6+), one per minor version (explicit > pyenv > uv > PATH), sorted; the
    Debian root's too when settings.debian_root(debian_root) says so (building it, said through say)."""
    chosen, seen = {}, set()
    for interp in _probe_all(_candidates(extra_paths)):  # in the order of trust
        real = os.path.realpath(interp.path)
        if real not in seen:
            seen.add(real)
            chosen.setdefault(interp.short, interp)
    if settings.debian_root(debian_root):
        for interp in root_interpreters(root_mod.path(build=True, say=say)):
            chosen.setdefault(interp.short, interp)
    return sorted(chosen.values(), key=lambda i: versions.parse(i.version))


def root_interpreters(root):
    """The Pythons of the Debian root (run only inside it)."""
    if not root:
        return []
    return _probe_all(
        [
            ("/usr/bin/" + name, "debian-root")
            for name in root_mod.PYTHONS
            if os.path.exists(os.path.join(root, "usr/bin", name))
        ],
        root,
    )


def find_interpreter(spec, debian_root=False, say=None):
    """An interpreter by version ("3.11", "3.11.7") or path. A built Debian root is used for the versions it
    has; it is built first when asked for, or when spec names one of its versions and HANGMATRIX_DEBIAN_ROOT
    is not 0 (said through say, with the time it takes); else the error says how to get it."""
    if "/" in spec or os.path.exists(spec):
        interp = probe(spec, "explicit")
        if not _usable(interp):
            raise EnvError("%s is Python %s; cells need 2.7 or 3.6+" % (spec, interp.version))
        return interp
    found = discover()
    matching = [i for i in found if spec in (i.short, i.version)]
    if matching:
        return matching[0]
    wanted = settings.debian_root(debian_root)
    build = wanted is True or (wanted is None and root_mod.provides(spec))
    try:
        root = root_mod.path(build=build, say=say)
    except EnvError as exc:
        raise EnvError("Python %s comes from the Debian root here: %s" % (spec, exc), lasting=exc.lasting) from None
    found += root_interpreters(root)
    matching = [i for i in found if spec in (i.short, i.version)]
    if matching:
        return matching[0]
    if root:
        hint = ""
    elif root_mod.provides(spec):  # HANGMATRIX_DEBIAN_ROOT=0 kept it from being built
        hint = "; Python %s comes from the Debian root, which HANGMATRIX_DEBIAN_ROOT=0 keeps off: %s" % (
            spec,
            root_mod.HOW,
        )
    else:
        hint = "; HANGMATRIX_DEBIAN_ROOT=1 adds %s from a Debian root" % " and ".join(root_mod.VERSIONS)
    raise EnvError(
        "no Python %s on this machine (found: %s)%s"
        % (spec, ", ".join(sorted({i.short for i in found}, key=versions.parse)), hint)
    )
