"""Where the cell environments live and what marks them: a finished env is a folder with a manifest (written
last, so a killed build never looks finished), a lasting failure is a `.failed` file with its reason, and a
build in progress holds a lock. Envs of host interpreters live in the cache; the Debian root's inside it."""

import glob
import json
import os

from ..model import settings
from . import debian_root, files
from .env import Env
from .interpreters import Interpreter

MANIFEST = "hangmatrix-env.json"


def home(base=None):
    """The cache folder: base when given, else settings.cache_dir()."""
    return base or settings.cache_dir()


def envs_dir(interp, base):
    """Where an interpreter's envs are built: inside the Debian root for its Pythons."""
    return interp.root + debian_root.ENVS if interp.root else os.path.join(base, "envs")


def failed_marker(base, prefix):
    return os.path.join(base, "envs", prefix + ".failed")


def lock_path(base, prefix):
    return os.path.join(base, "envs", "." + prefix + ".lock")


def finished(folder, prefix):
    """The manifest of a finished env for this interpreter and release, newest first, or None."""
    found = glob.glob(os.path.join(folder, prefix + "-[0-9]*", MANIFEST))
    return max(found, key=os.path.getmtime) if found else None


def load(manifest_path, interp, reused=True):
    """The Env a manifest describes."""
    with open(manifest_path) as f:
        m = json.load(f)
    return Env(
        interpreter=interp,
        gevent=m["gevent"],
        greenlet=m["greenlet"],
        python=m["python"],
        packages=m["packages"],
        resolved_as_of=m["resolved_as_of"],
        path=os.path.dirname(manifest_path),
        reused=reused,
        requires=tuple(m.get("requires", ())),
        requires_newest=m.get("requires_newest", False),
        requires_resolved=m.get("requires_resolved", {}),
        requires_as_of=m.get("requires_as_of", ""),
    )


def _env_dirs(base):
    root = debian_root.path(build=False)
    return [os.path.join(base, "envs")] + ([root + debian_root.ENVS] if root else [])


def manifests(base):
    """Every finished env's manifest path: the host's and the Debian root's."""
    return sorted(m for d in _env_dirs(base) for m in glob.glob(os.path.join(d, "*", MANIFEST)))


def failures(base):
    """The remembered failures' marker files."""
    return sorted(glob.glob(os.path.join(base, "envs", "*.failed")))


def _busy(env_path, base):
    """True while some process builds this env (it holds the lock)."""
    prefix = os.path.basename(env_path).rsplit("-", 3)[0]  # the folder is PREFIX-YYYY-MM-DD
    return files.is_locked(lock_path(base, prefix))


def unfinished(base):
    """Env folders without a manifest that nobody is building: what a killed build left."""
    return [
        p
        for d in _env_dirs(base)
        for p in glob.glob(os.path.join(d, "*"))
        if os.path.isdir(p) and not os.path.exists(os.path.join(p, MANIFEST)) and not _busy(p, base)
    ]


def manifest_interpreter(manifest):
    """The Interpreter a manifest was built for, and whether it is still there."""
    interp = Interpreter(**manifest["interpreter"])
    return interp, os.path.exists((interp.root or "") + interp.path)
