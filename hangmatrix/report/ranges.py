"""Sets of versions as the text a person reads: contiguous runs within an ordered list (`20.9.0–26.9.0`)."""

from ..model import order, versions


def runs_of(universe, members):
    """Contiguous runs of `members` within the sorted `universe`: [(first, last, [items]), ...]."""
    out, cur = [], []
    for item in universe:
        if item in members:
            cur.append(item)
        elif cur:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return [(r[0], r[-1], r) for r in out]


def span(first, last):
    return first if first == last else "%s–%s" % (first, last)


def where_text(points):
    """(python, gevent, start) points as `Python 3.11.7: gevent 20.9.0–26.9.0 (fork, spawn)`: per Python,
    the gevent releases grouped by the start methods they were seen with."""
    by_py = {}
    for py, gv, st in points:
        by_py.setdefault(py, {}).setdefault(gv, set()).add(st)
    parts = []
    for py in sorted(by_py, key=versions.key):
        gvs = sorted(by_py[py], key=versions.key)
        chunks = []
        # group gevents by their start set, then runs within the python's list
        by_starts = {}
        for gv in gvs:
            by_starts.setdefault(tuple(sorted(by_py[py][gv], key=order.start)), []).append(gv)
        for starts, members in by_starts.items():
            ranges = ", ".join(span(a, b) for a, b, _ in runs_of(gvs, set(members)))
            chunks.append("gevent %s (%s)" % (ranges, ", ".join(starts)))
        parts.append("Python %s: %s" % (py, "; ".join(chunks)))
    return "; ".join(parts)
