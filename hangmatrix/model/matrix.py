"""The matrix file: which cases, configurations, start methods, interpreters and gevent releases a run
covers, and the requirements its programs need. Parsing only; interpreters and releases come from
hangmatrix.envs.interpreters and .index, case names from hangmatrix.model.cases, requirement syntax from
hangmatrix.model.requirements, configuration names from hangmatrix.model.configs.

A matrix is looked up by name in the user's ./matrix.toml first, then in the built-in one (package data,
hangmatrix.model.packaged), unless a file is named (--matrix-file), which is then the only one. A file named
pyproject.toml holds its matrices as [tool.hangmatrix.matrix.NAME] tables."""

import json
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, Iterable, List, Optional, Protocol, Sequence, Tuple, TypeVar, Union

from . import cases, packaged, requirements
from .configs import NAMED, STARTS, ConfigError
from .configs import parse as parse_config

CONFIG_NAMES = tuple(NAMED)
START_NAMES = STARTS
AXES = ("cases", "configs", "starts", "pythons", "gevents")
_VERSION = re.compile(r"\d+\.\d+(\.\d+)?$")
_RELEASE = re.compile(r"\d+(\.\d+)+([a-z]+\d*)?(\.post\d+)?$")
# Positions on the gevents axis: each interpreter's oldest, middle and newest installable release (the
# picks of `default`), so one name selects the same slice on every Python (tox's cells311-geventnew).
POSITIONS = ("old", "mid", "new")
DEFAULT_NAME = "default"  # the matrix a command uses when none is named
# The gevent installed beside hangmatrix (a team's pin, in its own test environment), else `new`: the
# gevents axis of a matrix that does not name one, and of a run that names no matrix.
INSTALLED = "installed"


class Interpreter(Protocol):
    """What the pythons axis selects on (hangmatrix.envs.interpreters.Interpreter, which model/ cannot import)."""

    @property
    def short(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def path(self) -> str: ...


Interp = TypeVar("Interp", bound=Interpreter)
Cases = List[Union[str, Dict[str, Any]]]  # names (globs) and case tables (_case_table)


class MatrixError(Exception):
    """One line: the file, the matrix and what is wrong."""


@dataclass(frozen=True)
class Matrix:
    name: str = DEFAULT_NAME
    cases: Cases = field(default_factory=lambda: ["*"])
    configs: List[str] = field(default_factory=lambda: list(CONFIG_NAMES))
    starts: List[str] = field(default_factory=lambda: ["default"])
    pythons: List[str] = field(default_factory=lambda: ["discovered"])
    gevents: List[str] = field(default_factory=lambda: [INSTALLED])
    debian_root: bool = False
    what: str = ""  # one line: what the matrix is for (`hangmatrix matrices` lists it)
    requirements: List[str] = field(default_factory=list)  # installed in every cell env, beside each case's own
    requirements_file: str = ""  # absolute path; its requirements are added to `requirements`
    requires_newest: bool = False  # resolve them as of the build, not the gevent release's date
    path: str = ""

    def requires(self) -> List[str]:
        """Every requirement the matrix names: the list, then the file's."""
        from_file = requirements.read_file(self.requirements_file) if self.requirements_file else []
        return list(self.requirements) + from_file

    def select(self, interpreters: Iterable[Interp]) -> List[Interp]:
        """The interpreters the `pythons` axis names, in the given order, each once."""
        chosen: List[Interp] = []
        for spec in self.pythons:
            for interp in interpreters:
                if (
                    spec == "discovered"
                    or spec in (interp.short, interp.version)
                    or ("/" in spec and os.path.realpath(spec) == os.path.realpath(interp.path))
                ):
                    if interp not in chosen:
                        chosen.append(interp)
        return chosen

    def pairs(
        self, interpreters: Iterable[Interp], releases: Callable[[Interp], List[str]]
    ) -> List[Tuple[Interp, str]]:
        """(interpreter, gevent release) for every selected interpreter; releases(interp) lists the
        releases that install on it, oldest first (hangmatrix.envs.index.gevent_releases)."""
        out: List[Tuple[Interp, str]] = []
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

    def gevents_for(
        self, interpreter: Interp, releases: Callable[[Interp], List[str]], installed: Optional[str] = None
    ) -> List[str]:
        """The gevents axis for one interpreter, each position (POSITIONS) replaced by its release among
        releases(interpreter), and INSTALLED by `installed` (the release beside hangmatrix) or, with none,
        by `new`; other entries as written. A position with no release to pick stays as written, so
        building its environment fails with an env-error naming it."""
        wanted = [(installed or "new") if g == INSTALLED else g for g in self.gevents]
        if not set(wanted) & set(POSITIONS):
            return _once(wanted)
        picks = spread(releases(interpreter))
        named = {"old": picks[0], "mid": picks[len(picks) // 2], "new": picks[-1]} if picks else {}
        return _once(named.get(g, g) for g in wanted)

    def to_toml(self) -> str:
        """This matrix as a [matrix.NAME] table (load_matrix reads it back unchanged)."""
        lines = ["[matrix.%s]" % self.name]
        if self.what:
            lines.append("what = %s" % _toml_str(self.what))
        for axis in AXES:
            lines.append("%s = [%s]" % (axis, ", ".join(_toml_value(v) for v in getattr(self, axis))))
        lines.append("debian_root = %s" % ("true" if self.debian_root else "false"))
        if self.requirements:
            lines.append("requirements = [%s]" % ", ".join(_toml_str(v) for v in self.requirements))
        if self.requirements_file:
            lines.append("requirements_file = %s" % _toml_str(self.requirements_file))
        if self.requires_newest:
            lines.append("requires_newest = true")
        return "\n".join(lines) + "\n"


def spread(releases: Sequence[str]) -> List[str]:
    """The oldest, a middle and the newest of a sorted list, each once."""
    if not releases:
        return []
    picks = [releases[0], releases[len(releases) // 2], releases[-1]]
    return [r for i, r in enumerate(picks) if r not in picks[:i]]


def files() -> List[str]:
    """The matrix files a name is looked up in, first wins: ./matrix.toml (when there is one), the built-in."""
    here = os.path.abspath("matrix.toml")
    builtin = packaged.matrix_path()
    if os.path.exists(here) and os.path.realpath(here) != builtin:
        return [here, builtin]
    return [builtin]


def tables(path: str) -> Dict[str, Any]:
    """The [matrix.NAME] tables of one file, unparsed, in file order; MatrixError when it has none."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise MatrixError("%s: cannot read: %s" % (path, exc.strerror or exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError("%s: not valid TOML: %s" % (path, exc)) from None
    where = "matrix"
    if os.path.basename(path) == "pyproject.toml":  # a project's matrices under [tool.hangmatrix]
        where, data = "tool.hangmatrix.matrix", data.get("tool", {}).get("hangmatrix", {})
    found = data.get("matrix") if isinstance(data, dict) else None
    if not isinstance(found, dict) or not found:
        raise MatrixError("%s: no [%s.NAME] tables" % (path, where))
    return found


def listing(path: Optional[str] = None) -> List[Tuple[str, List[Matrix]]]:
    """[(file, [Matrix])] in lookup order: the named file alone, or files()."""
    return [(p, [parse(t, n, p) for n, t in tables(p).items()]) for p in ([path] if path else files())]


def load_matrix(path: Optional[str] = None, name: str = DEFAULT_NAME) -> Matrix:
    """The named matrix from the file (or the first of files() that has it); MatrixError (one line) when it
    is missing or malformed."""
    has: Dict[str, str] = {}
    for p in [path] if path else files():
        found = tables(p)
        if name in found:
            return parse(found[name], name, p)
        has[p] = ", ".join(found)
    if len(has) == 1:
        raise MatrixError("%s: no matrix named %r (has: %s)" % (*has, name, *has.values()))
    raise MatrixError("no matrix named %r (%s)" % (name, "; ".join("%s has: %s" % kv for kv in has.items())))


def describe(m: Matrix) -> str:
    """One line naming the matrix and the file it came from: what `run` and `upgrade-check` print."""
    source = packaged.source(m.path)
    return "matrix %s from %s" % (m.name, "the built-in %s" % m.path if source == packaged.BUILTIN else m.path)


def parse(table: object, name: str, path: str = "") -> Matrix:
    """A Matrix from one [matrix.NAME] table, every axis checked."""
    where = "%s: [matrix.%s]" % (path, name)
    if not isinstance(table, dict):
        raise MatrixError("%s is not a table" % where)
    known = {f.name for f in fields(Matrix)} - {"name", "path"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise MatrixError("%s: unknown key %r (keys: %s)" % (where, unknown[0], ", ".join(sorted(known))))
    values: Dict[str, Any] = {}  # Matrix's keyword arguments, each checked
    for axis in AXES:
        if axis not in table:
            continue
        items = table[axis]
        items = [items] if isinstance(items, str) else items
        if axis == "cases" and isinstance(items, list) and any(isinstance(v, dict) for v in items):
            if not all(isinstance(v, dict) or isinstance(v, str) and v.strip() for v in items):
                raise MatrixError("%s: cases must be a list of names and case tables" % where)
            values[axis] = [_case_table(v, where, path) if isinstance(v, dict) else v for v in items]
            continue
        if not isinstance(items, list) or not items or not all(isinstance(v, str) and v.strip() for v in items):
            raise MatrixError("%s: %s must be a non-empty list of strings" % (where, axis))
        for v in items:
            problem = _check(axis, v, items)
            if problem:
                raise MatrixError("%s: %s: %s" % (where, axis, problem))
        values[axis] = list(items)
    for key in ("debian_root", "requires_newest"):
        if not isinstance(table.get(key, False), bool):
            raise MatrixError("%s: %s must be true or false" % (where, key))
    if not isinstance(table.get("what", ""), str) or "\n" in table.get("what", ""):
        raise MatrixError("%s: what must be one line of text" % where)
    values.update(_requirements(table, where, path))
    return Matrix(
        name=name,
        path=path,
        debian_root=table.get("debian_root", False),
        what=table.get("what", ""),
        requires_newest=table.get("requires_newest", False),
        **values,
    )


def _case_table(case: Dict[str, Any], where: str, path: str) -> Dict[str, Any]:
    """A case given as a table: `cmd` or `path` (with `args`), and `name`, `project`, `env`, `stdin`;
    `path` and `project` relative to the matrix file's folder, made absolute here."""
    unknown = sorted(set(case) - set(cases.TABLE_KEYS))
    if unknown:
        keys = ", ".join(cases.TABLE_KEYS)
        raise MatrixError("%s: a case table has no key %r (keys: %s)" % (where, unknown[0], keys))
    if bool(case.get("cmd")) == bool(case.get("path")):
        raise MatrixError("%s: a case table names a command (cmd) or a program (path), one of them" % where)
    for key in ("name", "cmd", "path", "project", "stdin"):
        if key in case and not isinstance(case[key], str):
            raise MatrixError("%s: a case table's %s must be a string" % (where, key))
    if not isinstance(case.get("args", []), (str, list)) or not isinstance(case.get("env", {}), dict):
        raise MatrixError("%s: a case table's args is a string or a list, its env a table" % where)
    base = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
    out = dict(case)
    for key in ("path", "project"):
        if out.get(key):
            out[key] = os.path.join(base, out[key])
    return out


def _requirements(table: Dict[str, Any], where: str, path: str) -> Dict[str, Any]:
    """`requirements` (a list of requirement strings) and `requirements_file` (relative to the matrix
    file), each checked (the file read) now, so a bad one is one line before anything runs."""
    out: Dict[str, Any] = {}
    reqs = table.get("requirements", [])
    if not isinstance(reqs, list) or not all(isinstance(r, str) for r in reqs):
        raise MatrixError('%s: requirements must be a list of strings like "requests<3"' % where)
    req_file = table.get("requirements_file", "")
    if not isinstance(req_file, str):
        raise MatrixError("%s: requirements_file must be a path (relative to the matrix file)" % where)
    if req_file:
        out["requirements_file"] = os.path.join(
            os.path.dirname(os.path.abspath(path)) if path else os.getcwd(), req_file
        )
    try:
        requirements.normalize(reqs)
        if req_file:
            requirements.read_file(out["requirements_file"])
    except requirements.RequirementError as exc:
        raise MatrixError("%s: %s" % (where, exc)) from None
    if reqs:
        out["requirements"] = list(reqs)
    return out


def _check(axis: str, value: str, items: Sequence[str]) -> Optional[str]:
    """Why one axis value is invalid, or None."""
    if axis == "configs":
        try:
            parse_config(value)
        except ConfigError as exc:
            return str(exc)
    if axis == "starts" and value not in START_NAMES:
        return "%r is not one of %s" % (value, ", ".join(START_NAMES))
    if axis == "pythons" and value != "discovered" and not _VERSION.match(value) and "/" not in value:
        return "%r is not 'discovered', a version like 3.11 or a path" % value
    if axis == "gevents":
        if value in ("default", "all"):
            return None if len(items) == 1 else "%r cannot be combined with other entries" % value
        if not _RELEASE.match(value) and value not in POSITIONS + (INSTALLED,):
            return "%r is not 'default', 'all', installed, old, mid, new or a release like 1.2.2" % value
    return None


def _once(values: Iterable[str]) -> List[str]:
    """The values in order, each once."""
    out: List[str] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _toml_str(value: object) -> str:
    """A TOML basic string (JSON's escapes are TOML's, except that DEL must be escaped too)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: object) -> str:
    """A string, list or inline table (a case table) in TOML."""
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s = %s" % (k, _toml_value(v)) for k, v in value.items())
    if isinstance(value, list):
        return "[%s]" % ", ".join(_toml_value(v) for v in value)
    return _toml_str(value)
