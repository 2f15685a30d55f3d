"""hangmatrix diff: the cells whose verdict changed between two record sets."""

import json

from ..model import exits
from ..model.text import listed
from . import shards
from .options import say

HELP = "cells whose verdict changed between two record sets (exit 1 if any)"


def add_arguments(dif):
    dif.add_argument("old", help="records A: a JSONL file, a folder, or a compat.json")
    dif.add_argument("new", help="records B")
    dif.add_argument(
        "--ignore",
        action="append",
        help="axes not to match cells on (default: python or gevent when each side has one value and they differ)",
    )
    dif.add_argument("--json", action="store_true", help="the result as JSON")


def main(args):
    from ..report import diff, selection

    old, new = selection.load(args.old, warn=say), selection.load(args.new, warn=say)
    shards.warn_merged(old, say)
    shards.warn_merged(new, say)
    result = diff.compare(old, new, ignore=listed(args.ignore) or None)
    if args.json:
        print(json.dumps(result.as_json(), indent=1, default=str))
    else:
        print(diff.diff_text(result, args.old, args.new))
    return exits.FINDING if result.changes else exits.OK
