"""Running cells: planning a matrix into cells, building their environments, and running each cell under
its own supervisor (hangmatrix.run.supervisor), many at a time. The harness side of the process tree: it
starts one supervisor server per run and asks it for one supervisor per cell.
"""

import contextlib
import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

from ..envs.build import ensure_env
from ..envs.builders import kind as build_kind
from ..envs.errors import EnvError
from ..envs.index import gevent_releases, installed_gevent
from ..envs.interpreters import discover, find_interpreter
from ..model import cases, configs, record, requirements, settings, versions
from ..model import matrix as matrix_mod
from ..model.cellspec import CaseRef, CellSpec, Provenance
from ..observe import syscalls
from . import contain
from .records import without_run

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INJECT_DIR = os.path.join(PACKAGE_DIR, "inject")
# The folder this package was imported from (site-packages for a wheel): the supervisor server starts there,
# so `-m hangmatrix.run.server` runs this very package, never a `hangmatrix/` in the user's working folder.
PACKAGE_PARENT = os.path.dirname(PACKAGE_DIR)


# ---------------------------------------------------------------- one cell


def make_spec(
    case,
    config,
    start,
    env,
    timeout=settings.DEFAULT_TIMEOUT,
    detect=True,
    memory=None,
    keep=record.KEEP_FULL,
    writable=None,
):
    """The CellSpec of a cell in a built environment (env is an envs.env.Env). memory: the cell's memory cap
    in bytes (default: its share of the machine at the default parallelism); keep: what the store will keep
    of its record (the supervisor leaves out of a compact one's look what compacting drops); writable: the
    folders a sealed cell may write besides its own (default: settings.writable(), HANGMATRIX_WRITABLE's)."""
    interp = env.interpreter
    inject = env.stage(INJECT_DIR)
    env.compile_staged(inject + "/sitecustomize.py")
    return CellSpec(
        id=record.cell_id(case.name, interp.short, env.gevent, config["name"], start),
        case=dataclasses.replace(CaseRef.of(case), cwd=case.cwd or os.getcwd()),
        config=config,
        start=start,
        timeout=timeout,
        detect=detect,
        requires=tuple(env.requires),
        memory=memory or contain.default_memory(default_jobs()),
        argv=case_argv(case, env),
        inject=inject,
        root=interp.root or "",
        tmp_base=env.tmp_base,
        writable=tuple(settings.writable() if writable is None else writable),
        provenance=Provenance.of(interp, env.gevent, env=env),
        keep=keep,
    )


def case_argv(case, env):
    """How the cell runs the case: the env's python on the (staged) program and its arguments, or the case's
    command with `python` (python3, python3.11) at its start the env's; any other word is found on the cell's
    PATH, the env's bin folder first (its console scripts), as in an activated environment."""
    if not case.cmd:
        return (env.python, env.stage_program(case.path), *case.args)
    first = case.cmd[0]
    return (env.python if re.match(r"^python(\d+(\.\d+)?)?$", first) else first, *case.cmd[1:])


class Supervisors:
    """The supervisor server of a run: a process started once, which forks one supervisor per cell.

    It listens on an abstract Unix socket (nothing to remove afterwards); each cell is one connection: the
    spec goes in, the record comes out. Such a socket has no permissions, so the server serves only
    connections whose SO_PEERCRED is this process (server._from_harness). It dies with the harness: when the
    harness exits or is killed, the
    server's stdin (a pipe only the harness holds) closes, and it stops every supervisor still running."""

    def __init__(self):
        self.address = "\0hangmatrix-%d-%s" % (os.getpid(), uuid.uuid4().hex[:12])
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.address)
            listener.listen(128)
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hangmatrix.run.server", str(listener.fileno()), str(os.getpid())],
                stdin=subprocess.PIPE,
                pass_fds=(listener.fileno(),),
                start_new_session=True,
                cwd=PACKAGE_PARENT,
            )
        finally:
            listener.close()  # the server holds it now

    def run(self, spec):
        """Run one cell; always returns a record (a supervisor failure is `error`)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.connect(self.address)
                conn.sendall(json.dumps(dict(spec.to_json(), environ=dict(os.environ))).encode())
                conn.shutdown(socket.SHUT_WR)
                with conn.makefile("rb") as answer:
                    data = answer.read()
            answer_json = json.loads(data.decode().strip().splitlines()[-1])
            return record.Record.from_json(answer_json)  # read through the contract: a record, or none
        except (OSError, ValueError, IndexError) as exc:
            why = (
                "no record (server exit %s)" % self.proc.poll()
                if isinstance(exc, (ValueError, IndexError))
                else str(exc)
            )
            return without_run(spec, "error", "harness supervisor failed: %s" % why)

    def close(self):
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_cell(spec, supervisors=None):
    """Run one cell under its own supervisor; always returns a record. Pass a Supervisors to run many."""
    if supervisors is not None:
        return supervisors.run(spec)
    with Supervisors() as server:
        return server.run(spec)


# ---------------------------------------------------------------- planning and executing a matrix


class PlanError(ValueError):
    """A selection that names nothing runnable; one line."""


def default_jobs():
    """Cells at once: blocked cells use no CPU, so more than the cores, but not so many that start-up
    (interpreter and gevent imports) thrashes."""
    return max(2, 3 * (os.cpu_count() or 1))  # 6 here: measured best in benchmarks/ (4 and 8 were slower)


def make_item(
    case,
    config,
    start,
    interp,
    gevent,
    timeout=settings.DEFAULT_TIMEOUT,
    detect=True,
    requires=(),
    requires_newest=False,
    memory=None,
    writable=None,
):
    """One planned cell: what execute() needs to build its environment and run it; `requires` (normalized,
    hangmatrix.model.requirements) and `requires_newest` key its environment; `memory` caps the cell (None:
    the default); `writable`: folders it may write besides its own (None: HANGMATRIX_WRITABLE's)."""
    return {
        "id": record.cell_id(case.name, interp.short, gevent, config["name"], start),
        "case": case,
        "config": config,
        "start": start,
        "interpreter": interp,
        "gevent": gevent,
        "timeout": timeout,
        "detect": detect,
        "requires": requires,
        "requires_newest": requires_newest,
        "memory": memory,
        "writable": writable,
    }


def plan(
    case_names=(),
    config_names=(),
    starts=(),
    pythons=(),
    gevents=(),
    matrix=None,
    matrix_file=None,
    timeout=settings.DEFAULT_TIMEOUT,
    detect=True,
    warn=print,
    note=None,
    requires=(),
    requires_newest=False,
    memory=None,
    writable=None,
    commands=(),
    args=(),
    project="",
    each_test=False,
):
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
    import dataclasses

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
    m = dataclasses.replace(m, **{axis: list(v) for axis, v in overrides.items() if v})
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


def project_requirements(folder):
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


def _decided_before_launch(item):
    """Verdicts that need no run: a broken case, a case or start method the interpreter cannot have."""
    case, interp = item["case"], item["interpreter"]
    if case.problem:
        return "error", case.problem
    if not case.supports(interp.version):
        return "unsupported", "%s needs Python %s" % (case.name, case.python)
    if item["start"] in ("spawn", "forkserver") and interp.python2:
        return "unsupported", "Python %s has no %s start method (fork only)" % (interp.version, item["start"])
    return None


def _unbuilt_spec(item):
    """The CellSpec of a cell with no environment (env-error) or no run: enough for its record."""
    interp = item["interpreter"]
    return CellSpec(
        id=item["id"],
        case=CaseRef.of(item["case"]),
        config=item["config"],
        start=item["start"],
        timeout=item["timeout"],
        detect=item["detect"],
        requires=tuple(item.get("requires", ())),
        provenance=Provenance.of(interp, item["gevent"], item.get("requires", ()), item.get("requires_newest", False)),
    )


def env_key(item):
    """The environment a planned cell runs in: (interpreter, gevent release, requirements, newest)."""
    return item["interpreter"], item["gevent"], tuple(item.get("requires", ())), item.get("requires_newest", False)


def build_order(keys):
    """The environments in the order they are built, so cells begin at once (benchmarks/fresh_machine.py;
    docs/benchmarks.md): the newest gevent first (its wheels cover the interpreter on its release day, so
    no late wheel is searched for: 0.5-3 s from an empty cache), then the newest interpreter; the slow
    builds (slow_build) after the others. Stable otherwise (plan order)."""
    newest_first = sorted(keys, key=lambda k: (versions.key(k[1]), versions.key(k[0].version)), reverse=True)
    return sorted(newest_first, key=slow_build)


def slow_build(key):
    """Whether an environment is built by virtualenv and pip (Python 2.7: 10-50 s from an empty cache, against
    uv's 1-10 s). These have two builders of their own, busy from the start beside the others, so neither
    do the first cells wait for them nor does the run's end."""
    return build_kind(key[0]) == "virtualenv"


def execute(items, jobs=None, on_record=None, progress=False, ensure=None, server=None, keep=record.KEEP_FULL):
    """Build each (interpreter, gevent, requirements) environment once, in pools of their own (two builders,
    and two for the slow builds: build_order, slow_build), and start that env's cells as soon as it is
    ready, so builds overlap runs. Returns the records.
    `ensure(interp, gevent, requires=, newest=)` makes an environment (default ensure_env;
    upgrade-check passes one for local wheels). `server`: a Supervisors to reuse (advise runs several
    batches with one), else one for this call. `keep`: what on_record's store keeps of each record (see
    make_spec)."""
    from concurrent.futures import as_completed

    jobs = jobs or default_jobs()
    out = []
    display = _Progress(len(items)) if progress else None

    def finish(rec):
        out.append(rec)
        if display:
            display.advance(rec)
        if on_record:
            on_record(rec)

    groups = {}
    for item in items:
        groups.setdefault(env_key(item), []).append(item)
    try:
        with (
            ThreadPoolExecutor(max_workers=2) as builders,
            ThreadPoolExecutor(max_workers=2) as slow_builders,
            ThreadPoolExecutor(max_workers=jobs) as cells,
            contextlib.nullcontext(server) if server else Supervisors() as server,
        ):
            make = ensure or ensure_env
            builds = {
                (slow_builders if slow_build(key) else builders).submit(
                    make, key[0], key[1], requires=key[2], newest=key[3]
                ): key
                for key in build_order(groups)
            }
            running = []
            for fut in as_completed(builds):
                group = groups[builds[fut]]
                try:
                    env = fut.result()
                except EnvError as exc:
                    for item in group:
                        finish(without_run(_unbuilt_spec(item), "env-error", str(exc)))
                    continue
                for item in group:
                    decided = _decided_before_launch(item)
                    if decided:
                        finish(without_run(_unbuilt_spec(item), *decided).replace(greenlet=env.greenlet))
                        continue
                    spec = make_spec(
                        item["case"],
                        item["config"],
                        item["start"],
                        env,
                        item["timeout"],
                        item["detect"],
                        item.get("memory") or contain.default_memory(jobs),
                        keep,
                        item.get("writable"),
                    )
                    running.append(cells.submit(server.run, spec))
            for fut in as_completed(running):
                finish(fut.result())
    finally:
        if display:
            display.close()
    return out


class _Progress:
    """A live line on stderr (rich): cells done/total, verdict counts, ETA."""

    def __init__(self, total):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.counts = {}
        self.bar = Progress(
            TextColumn("{task.completed}/{task.total} cells"),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeRemainingColumn(),
            transient=True,
        )
        self.task = self.bar.add_task("", total=total)
        self.bar.start()

    def advance(self, rec):
        self.counts[rec["verdict"]] = self.counts.get(rec["verdict"], 0) + 1
        self.bar.update(self.task, advance=1, description=" ".join("%s %d" % kv for kv in sorted(self.counts.items())))

    def close(self):
        self.bar.stop()
