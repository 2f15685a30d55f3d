"""The `hangmatrix` command. The `run` interface is scripted by other tools and CI: keep it stable."""
import argparse
import os
import sys
import time

from .. import __version__
from ..model import cases, configs, matrix
from ..run import contain, runner
from ..envs import deps
from ..store import records
from ..shard import split
from . import shards

DEFAULT_RECORDS = os.path.join("results", "records.jsonl")
SELECTION_OPTIONS = ("case", "config", "start", "python", "gevent", "requires", "requires_newest", "matrix",
                     "matrix_file", "timeout", "detect")


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


def _selection(args):
    """The cells the selection options name (run and plan take the same ones)."""
    return runner.plan(
        case_names=_list(args.case), config_names=_list(args.config), starts=_list(args.start),
        pythons=_list(args.python), gevents=_list(args.gevent), matrix=args.matrix, matrix_file=args.matrix_file,
        timeout=args.timeout, detect=args.detect == "on", warn=_say, note=_say,
        requires=[r for value in args.requires or [] for r in deps.split(value)], requires_newest=args.requires_newest,
        memory=contain.parse_size(args.memory) if getattr(args, "memory", None) else None)


def cmd_run(args):
    plan, run_tag = shards.select_shard(_selection(args), args, _say)
    done_ids = set()
    if args.resume and os.path.exists(args.records):
        done_ids = {r.get("id") for r in records.read(args.records, warn=_say)}
    todo = [item for item in plan for _ in range(args.repeat) if item["id"] not in done_ids]
    if args.resume:
        _say("resuming: %d of %d cells already recorded" % (len({i["id"] for i in plan} & done_ids), len(plan)))
    started = time.time()
    counts = {}

    def report(rec):
        rec["run"] = run_tag  # which run (and shard) wrote it: hangmatrix merged
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
        from ..report import table
        table.write_all(records.read(args.records, warn=_say), args.table)  # every run: disagreements show
        _say("tables written to %s" % args.table)
    return 0


def cmd_plan(args):
    return shards.cmd_plan(args, _selection(args), _say)


def cmd_merged(args):
    return shards.cmd_merged(args, _say)


def _warn_merged(recs):
    from ..shard import merged
    for line in merged.problems(recs):
        _say("merged records: " + line + " (hangmatrix merged says more)")


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
    from ..report import table
    recs = table.select(table.load(args.records or [DEFAULT_RECORDS], warn=_say), case=_list(args.case),
                        config=_list(args.config), start=_list(args.start), python=_list(args.python),
                        gevent=_list(args.gevent))
    if not recs:
        _say("no records match in %s" % ", ".join(args.records or [DEFAULT_RECORDS]))
        return 2
    _warn_merged(recs)
    if args.out:
        for path in table.write_all(recs, args.out).values():
            print(path)
        return 0
    render = {"md": table.markdown, "html": table.html, "csv": table.csv_text, "json": table.json_text,
              "claims": lambda r: table.claims_markdown(table.claims(r))}[args.format]
    sys.stdout.write(render(recs).rstrip("\n") + "\n")
    return 0


def cmd_diff(args):
    import json
    from ..report import table
    old, new = table.load(args.old, warn=_say), table.load(args.new, warn=_say)
    _warn_merged(old)
    _warn_merged(new)
    result = table.diff(old, new, ignore=_list(args.ignore) or None)
    if args.json:
        print(json.dumps(result, indent=1, default=str))
    else:
        print(table.diff_text(result, args.old, args.new))
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
    from ..report import table
    try:
        if args.update:
            path = args.baseline or "expectations.toml"  # a user's own, in the working folder
            recs = table.load(args.records or [DEFAULT_RECORDS], warn=_say)
            new = baseline.update(recs, path)
            _say("%s rewritten: %d rules from %d records" % (path, len(new.rules), len(recs)))
            return 0
        args.baseline = args.baseline or baseline.default_path()
        expectations = baseline.load(args.baseline)
    except baseline.BaselineError as exc:
        _say(str(exc))
        return 2
    recs = table.load(args.records or [DEFAULT_RECORDS], warn=_say)
    failures = baseline.check(recs, expectations)
    for f in failures:
        print(f.message if args.verbose else f.message.split("\n  diagnosis:")[0], end="\n\n")
    _say("%d cells checked against %s: %d as expected, %d not" % (
        len(table.cells(recs)), args.baseline, len(table.cells(recs)) - len(failures), len(failures)))
    return 1 if failures else 0


def build_parser():
    parser = argparse.ArgumentParser(prog="hangmatrix", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run cells and append their records")
    run.add_argument("--case", action="append", help="case names or globs (default: all)")
    run.add_argument("--config", action="append", help="patch configurations (default: all named ones)")
    run.add_argument("--start", action="append", help="start methods: fork, spawn, forkserver, default")
    run.add_argument("--python", action="append", help="interpreter versions (3.11) or paths")
    run.add_argument("--gevent", action="append", help="gevent releases (default: the matrix's)")
    run.add_argument("--requires", action="append", metavar="REQ",
                     help="requirements the programs need, e.g. 'grequests, requests<3' (repeatable; added to each "
                          "case's `requires` header and the matrix's `requirements`)")
    run.add_argument("--requires-newest", action="store_true",
                     help="resolve requirements to their newest releases, not as of the gevent release's date")
    run.add_argument("--matrix", help="a matrix by name: ./matrix.toml's, else the built-in default, full, patterns "
                                          "(hangmatrix matrices lists them)")
    run.add_argument("--matrix-file", help="another matrix file")
    run.add_argument("--timeout", type=float, default=30.0, help="backstop per cell, seconds (default 30)")
    run.add_argument("--detect", choices=("on", "off"), default="on",
                     help="prove verdicts from observation (on) or wait out the timeout (off)")
    run.add_argument("--records", default=DEFAULT_RECORDS, help="JSONL file records are appended to")
    run.add_argument("--memory", help="memory cap per cell, like 2G or 512M (default: the "
                     "machine's memory divided by --jobs)")
    run.add_argument("--jobs", type=int, default=runner.default_jobs(), help="cells at once")
    run.add_argument("--repeat", type=int, default=1, help="runs per cell, every run kept")
    run.add_argument("--resume", action="store_true", help="skip cells the records file already has")
    run.add_argument("--table", help="also write the compatibility tables to this folder")
    run.add_argument("--quiet", action="store_true", help="no live progress display")
    shards.add_run_arguments(run)
    run.set_defaults(func=cmd_run)

    pln = sub.add_parser("plan", help="split a selection into N shards for N machines (--json: a CI job matrix)")
    for action in run._actions:  # the same selection options as run, defined once there
        if action.dest in SELECTION_OPTIONS:
            pln._add_action(action)
    shards.add_plan_arguments(pln)
    pln.set_defaults(func=cmd_plan)

    mrg = sub.add_parser("merged", help="which machine ran which cells of a merged run; exit 1 on a missing or "
                                        "twice-run shard or a cell recorded twice")
    shards.add_merged_arguments(mrg)
    mrg.set_defaults(func=cmd_merged)

    lst = sub.add_parser("cases", help="the cases run can name: $HANGMATRIX_CASES, ./cases, the built-in ones")
    lst.set_defaults(func=cmd_cases)

    mats = sub.add_parser("matrices", help="the matrices run --matrix can name: ./matrix.toml's, the built-in ones")
    mats.add_argument("--matrix-file", help="list only this file's matrices")
    mats.set_defaults(func=cmd_matrices)

    show = sub.add_parser("show", help="the whole diagnosis of a cell")
    show.add_argument("cell", help="cell id (or a unique part of one)")
    show.add_argument("--records", action="append", default=None, help="records file(s) (default results/)")
    show.set_defaults(func=cmd_show)

    from ..checks import upgrade
    up = sub.add_parser("upgrade-check", help="run the matrix with a new gevent; exit 1 on a new hang")
    upgrade.add_arguments(up, DEFAULT_RECORDS)
    up.set_defaults(func=cmd_upgrade_check)

    tab = sub.add_parser("table", help="the compatibility table from records (Markdown, HTML, CSV, JSON, claims)")
    tab.add_argument("--records", action="append", help="records: JSONL files, folders, or a compat.json "
                                                          "(default results/records.jsonl)")
    tab.add_argument("--out", help="write compat.md, compat.html, compat.csv and compat.json to this folder")
    tab.add_argument("--format", choices=("md", "html", "csv", "json", "claims"), default="md",
                     help="what to print without --out (default md)")
    for axis in ("case", "config", "start", "python", "gevent"):
        tab.add_argument("--" + axis, action="append", help="only these %ss (globs)" % axis)
    tab.set_defaults(func=cmd_table)

    dif = sub.add_parser("diff", help="cells whose verdict changed between two record sets (exit 1 if any)")
    dif.add_argument("old", help="records A: a JSONL file, a folder, or a compat.json")
    dif.add_argument("new", help="records B")
    dif.add_argument("--ignore", action="append", help="axes not to match cells on (default: python or gevent "
                                                       "when each side has one value and they differ)")
    dif.add_argument("--json", action="store_true", help="the result as JSON")
    dif.set_defaults(func=cmd_diff)

    bis = sub.add_parser("bisect", help="the first gevent release whose verdict differs from a good one")
    for name, text in (("case", "one case"), ("config", "one configuration"), ("start", "one start method"),
                       ("python", "one interpreter (3.11 or a path)"), ("good", "a gevent release with the "
                       "reference verdict"), ("bad", "a gevent release whose verdict differs")):
        bis.add_argument("--" + name, required=True, help=text)
    bis.add_argument("--timeout", type=float, default=30.0, help="backstop per cell, seconds (default 30)")
    bis.add_argument("--records", help="also append the records of the runs to this file")
    bis.add_argument("--brief", action="store_true", help="without the two diagnoses")
    bis.set_defaults(func=cmd_bisect)

    mini = sub.add_parser("minimal", help="the smallest set of patch_all flags that still hangs (hypothesis)")
    mini.add_argument("--case", default="seed_original", help="one case (default seed_original)")
    mini.add_argument("--start", default="fork", help="one start method (default fork)")
    mini.add_argument("--python", default="%d.%d" % sys.version_info[:2], help="one interpreter")
    mini.add_argument("--gevent", required=True, help="one gevent release")
    mini.add_argument("--flags", action="append", help="candidate flags (default: every flag patch_all enables)")
    mini.add_argument("--rest", choices=("default", "off"), default="default",
                      help="flags that are not candidates: patch_all's defaults (default) or off")
    mini.add_argument("--max-examples", type=int, default=25, help="hypothesis examples before shrinking")
    mini.add_argument("--timeout", type=float, default=20.0, help="backstop per cell, seconds (default 20)")
    mini.set_defaults(func=cmd_minimal)

    adv = sub.add_parser("advise", help="run one program as written; if it hangs or fails, find the code change "
                                        "that fixes it (exit 0 works, 1 fixable, 3 not, 2 bad input)")
    adv.add_argument("script", help="the program, unedited (a .py file)")
    adv.add_argument("--python", action="append", help="interpreters (default: the newest found)")
    adv.add_argument("--gevent", action="append", help="gevent releases (default: the newest for each Python)")
    adv.add_argument("--start", action="append", help="start methods (default: fork, spawn, forkserver; "
                                                      "`default` keeps the program's own choice)")
    adv.add_argument("--requires", action="append", metavar="REQ",
                     help="requirements the program needs beside its `requires` header, e.g. 'grequests, "
                          "requests<3' (repeatable)")
    adv.add_argument("--timeout", type=float, default=30.0, help="backstop per cell, seconds (default 30)")
    adv.add_argument("--jobs", type=int, default=runner.default_jobs(), help="cells at once")
    adv.add_argument("--confirm", type=int, default=1, help="more runs of each cell of a change that works before "
                                                           "it is recommended (default 1; races make one run lie)")
    adv.add_argument("--records", help="also append every cell's record to this file (for `hangmatrix show`)")
    adv.set_defaults(func=cmd_advise)

    base = sub.add_parser("baseline", help="check records against expectations.toml, or rewrite it")
    base.add_argument("--records", action="append", help="records (default results/records.jsonl)")
    base.add_argument("--baseline", help="the baseline file (default: ./expectations.toml, else the built-in one; "
                                         "--update writes ./expectations.toml)")
    base.add_argument("--update", "--update-baseline", action="store_true", help="rewrite the baseline from the records")
    base.add_argument("--verbose", action="store_true", help="with each failing cell's diagnosis")
    base.set_defaults(func=cmd_baseline)

    envs = sub.add_parser("envs", help="list, build and prune cell environments", add_help=False)
    envs.set_defaults(func=None)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["envs"]:
        return cmd_envs(None, argv[1:])
    args = build_parser().parse_args(argv)
    if getattr(args, "records", None) is None and args.command == "show":
        args.records = [DEFAULT_RECORDS]
    try:
        return args.func(args)
    except (cases.CaseError, configs.ConfigError, runner.PlanError, matrix.MatrixError, contain.SizeError,
            split.ShardError) as exc:
        _say(str(exc))
        return 2

