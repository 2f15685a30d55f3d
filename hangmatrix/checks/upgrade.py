"""`hangmatrix upgrade-check`: will upgrading gevent make our multiprocessing code hang?

It runs a matrix's cases x configurations x start methods with gevent NEW on every interpreter NEW installs
on, and compares each cell with what it should be: the committed expectations baseline (expectations.toml,
see hangmatrix.checks.baseline) or, with `--against OLD`, the same cell run with gevent OLD on the same interpreter.
The report lists new hangs first (with their signatures), then new failures, then cells that no longer hang
or were fixed, other changes, and how many cells are unchanged. Exit status: 0 no regression, 1 a cell that
worked (or was expected to) now hangs or fails, 2 nothing could be checked (bad option, NEW installs nowhere).

NEW (and OLD) may be a release on the package index (default NEW: the newest one), a local wheel, or a
folder of wheels (one per interpreter, e.g. built from a git checkout of gevent): wheels are installed into
virtual environments of their own, beside hangmatrix.envs.build's ones, keyed by the wheel's content.
`--from-records` checks records that already exist (the CI job that merges the matrix's artifacts) instead
of running anything.

The command line (its options, gathering records by running or from files, exit codes) is
hangmatrix.cli.upgrade_check; this module checks. Stable interface (CI calls it):
    hangmatrix upgrade-check [--gevent NEW] [--against OLD | --baseline FILE] [--from-records PATH ...]
        [--matrix NAME] [--matrix-file FILE] [--case C] [--config K] [--start S] [--python P]
        [--records FILE] [--summary FILE] [--timeout S] [--jobs N]
    target(spec) -> Target;  newest_release(interpreters) -> str;  wheel_env(interpreter, wheels) -> envs.env.Env
    check(new_records, old_records=None, expectations=None) -> Check   (see `check`)
    report_text(result, new_label, old_label, skipped=None, elapsed=None) -> str
    report_markdown(result, new_label, old_label, skipped=None) -> str
"""

import concurrent.futures
import glob
import os
from dataclasses import dataclass, field
from typing import List, Tuple

from ..envs.build import ensure_env, ensure_wheel_env
from ..envs.errors import EnvError
from ..envs.index import gevent_releases
from ..envs.interpreters import discover, find_interpreter
from ..envs.pkg import parse_wheel_filename
from ..model import configs, verdicts
from ..model import matrix as matrix_mod
from ..model.record import by_cell
from ..model.text import say
from ..model.versions import key as version_key
from ..report.diff import DIRECTIONS, compare
from ..report.ranges import runs_of, span
from ..report.signatures import normalize_signature
from ..run import runner
from . import baseline

REGRESSIONS = ("new hangs", "new failures")  # the directions a regression (verdicts.change) is listed under
NOT_COVERED = "not covered by the baseline"  # a cell no baseline rule names: listed after every direction


# ---------------------------------------------------------------- what NEW and OLD are


@dataclass
class Target:
    """A gevent to test: a release on the index, or local wheels (a file, or every wheel of a folder)."""

    spec: str
    version: str
    wheels: list = field(default_factory=list)

    @property
    def label(self):
        if not self.wheels:
            return "gevent %s" % self.version
        return "gevent %s (%s)" % (
            self.version,
            "local wheels in %s" % self.spec if os.path.isdir(self.spec) else "local wheel",
        )


def target(spec):
    """A Target from a version, a wheel path or a folder of gevent wheels."""
    if spec.endswith(".whl") or os.path.isdir(spec):
        paths = sorted(glob.glob(os.path.join(spec, "gevent-*.whl"))) if os.path.isdir(spec) else [spec]
        if not paths or not all(os.path.isfile(p) for p in paths):
            raise EnvError("no gevent wheel at %s" % spec)
        versions = set()
        for path in paths:
            versions.add(wheel_version(path))
        if len(versions) > 1:
            raise EnvError("wheels of several gevent versions in %s: %s" % (spec, ", ".join(sorted(versions))))
        return Target(spec, versions.pop(), [os.path.abspath(p) for p in paths])
    if not matrix_mod._RELEASE.match(spec):
        raise EnvError("%r is neither a gevent release (26.9.0) nor a wheel or a folder of wheels" % spec)
    return Target(spec, spec)


def wheel_version(path):
    """The gevent version a wheel's name says (packaging reads it, as hangmatrix.envs.build does); EnvError
    if the name is not a gevent wheel's."""
    try:
        name, version, _, _ = parse_wheel_filename(os.path.basename(path))
    except ValueError:
        name = version = None
    if name != "gevent":
        raise EnvError("%s is not named like a gevent wheel (gevent-VERSION-TAGS.whl)" % path)
    return str(version)


def newest_release(interps):
    """The newest gevent release on the index with a wheel for one of the interpreters."""
    found = [v for i in interps for v in gevent_releases(i)[-1:]]
    if not found:
        raise EnvError("no gevent release on the index installs on %s" % ", ".join(i.short for i in interps))
    return max(found, key=version_key)


# ---------------------------------------------------------------- environments


def ensure(interp, tgt, requires=(), newest=False):
    """The environment of the target on the interpreter (EnvError: it does not install there), with the
    cases' requirements."""
    if not tgt.wheels:
        return ensure_env(interp, tgt.version, requires=requires, newest=newest)
    return ensure_wheel_env(interp, tgt.wheels, requires=requires, newest=newest)


def build_envs(tgt, interps, jobs=2):
    """({interp: Env}, {interp: reason it does not install}) for the target on each interpreter."""
    built, skipped = {}, {}
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        futures = {pool.submit(ensure, interp, tgt): interp for interp in interps}
        for future in concurrent.futures.as_completed(futures):
            try:
                built[futures[future]] = future.result()
            except EnvError as exc:
                skipped[futures[future]] = str(exc)
    order = {interp: n for n, interp in enumerate(interps)}
    return (
        dict(sorted(built.items(), key=lambda kv: order[kv[0]])),
        dict(sorted(skipped.items(), key=lambda kv: order[kv[0]])),
    )


# ---------------------------------------------------------------- running a target


def interpreters(m, pythons=()):
    """The interpreters a matrix (or explicit --python values) names."""
    if pythons:
        return [find_interpreter(p, debian_root=m.debian_root, say=say) for p in pythons]
    return m.select(discover([p for p in m.pythons if "/" in p], debian_root=m.debian_root, say=say))


def run_target(tgt, built, selection, jobs=None, on_record=None):
    """Run the selection's cells with the target on every interpreter it was built for; returns records."""
    if not built:
        return []
    items = runner.plan(
        pythons=[i.path if i.source == "explicit" else i.short for i in built],
        gevents=[tgt.version],
        warn=say,
        **selection,
    )
    return runner.execute(
        items, jobs=jobs, on_record=on_record, ensure=lambda interp, _, **wanted: ensure(interp, tgt, **wanted)
    )


# ---------------------------------------------------------------- comparing


@dataclass(frozen=True)
class Finding:
    """A cell NEW does otherwise than it should: OLD's run of it did otherwise, or the baseline expected
    otherwise. `was` is OLD's verdict or the expected verdicts ("ok or running"); `expectation` names the
    baseline rule that expected them ("" against OLD's records)."""

    key: str
    direction: str
    case: str
    config: str
    start: str
    python: str  # X.Y
    was: str
    now: str
    was_signature: str
    now_signature: str
    regression: bool  # a new hang or failure of a cell that ran (verdicts.change, or baseline.check's)
    expectation: str = ""

    @classmethod
    def of_change(cls, c):
        """A cell whose verdict differs from OLD's run of it (hangmatrix.report.diff.Change)."""
        return cls(
            key=c.key,
            direction=c.direction,
            case=c.case,
            config=c.config,
            start=c.start,
            python=c.python,
            was=c.old.verdict,
            now=c.new.verdict,
            was_signature=c.old.signature,
            now_signature=c.new.signature,
            regression=verdicts.change(c.old.verdict, c.new.verdict) == verdicts.REGRESSION,
        )

    @classmethod
    def of_failure(cls, f):
        """A cell whose verdict the baseline did not expect (hangmatrix.checks.baseline.Failure)."""
        rec = f.record
        if f.kind == "regression":  # verdicts.change_from decided it
            direction = "new hangs" if rec.hangs else "new failures"
        elif f.kind == "new pass":
            direction = "no longer hang" if any(map(verdicts.is_hang, f.expected)) else "fixed"
        else:
            direction = "other changes" if f.kind == "unexpected" else NOT_COVERED
        return cls(
            key=f.cell,
            direction=direction,
            case=rec.case,
            config=rec.config,
            start=rec.start,
            python=rec.python_short,
            was=" or ".join(f.expected) or "-",
            now=f.verdict,
            was_signature="",
            now_signature=rec.signature,
            regression=f.kind == "regression",
            expectation=str(f.rule) if f.rule is not None else "no rule matches",
        )


@dataclass(frozen=True)
class Check:
    """NEW's records checked: the findings by direction (new hangs first, non-empty groups only), how many
    cells are as they were (or as expected), NEW's cells OLD has not, and what NEW covered."""

    compared_with: str  # "records" (OLD's) or "baseline"
    groups: List[Tuple[str, List[Finding]]]  # (direction, its findings)
    unchanged: int
    only_new: List[str]  # keys of cells OLD has no run of
    cells: int
    pythons: List[str]  # NEW's, X.Y

    @property
    def findings(self) -> List[Finding]:
        return [f for _, group in self.groups for f in group]

    @property
    def regressions(self) -> List[Finding]:
        return [f for f in self.findings if f.regression]


def check(new_records, old_records=None, expectations=None):
    """Compare NEW's records with OLD's (matched on case, config, start and Python X.Y, as
    hangmatrix.report.diff does) or with the baseline's expectations (baseline.check): a Check. A regression
    is a new hang or a new failure of a cell that ran (hangmatrix.model.verdicts.change; OLD's env-error and
    unsupported cells are not comparable)."""
    cells, pythons = len(by_cell(new_records)), sorted({r.python_short for r in new_records}, key=version_key)
    if expectations is None:
        result = compare(old_records or [], new_records, ignore=("gevent",))
        groups = [(d, [Finding.of_change(c) for c in group]) for d, group in result.groups]
        return Check("records", groups, result.unchanged, list(result.only_new), cells, pythons)
    failures = baseline.check(new_records, expectations)
    findings = [Finding.of_failure(f) for f in failures]
    groups = [(d, [f for f in findings if f.direction == d]) for d in DIRECTIONS + (NOT_COVERED,)]
    return Check("baseline", [(d, g) for d, g in groups if g], cells - len(failures), [], cells, pythons)


def _alike(findings):
    """Findings that are one: same case, configuration, verdicts and signature (run-specific numbers
    aside), whatever the Python and start method. [(first finding, [findings])], in the given order."""
    groups = {}
    for f in findings:
        key = (
            f.case,
            f.config,
            f.was,
            f.now,
            f.expectation,
            normalize_signature(f.now_signature),
            normalize_signature(f.was_signature),
        )
        groups.setdefault(key, []).append(f)
    return [(members[0], members) for members in groups.values()]


def _where(members, pythons):
    """`seed_original py3.11 thread_false fork` for one cell; for several, the Pythons (as runs within
    those of the check) each with its start methods: `seed_original thread_false py3.9–3.13 (fork, spawn)`."""
    first = members[0]
    if len(members) == 1:
        return "%s py%s %s %s" % (first.case, first.python, first.config, first.start)
    starts = {}
    for f in members:
        starts.setdefault(f.python, set()).add(f.start)
    by_set = {}
    for py, sts in starts.items():
        by_set.setdefault(tuple(sorted(sts, key=(configs.STARTS + tuple(sorted(sts))).index)), set()).add(py)
    parts = []
    for sts, pys in by_set.items():
        runs = ", ".join(span(lo, hi) for lo, hi, _ in runs_of(pythons, pys))
        parts.append("py%s (%s)" % (runs, ", ".join(sts)))
    return "%s %s %s" % (first.case, first.config, "; ".join(parts))


def _n(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def _footer(result, skipped):
    """The closing sentences both reports share: what did not change, what was not compared or run."""
    same = "As expected" if result.compared_with == "baseline" else "Unchanged"
    out = ["%s: %s." % (same, _n(result.unchanged, "cell"))]
    if result.only_new:
        out.append("Not compared (OLD has no such cell): %s." % _n(len(result.only_new), "cell"))
    out += ["Not run on Python %s: %s" % kv for kv in (skipped or {}).items()]
    return out


def _outcome(result, new_label, old_label):
    n = len(result.regressions)
    if n:
        return "REGRESSION: a new hang or failure in %s (%s against %s)" % (_n(n, "cell"), new_label, old_label)
    return "OK: no new hang or failure (%s against %s)" % (new_label, old_label)


def report_text(result, new_label, old_label, skipped=None, elapsed=None):
    """The report as a person reads it in a terminal or a CI log: new hangs first, alike cells as one line."""
    lines = [
        "upgrade check: %s against %s, %s on Python %s"
        % (new_label, old_label, _n(result.cells, "cell"), ", ".join(result.pythons) or "-")
    ]
    for direction, group in result.groups:
        lines += ["", "%s (%s):" % (direction, _n(len(group), "cell"))]
        for f, members in _alike(group):
            lines.append("  %s: %s -> %s" % (_where(members, result.pythons), f.was, f.now))
            if f.now_signature:
                lines.append("      now: %s" % f.now_signature)
            if f.was_signature and f.direction not in REGRESSIONS:
                lines.append("      was: %s" % f.was_signature)
            if f.expectation:
                lines.append("      expected by: %s" % f.expectation)
    lines += [""] + _footer(result, skipped)
    lines.append(_outcome(result, new_label, old_label) + (" in %.0f s" % elapsed if elapsed is not None else ""))
    return "\n".join(lines)


def report_markdown(result, new_label, old_label, skipped=None):
    """The same report for a CI job summary ($GITHUB_STEP_SUMMARY)."""

    def cell(text):
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["## hangmatrix upgrade check", "", "**%s**" % _outcome(result, new_label, old_label), ""]
    for direction, group in result.groups:
        lines += [
            "### %s (%s)" % (direction, _n(len(group), "cell")),
            "",
            "| cells | was | now | signature |",
            "| --- | --- | --- | --- |",
        ]
        for f, members in _alike(group):
            sig = f.now_signature or f.was_signature
            lines.append(
                "| `%s` | %s | %s | %s |"
                % (
                    _where(members, result.pythons),
                    cell(f.was),
                    f.now,
                    "`%s`" % cell(sig) if sig else "",
                )
            )
        lines.append("")
    lines += [cell(line) + "  " for line in _footer(result, skipped)]
    return "\n".join(lines) + "\n"
