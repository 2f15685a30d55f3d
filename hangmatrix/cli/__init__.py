"""The `hangmatrix` command: one module per subcommand (its options and what it does); this module only
builds the parser and dispatches. The `run` interface is scripted by other tools and CI: keep it stable."""
import argparse
import importlib
import os
import sys

from .. import __version__
from ..envs.errors import EnvError
from ..model import cases, configs, exits, matrix, settings
from ..run import contain, runner
from .options import say

<<<<<<< HEAD
DESCRIPTION = ("Runs real programs under gevent's monkey patching and multiprocessing across configurations, "
               "start methods, interpreters and gevent releases, proves each cell's verdict, and reports.")
# name -> module under hangmatrix.cli, in the order `hangmatrix --help` lists them
SUBCOMMANDS = ("run", "cases", "matrices", "show", "upgrade-check", "table", "diff", "bisect", "minimal", "advise",
               "baseline", "envs")
# Errors that are bad input, said in one line (exit 2) whichever subcommand raises them.
_BAD_INPUT = (cases.CaseError, configs.ConfigError, runner.PlanError, matrix.MatrixError, contain.SizeError,
              settings.SettingError, EnvError)
=======
DEFAULT_RECORDS = os.path.join("results", "records.jsonl")


def _list(values):
    """Repeatable and comma-separated options, flattened (`--config a,b --config c`). A `flags:` config
    keeps its commas: `flags:thread=0,queue=0` is one configuration."""
    out = []
    for value in values or []:
        if value.startswith("flags:"):
            out.append(value)
        else:
            out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def _say(msg):
    print("hangmatrix: " + msg, file=sys.stderr)


def cmd_run(args):
    plan = runner.plan(
        case_names=_list(args.case), config_names=_list(args.config), starts=_list(args.start),
        pythons=_list(args.python), gevents=_list(args.gevent), matrix=args.matrix, matrix_file=args.matrix_file,
        timeout=args.timeout, detect=args.detect == "on", warn=_say, note=_say,
        requires=[r for value in args.requires or [] for r in deps.split(value)], requires_newest=args.requires_newest,
        memory=contain.parse_size(args.memory) if args.memory else None)
    done_ids = set()
    if args.resume and os.path.exists(args.records):
        done_ids = {r.get("id") for r in records.read(args.records, warn=_say)}
    todo = [item for item in plan for _ in range(args.repeat) if item["id"] not in done_ids]
    if args.resume:
        _say("resuming: %d of %d cells already recorded" % (len({i["id"] for i in plan} & done_ids), len(plan)))
    started = time.time()
    counts = {}

    def report(rec):
        records.append(args.records, rec)
        counts[rec["verdict"]] = counts.get(rec["verdict"], 0) + 1
        print("%-11s %6.2fs  %s  %s" % (rec["verdict"], rec.get("elapsed_s", 0), rec["id"], rec.get("signature", "")),
              flush=True)

    done = runner.execute(todo, jobs=args.jobs, on_record=report, progress=not args.quiet and sys.stderr.isatty())
    if args.repeat > 1:
        for cid, summary in sorted(records.summarize(done).items()):
            print("%-11s %-28s 95%% CI %.2f-%.2f  %s" % (summary["verdict"], summary["rate"], summary["ci"][0],
                                                       summary["ci"][1], cid))
    _say("%d cells in %.1f s: %s; records in %s" % (
        sum(counts.values()), time.time() - started,
        ", ".join("%s %d" % kv for kv in sorted(counts.items())) or "nothing to run", args.records))
    if args.table:
        from ..report import write
        write.write_all(records.read(args.records, warn=_say), args.table)  # every run: disagreements show
        _say("tables written to %s" % args.table)
    return 0


def cmd_cases(args):
    """Every case `run --case` can name, folder by folder in lookup order, with its `what` line."""
    from ..model import packaged
    seen = {}
    for folder, found in cases.listing():
        source = packaged.source(folder)
        print("%s (%s):" % (source, folder) if source == packaged.BUILTIN else "%s:" % folder)
        for case in found or []:
            hidden = " (hidden by %s)" % seen[case.name] if case.name in seen else ""
            print("  %-24s %s%s" % (case.name, case.what or case.problem or "-", hidden))
            seen.setdefault(case.name, "the one in %s" % folder)
        if not found:
            print("  (no cases)")
    return 0


def cmd_matrices(args):
    """Every matrix `run --matrix` can name, file by file in lookup order, with its `what` line."""
    from ..model import packaged
    seen = {}
    for path, found in matrix.listing(args.matrix_file):
        source = packaged.source(path)
        print("%s (%s):" % (source, path) if source == packaged.BUILTIN else "%s:" % path)
        for m in found:
            hidden = " (hidden by %s)" % seen[m.name] if m.name in seen else ""
            print("  %-24s %s%s" % (m.name, m.what or "-", hidden))
            seen.setdefault(m.name, "the one in %s" % path)
    return 0


def cmd_show(args):
    from ..report import show
    recs = records.read_many(args.records, warn=_say)
    hits = [r for r in recs if r.get("id") == args.cell] or [r for r in recs if args.cell in r.get("id", "")]
    if not hits:
        _say("no record for %r in %s" % (args.cell, ", ".join(args.records)))
        return 2
    ids = sorted({r["id"] for r in hits})
    if len(ids) > 1 and args.cell not in ids:
        for cid in ids:
            print(show.render([r for r in hits if r["id"] == cid][-1]))
            print()
        return 0
    print(show.render(hits[-1]))
    return 0


def cmd_envs(args, rest):
    from .. import envs
    return envs.envs_main(rest)


def cmd_upgrade_check(args):
    from ..checks import upgrade
    return upgrade.main(args, _list)


def cmd_table(args):
    from ..report import claims, html, markdown, selection, tabular, write
    recs = selection.select(selection.load(args.records or [DEFAULT_RECORDS], warn=_say), case=_list(args.case),
                            config=_list(args.config), start=_list(args.start), python=_list(args.python),
                            gevent=_list(args.gevent))
    if not recs:
        _say("no records match in %s" % ", ".join(args.records or [DEFAULT_RECORDS]))
        return 2
    if args.out:
        for path in write.write_all(recs, args.out).values():
            print(path)
        return 0
    render = {"md": markdown.markdown, "html": html.html, "csv": tabular.csv_text, "json": tabular.json_text,
              "claims": lambda r: markdown.claims_markdown(claims.claims(r))}[args.format]
    sys.stdout.write(render(recs).rstrip("\n") + "\n")
    return 0


def cmd_diff(args):
    import json
    from ..report import diff, selection
    old, new = selection.load(args.old, warn=_say), selection.load(args.new, warn=_say)
    result = diff.diff(old, new, ignore=_list(args.ignore) or None)
    if args.json:
        print(json.dumps(result, indent=1, default=str))
    else:
        print(diff.diff_text(result, args.old, args.new))
    return 1 if result["changes"] else 0


def cmd_bisect(args):
    from ..checks import bisect
    try:
        result = bisect.bisect(args.case, args.config, args.start, args.python, args.good, args.bad,
                               timeout=args.timeout, records_path=args.records)
    except bisect.BisectError as exc:
        _say(str(exc))
        return 2
    print(bisect.report(result, show_diagnoses=not args.brief), flush=True)
    return 0 if result["first_changed"] else 1


def cmd_minimal(args):
    from ..checks import minimal
    try:
        result = minimal.search(args.case, args.start, args.python, args.gevent, universe=_list(args.flags) or None,
                                rest=args.rest, timeout=args.timeout, max_examples=args.max_examples)
    except minimal.MinimalError as exc:
        _say(str(exc))
        return 2
    print(minimal.report(result), flush=True)
    return 0


def cmd_advise(args):
    from ..checks import advise
    store = (lambda rec: records.append(args.records, rec)) if args.records else None
    try:
        return advise.advise(args.script, pythons=_list(args.python), gevents=_list(args.gevent),
                             starts=_list(args.start) or advise.START_CANDIDATES,
                             requires=[r for value in args.requires or [] for r in deps.split(value)],
                             timeout=args.timeout, jobs=args.jobs, say=lambda line: print(line, flush=True),
                             on_record=store, confirm=args.confirm)
    except advise.AdviseError as exc:
        _say(str(exc))
        return advise.EXIT_BAD_INPUT


def cmd_baseline(args):
    from ..checks import baseline
    from ..report import cells, selection
    try:
        if args.update:
            path = args.baseline or "expectations.toml"  # a user's own, in the working folder
            recs = selection.load(args.records or [DEFAULT_RECORDS], warn=_say)
            new = baseline.update(recs, path)
            _say("%s rewritten: %d rules from %d records" % (path, len(new.rules), len(recs)))
            return 0
        args.baseline = args.baseline or baseline.default_path()
        expectations = baseline.load(args.baseline)
    except baseline.BaselineError as exc:
        _say(str(exc))
        return 2
    recs = selection.load(args.records or [DEFAULT_RECORDS], warn=_say)
    failures = baseline.check(recs, expectations)
    for f in failures:
        print(f.message if args.verbose else f.message.split("\n  diagnosis:")[0], end="\n\n")
    _say("%d cells checked against %s: %d as expected, %d not" % (
        len(cells.cells(recs)), args.baseline, len(cells.cells(recs)) - len(failures), len(failures)))
    return 1 if failures else 0
>>>>>>> report


def build_parser():
    parser = argparse.ArgumentParser(prog="hangmatrix", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module("." + name.replace("-", "_"), __name__)
        command = sub.add_parser(name, help=module.HELP)
        module.add_arguments(command)
        command.set_defaults(func=module.main)
    return parser


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        settings.check()
        return args.func(args)
    except _BAD_INPUT as exc:
        say(str(exc))
        return exits.BAD_INPUT
    except BrokenPipeError:  # `hangmatrix show CELL | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return exits.OK
