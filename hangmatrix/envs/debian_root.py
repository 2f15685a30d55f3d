"""The Debian unstable root: where Python 3.14 and 3.15 come from on a machine that has no build of them.

Built once with debootstrap into the cache (needs root); its Pythons need its glibc, so they run only inside
it, through chroot. Nothing is mounted in it: measured, multiprocessing (fork, spawn, forkserver, named
semaphores in its own /dev/shm directory) runs without /proc, and the host reads the cells' /proc entries
from outside. Whether to build it is settings.debian_root()'s answer; this module builds it, or says how.
"""

import json
import os
import shutil
import threading
import time

from ..model import settings, versions
from . import files, steps
from .errors import EnvError

PYTHONS = ("python3.14", "python3.15")
VERSIONS = tuple(p[len("python") :] for p in PYTHONS)
ENVS, STAGE, TMP = "/opt/hangmatrix/envs", "/opt/hangmatrix/stage", "/tmp/hangmatrix"  # inside the root
COST = "debootstrap of Debian unstable, once: 1-2 minutes and 360 MB, as root"  # measured: 47 s, 99.6 s loaded
HOW = "build it once as root with `hangmatrix envs build --debian-root --python 3.14 --python 3.15` (%s)" % COST
_lock = threading.Lock()


def location():
    return os.path.join(settings.cache_dir(), "debian-root")


def provides(spec):
    """True when a --python value (3.15, 3.15.2) names a version only the root has."""
    return versions.short(spec) in VERSIONS


def path(build=False, say=None):
    """Host dir of the built root; None when it is not built and build is False. Building says so first,
    with what it costs, and then how long it took (say(line), when given)."""
    root = location()
    if os.path.exists(os.path.join(root, ".complete")):
        return root
    if not build:
        return None
    if os.geteuid() != 0:
        raise EnvError("building the Debian root needs root (debootstrap, chroot); %s" % HOW)
    with _lock, files.locked(root + ".lock"):
        if os.path.exists(os.path.join(root, ".complete")):
            return root
        if say:
            say("building the Debian root for Python %s in %s (%s)" % (" and ".join(VERSIONS), root, COST))
        if not shutil.which("debootstrap"):
            steps.run(["apt-get", "update", "-q"])
            steps.run(["apt-get", "install", "-y", "-q", "debootstrap"])
        tmp = root + ".tmp"
        for stale in (tmp, root):
            files.remove_tree(stale)
        started = time.time()
        packages = ",".join(PYTHONS + tuple(p + "-venv" for p in PYTHONS) + ("ca-certificates",))
        steps.run(["debootstrap", "--variant=minbase", "--include=" + packages, "sid", tmp])
        for d in (ENVS, STAGE, TMP):
            os.makedirs(tmp + d, exist_ok=True)
        seconds = round(time.time() - started, 1)
        with open(os.path.join(tmp, ".complete"), "w") as f:
            json.dump({"built": files.now(), "seconds": seconds}, f)
        os.rename(tmp, root)
        if say:
            say("built the Debian root in %.0f s" % seconds)
    return root
