"""The `hangmatrix` command. The `run` interface is scripted by other tools and CI: keep it stable."""
import argparse
import os
import sys
import time

from . import __version__, cases, configs, matrix, records, runner

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
        timeout=args.timeout, detect=args.detect == "on", warn=_say)
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
        from . import table
        table.write_all(records.latest(records.read(args.records, warn=_say)), args.table)
        _say("tables written to %s" % args.table)
    return 0


def cmd_show(args):
    from . import show
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
    from . import envs
    return envs.envs_main(rest)


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
    run.add_argument("--matrix", help="a matrix of matrix.toml: default or full")
    run.add_argument("--matrix-file", help="another matrix file")
    run.add_argument("--timeout", type=float, default=30.0, help="backstop per cell, seconds (default 30)")
    run.add_argument("--detect", choices=("on", "off"), default="on",
                     help="prove verdicts from observation (on) or wait out the timeout (off)")
    run.add_argument("--records", default=DEFAULT_RECORDS, help="JSONL file records are appended to")
    run.add_argument("--jobs", type=int, default=runner.default_jobs(), help="cells at once")
    run.add_argument("--repeat", type=int, default=1, help="runs per cell, every run kept")
    run.add_argument("--resume", action="store_true", help="skip cells the records file already has")
    run.add_argument("--table", help="also write the compatibility tables to this folder")
    run.add_argument("--quiet", action="store_true", help="no live progress display")
    run.set_defaults(func=cmd_run)

    show = sub.add_parser("show", help="the whole diagnosis of a cell")
    show.add_argument("cell", help="cell id (or a unique part of one)")
    show.add_argument("--records", action="append", default=None, help="records file(s) (default results/)")
    show.set_defaults(func=cmd_show)

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
    except (cases.CaseError, configs.ConfigError, runner.PlanError, matrix.MatrixError) as exc:
        _say(str(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main())
