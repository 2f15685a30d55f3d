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


def requirement_files(paths):
    """The requirements of --requirements files (CaseError: one line naming the file and line)."""
    from ..model import cases
    from ..model import requirements as reqs

    try:
        return reqs.without_gevent([r for path in paths or [] for r in reqs.read_file(path)])
    except reqs.RequirementError as exc:
        raise cases.CaseError(str(exc)) from None


def case_at_home(args, default=None):
    """The case --cmd names (named --name; in --project's folder, with the project's dependencies), else
    `default`. CaseError or runner.PlanError: one line."""
    if not args.cmd:
        return default
    from ..model import cases
    from ..run import runner

    case = cases.command(args.cmd, args.name or "")
    if args.project:
        case.cwd = case.project = os.path.abspath(args.project)
        case.requires = list(case.requires) + runner.project_requirements(case.project)
    case.requires = list(case.requires) + requirement_files(args.requirements)
    return case


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
    parser.add_argument(
        "--requirements",
        action="append",
        metavar="FILE",
        help="a requirements file whose requirements the programs need (repeatable; pip options refused; a "
        "gevent pin in it gives way to the gevent axis)",
    )
