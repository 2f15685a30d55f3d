"""The matrix file: which cases, configurations, start methods, interpreters and gevent releases a run
covers. Parsing only; interpreters and releases come from hangmatrix.envs, case names from hangmatrix.cases,
configuration names from hangmatrix.configs."""
import json
import os
import re
import tomllib
from dataclasses import dataclass, field, fields

from .configs import NAMED, STARTS

CONFIG_NAMES = tuple(NAMED)
START_NAMES = STARTS
AXES = ("cases", "configs", "starts", "pythons", "gevents")
_FLAGS = re.compile(r"flags:[A-Za-z_]\w*=[^,=\s]+(,[A-Za-z_]\w*=[^,=\s]+)*$")
_VERSION = re.compile(r"\d+\.\d+(\.\d+)?$")
_RELEASE = re.compile(r"\d+(\.\d+)+([a-z]+\d*)?(\.post\d+)?$")


class MatrixError(Exception):
    """One line: the file, the matrix and what is wrong."""


@dataclass(frozen=True)
class Matrix:
    name: str = "default"
    cases: list = field(default_factory=lambda: ["*"])
    configs: list = field(default_factory=lambda: list(CONFIG_NAMES))
    starts: list = field(default_factory=lambda: ["default"])
    pythons: list = field(default_factory=lambda: ["discovered"])
    gevents: list = field(default_factory=lambda: ["default"])
    debian_root: bool = False
    path: str = ""

    def select(self, interpreters):
        """The interpreters the `pythons` axis names, in the given order, each once."""
        chosen = []
        for spec in self.pythons:
            for interp in interpreters:
                if spec == "discovered" or spec in (interp.short, interp.version) or (
                        "/" in spec and os.path.realpath(spec) == os.path.realpath(interp.path)):
                    if interp not in chosen:
                        chosen.append(interp)
        return chosen

    def pairs(self, interpreters, releases):
        """(interpreter, gevent release) for every selected interpreter; releases(interp) lists the
        releases that install on it, oldest first (hangmatrix.envs.gevent_releases)."""
        out = []
        for interp in self.select(interpreters):
            available = releases(interp)
            if self.gevents == ["default"]:
                wanted = spread(available)
            elif self.gevents == ["all"]:
                wanted = available
            else:
                wanted = [g for g in self.gevents if g in available]
            out.extend((interp, g) for g in wanted)
        return out

    def to_toml(self):
        """This matrix as a [matrix.NAME] table (load_matrix reads it back unchanged)."""
        lines = ["[matrix.%s]" % self.name]
        for axis in AXES:
            lines.append("%s = [%s]" % (axis, ", ".join(_toml_str(v) for v in getattr(self, axis))))
        lines.append("debian_root = %s" % ("true" if self.debian_root else "false"))
        return "\n".join(lines) + "\n"


def spread(releases):
    """The oldest, a middle and the newest of a sorted list, each once."""
    if not releases:
        return []
    picks = [releases[0], releases[len(releases) // 2], releases[-1]]
    return [r for i, r in enumerate(picks) if r not in picks[:i]]


def default_path():
    """./matrix.toml if there is one, else the one committed beside the package."""
    here = os.path.abspath("matrix.toml")
    if os.path.exists(here):
        return here
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "matrix.toml")


def load_matrix(path=None, name="default"):
    """The named matrix from the file; MatrixError (one line) when it is missing or malformed."""
    path = path or default_path()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise MatrixError("%s: cannot read: %s" % (path, exc.strerror or exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError("%s: not valid TOML: %s" % (path, exc)) from None
    tables = data.get("matrix")
    if not isinstance(tables, dict) or not tables:
        raise MatrixError("%s: no [matrix.NAME] tables" % path)
    if name not in tables:
        raise MatrixError("%s: no matrix named %r (has: %s)" % (path, name, ", ".join(tables)))
    return parse(tables[name], name, path)


def parse(table, name, path=""):
    """A Matrix from one [matrix.NAME] table, every axis checked."""
    where = "%s: [matrix.%s]" % (path, name)
    if not isinstance(table, dict):
        raise MatrixError("%s is not a table" % where)
    known = {f.name for f in fields(Matrix)} - {"name", "path"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise MatrixError("%s: unknown key %r (keys: %s)" % (where, unknown[0], ", ".join(sorted(known))))
    values = {}
    for axis in AXES:
        if axis not in table:
            continue
        items = table[axis]
        items = [items] if isinstance(items, str) else items
        if not isinstance(items, list) or not items or not all(isinstance(v, str) and v.strip() for v in items):
            raise MatrixError("%s: %s must be a non-empty list of strings" % (where, axis))
        for v in items:
            problem = _check(axis, v, items)
            if problem:
                raise MatrixError("%s: %s: %s" % (where, axis, problem))
        values[axis] = list(items)
    if not isinstance(table.get("debian_root", False), bool):
        raise MatrixError("%s: debian_root must be true or false" % where)
    return Matrix(name=name, path=path, debian_root=table.get("debian_root", False), **values)


def _check(axis, value, items):
    """Why one axis value is invalid, or None."""
    if axis == "configs" and value not in CONFIG_NAMES and not _FLAGS.match(value):
        return "%r is not one of %s or flags:k=v,..." % (value, ", ".join(CONFIG_NAMES))
    if axis == "starts" and value not in START_NAMES:
        return "%r is not one of %s" % (value, ", ".join(START_NAMES))
    if axis == "pythons" and value != "discovered" and not _VERSION.match(value) and "/" not in value:
        return "%r is not 'discovered', a version like 3.11 or a path" % value
    if axis == "gevents":
        if value in ("default", "all"):
            return None if len(items) == 1 else "%r cannot be combined with other entries" % value
        if not _RELEASE.match(value):
            return "%r is not 'default', 'all' or a release like 1.2.2" % value
    return None


def _toml_str(value):
    """A TOML basic string (JSON's escapes are TOML's, except that DEL must be escaped too)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
