"""A built cell environment, and how a cell reaches it: the command that runs in it (through chroot for the
Debian root's) and the staging of programs and folders into the root, where the cell can see them."""

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import Optional

from . import debian_root
from .errors import EnvError
from .interpreters import Interpreter

# Runs in the env's interpreter (Python 2.7 to 3.15): the module's bytecode where the interpreter reads it,
# written under a temporary name and renamed, so a cell starting meanwhile never reads half a file (the
# temporary name ends in .pyc, so one a killed compile leaves is ignored like any bytecode).
_COMPILE = """
import os, py_compile, sys
src = sys.argv[1]
mode = {}
if sys.version_info[0] < 3:
    out = src + "c"
else:
    import importlib.util
    out = importlib.util.cache_from_source(src)
    if hasattr(py_compile, "PycInvalidationMode"):
        mode["invalidation_mode"] = py_compile.PycInvalidationMode.CHECKED_HASH
tmp = "%s.%d.tmp.pyc" % (out[:-4], os.getpid())
py_compile.compile(src, cfile=tmp, dfile=src, doraise=True, **mode)
os.rename(tmp, out)
"""
_compiled: dict = {}  # (python, root, module) -> whether its compile succeeded
_compile_lock = threading.Lock()
_NOT_STAGED = ("__pycache__", ".git", ".hg", ".tox", ".venv", "venv", "node_modules")  # never a program's modules


@dataclass
class Env:
    interpreter: Interpreter
    gevent: str  # installed gevent version
    greenlet: str  # installed greenlet version
    python: str  # the env's python as the cell command sees it (inside the root for chroot envs)
    packages: dict  # name -> version of everything installed (provenance)
    resolved_as_of: str  # the resolution date (ISO)
    path: str  # host path of the env dir
    reused: bool = True  # False when ensure_env built it just now
    requires: tuple = ()  # the program's requirements (canonical, sorted) installed beside gevent
    requires_newest: bool = False  # resolved as of the build day instead of the gevent release's date
    requires_resolved: Optional[dict] = None  # name -> installed version of each required project
    requires_as_of: str = ""  # the day the requirements were resolved as of

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
        return root + debian_root.TMP if root else tempfile.gettempdir()

    def stage(self, host_path):
        """Make a file or dir reachable by the cell; for chroot envs a content-addressed copy in the root."""
        root = self.interpreter.root
        if not root:
            return host_path
        if os.path.abspath(host_path).startswith(root.rstrip("/") + "/"):
            return self.visible(host_path)
        inside = "%s/%s/%s" % (debian_root.STAGE, _content_hash(host_path), os.path.basename(host_path.rstrip("/")))
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

    def compile_staged(self, module):
        """Write the bytecode of a staged module (a path as the cell sees it) for this env's interpreter, once
        per process: cells run with PYTHONDONTWRITEBYTECODE, so a module every Python process of every cell
        loads (the injected sitecustomize) is otherwise compiled from source in each (3-6 ms a process;
        docs/benchmarks.md). Hash-checked on Python 3.7+, so an edited source is never shadowed by its old
        bytecode (older interpreters check its mtime and size, as for any module). Best effort: where the
        folder is read-only or the interpreter fails, cells compile the source as before."""
        key = (self.python, self.interpreter.root, module)
        with _compile_lock:
            if key in _compiled and (not _compiled[key] or os.path.exists(self._bytecode(module))):
                return  # done, or failed (not tried again: a read-only folder stays read-only)
            try:
                done = subprocess.run(
                    self.command([self.python, "-E", "-s", "-c", _COMPILE, module]),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=60,
                )
                _compiled[key] = done.returncode == 0
            except (OSError, subprocess.SubprocessError):
                _compiled[key] = False

    def _bytecode(self, module):
        """The host path of a staged module's bytecode for this env's interpreter (as _COMPILE writes it)."""
        host = self.interpreter.root.rstrip("/") + module if self.interpreter.root else module
        if self.interpreter.python2:
            return host + "c"
        folder, name = os.path.split(host)
        tag = "cpython-" + self.interpreter.short.replace(".", "")
        return os.path.join(folder, "__pycache__", "%s.%s.pyc" % (os.path.splitext(name)[0], tag))

    def stage_program(self, program):
        """The program's path as the cell runs it. For chroot envs its whole folder is staged, so the
        program imports its own sibling modules as a normal script run does (sys.path[0] is its folder)."""
        if not self.interpreter.root:
            return program
        folder, name = os.path.split(os.path.abspath(program))
        return self.stage(folder) + "/" + name


def _content_hash(path):
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for top, dirs, names in sorted(os.walk(path)):
            dirs[:] = sorted(d for d in dirs if d not in _NOT_STAGED)
            for name in sorted(f for f in names if not f.endswith(".pyc")):
                full = os.path.join(top, name)
                digest.update(os.path.relpath(full, path).encode() + b"\0")
                with open(full, "rb") as f:
                    digest.update(f.read())
    else:
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]
