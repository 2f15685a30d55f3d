"""hangmatrix minimal: the smallest set of patch_all flags that still hangs (a hypothesis search)."""

import sys

from ..model import exits, settings
from ..model.text import listed
from .options import add_at_home, add_timeout, case_at_home, say

HELP = "the smallest set of patch_all flags that still hangs (hypothesis)"


def add_arguments(mini):
    mini.add_argument("--case", default="seed_original", help="one case (default seed_original; or --cmd)")
    add_at_home(mini, many=False)
    mini.add_argument("--start", default="fork", help="one start method (default fork)")
    mini.add_argument("--python", default="%d.%d" % sys.version_info[:2], help="one interpreter")
    mini.add_argument("--gevent", required=True, help="one gevent release")
    mini.add_argument("--flags", action="append", help="candidate flags (default: every flag patch_all enables)")
    mini.add_argument(
        "--rest",
        choices=("default", "off"),
        default="default",
        help="flags that are not candidates: patch_all's defaults (default) or off",
    )
    mini.add_argument("--max-examples", type=int, default=25, help="hypothesis examples before shrinking")
    add_timeout(mini, settings.MINIMAL_TIMEOUT)


def main(args):
    from ..checks import minimal
    from ..model import cases
    from ..run import runner

    try:
        case = case_at_home(args, args.case)
    except (cases.CaseError, runner.PlanError) as exc:
        say(str(exc))
        return exits.BAD_INPUT
    try:
        result = minimal.search(
            case,
            args.start,
            args.python,
            args.gevent,
            universe=listed(args.flags) or None,
            rest=args.rest,
            timeout=args.timeout,
            max_examples=args.max_examples,
        )
    except minimal.MinimalError as exc:
        say(str(exc))
        return exits.BAD_INPUT
    print(minimal.report(result), flush=True)
    return exits.OK
