"""hangmatrix run: plan the selection into cells, run them, append their records (and write the tables)."""

import os
import sys
import time

from ..model import exits, settings
from ..model.results import Results, result_line
from ..model.settings import DEFAULT_RECORDS
from ..model.text import listed
from ..run import plan as plan_mod
from ..run import runner
from ..store import compact, records
from . import shards
from .options import add_at_home, add_timeout, requirement_files, requirements, say

HELP = "run cells and append their records"


def add_selection(run):
    """The options that select cells: `run` and `plan` take the same ones."""
    run.add_argument("--case", action="append", help="case names or globs, or program files (default: all)")
    add_at_home(run, many=True)
    run.add_argument("--args", help="arguments for each program file case, e.g. '--workers 4'")
    run.add_argument(
        "--each-test",
        action="store_true",
        help="run each test a pytest --cmd collects as a cell of its own (one verdict per test)",
    )
    run.add_argument("--config", action="append", help="patch configurations (default: all named ones)")
    run.add_argument("--start", action="append", help="start methods: fork, spawn, forkserver, default")
    run.add_argument("--python", action="append", help="interpreter versions (3.11) or paths")
    run.add_argument("--gevent", action="append", help="gevent releases (default: the matrix's)")
    run.add_argument(
        "--requires",
        action="append",
        metavar="REQ",
        help="requirements the programs need, e.g. 'grequests, requests<3' (repeatable; added to each "
        "case's `requires` header and the matrix's `requirements`)",
    )
    run.add_argument(
        "--requires-newest",
        action="store_true",
        help="resolve requirements to their newest releases, not as of the gevent release's date",
    )
    run.add_argument(
        "--matrix",
        help="a matrix by name: ./matrix.toml's, else the built-in default, full, patterns "
        "(hangmatrix matrices lists them)",
    )
    run.add_argument("--matrix-file", help="another matrix file")
    add_timeout(run)
    run.add_argument(
        "--detect",
        default="on",
        help="prove verdicts from observation (on) or wait out the timeout (off)",
    )


def add_arguments(run):
    add_selection(run)
    run.add_argument(
        "--records",
        default=DEFAULT_RECORDS,
        help="JSONL file records are appended to (name it *.jsonl.gz for one gzip member per record)",
    )
    run.add_argument(
        "--keep",
        choices=compact.KEEPS,
        default=compact.KEEPS[0],
        help="compact (default): cells that worked or were unsupported keep a summary of their "
        "tree, not its stacks and fds; full: every record whole",
    )
    run.add_argument(
        "--memory", help="memory cap per cell, like 2G or 512M (default: the machine's memory divided by --jobs)"
    )
    run.add_argument(
        "--writable",
        action="append",
        metavar="DIR",
        help="a folder every cell may write besides its own (repeatable; as root a cell is sealed: it writes "
        "nowhere else), where a program shares lock files, FIFOs or logs with the world outside it",
    )
    run.add_argument("--jobs", type=int, default=plan_mod.default_jobs(), help="cells at once")
    run.add_argument("--repeat", type=int, default=1, help="runs per cell, every run kept")
    run.add_argument("--resume", action="store_true", help="skip cells the records file already has")
    run.add_argument("--table", help="also write the compatibility tables to this folder")
    run.add_argument("--quiet", action="store_true", help="no live progress display")
    shards.add_run_arguments(run)


def selection(args):
    """The planned cells the selection options name."""
    return plan_mod.plan(
        case_names=listed(args.case),
        config_names=listed(args.config),
        starts=listed(args.start),
        pythons=listed(args.python),
        gevents=listed(args.gevent),
        matrix=args.matrix,
        matrix_file=args.matrix_file,
        timeout=args.timeout,
        detect=settings.detect(args.detect),
        warn=say,
        note=say,
        requires=requirements(args.requires) + requirement_files(args.requirements),
        requires_newest=args.requires_newest,
        memory=settings.memory(getattr(args, "memory", None)),
        writable=settings.writable(getattr(args, "writable", None) or ()),
        **at_home(args),
    )


def at_home(args):
    """What runs a case as it runs at home: --cmd cases (named with --name), --args, --project."""
    import shlex

    from ..model import cases

    commands = [cases.command(c, args.name if len(args.cmd) == 1 else "") for c in args.cmd or []]
    if args.project and not os.path.isdir(args.project):
        raise cases.CaseError("--project %s is not a folder" % args.project)
    try:
        words = shlex.split(args.args or "")
    except ValueError as exc:
        raise cases.CaseError("--args %r: %s" % (args.args, exc)) from None
    return {
        "commands": commands,
        "args": words,
        "project": os.path.abspath(args.project) if args.project else "",
        "each_test": getattr(args, "each_test", False),
    }


def main(args):
    plan, run_tag = shards.select_shard(selection(args), args, say)
    done_ids = set()
    if args.resume and os.path.exists(args.records):
        done_ids = {r.id for r in records.read(args.records, warn=say)}
    todo = [cell for cell in plan for _ in range(args.repeat) if cell.id not in done_ids]
    if args.resume:
        say("resuming: %d of %d cells already recorded" % (len({c.id for c in plan} & done_ids), len(plan)))
    started = time.time()
    results = Results()

    def report(rec):
        rec = rec.replace(run=run_tag)  # which run (and shard) wrote it: hangmatrix merged
        records.append(args.records, rec, keep=args.keep)
        results.add(rec)
        print(result_line(rec), flush=True)

    try:
        runner.execute(
            todo, jobs=args.jobs, on_record=report, progress=not args.quiet and sys.stderr.isatty(), keep=args.keep
        )
    except KeyboardInterrupt:
        say(
            "interrupted: %d of %d cells recorded in %s (--resume runs the rest)"
            % (len(results.records), len(todo), args.records)
        )
        return exits.INTERRUPTED
    for cell in results.repeated().values():
        print(cell.line())
    say(
        "%d cells in %.1f s: %s; records in %s"
        % (len(results.records), time.time() - started, results.summary(), args.records)
    )
    if args.table:
        from ..report import write

        write.write_all(records.read(args.records, warn=say), args.table)  # every run: disagreements show
        say("tables written to %s" % args.table)
    return exits.OK
