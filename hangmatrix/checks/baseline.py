"""The expectations baseline: the verdict every cell is expected to have, written as patterns.

The built-in file is hangmatrix/data/expectations.toml (package data, hangmatrix.model.packaged); a user's
./expectations.toml in the working folder wins over it (default_path):

    expect = [
      { case = "seed_*", config = "patch_all", gevent = ">=20.0", verdict = "deadlock" },
      { config = ["none", "lazy"], python = "3.11", verdict = ["ok", "running"], note = "why" },
    ]

(`[[expect]]` tables work too.) Keys of a rule, every one optional but `verdict`:
- case, config, start: a glob, or a list of globs (any may match);
- python, gevent: a version (`3.11` matches 3.11.x: a version matches on the components it gives), a glob
  (`3.1*`), a range (`>=20.0`, `>=3.8,<3.14`; operators >= <= > < == !=, compared on the bound's
  components, so `<3.14` excludes 3.14.0rc1 and `<=3.10` includes 3.10.13), or a list of those;
- verdict: a verdict, a list of them, or a group: `hang` (deadlock, stall, timeout), `works` (ok, running),
  `any`;
- cause: a hang's cause kind, or a list of them (hangmatrix.model.cause.KINDS): a cell whose verdict is
  right but whose record names another cause fails as unexpected (a record without a cause, written
  before causes, is not checked for one);
- note: free text.
The first rule that matches a cell decides what the cell may be.

Stable interfaces (hangmatrix.checks.upgrade and CI call them):

    default_path() -> str                     ./expectations.toml if there is one, else the built-in file
    load(path) -> Baseline                    Baseline.rules: [Rule]; raises BaselineError (one line)
    parse(text, source="<text>") -> Baseline
    check(records, expectations) -> [Failure]
        records: Records. Checks the newest record of each cell. A Failure has .cell (id) .verdict
        .expected (tuple) .rule (Rule or None) .kind .record (Record) .expectation (which expectation
        failed, one line) .headline (the message without the diagnosis) .message; str() is the message,
        which names the cell, the expectation and the diagnosis. kind (hangmatrix.model.verdicts.change_from
        decides): "regression" (a new hang, or a failure where it worked), "new pass" (what hung or failed
        works: must be acknowledged), "unexpected", "uncovered".
    update(records, path, previous=None) -> Baseline
        rewrites path from records, compactly (cells merged into patterns); every run of a cell counts,
        so `hangmatrix run --repeat 3` then update records flaky cells as lists; verdict lists of the
        previous baseline that still hold are kept. The file's [scope] lists the cells its rules came
        from, so an update from a partial run (one Python) keeps every other cell's expectation. Rules
        with a note that are still exactly right are kept as written, first.
    compact(cells) -> [Rule]   cells: {(case, config, start, python X.Y, gevent): frozenset of verdicts}
    render(baseline_or_rules, header="") -> str
"""

import fnmatch
import json
import os
import time
from dataclasses import dataclass, field

from ..model import order as axis_order
from ..model import packaged, verdicts, versions
from ..model.cause import KINDS as CAUSE_KINDS
from ..model.record import Record, by_cell, newest

KEYS = ("case", "config", "start", "python", "gevent", "verdict", "cause", "note")
PATTERN_KEYS = ("case", "config", "start", "python", "gevent")


class BaselineError(ValueError):
    """A baseline that cannot be read; one line naming the file and the rule."""


@dataclass(frozen=True)
class VersionPattern:
    """One version pattern: `*`, a glob, a plain version (prefix by components) or a range
    (hangmatrix.model.versions.matches reads it)."""

    text: str

    def __post_init__(self):
        t = self.text.strip()
        if not t:
            raise BaselineError("empty version pattern")
        if not versions.valid_pattern(t):
            if versions.is_range(t):
                raise BaselineError("bad version range %r (write e.g. >=20.0,<24)" % t)
            raise BaselineError("bad version %r" % t)

    def matches(self, version):
        return versions.matches(version, self.text)


# ---------------------------------------------------------------- rules


def _tuple(value, key):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise BaselineError("%s must be a non-empty string or a list of them, not %r" % (key, value))
    return tuple(v.strip() for v in value)


def expand_verdicts(spec):
    out = []
    for v in spec:
        for name in verdicts.GROUPS.get(v, (v,)):
            if name not in verdicts.NAMES:
                raise BaselineError(
                    "unknown verdict %r (known: %s, or %s)" % (v, ", ".join(verdicts.NAMES), ", ".join(verdicts.GROUPS))
                )
            if name not in out:
                out.append(name)
    return tuple(out)


@dataclass(frozen=True)
class Rule:
    verdict: tuple
    case: tuple = ("*",)
    config: tuple = ("*",)
    start: tuple = ("*",)
    python: tuple = ("*",)
    gevent: tuple = ("*",)
    note: str = ""
    cause: tuple = ()  # the cause kinds a hang it decides may have; () for any
    verdicts: tuple = field(default=(), compare=False)
    _py: tuple = field(default=(), compare=False, repr=False)
    _gv: tuple = field(default=(), compare=False, repr=False)

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict):
            raise BaselineError("a rule must be a table, not %r" % (d,))
        unknown = sorted(set(d) - set(KEYS))
        if unknown:
            raise BaselineError("unknown key %s (keys: %s)" % (", ".join(unknown), ", ".join(KEYS)))
        if "verdict" not in d:
            raise BaselineError("rule %s has no verdict" % _inline(d))
        kw = {k: _tuple(d[k], k) for k in PATTERN_KEYS + ("verdict",) if k in d}
        note = d.get("note", "")
        if not isinstance(note, str):
            raise BaselineError("note must be a string")
        if "cause" in d:
            kw["cause"] = _tuple(d["cause"], "cause")
            unknown = [k for k in kw["cause"] if k not in CAUSE_KINDS]
            if unknown:
                raise BaselineError("unknown cause %r (known: %s)" % (unknown[0], ", ".join(CAUSE_KINDS)))
        return cls(note=note, **kw)

    def __post_init__(self):
        object.__setattr__(self, "verdicts", expand_verdicts(self.verdict))
        object.__setattr__(self, "_py", tuple(VersionPattern(p) for p in self.python))
        object.__setattr__(self, "_gv", tuple(VersionPattern(p) for p in self.gevent))

    def matches(self, case, config, start, python, gevent):
        return (
            any(fnmatch.fnmatchcase(str(case), p) for p in self.case)
            and any(fnmatch.fnmatchcase(str(config), p) for p in self.config)
            and any(fnmatch.fnmatchcase(str(start), p) for p in self.start)
            and any(p.matches(python) for p in self._py)
            and any(p.matches(gevent) for p in self._gv)
        )

    def matches_record(self, rec):
        return self.matches(rec.case, rec.config, rec.start, rec.python, rec.gevent)

    def as_dict(self):
        """The rule as a baseline file writes it: a one-value axis as its value, a pattern "*" left out."""
        axes = tuple(k for k in PATTERN_KEYS if getattr(self, k) != ("*",))
        shown = axes + ("verdict", "cause") if self.cause else axes + ("verdict",)
        d = {}
        for k in shown:
            v = getattr(self, k)
            d[k] = v[0] if len(v) == 1 else list(v)
        if self.note:
            d["note"] = self.note
        return d

    def __str__(self):
        return _inline(self.as_dict())


def _toml_str(text):
    """A TOML basic string (JSON's escapes, plus DEL, which TOML does not allow raw)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _inline(d):
    def val(v):
        if isinstance(v, list):
            return "[" + ", ".join(_toml_str(x) for x in v) + "]"
        return _toml_str(v)

    return "{ " + ", ".join("%s = %s" % (k, val(v)) for k, v in d.items()) + " }"


@dataclass
class Baseline:
    rules: list
    source: str = "<text>"
    scope: dict = field(
        default_factory=dict
    )  # {"case": [...], "config": [...], "start": [...], "cells": ["3.11 26.9.0"]}

    def scope_cells(self):
        """The cells the rules were derived from: case x config x start x each (python, gevent) pair."""
        s = self.scope
        pairs = [tuple(p.split()) for p in s.get("cells", []) if len(p.split()) == 2]
        return [
            (c, k, st, py, gv)
            for c in s.get("case", [])
            for k in s.get("config", [])
            for st in s.get("start", [])
            for py, gv in pairs
        ]

    def find(self, rec):
        """(index, rule) of the first rule matching a record (on its full Python version), or (None, None)."""
        for i, rule in enumerate(self.rules):
            if rule.matches_record(rec):
                return i, rule
        return None, None

    def find_cell(self, key):
        """(index, rule) of the first rule matching a cell key (case, config, start, python, gevent), or
        (None, None)."""
        for i, rule in enumerate(self.rules):
            if rule.matches(*key):
                return i, rule
        return None, None


def parse(text, source="<text>"):
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BaselineError("%s: not TOML: %s" % (source, exc)) from None
    unknown = sorted(set(data) - {"expect", "scope"})
    if unknown:
        raise BaselineError("%s: unknown top-level key %s (rules go in `expect`)" % (source, ", ".join(unknown)))
    scope = data.get("scope", {})
    if (
        not isinstance(scope, dict)
        or set(scope) - {"case", "config", "start", "cells"}
        or not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in scope.values())
    ):
        raise BaselineError("%s: [scope] holds lists of strings: case, config, start, cells" % source)
    raw = data.get("expect", [])
    if not isinstance(raw, list):
        raise BaselineError("%s: `expect` must be a list of rules" % source)
    rules = []
    for i, d in enumerate(raw, 1):
        try:
            rules.append(Rule.from_dict(d))
        except BaselineError as exc:
            raise BaselineError("%s: rule %d: %s" % (source, i, exc)) from None
    return Baseline(rules, source, scope)


def default_path():
    """The baseline a check uses unless told: ./expectations.toml (a user's own) if there is one, else the
    built-in one."""
    return "expectations.toml" if os.path.exists("expectations.toml") else packaged.baseline_path()


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise BaselineError("cannot read baseline %s: %s" % (path, exc.strerror)) from None
    return parse(text, path)


HEADER = """\
# hangmatrix expectations baseline: the verdict each cell is expected to have, as patterns.
# Checked by tests/test_baseline.py (pytest); rewritten by `pytest tests/test_baseline.py --update-baseline`
# or `hangmatrix baseline --update --records FILE`. A new hang is a regression; a new pass must be
# acknowledged by updating. The first rule matching a cell decides.
# Keys: case, config, start (glob or list); python, gevent (version, glob, range like ">=20.0,<24", or list);
# verdict (name, list, or hang / works / any); note.
"""


def render(baseline, header=HEADER):
    rules = baseline.rules if isinstance(baseline, Baseline) else list(baseline)
    scope = baseline.scope if isinstance(baseline, Baseline) else {}
    lines = [header.rstrip("\n")] if header else []
    lines.append("expect = [")
    lines += ["  %s," % r for r in rules]
    lines.append("]")
    if scope:
        lines += [
            "",
            "# The cells the rules were derived from (case x config x start x each Python/gevent pair):",
            "# an update from a partial run keeps the expectations of the cells it did not run.",
            "[scope]",
        ]
        for key in ("case", "config", "start", "cells"):
            if key in scope:
                lines.append("%s = [%s]" % (key, ", ".join(_toml_str(v) for v in scope[key])))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- checking


KINDS = ("regression", "unexpected", "new pass", "uncovered")  # the order failures are listed in


@dataclass(frozen=True)
class Failure:
    """A cell whose newest record the baseline does not expect. `expectation` says which expectation failed
    (`rule 2 of expectations.toml: { ... }`, or that no rule matches); `headline` is the message without the
    diagnosis (the cell, the verdicts, the expectation, the signature); `message` (str()) is all of it."""

    cell: str
    verdict: str
    expected: tuple
    rule: object
    kind: str
    record: Record
    expectation: str = ""
    headline: str = ""
    message: str = ""

    def __str__(self):
        return self.message


def _kind(actual, expected):
    """What a verdict the rule does not allow is (verdicts.change_from decides)."""
    found = verdicts.change_from(expected, actual)
    return {verdicts.REGRESSION: "regression", verdicts.IMPROVEMENT: "new pass"}.get(found, "unexpected")


def _diagnosis(rec, lines=40):
    from ..report import show

    text = show.render(rec).splitlines()
    more = len(text) - lines
    return "\n".join("    " + t for t in text[:lines]) + (
        "\n    … (%d more lines: hangmatrix show %s)" % (more, rec.id) if more > 0 else ""
    )


def _other_cause(rule, rec):
    """Whether a record names a cause the rule does not allow (no cause in either: none to compare)."""
    return bool(rule.cause and rec.cause_kind and rec.cause_kind not in rule.cause)


def check(records, expectations):
    """Failures of the newest record of each cell against the expectations (see module doc)."""
    base = expectations if isinstance(expectations, Baseline) else Baseline(list(expectations))
    failures = []
    for rec in newest(records).values():
        i, rule = base.find(rec)
        if rule is None:
            kind, expected = "uncovered", ()
            expectation = "no rule of %s matches this cell" % base.source
        elif rec.verdict in rule.verdicts and not _other_cause(rule, rec):
            continue
        elif rec.verdict in rule.verdicts:
            kind, expected = "unexpected", rule.verdicts
            expectation = "rule %d of %s: %s (its cause %s, this record's %s)" % (
                i + 1,
                base.source,
                rule,
                " or ".join(rule.cause),
                rec.cause_kind,
            )
        else:
            kind, expected = _kind(rec.verdict, rule.verdicts), rule.verdicts
            expectation = "rule %d of %s: %s" % (i + 1, base.source, rule)
        what = {
            "regression": "REGRESSION: a new hang" if rec.hangs else "REGRESSION: a new failure",
            "new pass": "NEW PASS: acknowledge it",
            "unexpected": "UNEXPECTED cause" if rec.verdict in expected else "UNEXPECTED verdict",
            "uncovered": "NOT COVERED by any rule",
        }[kind]
        headline = "%s: %s, expected %s (%s)\n  expectation: %s\n  signature: %s" % (
            rec.id,
            rec.verdict,
            " or ".join(expected) or "nothing",
            what,
            expectation,
            rec.signature or "(none)",
        )
        msg = "%s\n  diagnosis:\n%s\n  %s" % (
            headline,
            _diagnosis(rec),
            "if this is the new truth: pytest tests/test_baseline.py --update-baseline "
            "(or hangmatrix baseline --update --records FILE)",
        )
        failures.append(Failure(rec.id, rec.verdict, expected, rule, kind, rec, expectation, headline, msg))
    failures.sort(key=lambda f: (KINDS.index(f.kind), f.cell))
    return failures


# ---------------------------------------------------------------- compacting cells into rules


def cell_key(rec):
    """(case, config, start, python X.Y, gevent) of a record: what a rule matches and compact() groups by."""
    return (rec.case, rec.config, rec.start, rec.python_short, rec.gevent)


def observed(records):
    """{cell key: frozenset of every verdict its records gave} (one cell per id: every run counts)."""
    return {cell_key(runs[-1]): frozenset(r.verdict for r in runs) for runs in by_cell(records).values()}


_DECIDED = frozenset({"<decided by an earlier rule>"})  # a cell compact() must neither cover nor write a rule for
_ORDERS = ((2, 3, 4, 0, 1), (2, 0, 3, 4, 1), (2, 1, 3, 4, 0), (2, 3, 4, 1, 0), (4, 3, 2, 0, 1))


def compact(cells, orders=_ORDERS):
    """Rules that give every cell exactly its verdict set, few of them. The commonest verdict set becomes
    the last rule, with no pattern (`everything else`); each other cell grows into the largest box (globs or
    lists on case/config/start, ranges on python/gevent) whose cells all have its verdict set; cells not in
    the input are don't-cares. Several axis orders are tried, the shortest result kept. A range that reaches
    the newest (oldest) value seen is left open upwards (downwards): releases not tried yet are expected to
    behave like their nearest neighbour."""
    if not cells:
        return []
    counts = {}
    for vs in cells.values():
        if vs != _DECIDED:
            counts[vs] = counts.get(vs, 0) + 1
    if not counts:
        return []
    default = max(counts, key=lambda vs: (counts[vs], sorted(vs)))
    best = None
    for order in orders:
        rules = _compact(cells, order, default)
        if best is None or len(rules) < len(best):
            best = rules
    return best + [_rule_of(None, default, None)]


def _compact(cells, order, default):
    orders = (axis_order.case, axis_order.config, axis_order.start, versions.key, versions.key)
    universe = [sorted({k[a] for k in cells}, key=orders[a]) for a in range(5)]
    pos = [{v: i for i, v in enumerate(u)} for u in universe]
    groups = {}
    for k, vs in cells.items():
        groups.setdefault(k[:3], []).append((pos[3][k[3]], pos[4][k[4]], vs))

    def valid(box, vs):
        cases, cfgs, starts, (plo, phi), (glo, ghi) = box
        for c in cases:
            for k in cfgs:
                for s in starts:
                    for pi, gi, v in groups.get((c, k, s), ()):
                        if plo <= pi <= phi and glo <= gi <= ghi and v != vs:
                            return False
        return True

    def covered(box, k):
        return (
            k[0] in box[0]
            and k[1] in box[1]
            and k[2] in box[2]
            and box[3][0] <= pos[3][k[3]] <= box[3][1]
            and box[4][0] <= pos[4][k[4]] <= box[4][1]
        )

    boxes = []
    keys = sorted(cells, key=lambda k: tuple(orders[a](k[a]) for a in range(5)))
    done = set()
    for key in keys:
        if key in done or cells[key] == default or cells[key] == _DECIDED:
            continue
        vs = cells[key]
        box = [{key[0]}, {key[1]}, {key[2]}, (pos[3][key[3]],) * 2, (pos[4][key[4]],) * 2]
        for axis in order:
            if axis < 3:
                trial = list(box)
                trial[axis] = set(universe[axis])
                if valid(trial, vs):
                    box = trial
                    continue
                for value in universe[axis]:
                    if value in box[axis]:
                        continue
                    trial = list(box)
                    trial[axis] = box[axis] | {value}
                    if valid(trial, vs):
                        box = trial
            else:
                lo, hi = box[axis]
                while hi + 1 < len(universe[axis]):
                    trial = list(box)
                    trial[axis] = (lo, hi + 1)
                    if not valid(trial, vs):
                        break
                    hi += 1
                    box = trial
                while lo > 0:
                    trial = list(box)
                    trial[axis] = (lo - 1, hi)
                    if not valid(trial, vs):
                        break
                    lo -= 1
                    box = trial
        boxes.append((box, vs))
        done.update(k for k in cells if k not in done and cells[k] == vs and covered(box, k))
    # drop boxes whose cells the others cover too
    final = list(range(len(boxes)))
    for i in range(len(boxes)):
        others = [boxes[j][0] for j in final if j != i]
        if all(
            any(covered(b, k) for b in others)
            for k in cells
            if covered(boxes[i][0], k) and cells[k] not in (default, _DECIDED)
        ):
            final.remove(i)
    kept = sorted(
        (boxes[i] for i in final),
        key=lambda b: (
            min(axis_order.case(c) for c in b[0][0]),
            min(axis_order.config(c) for c in b[0][1]),
            min(axis_order.start(c) for c in b[0][2]),
            b[0][3],
            b[0][4],
        ),
    )
    return [_rule_of(box, vs, universe) for box, vs in kept]


def _rule_of(box, vs, universe):
    kw = {}
    for axis, name in enumerate(("case", "config", "start") if box else ()):
        values = box[axis]
        if len(values) < len(universe[axis]):
            kw[name] = tuple(v for v in universe[axis] if v in values)
    for axis, name in ((3, "python"), (4, "gevent")) if box else ():
        lo, hi = box[axis]
        u = universe[axis]
        if lo == 0 and hi == len(u) - 1:
            continue
        if hi == len(u) - 1:  # open towards newer releases: they are expected to behave like the newest tried
            kw[name] = (">=" + u[lo],)
        elif lo == 0:
            kw[name] = ("<=" + u[hi],)
        elif lo == hi:
            kw[name] = (u[lo],)
        else:
            kw[name] = (">=%s,<=%s" % (u[lo], u[hi]),)
    ordered = tuple(v for v in verdicts.NAMES if v in vs) + tuple(sorted(v for v in vs if v not in verdicts.NAMES))
    return Rule(verdict=ordered, **kw)


def update(records, path, previous=None):
    """Rewrite the baseline at path from records (see module doc); returns the new Baseline. The cells of
    the previous baseline's scope that the records do not have keep their expected verdicts."""
    if previous is None and os.path.exists(path):
        previous = load(path)
    cells = {}
    if previous is not None:
        for key in previous.scope_cells():
            _, rule = previous.find_cell(key)
            if rule is not None:
                cells[key] = frozenset(rule.verdicts)
    for k, vs in observed(records).items():
        if previous is not None:
            _, rule = previous.find_cell(k)
            if rule is not None and vs <= set(rule.verdicts):
                vs = frozenset(rule.verdicts)  # a flaky cell's acknowledged verdicts stay
        cells[k] = vs
    kept, noted = [], []
    for rule in previous.rules if previous is not None else ():
        mine = [k for k in cells if rule.matches(*k)]
        if not mine:
            kept.append(rule)  # about cells this baseline does not know: keep as written
        elif (
            rule.note
            and all(cells[k] == frozenset(rule.verdicts) for k in mine)
            and not any(_other_cause(rule, r) for r in records if rule.matches(*cell_key(r)))
        ):
            noted.append(rule)  # a rule someone explained that is still exactly right: keep it and its note
    # cells a kept note decides: no generated rule may claim them too (it would read as a contradiction)
    rest = {k: (_DECIDED if any(r.matches(*k) for r in noted) else vs) for k, vs in cells.items()}
    rules = noted + compact(rest)
    scope = {
        "case": sorted({k[0] for k in cells}, key=axis_order.case),
        "config": sorted({k[1] for k in cells}, key=axis_order.config),
        "start": sorted({k[2] for k in cells}, key=axis_order.start),
        "cells": [
            "%s %s" % p
            for p in sorted({(k[3], k[4]) for k in cells}, key=lambda p: (versions.key(p[0]), versions.key(p[1])))
        ],
    }
    run_pairs = sorted({"%s %s" % (k[3], k[4]) for k in observed(records)})
    header = HEADER + "# Updated %s from %d records (Python/gevent: %s).\n" % (
        time.strftime("%Y-%m-%d", time.gmtime()),
        len(records),
        ", ".join(run_pairs),
    )
    if kept:
        header += "# The first %d rules were kept from before: no cell of the scope matches them.\n" % len(kept)
    new = Baseline(kept + rules, path, scope)
    text = render(new, header)
    parse(text, path)  # never write what cannot be read back
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return new
