"""hangmatrix table: the compatibility table from records, printed or written as files."""

import sys

from ..model import exits
from ..model.text import listed
from . import shards
from .options import default_stores, say

HELP = "the compatibility table from records (Markdown, HTML, CSV, JSON, claims)"


def add_arguments(tab):
    tab.add_argument(
        "--records",
        action="append",
        help="records: JSONL files, folders, or a compat.json (default: every store in results/)",
    )
    tab.add_argument("--out", help="write compat.md, compat.html, compat.csv and compat.json to this folder")
    tab.add_argument(
        "--format",
        choices=("md", "html", "csv", "json", "claims"),
        default="md",
        help="what to print without --out (default md)",
    )
    for axis in ("case", "config", "start", "python", "gevent"):
        tab.add_argument("--" + axis, action="append", help="only these %ss (globs)" % axis)


def main(args):
    from ..report import claims, html, markdown, selection, tabular, write

    recs = selection.select(
        selection.load(args.records or default_stores(), warn=say),
        case=listed(args.case),
        config=listed(args.config),
        start=listed(args.start),
        python=listed(args.python),
        gevent=listed(args.gevent),
    )
    if not recs:
        say("no records match in %s" % ", ".join(args.records or default_stores()))
        return exits.BAD_INPUT
    shards.warn_merged(recs, say)
    if args.out:
        for path in write.write_all(recs, args.out).values():
            print(path)
        return exits.OK
    render = {
        "md": markdown.markdown,
        "html": html.html,
        "csv": tabular.csv_text,
        "json": tabular.json_text,
        "claims": lambda r: markdown.claims_markdown(claims.claims(r)),
    }[args.format]
    sys.stdout.write(render(recs).rstrip("\n") + "\n")
    return exits.OK
