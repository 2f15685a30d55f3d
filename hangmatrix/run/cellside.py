"""The contract between the supervisor and the processes of a cell, in one place: what the supervisor
tells them (HANGMATRIX_CELL), what they report back (the events file) and how they answer a stack dump
(the stacks and greenlets files). The writer is hangmatrix/inject/sitecustomize.py, loaded into every
Python process of the cell (it runs on Python 2.7 too, so it cannot import this module); the readers are
the supervisor (hangmatrix.run.supervisor: the events) and hangmatrix.observe.stacks.python_stacks (the
dumps). A change to one side is a change to this text first.

HANGMATRIX_CELL (environment variable, one JSON object; the spec's own fields are those of
hangmatrix.model.cellspec):
  config      the parsed configuration: {"name", "kind": as_written|patch_all|selective|lazy|none,
              "flags": {flag: bool} (patch_all), "relative": bool (flags over the program's own)}
  start       fork | spawn | forkserver | default
  marked      true: the patch point is the patch_all() call on the line marked `# hangmatrix: patch-point`;
              false: the first patch_all() call of each process
  progress    names of the program's functions whose calls and loop iterations are its progress
  workers     names of the functions `lazy` patches inside (after the fork)
  events, stacks, greenlets
              the three files below, as paths the cell sees (inside its chroot, if any)
  shm_names   true when the cell has no private /dev/shm: report every named semaphore and shared
              memory segment created (shm_created events), so exactly those are unlinked after the kill
Every process the program starts inherits it; the injected code sets HANGMATRIX_CHILD=1 so a child knows
it is not the cell's first process.

The events file: JSON lines, each appended with one O_APPEND write (so lines of concurrent processes never
interleave; a line still being written has no newline yet and is read next time). Every line has
  ev   the kind, below;  pid  the writer's os.getpid() (inside the cell's PID namespace: the supervisor
       adds pid_in_ns and maps pid to the host's);  t  time.time()
and by kind:
  start                 ppid                     a Python process of the cell started (progress)
  process               name, ppid               a multiprocessing process began its _bootstrap (progress;
                                                 name gives its role)
  call                  fn                       a progress function was called (progress)
  tick                  fn                       a progress function's loop began another iteration (at
                                                 most one per 0.2 s per frame; two prove `running`)
  patch_point           call, flags, source, marked, file, line, module, in
                                                 the program reached its patch point: what it called, where
  patched               where, call              what was patched instead (or as written)
  start_method          requested, current, via  the start method the process ended up with
  start_method_refused  requested, error, current  set_start_method() refused (context already set)
  start_method_program  asked, force, kept, file, line, module, in
                                                 the program's own later set_start_method(), not obeyed
  unsupported           reason                   the cell cannot run this configuration; the process then
                                                 exits with UNSUPPORTED_EXIT (86)
  uncaught              type, builtin, message, name, line
                                                 the exception the process dies of
  shm_created           kind, name               a named semaphore or shared memory segment (shm_names)
  fork                  ppid, threads            a child forked while its parent had other native threads
                                                 (their names, `Thread-1 (target)`): a lock one of them held
                                                 is copied locked, with no holder in the child
  test                  name, runner             a test began: pytest's node id (runner pytest, from
                                                 _pytest.runner.runtestprotocol) or unittest's str(test)
                                                 (runner unittest, from TestCase.run)
  test_end              name, runner             that test ended (passed, failed or skipped)

The stacks file: on SIGUSR1, faulthandler's dump of every thread (Python 3; written in many small writes,
so processes are asked one at a time). On Python 2.7, and in the greenlets file on SIGUSR2 (gevent's
format_run_info()), one block per process in one write:
  === stacks pid=N ===        (or === greenlets pid=N ===; N: the pid inside the namespace)
  ...text...
  === end pid=N ===
"""

import json
from typing import Any, Dict, List, Tuple

from ..model.cellspec import CellSpec

UNSUPPORTED_EXIT = 86  # the exit status of a process after its `unsupported` event
PROGRESS_EVENTS = ("call", "tick", "process", "start")  # events that show the program moving


def cell_env(spec: CellSpec, events: str, stacks: str, greenlets: str, shm_names: bool) -> str:
    """The HANGMATRIX_CELL value for a cell (spec: a CellSpec; the three files as the cell sees them)."""
    return json.dumps(
        {
            "config": spec.config,
            "start": spec.start,
            "marked": spec.case.marked,
            "progress": list(spec.case.progress),
            "workers": list(spec.case.workers),
            "events": events,
            "stacks": stacks,
            "greenlets": greenlets,
            "shm_names": bool(shm_names),
        }
    )


def parse_events(data: bytes) -> Tuple[List[Dict[str, Any]], int]:
    """The complete event lines at the start of `data` (bytes read from the events file) and how many
    bytes they took; a last line without its newline is left for the next read, a line that is not JSON
    is skipped."""
    end = data.rfind(b"\n") + 1
    events: List[Dict[str, Any]] = []
    for line in data[:end].splitlines():
        try:
            event = json.loads(line.decode())
        except ValueError:
            continue
        if isinstance(event, dict) and "ev" in event:
            events.append(event)
    return events, end
