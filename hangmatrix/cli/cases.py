"""hangmatrix cases: every case `run --case` can name, folder by folder in lookup order, with its `what` line."""

from ..model import cases, exits, packaged

HELP = "the cases run can name: $HANGMATRIX_CASES, ./cases, the built-in ones"


def add_arguments(parser):
    pass


def main(args):
    seen = {}
    for folder, found in cases.listing():
        source = packaged.source(folder)
        print("%s (%s):" % (source, folder) if source == packaged.BUILTIN else "%s:" % folder)
        for case in found or []:
            hidden = " (hidden by %s)" % seen[case.name] if case.name in seen else ""
            print("  %-24s %s%s" % (case.name, case.what or case.problem or "-", hidden))
            seen.setdefault(case.name, "the one in %s" % folder)
        if not found:
            print("  (no cases)")
    return exits.OK
