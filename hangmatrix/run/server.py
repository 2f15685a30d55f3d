"""The supervisor server: the process that forks one supervisor (run/supervisor.py) per cell.

One server per run (`python -m hangmatrix.run.server`, started by runner.Supervisors) accepts one
connection per cell on an abstract Unix socket, only from the harness itself (SO_PEERCRED), and forks a
supervisor for it, so no cell pays for an interpreter start-up and its imports (the fork costs about a
millisecond; an exec'd supervisor cost ~60 ms of CPU, a fifth of what a seed cell itself uses). The server
dies with the harness (its stdin closes), adopts what a supervisor killed outright leaves (it is their
subreaper) and removes what such a supervisor noted it made.
"""

import ctypes
import json
import os
import select
import shutil
import signal
import socket
import struct
import sys
import time
import traceback
from typing import Dict, Optional

from ..model.cellspec import CellSpec
from ..observe import watch
from . import conclusion, contain, lifecycle, records, supervisor, watching

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36

_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option, value):
    return _libc.prctl(option, value, 0, 0, 0)


class _Stopped(Exception):
    """SIGTERM reached the server."""


def _stopped(*_):
    raise _Stopped()


def _clean_after(notes):
    """What a supervisor that died without cleaning up left (SIGKILLed, say; its tree is killed by then):
    its cell folder, its cgroups, and without a private /dev/shm the names its cell reported creating."""
    for made in notes:
        if made.get("names"):
            try:
                with open(made["events"], "rb") as f:
                    lines = f.read().splitlines()
            except OSError:
                lines = []
            events = []
            for line in lines:
                try:
                    events.append(json.loads(line.decode()))
                except ValueError:
                    continue
            for path in contain.created_shm([e for e in events if isinstance(e, dict)], made["root"]):
                try:
                    os.unlink(path)
                except OSError:
                    pass
        cgroups = contain.Cgroups("", 0)
        cgroups.dirs = list(made.get("cgroups", []))
        cgroups.remove()
        shutil.rmtree(made["dir"], ignore_errors=True)


def handle(conn: socket.socket, server_pid: int, notes_fd: Optional[int] = None) -> None:
    """In a forked child of the server: read the spec from the connection, supervise, write the record.
    Whatever happens, the harness gets a record (a supervisor failure is `error`)."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if notes_fd is not None:
        lifecycle.NOTES.append(notes_fd)
    if os.getppid() != server_pid:
        return  # the server is already gone
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGTERM, lambda *_: watching.STOP.append(True))
    with conn.makefile("rb") as request:
        data = json.loads(request.read().decode())
    os.environ.clear()  # the harness's environment when it asked, not the server's when it started
    os.environ.update(data.pop("environ", {}))
    spec = CellSpec.from_json(data)
    try:
        rec = supervisor.supervise(spec)
    except Exception as exc:
        line = traceback.format_exception_only(type(exc), exc)[-1].strip()
        rec = records.without_run(spec, *conclusion.supervisor_failed(line[:300]))
    conn.sendall((json.dumps(rec.to_json(), default=str) + "\n").encode())


def serve(listen_fd: int, harness_pid: int) -> int:
    """Accept one connection per cell and fork a supervisor for it, until the harness closes our stdin
    (done, or dead) or SIGTERM comes; then stop the supervisors still running and wait for them, so
    their cells are killed before the server is gone."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != harness_pid:
        return 1  # the harness is already gone
    _prctl(PR_SET_CHILD_SUBREAPER, 1)  # a supervisor killed outright leaves its cell's orphans to us
    signal.signal(signal.SIGTERM, _stopped)
    listener = socket.socket(fileno=listen_fd)
    records.host()  # platform.platform() once, before the forks
    me = os.getpid()
    live: Dict[int, int] = {}  # supervisor pid -> the read end of its notes pipe
    try:
        while True:
            ready = select.select([listener, sys.stdin], [], [], 1.0)[0]
            dead = _reap(live)
            _kill_adopted(live)
            _clean_after(dead)
            if sys.stdin in ready and not os.read(sys.stdin.fileno(), 4096):
                break
            if listener in ready:
                conn = listener.accept()[0]
                if not _from_harness(conn, harness_pid):
                    conn.close()
                    continue
                notes_r, notes_w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    code = 0
                    try:
                        listener.close()
                        os.close(notes_r)
                        signal.signal(signal.SIGTERM, signal.SIG_DFL)
                        handle(conn, me, notes_w)
                    except BaseException:
                        code = 1
                    finally:
                        os._exit(code)  # never back into the server's loop
                conn.close()
                os.close(notes_w)
                os.set_blocking(notes_r, False)
                live[pid] = notes_r
    except _Stopped:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for pid in live:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline, dead = time.monotonic() + lifecycle.KILL_S + 5, []  # a supervisor kills its tree within KILL_S
    while live and time.monotonic() < deadline:
        time.sleep(0.02)
        dead += _reap(live)
    for pid in live:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        dead += _reap(live)
        if not _kill_adopted(live) and not live:
            break
        time.sleep(0.02)
    _clean_after(dead)
    return 0


def _kill_adopted(live):
    """SIGKILL and reap every child of the server that is not a supervisor it forked: such a child is an
    orphan of a cell whose supervisor died without killing its tree (SIGKILLed, say), adopted by us as
    subreaper. Without a PID namespace (an unprivileged run) nothing else would end it. Returns how many."""
    adopted = [pid for pid in watch.children(os.getpid()) if pid not in live]
    for pid in adopted:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, os.WNOHANG)
        except (ProcessLookupError, ChildProcessError):
            pass
    return len(adopted)


def _from_harness(conn, harness_pid):
    """Whether the connection comes from the harness process itself (SO_PEERCRED: its pid and our uid).

    The listening socket is abstract, so it has no file permissions and every local user can see its name
    in /proc/net/unix; a spec is a command line the server runs as its own user (root). Anyone else is
    refused before a byte of their spec is read, and the refusal is logged on the server's stderr."""
    ucred = struct.Struct("iII")  # pid_t pid, uid_t uid, gid_t gid
    pid, uid, _ = ucred.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, ucred.size))
    if pid == harness_pid and uid == os.getuid():
        return True
    sys.stderr.write(
        "hangmatrix supervisor server: refused a connection from pid %d (uid %d): only the "
        "harness (pid %d, uid %d) may start cells\n" % (pid, uid, harness_pid, os.getuid())
    )
    sys.stderr.flush()
    return False


def _reap(live):
    """Collect finished supervisors (so their CPU time counts in the harness's children times); returns
    the notes of those that did not exit cleanly (what they made, for _clean_after)."""
    dead = []
    for pid in list(live):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done, status = pid, 0
        if done:
            notes_r = live.pop(pid)
            if status:
                dead.extend(_read_notes(notes_r))
            os.close(notes_r)
    return dead


def _read_notes(fd):
    data = b""
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    except BlockingIOError:
        pass
    notes = []
    for line in data.splitlines():
        try:
            notes.append(json.loads(line.decode()))
        except ValueError:
            continue
    return notes


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1]), int(sys.argv[2])))
