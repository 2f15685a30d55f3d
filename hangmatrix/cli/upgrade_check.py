"""hangmatrix upgrade-check: the matrix with a new gevent against the baseline (or an older release)."""

from ..checks import upgrade
from ..model.settings import DEFAULT_RECORDS
from ..model.text import listed

HELP = "run the matrix with a new gevent; exit 1 on a new hang"


def add_arguments(parser):
    upgrade.add_arguments(parser, DEFAULT_RECORDS)


def main(args):
    return upgrade.main(args, listed)
