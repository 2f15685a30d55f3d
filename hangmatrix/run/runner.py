"""Running cells: building the environments of planned cells (hangmatrix.run.plan) and running each cell
under its own supervisor (hangmatrix.run.supervisor), many at a time, with a progress line. The harness
side of the process tree: it starts one supervisor server per run and asks it for one supervisor per cell.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..envs.build import ensure_env
from ..envs.errors import EnvError
from ..model import record, settings
from ..model.cellspec import CellSpec
from ..model.planned import PlannedCell
from . import conclusion
from .plan import (  # noqa: F401 (re-exported: checks/ and cli/ still plan through runner)
    PlanError,
    build_order,
    case_argv,
    default_jobs,
    env_key,
    make_item,
    memory_cap,
    plan,
    project_requirements,
    slow_build,
)
from .records import without_run

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INJECT_DIR = os.path.join(PACKAGE_DIR, "inject")
# The folder this package was imported from (site-packages for a wheel): the supervisor server starts there,
# so `-m hangmatrix.run.server` runs this very package, never a `hangmatrix/` in the user's working folder.
PACKAGE_PARENT = os.path.dirname(PACKAGE_DIR)


# ---------------------------------------------------------------- one cell


def make_spec(
    case: Any,
    config: Dict[str, Any],
    start: str,
    env: Any,
    timeout: float = settings.DEFAULT_TIMEOUT,
    detect: bool = True,
    memory: Optional[int] = None,
    keep: str = record.KEEP_FULL,
    writable: Optional[Tuple[str, ...]] = None,
) -> CellSpec:
    """The CellSpec of one cell in a built environment (env is an envs.env.Env), planned on the spot from
    the env's interpreter and release. memory: the cell's memory cap in bytes (default: plan.memory_cap's);
    keep: what the store will keep of its record (the supervisor leaves out of a compact one's look what
    compacting drops); writable: the folders a sealed cell may write besides its own (default:
    settings.writable(), HANGMATRIX_WRITABLE's)."""
    cell = PlannedCell(case, config, start, env.interpreter, env.gevent, timeout, detect, memory=memory)
    return launch_spec(cell, env, memory_cap(memory), keep, writable)


def launch_spec(
    cell: PlannedCell, env: Any, memory: int, keep: str = record.KEEP_FULL, writable: Optional[Tuple[str, ...]] = None
) -> CellSpec:
    """The CellSpec of a planned cell in its built environment, with the injected code staged and compiled
    there and the program staged (case_argv)."""
    inject = env.stage(INJECT_DIR)
    env.compile_staged(inject + "/sitecustomize.py")
    allowed = cell.writable if writable is None else writable
    return cell.spec(
        env,
        argv=case_argv(cell.case, env),
        inject=inject,
        memory=memory,
        writable=tuple(settings.writable() if allowed is None else allowed),
        keep=keep,
    )


class Supervisors:
    """The supervisor server of a run: a process started once, which forks one supervisor per cell.

    It listens on an abstract Unix socket (nothing to remove afterwards); each cell is one connection: the
    spec goes in, the record comes out. Such a socket has no permissions, so the server serves only
    connections whose SO_PEERCRED is this process (server._from_harness). It dies with the harness: when the
    harness exits or is killed, the
    server's stdin (a pipe only the harness holds) closes, and it stops every supervisor still running."""

    def __init__(self) -> None:
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

    def run(self, spec: CellSpec) -> record.Record:
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
            return without_run(spec, *conclusion.supervisor_failed(why))

    def close(self) -> None:
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


def run_cell(spec: CellSpec, supervisors: Optional["Supervisors"] = None) -> record.Record:
    """Run one cell under its own supervisor; always returns a record. Pass a Supervisors to run many."""
    if supervisors is not None:
        return supervisors.run(spec)
    with Supervisors() as server:
        return server.run(spec)


# ---------------------------------------------------------------- executing a plan


def execute(
    items: List[PlannedCell],
    jobs: Optional[int] = None,
    on_record: Optional[Callable[[record.Record], Any]] = None,
    progress: bool = False,
    ensure: Optional[Callable[..., Any]] = None,
    server: Optional["Supervisors"] = None,
    keep: str = record.KEEP_FULL,
) -> List[record.Record]:
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

    def finish(rec: record.Record) -> None:
        out.append(rec)
        if display:
            display.advance(rec)
        if on_record:
            on_record(rec)

    groups: Dict[Any, List[PlannedCell]] = {}
    for cell in items:
        groups.setdefault(cell.env_key, []).append(cell)
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
                    for cell in group:
                        finish(without_run(cell.unbuilt_spec(), *conclusion.unbuilt(str(exc))))
                    continue
                for cell in group:
                    decided = conclusion.needs_no_run(cell)
                    if decided:
                        finish(without_run(cell.unbuilt_spec(), *decided).replace(greenlet=env.greenlet))
                        continue
                    spec = launch_spec(cell, env, memory_cap(cell.memory, jobs), keep)
                    running.append(cells.submit(server.run, spec))
            for fut in as_completed(running):
                finish(fut.result())
    finally:
        if display:
            display.close()
    return out


class _Progress:
    """A live line on stderr (rich): cells done/total, verdict counts, ETA."""

    def __init__(self, total: int) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.counts: Dict[str, int] = {}
        self.bar = Progress(
            TextColumn("{task.completed}/{task.total} cells"),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeRemainingColumn(),
            transient=True,
        )
        self.task = self.bar.add_task("", total=total)
        self.bar.start()

    def advance(self, rec: record.Record) -> None:
        self.counts[rec.verdict] = self.counts.get(rec.verdict, 0) + 1
        self.bar.update(self.task, advance=1, description=" ".join("%s %d" % kv for kv in sorted(self.counts.items())))

    def close(self) -> None:
        self.bar.stop()
