"""Files the environment layer shares between threads and processes: locks, atomic writes, removal."""

import datetime
import fcntl
import json
import os
import shutil
import subprocess
import threading
from contextlib import contextmanager


@contextmanager
def locked(path):
    """An exclusive lock between threads and processes building the same thing."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def is_locked(path):
    """True while some process holds the lock at path."""
    if not os.path.exists(path):
        return False
    with open(path) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def write_json(path, data):
    """Write whole or not at all: a reader never sees half a file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.tmp-%d-%d" % (path, os.getpid(), threading.get_ident())
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def remove_tree(path):
    """rmtree that first lazily unmounts anything a killed debootstrap left mounted inside."""
    if not os.path.exists(path):
        return
    real = os.path.realpath(path) + "/"
    with open("/proc/mounts") as f:
        points = [line.split()[1] for line in f if line.split()[1].startswith(real)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
