"""The version model for Python and gevent versions as records, matrices and baselines write them:
parsing, sorting (3.14.0rc1 < 3.14.0 < 3.14.0.post1 < 3.14.1), and comparing against a bound on the
bound's own components (3.11.7 == 3.11). Tables, diffs and baselines all order versions with key().
"""

import re

_VERSION = re.compile(
    r"^v?(\d+(?:\.\d+)*)(?:[-_.]?(dev|a|alpha|b|beta|c|rc|pre|preview)[-_.]?(\d*))?"
    r"(?:[-_.]?post[-_.]?(\d+))?(.*)$",
    re.I,
)
_PRE_RANK = {"dev": -4, "a": -3, "alpha": -3, "b": -2, "beta": -2, "c": -1, "rc": -1, "pre": -1, "preview": -1}
_LOCAL = re.compile(r"^\+[A-Za-z0-9.]*$")


def key(version):
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


def parts(version):
    """(release numbers as given, rest of the sort key, whether it has a pre/post/local part) of a
    version text; None when it is no version (a tail other than a +local one)."""
    m = _VERSION.match(str(version).strip())
    if not m or (m.group(5) and not _LOCAL.match(m.group(5))):
        return None
    rel = tuple(int(x) for x in m.group(1).split("."))
    return rel, key(version)[1:], bool(m.group(2) or m.group(4) or m.group(5))


def compare(version, bound):
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


def short(version):
    """X.Y of a version (`3.11` of `3.11.7`)."""
    return ".".join(str(version or "").split(".")[:2])
