"""hangmatrix advise: run one program as written; if it hangs or fails, find the code change that fixes it."""

import os

from ..model import exits
from ..model.text import listed
from ..run import runner
from ..store import records
from .options import add_at_home, add_timeout, case_at_home, requirement_files, requirements, say

HELP = (
    "run one program as written; if it hangs or fails, find the code change that fixes it "
    "(exit 0 works, 1 fixable, 3 not, 2 bad input)"
)


def add_arguments(adv):
    adv.add_argument("script", nargs="?", help="the program, unedited (a .py file)")
    add_at_home(adv, many=False)
    adv.add_argument("--python", action="append", help="interpreters (default: the newest found)")
    adv.add_argument("--gevent", action="append", help="gevent releases (default: the newest for each Python)")
    adv.add_argument(
        "--start",
        action="append",
        help="start methods (default: fork, spawn, forkserver; `default` keeps the program's own choice)",
    )
    adv.add_argument(
        "--requires",
        action="append",
        metavar="REQ",
        help="requirements the program needs beside its `requires` header, e.g. 'grequests, requests<3' (repeatable)",
    )
    add_timeout(adv)
    adv.add_argument("--jobs", type=int, default=runner.default_jobs(), help="cells at once")
    adv.add_argument(
        "--confirm",
        type=int,
        default=1,
        help="more runs of each cell of a change that works before "
        "it is recommended (default 1; races make one run lie)",
    )
    adv.add_argument("--records", help="also append every cell's record to this file (for `hangmatrix show`)")


def main(args):
    from ..checks import advise
    from ..model import cases

    store = (lambda rec: records.append(args.records, rec)) if args.records else None
    if bool(args.script) == bool(args.cmd):
        say("advise takes a program (a .py file) or --cmd COMMAND, one of them")
        return exits.BAD_INPUT
    if args.project and not os.path.isdir(args.project):
        say("--project %s is not a folder" % args.project)
        return exits.BAD_INPUT
    try:
        script = case_at_home(args, args.script)
        extra = requirement_files(args.requirements)
    except (cases.CaseError, runner.PlanError) as exc:
        say(str(exc))
        return exits.BAD_INPUT
    try:
        return advise.advise(
            script,
            pythons=listed(args.python),
            gevents=listed(args.gevent),
            starts=listed(args.start) or advise.START_CANDIDATES,
            requires=requirements(args.requires) + extra,
            timeout=args.timeout,
            jobs=args.jobs,
            say=lambda line: print(line, flush=True),
            on_record=store,
            confirm=args.confirm,
        )
    except advise.AdviseError as exc:
        say(str(exc))
        return exits.BAD_INPUT
