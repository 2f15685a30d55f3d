"""hangmatrix baseline: check records against expectations.toml, or rewrite it from them."""

from ..model import exits
from .options import default_stores, say

HELP = "check records against expectations.toml, or rewrite it"


def add_arguments(base):
    base.add_argument("--records", action="append", help="records (default: every store in results/)")
    base.add_argument(
        "--baseline",
        help="the baseline file (default: ./expectations.toml, else the built-in one; "
        "--update writes ./expectations.toml)",
    )
    base.add_argument(
        "--update", "--update-baseline", action="store_true", help="rewrite the baseline from the records"
    )
    base.add_argument("--verbose", action="store_true", help="with each failing cell's diagnosis")


def main(args):
    from ..checks import baseline
    from ..model.record import by_cell
    from ..report import selection

    try:
        if args.update:
            path = args.baseline or "expectations.toml"  # a user's own, in the working folder
            recs = selection.load(args.records or default_stores(), warn=say)
            new = baseline.update(recs, path)
            say("%s rewritten: %d rules from %d records" % (path, len(new.rules), len(recs)))
            return exits.OK
        args.baseline = args.baseline or baseline.default_path()
        expectations = baseline.load(args.baseline)
    except baseline.BaselineError as exc:
        say(str(exc))
        return exits.BAD_INPUT
    recs = selection.load(args.records or default_stores(), warn=say)
    failures = baseline.check(recs, expectations)
    for f in failures:
        print(f.message if args.verbose else f.headline, end="\n\n")
    checked = len(by_cell(recs))
    say(
        "%d cells checked against %s: %d as expected, %d not"
        % (checked, args.baseline, checked - len(failures), len(failures))
    )
    return exits.FINDING if failures else exits.OK
