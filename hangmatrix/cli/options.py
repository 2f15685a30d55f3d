"""What every subcommand shares: how repeatable options are read, how a message is said, where records go."""

import os
import sys

from ..envs import deps
from ..model import settings

DEFAULT_RECORDS = os.path.join("results", "records.jsonl")


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
