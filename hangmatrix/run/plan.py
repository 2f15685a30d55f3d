"""Planning: the cells a selection names (a matrix, the options that override its axes, command cases,
--each-test), each a hangmatrix.model.planned.PlannedCell, and the order their environments are built in.
Nothing here runs a cell: hangmatrix.run.runner does.
"""

import dataclasses
import os
import re
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ..envs.builders import kind as build_kind
from ..envs.errors import EnvError
from ..envs.index import gevent_releases, installed_gevent
from ..envs.interpreters import discover, find_interpreter
from ..model import cases, configs, requirements, settings, versions
from ..model import matrix as matrix_mod
from ..model.planned import PlannedCell
from ..observe import syscalls
from . import contain


class PlanError(ValueError):
    """A selection that names nothing runnable; one line."""


def default_jobs() -> int:
    """Cells at once: blocked cells use no CPU, so more than the cores, but not so many that start-up
    (interpreter and gevent imports) thrashes."""
    return max(2, 3 * (os.cpu_count() or 1))  # 6 here: measured best in benchmarks/ (4 and 8 were slower)


def make_item(
    case: Any,
    config: Dict[str, Any],
    start: str,
    interp: Any,
    gevent: str,
    timeout: float = settings.DEFAULT_TIMEOUT,
    detect: bool = True,
    requires: Tuple[str, ...] = (),
    requires_newest: bool = False,
    memory: Optional[int] = None,
    writable: Optional[Tuple[str, ...]] = None,
) -> PlannedCell:
    """One planned cell (hangmatrix.model.planned.PlannedCell)."""
    return PlannedCell(
        case, config, start, interp, gevent, timeout, detect, requires, requires_newest, memory, writable
    )


def plan(
    case_names: Iterable[str] = (),
    config_names: Iterable[str] = (),
    starts: Iterable[str] = (),
    pythons: Iterable[str] = (),
    gevents: Iterable[str] = (),
    matrix: Optional[str] = None,
    matrix_file: Optional[str] = None,
    timeout: float = settings.DEFAULT_TIMEOUT,
    detect: bool = True,
    warn: Callable[[str], Any] = print,
    note: Optional[Callable[[str], Any]] = None,
    requires: Iterable[str] = (),
    requires_newest: bool = False,
    memory: Optional[int] = None,
    writable: Optional[Iterable[str]] = None,
    commands: Iterable[Any] = (),
    args: Iterable[str] = (),
    project: str = "",
    each_test: bool = False,
) -> List[PlannedCell]:
    """The cells a selection names: a matrix of matrix.toml (or, with none named, this interpreter and
    the gevent installed beside hangmatrix, else the newest release), any axis overridden by explicit
    options. A missing interpreter is reported in one line and the rest is still planned; an unknown gevent
    release becomes env-error records. note(text), when given, hears which matrix file was used and which
    release `installed` stood for. Each cell's `requires` is its case's own, the matrix's and these
    (`--requires`), as one sorted set. writable: the folders every cell may write
    besides its own, as the command resolved them (settings.writable; None: HANGMATRIX_WRITABLE's).
    commands: cases (model.cases.command) run beside the selected ones, or alone when no case is named;
    args: arguments given to every file case; project: the folder every case runs in (else each case's own,
    else the working folder); each_test: each pytest command as one case per test it collects."""
    try:
        syscalls.names()  # the watcher decodes blocked calls by this machine's numbers: refuse one it cannot
    except syscalls.UnsupportedMachine as exc:
        raise PlanError(str(exc)) from None
    if matrix or matrix_file:
        m = matrix_mod.load_matrix(matrix_file, matrix or matrix_mod.DEFAULT_NAME)
        if note:
            note(matrix_mod.describe(m))
    else:
        m = matrix_mod.Matrix(
            pythons=["%d.%d" % sys.version_info[:2]],
            gevents=[matrix_mod.INSTALLED],
            starts=list(configs.STARTS),
            configs=list(configs.NAMED),
        )
    overrides = {"cases": case_names, "configs": config_names, "starts": starts, "pythons": pythons, "gevents": gevents}
    chosen: Dict[str, Any] = {axis: list(v) for axis, v in overrides.items() if v}
    m = dataclasses.replace(m, **chosen)
    chosen_cases = list(commands) + ([] if commands and not case_names else cases.select(m.cases))
    for case in chosen_cases:
        case.cwd = os.path.abspath(project or case.cwd or os.getcwd())
        case.project = project or case.project
        if args and not case.cmd:
            case.args = list(args)
        if case.project and not case.problem:
            case.requires = list(case.requires) + project_requirements(case.project)
    chosen_configs = [configs.parse(c) for c in m.configs]
    chosen_starts = [configs.check_start(s) for s in m.starts]
    try:
        shared = list(requirements.normalize(list(requires) + m.requires()))
    except requirements.RequirementError as exc:
        raise PlanError(str(exc)) from None
    newest = bool(requires_newest or m.requires_newest)
    writable = tuple(settings.writable() if writable is None else writable)
    interps = _interpreters(m, warn, note or warn)
    pairs = _gevent_pairs(m, interps, warn, note or warn)
    if each_test and pairs:  # one case per test, collected in the first environment on the host
        from . import each_test as each

        interp, gv = next((p for p in pairs if not p[0].root), pairs[0])
        try:
            chosen_cases = each.expand(chosen_cases, interp, gv, shared, newest, case_argv)
        except each.EachTestError as exc:
            raise PlanError(str(exc)) from None
    items = []
    for interp, gv in pairs:
        for case in chosen_cases:
            wanted = () if case.problem else requirements.normalize(case.requires + shared)
            for config in chosen_configs:
                for start in chosen_starts:
                    items.append(
                        make_item(case, config, start, interp, gv, timeout, detect, wanted, newest, memory, writable)
                    )
    return items


def project_requirements(folder: str) -> List[str]:
    """What a project puts in its cell environments: itself, non-editable from a copy, when it is a package
    (its dependencies come with it), else its pyproject's dependencies. PlanError (one line) for a project
    that cannot be read."""
    from ..envs import projects
    from ..model import project

    try:
        found = project.read(folder)
    except project.ProjectError as exc:
        raise PlanError(str(exc)) from None
    return [projects.requirement(found)] if found.package else requirements.without_gevent(found.dependencies)


def _interpreters(m, warn, say):
    """The pythons axis: discovered, or each one named (a missing one is warned about and left out; the
    Debian root is built for 3.14/3.15 when named, said through say). PlanError when none is left."""
    if m.pythons == ["discovered"]:
        found = discover(debian_root=m.debian_root, say=say)
        if not found:
            raise PlanError(
                "no cell to run: the pythons axis is empty (no CPython 2.7 or 3.6+ in pyenv, uv's "
                "folder or PATH; name one with --python PATH)"
            )
        return found
    found, missing = [], []
    for spec in m.pythons:
        try:
            found.append(find_interpreter(spec, debian_root=m.debian_root, say=say))
        except EnvError as exc:
            missing.append(str(exc))
    if not found:
        raise PlanError("no cell to run: the pythons axis is empty: %s" % "; ".join(missing))
    for reason in missing:
        warn(reason)
    return found


def _gevent_pairs(m, interps, warn, say):
    """(interpreter, gevent release) for the gevents axis; named releases are taken as they are (one the
    index does not have becomes env-error records), and `installed` is said, with what it stood for.
    PlanError when no interpreter has a release."""
    try:
        if m.gevents not in (["default"], ["all"]):
            return _named_pairs(m, interps, say)
        pairs = m.pairs(interps, gevent_releases)
    except EnvError as exc:
        raise PlanError(
            "no cell to run: the gevents axis (%s) needs the package index: %s" % (m.gevents[0], exc)
        ) from None
    without = [i.version for i in m.select(interps) if all(p[0] != i for p in pairs)]
    if without and not pairs:
        raise PlanError(
            "no cell to run: the gevents axis (%s) is empty: no gevent release from 1.1 on has a "
            "wheel for Python %s" % (m.gevents[0], ", ".join(without))
        )
    for version in without:
        warn("no gevent release from 1.1 on has a wheel for Python %s: its cells are left out" % version)
    return pairs


def _named_pairs(m, interps, say):
    """The pairs of an axis of releases and positions; says which release `installed` stood for."""
    installed = installed_gevent() if matrix_mod.INSTALLED in m.gevents else None
    pairs = [(interp, gv) for interp in interps for gv in m.gevents_for(interp, gevent_releases, installed)]
    if matrix_mod.INSTALLED in m.gevents:
        if installed:
            say("gevent %s: the release installed beside hangmatrix" % installed)
        else:
            newest = sorted({gv for interp in interps for gv in gevent_releases(interp)[-1:]}, key=versions.key)
            say("no gevent installed beside hangmatrix: the newest release on the index, %s" % ", ".join(newest))
    return pairs


def env_key(cell: PlannedCell) -> Tuple[Any, ...]:
    """The environment a planned cell runs in: (interpreter, gevent release, requirements, newest)."""
    return cell.env_key


def memory_cap(memory: Optional[int] = None, jobs: Optional[int] = None) -> int:
    """A cell's memory cap in bytes: the one asked for (--memory), else its share of the machine at `jobs`
    cells at once (default_jobs()). The one place the default is decided: the spec carries the result and
    the supervisor applies it."""
    return memory or contain.default_memory(jobs or default_jobs())


def build_order(keys: Iterable[Tuple[Any, ...]]) -> List[Tuple[Any, ...]]:
    """The environments in the order they are built, so cells begin at once (benchmarks/fresh_machine.py;
    docs/benchmarks.md): the newest gevent first (its wheels cover the interpreter on its release day, so
    no late wheel is searched for: 0.5-3 s from an empty cache), then the newest interpreter; the slow
    builds (slow_build) after the others. Stable otherwise (plan order)."""
    newest_first = sorted(keys, key=lambda k: (versions.key(k[1]), versions.key(k[0].version)), reverse=True)
    return sorted(newest_first, key=slow_build)


def slow_build(key: Tuple[Any, ...]) -> bool:
    """Whether an environment is built by virtualenv and pip (Python 2.7: 10-50 s from an empty cache, against
    uv's 1-10 s). These have two builders of their own, busy from the start beside the others, so neither
    do the first cells wait for them nor does the run's end."""
    return build_kind(key[0]) == "virtualenv"


def case_argv(case: Any, env: Any) -> Tuple[str, ...]:
    """How the cell runs the case: the env's python on the (staged) program and its arguments, or the case's
    command with `python` (python3, python3.11) at its start the env's; any other word is found on the cell's
    PATH, the env's bin folder first (its console scripts), as in an activated environment."""
    if not case.cmd:
        return (env.python, env.stage_program(case.path), *case.args)
    first = case.cmd[0]
    return (env.python if re.match(r"^python(\d+(\.\d+)?)?$", first) else first, *case.cmd[1:])
