"""A program's own dependencies in its cell environment: the part of the environment's cache name its
requirements make (one normalized, sorted set, with the resolution mode), and telling a missing dependency
(the environment's fault: `env-error`) from the program's own error. Reading requirement strings (from a
case header, the matrix and `hangmatrix run --requires`) is hangmatrix.model.requirements'.
"""

import hashlib
import os
import re
import subprocess

from ..model.requirements import normalize
from . import steps


def label(requirements, newest=False):
    """The part of an environment's cache name that says which requirements it holds: '' for none (so
    the environments built before requirements existed keep their names), else '-req' and a hash of them
    and of how they were resolved."""
    if not requirements:
        return ""
    text = "\n".join(normalize(requirements)) + ("\nnewest" if newest else "")
    return "-req" + hashlib.sha256(text.encode()).hexdigest()[:12]


# ---------------------------------------------------------------- a missing dependency

_PY2_MISSING = re.compile(r"^No module named ([\w.]+)$")
# Exit 0: found, 3: not found. Runs on 2.7 and 3.x; the top-level name only, so nothing is imported.
_FIND = r"""
import sys
try:
    from importlib.util import find_spec
    found = find_spec(sys.argv[1]) is not None
except ImportError:
    import imp
    try:
        imp.find_module(sys.argv[1])
        found = True
    except ImportError:
        found = False
sys.exit(0 if found else 3)
"""


def missing_name(uncaught):
    """The module a program's final exception says could not be found, or ''. Only the interpreter's own
    ModuleNotFoundError with its `name` (Python 3.6+), or a builtin ImportError 'No module named X'
    (Python 2.7, which names no attribute) counts; `cannot import name` and a program's own exception
    classes do not. Python 2.7 names only the last part of a dotted module that is missing from an
    existing package (`import pkg.part` -> 'No module named part'); the import line gives the whole name."""
    if not uncaught or not uncaught.get("builtin"):
        return ""
    if uncaught.get("type") == "ModuleNotFoundError" and uncaught.get("name"):
        return uncaught["name"]
    if uncaught.get("type") == "ImportError" and not uncaught.get("name"):
        m = _PY2_MISSING.match(uncaught.get("message", "").strip())
        if not m:
            return ""
        dotted = re.search(r"([\w.]+\.)%s\b" % re.escape(m.group(1)), uncaught.get("line") or "")
        return dotted.group(1) + m.group(1) if dotted else m.group(1)
    return ""


# Python 2's standard-library modules that Python 3 renamed or dropped (lib2to3's fix_imports and friends):
# a program importing one on Python 3 is written for Python 2, and no requirement would supply it.
PY2_STDLIB = frozenset(
    """
    __builtin__ _winreg anydbm BaseHTTPServer CGIHTTPServer commands ConfigParser Cookie cookielib copy_reg
    cPickle cStringIO Dialog DocXMLRPCServer dumbdbm dummy_thread exceptions FileDialog gdbm htmlentitydefs
    HTMLParser httplib markupbase md5 mimetools new popen2 Queue repr rfc822 robotparser ScrolledText sets sha
    SimpleDialog SimpleHTTPServer SimpleXMLRPCServer SocketServer StringIO thread Tix tkColorChooser
    tkCommonDialog Tkconstants Tkdnd tkFileDialog tkFont Tkinter tkMessageBox tkSimpleDialog ttk urllib2
    urlparse UserDict UserList UserString whichdb xmlrpclib""".split()
)


def _own_module(folder, top):
    """Whether the program's own folder holds the top-level module `top` (then it is the program's)."""
    return any(os.path.exists(os.path.join(folder, top + ext)) for ext in ("", ".py", ".pyc")) or any(
        f.startswith(top + ".") and f.endswith(".so") for f in _listdir(folder)
    )


def _listdir(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []


def missing_module(uncaught, program_path, python_argv):
    """The env-error signature when a program ended with an uncaught 'no module named X' and X's top-level
    package is neither in the program's own folder nor importable by the environment's interpreter (asked
    in a process of its own, from '/', without PYTHONPATH); else ''. python_argv runs the env's python
    (chroot prefix included)."""
    name = missing_name(uncaught)
    if not name:
        return ""
    top = name.split(".")[0]
    if top in PY2_STDLIB or _own_module(os.path.dirname(program_path), top):
        return ""  # a Python 2 program on Python 3, or a module of the program's own: the program's error
    try:
        done = steps.check(list(python_argv) + ["-E", "-c", _FIND, top], cwd="/")
    except (OSError, subprocess.SubprocessError):
        return ""
    if done is None or done.returncode != 3:
        return ""  # importable there: the program's own doing (a deliberate ImportError, a changed sys.path)
    return "no module named %r in the environment (the program imports it): add its distribution to requires" % top
