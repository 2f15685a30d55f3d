"""What the package index knows: each project's releases with their files' upload times, cached on disk for a
day; which wheels an interpreter can install (its tags, from its ABI and glibc); and the dates that pin an
environment to a gevent release's own period."""

import datetime
import json
import os
import platform
import subprocess
import sys
import threading
import time
import urllib.request

from ..model import settings, versions
from . import files
from .errors import EnvError
from .pkg import parse_wheel_filename, tags

GRACE_DAYS = 3  # greenlet and zope releases made alongside a gevent release belong to its period
INDEX_TTL = 24 * 3600
_GET_INDEX = "from pip._internal.models.index import PyPI; print(PyPI.pypi_url)"
_memo: dict = {}
_lock = threading.Lock()


def _url(name):
    """The JSON API of pip's default index (the host is pip's to name, never this repo's);
    HANGMATRIX_INDEX_JSON points elsewhere. Without pip here, ask the interpreter this venv was made from."""
    base = settings.index_json()
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


def releases(name):
    """{version: [(filename, upload datetime, yanked)]} of a project, cached on disk for a day (and used
    stale when the index cannot be reached)."""
    with _lock:
        if name in _memo:
            return _memo[name]
        path = os.path.join(settings.cache_dir(), "index", name + ".json")
        fresh = os.path.exists(path) and time.time() - os.path.getmtime(path) < INDEX_TTL
        if not fresh:
            try:
                with urllib.request.urlopen(_url(name), timeout=60) as resp:
                    data = json.load(resp)
                trimmed = {
                    v: [(f["filename"], f["upload_time_iso_8601"], f.get("yanked", False)) for f in found]
                    for v, found in data["releases"].items()
                }
                files.write_json(path, trimmed)
            except (OSError, ValueError, KeyError) as exc:
                if not os.path.exists(path):
                    raise EnvError("cannot read the package index's metadata for %s: %s" % (name, exc)) from None
        with open(path) as f:
            raw = json.load(f)
        out = {}
        for v, found in raw.items():
            if not versions.valid(v):
                continue
            out[v] = [(fn, datetime.datetime.fromisoformat(t.replace("Z", "+00:00")), y) for fn, t, y in found]
        _memo[name] = out
        return out


def supported_tags(interp):
    """The wheel tags the interpreter accepts (computed on the host from its ABI and glibc)."""
    major, minor = (int(x) for x in interp.version.split(".")[:2])
    arch = platform.machine()
    libc_minor = interp.glibc_minor
    plats = ["manylinux_2_%d_%s" % (m, arch) for m in range(libc_minor, 4, -1)]
    plats += [
        "%s_%s" % (legacy, arch)
        for legacy, m in (("manylinux2014", 17), ("manylinux2010", 12), ("manylinux1", 5))
        if libc_minor >= m
    ]
    plats.append("linux_" + arch)
    abi = interp.abi or "cp%d%d" % (major, minor)
    supported = set(tags.cpython_tags((major, minor), [abi], plats))
    supported |= set(tags.compatible_tags((major, minor), "cp%d%d" % (major, minor), plats))
    return frozenset(supported)


def fits(filename, supported):
    """True for a wheel file name with one of the supported tags."""
    if not filename.endswith(".whl"):
        return False
    try:
        return bool(parse_wheel_filename(filename)[3] & supported)
    except Exception:  # an old, irregular file name
        return False


def _wheel_times(name, version, supported):
    """Upload times of the version's wheels this interpreter can install."""
    return [t for fn, t, yanked in releases(name).get(version, ()) if not yanked and fits(fn, supported)]


def gevent_releases(interpreter):
    """Releases from 1.1 on (no pre-releases) with a wheel for the interpreter, oldest first."""
    supported = supported_tags(interpreter)
    found = [
        v
        for v in releases("gevent")
        if not versions.prerelease(v)
        and versions.parse(v) >= versions.parse("1.1")
        and _wheel_times("gevent", v, supported)
    ]
    return sorted(found, key=versions.parse)


def installed_gevent():
    """The gevent release installed beside hangmatrix (a team's pin in its own test environment), or None.
    hangmatrix never imports it: it only names the release the `installed` axis value means."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gevent")
    except PackageNotFoundError:
        return None


def cutoff(interp, gevent):
    """The resolution date: the release (or its first wheel for this interpreter) plus GRACE_DAYS."""
    found = releases("gevent").get(gevent)
    if not found:
        known = sorted(releases("gevent"), key=versions.parse)
        raise EnvError("gevent %s is not a release on the package index (newest: %s)" % (gevent, known[-1]))
    wheels = _wheel_times("gevent", gevent, supported_tags(interp))
    if not wheels:
        raise EnvError(
            "gevent %s has no wheel for Python %s (%s, glibc %s)" % (gevent, interp.version, interp.abi, interp.libc)
        )
    when = max(min(t for _, t, _ in found), min(wheels)) + datetime.timedelta(days=GRACE_DAYS)
    return when.date().isoformat()


def _end_of(day):
    return datetime.datetime.fromisoformat(day + "T23:59:59+00:00")


def newest_by(name, day):
    """The newest final release of a project uploaded by the end of that day."""
    end = _end_of(day)
    made = [
        v
        for v, found in releases(name).items()
        if found
        and not versions.prerelease(v)
        and not all(y for _, _, y in found)
        and min(t for _, t, _ in found) <= end
    ]
    return max(made, key=versions.parse) if made else None


def late_wheels(names, interp, day):
    """{name: first day with a wheel} for dependencies that had no wheel for the interpreter by that day:
    the only way to install them where nothing can be built (the Debian root) or the build failed."""
    supported, end, late = supported_tags(interp), _end_of(day), {}
    for name in names:
        times = [t for v in releases(name) if not versions.prerelease(v) for t in _wheel_times(name, v, supported)]
        if times and not any(t <= end for t in times):
            late[name] = min(times).date().isoformat()
    return late
