"""What every subcommand shares: how repeatable options are read, how a message is said, where records go."""

import os
import sys

from ..envs import deps
from ..model import settings

# Where `run` appends records: a gzip store (one gzip member per record, so `zcat` reads it and each append
# stays one write); the default matrix's records take about 2.5 MB so, 12.7 MB as plain JSONL.
DEFAULT_RECORDS = os.path.join("results", "records.jsonl.gz")


def default_stores():
    """What the reading subcommands read when no --records is given: every store in DEFAULT_RECORDS' folder
    (so a plain `records.jsonl` written before the default became gzip is still read), else the default."""
    folder = os.path.dirname(DEFAULT_RECORDS)
    return [folder if os.path.isdir(folder) else DEFAULT_RECORDS]


def listed(values):
    """Repeatable and comma-separated options, flattened (`--config a,b --config c`). A `flags:` config
    keeps its commas: `flags:thread=0,queue=0` is one configuration."""
    out = []
    for value in values or []:
        if value.startswith("flags:"):
            out.append(value)
        else:
            out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def requirements(values):
    """Repeatable --requires values, each a comma-separated list of requirements."""
    return [r for value in values or [] for r in deps.split(value)]


def say(msg):
    print("hangmatrix: " + msg, file=sys.stderr)


def add_timeout(parser, default=settings.DEFAULT_TIMEOUT):
    parser.add_argument(
        "--timeout", type=float, default=default, help="backstop per cell, seconds (default %g)" % default
    )
