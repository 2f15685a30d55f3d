"""Requirement strings: reading what a case header (`# hangmatrix: requires = grequests, requests<3`), a
matrix (`requirements`, `requirements_file`) and `hangmatrix run --requires` say a program needs, into one
normalized, sorted set. Parsing only, so the model (cases, matrix) can check them without the environments;
envs/deps.py keys and builds environments from them.
"""

import re
from typing import Iterable, List, Tuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .text import split_top_level


class RequirementError(ValueError):
    """A requirement that cannot be read; one line."""


def split(text: str) -> List[str]:
    """'grequests, requests>=2,<3, urllib3[socks,secure]' -> the three requirements: commas inside
    brackets belong to extras, and a piece starting with a version operator continues the one before."""
    out: List[str] = []
    for piece in split_top_level(text, "[", "]"):
        if out and re.match(r"[<>=!~]", piece):
            out[-1] += "," + piece
        elif piece:
            out.append(piece)
    return out


def canonical(text: str) -> str:
    """One requirement in a normal form (name canonicalized, extras and specifiers sorted), so equal sets
    of requirements key the same environment."""
    try:
        req = Requirement(text.strip())
    except InvalidRequirement as exc:
        raise RequirementError("%r is not a requirement: %s" % (text.strip(), str(exc).splitlines()[0])) from None
    out: str = canonicalize_name(req.name)
    if req.extras:
        out += "[%s]" % ",".join(sorted(canonicalize_name(e) for e in req.extras))
    if req.url:
        out += " @ " + req.url
    elif req.specifier:
        out += ",".join(sorted(str(s) for s in req.specifier))
    if req.marker:
        out += "; " + str(req.marker)
    return out


def normalize(requirements: Iterable[str]) -> Tuple[str, ...]:
    """The sorted set of canonical requirements (RequirementError for one that cannot be read)."""
    return tuple(sorted({canonical(r) for r in requirements if r.strip()}))


def names(requirements: Iterable[str]) -> List[str]:
    """The canonical project names of requirements."""
    return sorted({canonicalize_name(Requirement(r).name) for r in requirements})


def read_file(path: str) -> List[str]:
    """The requirements of a requirements file: one a line, `#` comments; pip options are refused (one
    line naming the line), since the environment decides the index and the resolution date."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise RequirementError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
    out: List[str] = []
    for number, line in enumerate(lines, 1):
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not line:
            continue
        if line.startswith("-"):
            raise RequirementError("%s:%d: pip options are not supported (%s)" % (path, number, line.split()[0]))
        try:
            out.append(canonical(line))
        except RequirementError as exc:
            raise RequirementError("%s:%d: %s" % (path, number, exc)) from None
    return out


def without_gevent(requires: Iterable[str]) -> List[str]:
    """Requirements a project names, but gevent's: the gevent axis decides which release a cell runs (a
    requirements.txt that pins the team's gevent is tried with the release under test)."""
    return [r for r in requires if canonicalize_name(Requirement(r).name) != "gevent"]
