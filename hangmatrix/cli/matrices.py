"""hangmatrix matrices: every matrix `run --matrix` can name, file by file in lookup order, with its `what` line."""

from ..model import exits, matrix, packaged

HELP = "the matrices run --matrix can name: ./matrix.toml's, the built-in ones"


def add_arguments(parser):
    parser.add_argument("--matrix-file", help="list only this file's matrices")


def main(args):
    seen = {}
    for path, found in matrix.listing(args.matrix_file):
        source = packaged.source(path)
        print("%s (%s):" % (source, path) if source == packaged.BUILTIN else "%s:" % path)
        for m in found:
            hidden = " (hidden by %s)" % seen[m.name] if m.name in seen else ""
            print("  %-24s %s%s" % (m.name, m.what or "-", hidden))
            seen.setdefault(m.name, "the one in %s" % path)
    return exits.OK
