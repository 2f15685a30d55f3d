"""The version model, in one place: every part of hangmatrix that parses, sorts or compares a version asks here.

Two readings, each for its own texts:
- Python and gevent versions as records, matrices, baselines and case headers write them: key() sorts
  them leniently (3.14.0rc1 < 3.14.0 < 3.14.0.post1 < 3.14.1; a text that is no version sorts first),
  compare() compares against a bound on the bound's own components (3.11.7 == 3.11), matches() reads a
  pattern (`*`, a glob, a plain version or a range such as `>=3.8,<3.14`), short() is X.Y. Tables, diffs
  and baselines all order versions with key().
- Versions the package index and interpreters report, strictly as PEP 440 (packaging, a dependency, read
  here and nowhere else): parse() (raises Invalid), valid(), prerelease(); parse is also their sort key.
"""

import fnmatch
import re
from typing import Callable, Dict, List, Optional, Tuple

from packaging.version import InvalidVersion as Invalid
from packaging.version import Version

_VERSION = re.compile(
    r"^v?(\d+(?:\.\d+)*)(?:[-_.]?(dev|a|alpha|b|beta|c|rc|pre|preview)[-_.]?(\d*))?"
    r"(?:[-_.]?post[-_.]?(\d+))?(.*)$",
    re.I,
)
_PRE_RANK = {"dev": -4, "a": -3, "alpha": -3, "b": -2, "beta": -2, "c": -1, "rc": -1, "pre": -1, "preview": -1}
_LOCAL = re.compile(r"^\+[A-Za-z0-9.]*$")

Key = Tuple[Tuple[int, ...], int, int, int, str]  # key(): release, pre rank, pre number, post number, tail


def key(version: object) -> Key:
    """Sort key: release numbers (trailing zeros ignored), then pre/post releases, then any local tail;
    a text that is no version sorts first, by itself."""
    text = str(version or "").strip()
    m = _VERSION.match(text)
    if not m:
        return ((), 0, 0, 0, text)
    rel = [int(x) for x in m.group(1).split(".")]
    while len(rel) > 1 and rel[-1] == 0:
        rel.pop()
    pre = _PRE_RANK[m.group(2).lower()] if m.group(2) else 0
    return (tuple(rel), pre, int(m.group(3) or 0), int(m.group(4) or 0), m.group(5) or "")


def parts(version: object) -> Optional[Tuple[Tuple[int, ...], Tuple[int, int, int, str], bool]]:
    """(release numbers as given, rest of the sort key, whether it has a pre/post/local part) of a
    version text; None when it is no version (a tail other than a +local one)."""
    m = _VERSION.match(str(version).strip())
    if not m or (m.group(5) and not _LOCAL.match(m.group(5))):
        return None
    rel = tuple(int(x) for x in m.group(1).split("."))
    return rel, key(version)[1:], bool(m.group(2) or m.group(4) or m.group(5))


def compare(version: str, bound: str) -> int:
    """-1, 0 or 1: version against a bound, on the bound's components (3.11.7 == 3.11; 3.14.0rc1 == 3.14)."""
    v, b = parts(version), parts(bound)
    if v is None or b is None:
        a, c = key(version), key(bound)
        return (a > c) - (a < c)
    n = len(b[0])
    head = (v[0] + (0,) * n)[:n]
    if head != b[0]:
        return 1 if head > b[0] else -1
    if not b[2]:  # the bound gives release numbers only: anything in that release line is equal
        return 0
    a, c = key(version), key(bound)
    return (a > c) - (a < c)


def short(version: Optional[str]) -> str:
    """X.Y of a version (`3.11` of `3.11.7`)."""
    return ".".join(str(version or "").split(".")[:2])


def python2(version: Optional[str]) -> bool:
    """Whether a Python version (`2.7`, `2.7.18`) is Python 2: fork only, no faulthandler, .pyc beside the
    source, virtualenv rather than uv."""
    return str(version or "").startswith("2.")


# ---------------------------------------------------------------- patterns (baselines, case headers)

_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([0-9][0-9A-Za-z.+_-]*)\s*$")
_GLOB_CHARS = set("*?[")
_HOLDS: Dict[str, Callable[[int], bool]] = {
    ">=": lambda c: c >= 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    "<": lambda c: c < 0,
    "==": lambda c: c == 0,
    "!=": lambda c: c != 0,
}


def is_range(pattern: str) -> bool:
    """Whether a pattern is a range (it holds a comparison operator)."""
    return pattern.strip() != "*" and any(op in pattern for op in ("<", ">", "=", "!"))


def is_glob(pattern: str) -> bool:
    return bool(set(pattern) & _GLOB_CHARS)


def clauses(pattern: str) -> List[Tuple[str, str]]:
    """[(operator, bound)] of a range (`>=20.0,<24`); ValueError when a clause compares with no version."""
    out: List[Tuple[str, str]] = []
    for clause in pattern.split(","):
        m = _CLAUSE.match(clause)
        if not m or parts(m.group(2)) is None:
            raise ValueError("bad version range %r" % pattern)
        out.append((m.group(1), m.group(2)))
    return out


def in_range(version: str, pattern: str) -> bool:
    """Whether a version satisfies every clause of a range, each compared on its bound's components
    (`<3.14` excludes 3.14.0rc1, `<=3.10` includes 3.10.13)."""
    return all(_HOLDS[op](compare(version, bound)) for op, bound in clauses(pattern))


def valid_pattern(pattern: str) -> bool:
    """Whether a pattern is one matches() reads: `*`, a range, a glob or a version."""
    t = pattern.strip()
    if not t:
        return False
    if t == "*" or (is_glob(t) and not is_range(t)):
        return True
    if is_range(t):
        try:
            clauses(t)
        except ValueError:
            return False
        return True
    return parts(t) is not None


def matches(version: object, pattern: str) -> bool:
    """Whether a version matches a pattern: `*`; a range; a glob, on the version or its X.Y (`3.1*`); a plain
    version, on the components it gives (`3.11` matches 3.11.7)."""
    t, text = pattern.strip(), str(version)
    if t == "*":
        return True
    if is_range(t):
        return in_range(text, t)
    if is_glob(t):
        return fnmatch.fnmatchcase(text, t) or fnmatch.fnmatchcase(short(text), t)
    return compare(text, t) == 0 and parts(text) is not None


# ---------------------------------------------------------------- PEP 440 (the package index, interpreters)


def parse(version: str) -> Version:
    """A version as PEP 440 reads it (packaging's Version; also the sort key of index and interpreter
    versions); raises Invalid (a ValueError)."""
    return Version(version)


def valid(version: str) -> bool:
    """Whether a text is a PEP 440 version."""
    try:
        Version(version)
    except Invalid:
        return False
    return True


def prerelease(version: str) -> bool:
    """Whether a PEP 440 version is a pre-release (or a development release)."""
    return Version(version).is_prerelease
