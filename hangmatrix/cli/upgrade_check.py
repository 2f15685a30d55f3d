"""hangmatrix upgrade-check: the matrix with a new gevent against the baseline (or an older release). The
command line; the checking is hangmatrix.checks.upgrade's."""

import os
import time

from ..checks import baseline, upgrade
from ..envs.errors import EnvError
from ..model import exits
from ..model import matrix as matrix_mod
from ..model.results import result_line
from ..model.settings import DEFAULT_RECORDS
from ..model.text import listed
from ..model.versions import key as version_key
from ..report.selection import load as load_records
from ..report.selection import select
from ..run import runner
from ..store import records
from .options import add_timeout, say

HELP = "run the matrix with a new gevent; exit 1 on a new hang"


def add_arguments(parser):
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
    parser.add_argument(
        "--matrix",
        default=matrix_mod.DEFAULT_NAME,
        help="matrix of the matrix file (default: %s)" % matrix_mod.DEFAULT_NAME,
    )
    parser.add_argument("--matrix-file", help="matrix file (default: ./matrix.toml, else the built-in one)")
    for axis in ("case", "config", "start", "python"):
        parser.add_argument("--" + axis, action="append", help="override the matrix's %ss" % axis)
    parser.add_argument("--records", default=DEFAULT_RECORDS, help="JSONL file the runs' records are appended to")
    parser.add_argument(
        "--summary", help="append the report as Markdown to this file (default: $GITHUB_STEP_SUMMARY when set)"
    )
    add_timeout(parser)
    parser.add_argument("--jobs", type=int, default=runner.default_jobs(), help="cells at once")


def main(args):
    """Run the upgrade check (the exit codes: hangmatrix.checks.upgrade's module doc)."""
    started = time.time()
    try:
        return _main(args, started)
    except (EnvError, matrix_mod.MatrixError, baseline.BaselineError) as exc:
        say(str(exc))
        return exits.BAD_INPUT


def _main(args, started):
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
            say("no baseline %s and no --against OLD: nothing to compare with" % path)
            return exits.BAD_INPUT
        expectations = baseline.load(path)
    gather = _from_records if args.from_records else _by_running
    got = gather(args, listed(args.python), selection)
    if isinstance(got, int):
        return got
    new_label, new_recs, old_label, old_recs, skipped = got
    if not new_recs:
        say("no records of %s to check" % new_label)
        return exits.BAD_INPUT
    if expectations is not None:
        old_label = "the baseline %s" % path
        result = upgrade.check(new_recs, expectations=expectations)
    else:
        result = upgrade.check(new_recs, old_records=old_recs)
    print(upgrade.report_text(result, new_label, old_label, skipped, time.time() - started))
    summary = args.summary or os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(upgrade.report_markdown(result, new_label, old_label, skipped))
    return exits.FINDING if result.regressions else exits.OK


def _from_records(args, pythons, selection):
    """NEW's (and OLD's) records from files: the CI job that merged the matrix's artifacts."""
    recs = select(
        load_records(args.from_records, warn=say),
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
    gevents = sorted({r.gevent for r in new_recs}, key=version_key)
    new_label = "gevent %s" % (", ".join(gevents) or args.gevent or "-")
    return new_label, new_recs, "gevent %s" % args.against if args.against else None, old_recs, {}


def _not_installed(tgt, reason):
    return reason if reason.startswith("gevent %s " % tgt.version) else "%s: %s" % (tgt.label, reason)


def _by_running(args, pythons, selection):
    """Build NEW (and OLD) on the matrix's interpreters, run the cells where they install, keep records."""
    m = matrix_mod.load_matrix(args.matrix_file, args.matrix)
    say(matrix_mod.describe(m))
    interps = upgrade.interpreters(m, pythons)
    if not interps:
        say("the matrix names no interpreter on this machine")
        return exits.BAD_INPUT
    new = upgrade.target(args.gevent) if args.gevent else upgrade.target(upgrade.newest_release(interps))
    old = upgrade.target(args.against) if args.against else None
    say(
        "building %s%s on Python %s"
        % (new.label, " and %s" % old.label if old else "", ", ".join(i.short for i in interps))
    )
    new_built, new_skipped = upgrade.build_envs(new, interps)
    skipped = {i.short: _not_installed(new, r) for i, r in new_skipped.items()}
    old_built = {}
    if old:
        old_built, old_skipped = upgrade.build_envs(old, list(new_built))
        skipped.update({i.short: _not_installed(old, r) for i, r in old_skipped.items()})
        new_built = {i: e for i, e in new_built.items() if i in old_built}
    if not new_built:
        say("nothing to check: %s" % "; ".join("Python %s: %s" % kv for kv in skipped.items()))
        return exits.BAD_INPUT

    def keep(rec):
        records.append(args.records, rec)
        say(result_line(rec, width=160))

    new_recs = upgrade.run_target(new, new_built, selection, args.jobs, keep)
    old_recs = (
        upgrade.run_target(old, {i: old_built[i] for i in new_built}, selection, args.jobs, keep) if old else None
    )
    return new.label, new_recs, old.label if old else None, old_recs, skipped
