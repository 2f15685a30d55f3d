"""hangmatrix bisect: the first gevent release whose verdict differs from a good one."""

from ..model import exits
from .options import add_at_home, add_timeout, case_at_home, say

HELP = "the first gevent release whose verdict differs from a good one"


def add_arguments(bis):
    for name, text in (
        ("config", "one configuration"),
        ("start", "one start method"),
        ("python", "one interpreter (3.11 or a path)"),
        ("good", "a gevent release with the reference verdict"),
        ("bad", "a gevent release whose verdict differs"),
    ):
        bis.add_argument("--" + name, required=True, help=text)
    bis.add_argument("--case", help="one case (or --cmd)")
    add_at_home(bis, many=False)
    add_timeout(bis)
    bis.add_argument("--records", help="also append the records of the runs to this file")
    bis.add_argument("--brief", action="store_true", help="without the two diagnoses")


def main(args):
    from ..checks import bisect
    from ..model import cases
    from ..run import runner

    try:
        case = case_at_home(args, args.case)
    except (cases.CaseError, runner.PlanError) as exc:
        say(str(exc))
        return exits.BAD_INPUT
    if not case or args.cmd and args.case:
        say("bisect takes one case: --case NAME or --cmd COMMAND")
        return exits.BAD_INPUT
    try:
        result = bisect.bisect(
            case,
            args.config,
            args.start,
            args.python,
            args.good,
            args.bad,
            timeout=args.timeout,
            records_path=args.records,
        )
    except bisect.BisectError as exc:
        say(str(exc))
        return exits.BAD_INPUT
    print(bisect.report(result, show_diagnoses=not args.brief), flush=True)
    return exits.OK if result["first_changed"] else exits.FINDING
