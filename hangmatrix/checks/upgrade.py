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

Stable interface (CI calls it):
    hangmatrix upgrade-check [--gevent NEW] [--against OLD | --baseline FILE] [--from-records PATH ...]
        [--matrix NAME] [--matrix-file FILE] [--case C] [--config K] [--start S] [--python P]
        [--records FILE] [--summary FILE] [--timeout S] [--jobs N]
    target(spec) -> Target;  newest_release(interpreters) -> str;  wheel_env(interpreter, wheels) -> envs.env.Env
    check(new_records, old_records=None, expectations=None) -> dict   (see `check`)
    report_text(result, new_label, old_label, skipped=None, elapsed=None) -> str
    report_markdown(result, new_label, old_label, skipped=None) -> str
"""

import concurrent.futures
import glob
import os
import re
import sys
import time
from dataclasses import dataclass, field

from ..envs.build import ensure_env, ensure_wheel_env
from ..envs.errors import EnvError
from ..envs.index import gevent_releases
from ..envs.interpreters import discover, find_interpreter
from ..model import configs, exits, settings, verdicts
from ..model import matrix as matrix_mod
from ..model.record import python_short
from ..model.versions import key as version_key
from ..report.cells import cells
from ..report.diff import DIRECTIONS, diff
from ..report.ranges import runs_of, span
from ..report.selection import load as load_records
from ..report.selection import select
from ..report.signatures import normalize_signature
from ..run import runner
from ..store import records
from . import baseline

REGRESSIONS = ("new hangs", "new failures")
WHEEL = re.compile(r"^gevent-(?P<version>[^-]+)-.*\.whl$")


def _say(msg):
    print("hangmatrix: " + msg, file=sys.stderr, flush=True)


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
            m = WHEEL.match(os.path.basename(path))
            if not m:
                raise EnvError("%s is not named like a gevent wheel (gevent-VERSION-TAGS.whl)" % path)
            versions.add(m.group("version"))
        if len(versions) > 1:
            raise EnvError("wheels of several gevent versions in %s: %s" % (spec, ", ".join(sorted(versions))))
        return Target(spec, versions.pop(), [os.path.abspath(p) for p in paths])
    if not matrix_mod._RELEASE.match(spec):
        raise EnvError("%r is neither a gevent release (26.9.0) nor a wheel or a folder of wheels" % spec)
    return Target(spec, spec)


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
        return [find_interpreter(p, debian_root=m.debian_root, say=_say) for p in pythons]
    return m.select(discover([p for p in m.pythons if "/" in p], debian_root=m.debian_root, say=_say))


def run_target(tgt, built, selection, jobs=None, on_record=None):
    """Run the selection's cells with the target on every interpreter it was built for; returns records."""
    if not built:
        return []
    items = runner.plan(
        pythons=[i.path if i.source == "explicit" else i.short for i in built],
        gevents=[tgt.version],
        warn=_say,
        **selection,
    )
    return runner.execute(
        items, jobs=jobs, on_record=on_record, ensure=lambda interp, _, **wanted: ensure(interp, tgt, **wanted)
    )


# ---------------------------------------------------------------- comparing


def check(new_records, old_records=None, expectations=None):
    """Compare NEW's records with OLD's (matched on case, config, start and Python X.Y, as hangmatrix.report.diff does)
    or with the baseline's expectations (baseline.check). Returns diff's shape ({"groups":
    [{"direction", "changes"}] (new hangs first), "changes", "unchanged", "only_new", ...}; a baseline's
    expectation stands in for the old side of a change) plus "cells" and "pythons" (NEW's), "compared_with"
    ("records" or "baseline") and "regressions": the changes that are a new hang or a new failure of a cell
    that ran (OLD's env-error and unsupported cells are not comparable)."""
    if expectations is None:
        result = diff(old_records or [], new_records, ignore=["gevent"])
        result["compared_with"] = "records"
    else:
        result = _from_failures(new_records, baseline.check(new_records, expectations))
    result["cells"] = len(cells(new_records))
    result["pythons"] = sorted({python_short(r) for r in new_records}, key=version_key)
    result["regressions"] = [
        c for c in result["changes"] if c["direction"] in REGRESSIONS and not verdicts.untested(c["old"]["verdict"])
    ]
    return result


def _from_failures(new_records, failures):
    """baseline.check's failures as diff's groups: the expectation is the old side."""
    changes = []
    for f in failures:
        rec = f.record
        if f.kind == "regression":
            direction = "new hangs" if verdicts.is_hang(f.verdict) else "new failures"
        elif f.kind == "new pass":
            direction = "no longer hang" if any(map(verdicts.is_hang, f.expected)) else "fixed"
        else:
            direction = "other changes" if f.kind == "unexpected" else "not covered by the baseline"
        where = str(f.rule) if f.rule is not None else "no rule matches"
        changes.append(
            {
                "key": f.cell,
                "direction": direction,
                "case": rec.get("case"),
                "config": rec.get("config"),
                "start": rec.get("start"),
                "python": python_short(rec),
                "gevent": rec.get("gevent"),
                "old": {"verdict": " or ".join(f.expected) or "-", "signature": "", "expectation": where},
                "new": {"id": f.cell, "verdict": f.verdict, "signature": rec.get("signature") or ""},
            }
        )
    order = DIRECTIONS + ("not covered by the baseline",)
    groups = [{"direction": d, "changes": [c for c in changes if c["direction"] == d]} for d in order]
    groups = [g for g in groups if g["changes"]]
    return {
        "groups": groups,
        "changes": [c for g in groups for c in g["changes"]],
        "unchanged": len(cells(new_records)) - len(failures),
        "only_new": [],
        "only_old": [],
        "compared_with": "baseline",
    }


def _alike(changes):
    """Changes that are one finding: same case, configuration, verdicts and signature (run-specific numbers
    aside), whatever the Python and start method. [(first change, [changes])], in the given order."""
    groups = {}
    for c in changes:
        key = (
            c["case"],
            c["config"],
            c["old"]["verdict"],
            c["new"]["verdict"],
            c["old"].get("expectation"),
            normalize_signature(c["new"]["signature"]),
            normalize_signature(c["old"]["signature"]),
        )
        groups.setdefault(key, []).append(c)
    return [(members[0], members) for members in groups.values()]


def _where(members, pythons):
    """`seed_original py3.11 thread_false fork` for one cell; for several, the Pythons (as runs within
    those of the check) each with its start methods: `seed_original thread_false py3.9–3.13 (fork, spawn)`."""
    first = members[0]
    if len(members) == 1:
        return "%s py%s %s %s" % (first["case"], first["python"], first["config"], first["start"])
    starts = {}
    for c in members:
        starts.setdefault(c["python"], set()).add(c["start"])
    by_set = {}
    for py, sts in starts.items():
        by_set.setdefault(tuple(sorted(sts, key=(configs.STARTS + tuple(sorted(sts))).index)), set()).add(py)
    parts = []
    for sts, pys in by_set.items():
        runs = ", ".join(span(lo, hi) for lo, hi, _ in runs_of(pythons, pys))
        parts.append("py%s (%s)" % (runs, ", ".join(sts)))
    return "%s %s %s" % (first["case"], first["config"], "; ".join(parts))


def _n(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def _footer(result, skipped):
    """The closing sentences both reports share: what did not change, what was not compared or run."""
    same = "As expected" if result["compared_with"] == "baseline" else "Unchanged"
    out = ["%s: %s." % (same, _n(result["unchanged"], "cell"))]
    if result["only_new"]:
        out.append("Not compared (OLD has no such cell): %s." % _n(len(result["only_new"]), "cell"))
    out += ["Not run on Python %s: %s" % kv for kv in (skipped or {}).items()]
    return out


def _outcome(result, new_label, old_label):
    n = len(result["regressions"])
    if n:
        return "REGRESSION: a new hang or failure in %s (%s against %s)" % (_n(n, "cell"), new_label, old_label)
    return "OK: no new hang or failure (%s against %s)" % (new_label, old_label)


def report_text(result, new_label, old_label, skipped=None, elapsed=None):
    """The report as a person reads it in a terminal or a CI log: new hangs first, alike cells as one line."""
    lines = [
        "upgrade check: %s against %s, %s on Python %s"
        % (new_label, old_label, _n(result["cells"], "cell"), ", ".join(result["pythons"]) or "-")
    ]
    for group in result["groups"]:
        lines += ["", "%s (%s):" % (group["direction"], _n(len(group["changes"]), "cell"))]
        for c, members in _alike(group["changes"]):
            lines.append(
                "  %s: %s -> %s" % (_where(members, result["pythons"]), c["old"]["verdict"], c["new"]["verdict"])
            )
            if c["new"]["signature"]:
                lines.append("      now: %s" % c["new"]["signature"])
            if c["old"]["signature"] and c["direction"] not in REGRESSIONS:
                lines.append("      was: %s" % c["old"]["signature"])
            if c["old"].get("expectation"):
                lines.append("      expected by: %s" % c["old"]["expectation"])
    lines += [""] + _footer(result, skipped)
    lines.append(_outcome(result, new_label, old_label) + (" in %.0f s" % elapsed if elapsed is not None else ""))
    return "\n".join(lines)


def report_markdown(result, new_label, old_label, skipped=None):
    """The same report for a CI job summary ($GITHUB_STEP_SUMMARY)."""

    def cell(text):
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["## hangmatrix upgrade check", "", "**%s**" % _outcome(result, new_label, old_label), ""]
    for group in result["groups"]:
        lines += [
            "### %s (%s)" % (group["direction"], _n(len(group["changes"]), "cell")),
            "",
            "| cells | was | now | signature |",
            "| --- | --- | --- | --- |",
        ]
        for c, members in _alike(group["changes"]):
            sig = c["new"]["signature"] or c["old"]["signature"]
            lines.append(
                "| `%s` | %s | %s | %s |"
                % (
                    _where(members, result["pythons"]),
                    cell(c["old"]["verdict"]),
                    c["new"]["verdict"],
                    "`%s`" % cell(sig) if sig else "",
                )
            )
        lines.append("")
    lines += [cell(line) + "  " for line in _footer(result, skipped)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the command


def add_arguments(parser, default_records):
    parser.add_argument(
        "--gevent",
        help="NEW: a release, a gevent wheel or a folder of wheels (default: the newest release on the index)",
    )
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--against",
        metavar="OLD",
        help="compare with gevent OLD run now (a release, wheel or folder of wheels) instead of the baseline",
    )
    how.add_argument("--baseline", help="expectations file (default: ./expectations.toml, else the built-in one)")
    parser.add_argument(
        "--from-records",
        action="append",
        metavar="PATH",
        help="check these records (files or folders) instead of running; with --gevent only "
        "that release's, with --against OLD compared with OLD's records among them",
    )
    parser.add_argument("--matrix", default="default", help="matrix of the matrix file (default: default)")
    parser.add_argument("--matrix-file", help="matrix file (default: ./matrix.toml, else the built-in one)")
    for axis in ("case", "config", "start", "python"):
        parser.add_argument("--" + axis, action="append", help="override the matrix's %ss" % axis)
    parser.add_argument("--records", default=default_records, help="JSONL file the runs' records are appended to")
    parser.add_argument(
        "--summary", help="append the report as Markdown to this file (default: $GITHUB_STEP_SUMMARY when set)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=settings.DEFAULT_TIMEOUT,
        help="backstop per cell, seconds (default %g)" % settings.DEFAULT_TIMEOUT,
    )
    parser.add_argument("--jobs", type=int, default=runner.default_jobs(), help="cells at once")


def main(args, listed):
    """Run the upgrade check; `listed` flattens repeatable, comma-separated options (cli.options.listed)."""
    started = time.time()
    try:
        return _main(args, listed, started)
    except (EnvError, matrix_mod.MatrixError, baseline.BaselineError) as exc:
        _say(str(exc))
        return exits.BAD_INPUT


def _main(args, listed, started):
    selection = {
        "case_names": listed(args.case),
        "config_names": listed(args.config),
        "starts": listed(args.start),
        "matrix": args.matrix,
        "matrix_file": args.matrix_file,
        "timeout": args.timeout,
    }
    expectations = None
    if not args.against:
        path = args.baseline or baseline.default_path()
        if not os.path.exists(path):
            _say("no baseline %s and no --against OLD: nothing to compare with" % path)
            return exits.BAD_INPUT
        expectations = baseline.load(path)
    gather = _from_records if args.from_records else _by_running
    got = gather(args, listed(args.python), selection)
    if isinstance(got, int):
        return got
    new_label, new_recs, old_label, old_recs, skipped = got
    if not new_recs:
        _say("no records of %s to check" % new_label)
        return exits.BAD_INPUT
    if expectations is not None:
        old_label = "the baseline %s" % path
        result = check(new_recs, expectations=expectations)
    else:
        result = check(new_recs, old_records=old_recs)
    print(report_text(result, new_label, old_label, skipped, time.time() - started))
    summary = args.summary or os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(report_markdown(result, new_label, old_label, skipped))
    return exits.FINDING if result["regressions"] else exits.OK


def _from_records(args, pythons, selection):
    """NEW's (and OLD's) records from files: the CI job that merged the matrix's artifacts."""
    recs = select(
        load_records(args.from_records, warn=_say),
        case=selection["case_names"],
        config=selection["config_names"],
        start=selection["starts"],
        python=pythons,
    )
    old_recs = select(recs, gevent=[args.against]) if args.against else None
    if args.gevent:
        new_recs = select(recs, gevent=[args.gevent])
    else:
        old_ids = {id(r) for r in old_recs or []}
        new_recs = [r for r in recs if id(r) not in old_ids]
    gevents = sorted({str(r.get("gevent")) for r in new_recs}, key=version_key)
    new_label = "gevent %s" % (", ".join(gevents) or args.gevent or "-")
    return new_label, new_recs, "gevent %s" % args.against if args.against else None, old_recs, {}


def _not_installed(tgt, reason):
    return reason if reason.startswith("gevent %s " % tgt.version) else "%s: %s" % (tgt.label, reason)


def _by_running(args, pythons, selection):
    """Build NEW (and OLD) on the matrix's interpreters, run the cells where they install, keep records."""
    m = matrix_mod.load_matrix(args.matrix_file, args.matrix)
    _say(matrix_mod.describe(m))
    interps = interpreters(m, pythons)
    if not interps:
        _say("the matrix names no interpreter on this machine")
        return exits.BAD_INPUT
    new = target(args.gevent) if args.gevent else target(newest_release(interps))
    old = target(args.against) if args.against else None
    _say(
        "building %s%s on Python %s"
        % (new.label, " and %s" % old.label if old else "", ", ".join(i.short for i in interps))
    )
    new_built, new_skipped = build_envs(new, interps)
    skipped = {i.short: _not_installed(new, r) for i, r in new_skipped.items()}
    old_built = {}
    if old:
        old_built, old_skipped = build_envs(old, list(new_built))
        skipped.update({i.short: _not_installed(old, r) for i, r in old_skipped.items()})
        new_built = {i: e for i, e in new_built.items() if i in old_built}
    if not new_built:
        _say("nothing to check: %s" % "; ".join("Python %s: %s" % kv for kv in skipped.items()))
        return exits.BAD_INPUT

    def keep(rec):
        records.append(args.records, rec)
        _say("%-11s %6.2fs  %s  %s" % (rec["verdict"], rec.get("elapsed_s", 0), rec["id"], rec["signature"][:160]))

    new_recs = run_target(new, new_built, selection, args.jobs, keep)
    old_recs = run_target(old, {i: old_built[i] for i in new_built}, selection, args.jobs, keep) if old else None
    return new.label, new_recs, old.label if old else None, old_recs, skipped
