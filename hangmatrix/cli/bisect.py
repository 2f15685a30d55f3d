"""hangmatrix bisect: the first gevent release whose verdict differs from a good one."""

from ..model import exits
from .options import add_timeout, say

HELP = "the first gevent release whose verdict differs from a good one"


def add_arguments(bis):
    for name, text in (
        ("case", "one case"),
        ("config", "one configuration"),
        ("start", "one start method"),
        ("python", "one interpreter (3.11 or a path)"),
        ("good", "a gevent release with the reference verdict"),
        ("bad", "a gevent release whose verdict differs"),
    ):
        bis.add_argument("--" + name, required=True, help=text)
    add_timeout(bis)
    bis.add_argument("--records", help="also append the records of the runs to this file")
    bis.add_argument("--brief", action="store_true", help="without the two diagnoses")


def main(args):
    from ..checks import bisect

    try:
        result = bisect.bisect(
            args.case,
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
