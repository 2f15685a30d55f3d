"""Where the cell environments live and what marks them: a finished env is a folder with a manifest (written
last, so a killed build never looks finished), a lasting failure is a `.failed` file with its reason, and a
build in progress holds a lock. Envs of host interpreters live in the cache; the Debian root's inside it."""

import glob
import json
import os
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Tuple

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


@dataclass(frozen=True)
class Manifest:
    """A finished env's manifest (envs.build writes it), read once, here: what `envs list` and `envs prune`
    show and what an Env is made from. Keys it does not name (check, builder, built, ...) are not read."""

    path: str  # the manifest file
    built_for: Dict[str, Any]  # the interpreter it was built for, as recorded (see `interpreter`)
    gevent: str
    greenlet: str
    python: str
    packages: Dict[str, str]
    resolved_as_of: str
    requires: Tuple[str, ...] = ()
    requires_newest: bool = False
    requires_resolved: Dict[str, str] = field(default_factory=dict)
    requires_as_of: str = ""
    late_wheels: Dict[str, str] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        return os.path.dirname(self.path)

    @property
    def interpreter(self) -> Interpreter:
        """The interpreter it was built for (read only when asked: reusing an env never needs it)."""
        return Interpreter(**self.built_for)

    @property
    def present(self) -> bool:
        """Whether the interpreter it was built for is still there."""
        return os.path.exists((self.interpreter.root or "") + self.interpreter.path)

    def env(self, interp: Interpreter, reused: bool = True) -> Env:
        """The Env it describes, on `interp` (the interpreter object of this run)."""
        named = {f.name for f in fields(Env)} & {f.name for f in fields(self)} - {"path"}
        return Env(interpreter=interp, path=self.folder, reused=reused, **{k: getattr(self, k) for k in named})


def read(manifest_path: str) -> Manifest:
    """The manifest at manifest_path (OSError or ValueError for one that cannot be read)."""
    with open(manifest_path) as f:
        data = json.load(f)
    named = {f.name for f in fields(Manifest)} - {"path", "built_for"}
    values = {k: v for k, v in data.items() if k in named and v is not None}
    values["requires"] = tuple(values.get("requires", ()))
    try:
        return Manifest(path=manifest_path, built_for=dict(data.get("interpreter") or {}), **values)
    except TypeError as exc:
        raise ValueError("%s is not an environment manifest: %s" % (manifest_path, exc)) from None


def load(manifest_path, interp, reused=True):
    """The Env a manifest describes."""
    return read(manifest_path).env(interp, reused)


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
