"""The `hangmatrix` command: one module per subcommand (its options and what it does); this module only
builds the parser and dispatches. The `run` interface is scripted by other tools and CI: keep it stable."""

import argparse
import importlib
import os
import sys

from .. import __version__
from ..envs.errors import EnvError
from ..model import cases, configs, exits, matrix, settings
from ..run import runner
from ..shard import split
from .options import say

DESCRIPTION = (
    "Runs real programs under gevent's monkey patching and multiprocessing across configurations, "
    "start methods, interpreters and gevent releases, proves each cell's verdict, and reports."
)
# name -> module under hangmatrix.cli, in the order `hangmatrix --help` lists them
SUBCOMMANDS = (
    "run",
    "plan",
    "merged",
    "cases",
    "matrices",
    "show",
    "upgrade-check",
    "table",
    "diff",
    "bisect",
    "minimal",
    "advise",
    "baseline",
    "envs",
)
# Errors that are bad input, said in one line (exit 2) whichever subcommand raises them.
_BAD_INPUT = (
    cases.CaseError,
    configs.ConfigError,
    runner.PlanError,
    matrix.MatrixError,
    settings.SettingError,
    EnvError,
    split.ShardError,
)


def commands():
    """What a bare `hangmatrix` prints: each command with its one line of help."""
    lines = ["usage: hangmatrix COMMAND [options]   (hangmatrix COMMAND --help for its options)", "", "commands:"]
    for name in SUBCOMMANDS:
        lines.append("  %-14s %s" % (name, _module(name).HELP))
    return "\n".join(lines)


def _module(name):
    return importlib.import_module("." + name.replace("-", "_"), __name__)


def build_parser():
    parser = argparse.ArgumentParser(prog="hangmatrix", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        module = _module(name)
        command = sub.add_parser(name, help=module.HELP)
        module.add_arguments(command)
        command.set_defaults(func=module.main)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        print(commands())
        return exits.OK
    args = build_parser().parse_args(argv)
    try:
        settings.check()
        return args.func(args)
    except _BAD_INPUT as exc:
        say(str(exc))
        return exits.BAD_INPUT
    except KeyboardInterrupt:  # the subcommand's own clean-up has run; `run` says what it recorded itself
        say("interrupted")
        return exits.INTERRUPTED
    except BrokenPipeError:  # `hangmatrix show CELL | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return exits.OK
