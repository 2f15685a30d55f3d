"""What every subcommand shares: how --requires is read, how a message is said, where records are read from.
How repeatable options are flattened is hangmatrix.model.text.listed (the pytest plugin reads them the same way)."""

import os
import sys

from ..model import settings
from ..model.requirements import split


def default_stores():
    """What the reading subcommands read when no --records is given: every store in DEFAULT_RECORDS' folder
    (so a plain `records.jsonl` written before the default became gzip is still read), else the default."""
    folder = os.path.dirname(settings.DEFAULT_RECORDS)
    return [folder if os.path.isdir(folder) else settings.DEFAULT_RECORDS]


def requirements(values):
    """Repeatable --requires values, each a comma-separated list of requirements."""
    return [r for value in values or [] for r in split(value)]


def say(msg):
    print("hangmatrix: " + msg, file=sys.stderr)


def add_timeout(parser, default=settings.DEFAULT_TIMEOUT):
    parser.add_argument(
        "--timeout", type=float, default=default, help="backstop per cell, seconds (default %g)" % default
    )


def add_at_home(parser, many):
    """--cmd (repeatable where `many`), --name and --project: what runs a case as it runs at home."""
    parser.add_argument(
        "--cmd",
        action="append" if many else "store",
        metavar="COMMAND",
        help="a command as a case, e.g. 'python -m pytest tests -x' (`python` is the cell's interpreter; "
        "console scripts of the cell environment run by name)" + ("; repeatable" if many else ""),
    )
    parser.add_argument("--name", help="the --cmd case's name in cell ids (default: derived from the command)")
    parser.add_argument(
        "--project",
        metavar="DIR",
        help="the project the cases run in: their working folder; its dependencies go into the cell environment",
    )
