"""What every subcommand shares: how --requires is read, how a message is said, where records are read from.
How repeatable options are flattened is hangmatrix.model.text.listed (the pytest plugin reads them the same way)."""

import os

from ..model import settings
from ..model.requirements import split
from ..model.text import say  # noqa: F401  (every subcommand says its messages through it)


def default_stores():
    """What the reading subcommands read when no --records is given: every store in DEFAULT_RECORDS' folder
    (so a plain `records.jsonl` written before the default became gzip is still read), else the default."""
    folder = os.path.dirname(settings.DEFAULT_RECORDS)
    return [folder if os.path.isdir(folder) else settings.DEFAULT_RECORDS]


def requirements(values):
    """Repeatable --requires values, each a comma-separated list of requirements."""
    return [r for value in values or [] for r in split(value)]


def add_timeout(parser, default=settings.DEFAULT_TIMEOUT):
    parser.add_argument(
        "--timeout", type=float, default=default, help="backstop per cell, seconds (default %g)" % default
    )
