"""hangmatrix show: the whole diagnosis of one cell from its records."""

from ..model import exits
from ..store import records
from .options import default_stores, say

HELP = "the whole diagnosis of a cell"


def add_arguments(parser):
    parser.add_argument("cell", help="cell id (or a unique part of one)")
    parser.add_argument("--records", action="append", default=None, help="records file(s) (default results/)")
    parser.add_argument(
        "--graph", action="store_true", help="print the hang's wait-for graph as Graphviz DOT (chain in bold)"
    )


def main(args):
    from ..report import show

    paths = args.records or default_stores()
    recs = records.read_many(paths, warn=say)
    hits = [r for r in recs if r.id == args.cell] or [r for r in recs if args.cell in r.id]
    if not hits:
        say("no record for %r in %s" % (args.cell, ", ".join(paths)))
        return exits.BAD_INPUT
    ids = sorted({r.id for r in hits})
    if len(ids) > 1 and args.cell not in ids:
        for cid in ids:
            print(show.render([r for r in hits if r.id == cid][-1]))
            print()
        return exits.OK
    if args.graph:
        from ..report import waitgraph

        if hits[-1].cause is None:
            say("%s: %s, no wait-for graph (only a proven deadlock or stall has one)" % (hits[-1].id, hits[-1].verdict))
            return exits.BAD_INPUT
        print(waitgraph.dot(hits[-1].cause, hits[-1].id))
        return exits.OK
    print(show.render(hits[-1]))
    return exits.OK
