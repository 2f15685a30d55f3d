"""The full look at a cell's tree, as plain data for its record: each process with its role, its threads
and the call each is blocked in (decoded: `read(fd=5 → pipe:[4745])`), its fds, and for a pipe read or
write who holds the other end, inside the tree and outside it. Taken when a verdict is being proven and
after it; wakers.annotate adds who can end each wait.
"""

import re
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

from .descriptors import epoll_targets, fd_table, outside_fd_tables, outside_holders, pipe_peers
from .waits import FD_WAITS, FUTEX_WAITS, LONG_WAIT_S, NO_TIMEOUT, TIMED_BY_NATURE, wait_kind
from .watch import Proc, Sample, Thread

POOL_WORKER = re.compile(r"^\w*PoolWorker-(\d+)$")


def _signed(value):
    return value - (1 << 64) if value >= 1 << 63 else value


def describe_call(th: Thread, fds: Dict[int, Tuple[str, str]]) -> str:
    """`read(fd=5 → pipe:[4745])`, `futex(FUTEX_WAIT_BITSET|PRIVATE, timeout=NULL)`..."""
    sc, a = th.syscall, th.args
    if not sc or sc == "running":
        return sc or "-"
    if sc in FD_WAITS and a:
        return "%s(fd=%d → %s)" % (sc, a[0], fds.get(a[0], ("?", ""))[0])
    if sc == "futex" and len(a) >= 4:
        op = a[1]
        name = FUTEX_WAITS.get(op & 0x7F, "op=%d" % (op & 0x7F))
        flags = ("|PRIVATE" if op & 128 else "") + ("|CLOCK_REALTIME" if op & 256 else "")
        return "futex(%s%s, timeout=%s)" % (name, flags, "NULL" if a[3] == 0 else _duration(th.timeout_s))
    if sc in ("epoll_wait", "epoll_pwait") and len(a) >= 4:
        watched = ", ".join("%d → %s" % (fd, fds.get(fd, ("?",))[0]) for fd in epoll_targets(th.pid, a[0]))
        return "%s(epfd=%d, timeout=%s%s)" % (
            sc,
            a[0],
            "-1" if a[3] in NO_TIMEOUT else _duration(th.timeout_s),
            "; watching " + watched if watched else "",
        )
    if sc == "poll" and len(a) >= 3:
        return "poll(nfds=%d, timeout=%s)" % (a[1], "-1" if a[2] in NO_TIMEOUT else _duration(th.timeout_s))
    if sc in TIMED_BY_NATURE:
        return "%s(%s)" % (sc, _duration(th.timeout_s))
    if sc in ("wait4", "waitid") and a:
        return "%s(pid=%d)" % (sc, _signed(a[0]) if sc == "wait4" else _signed(a[1]))
    if sc in ("select", "pselect6") and len(a) >= 5:
        return "%s(nfds=%d, timeout=%s)" % (sc, a[0], "NULL" if a[4] == 0 else "set")
    return "%s(%s)" % (sc, ", ".join(hex(x) for x in a[:3]))


def _duration(seconds):
    if seconds is None:
        return "set"
    if seconds > LONG_WAIT_S:
        return "%.1f days (counts as untimed)" % (seconds / 86400)
    return "%.3f s" % seconds


def role_of(pid: int, proc: Proc, root_pid: int, names: Dict[int, str]) -> str:
    """A person's name for a process of the tree."""
    if pid == root_pid:
        return "parent"
    name = names.get(pid, "")
    m = POOL_WORKER.match(name)
    if m:
        return "pool worker %s" % m.group(1)
    if name.startswith("SyncManager"):
        return "manager server"
    if name:
        return "child %s" % name
    cmd = proc.cmdline
    if "resource_tracker" in cmd or "semaphore_tracker" in cmd:
        return "resource tracker"
    if "forkserver import main" in cmd:
        return "forkserver"
    return "child of %d" % proc.ppid


def diagnose(
    snap: Sample,
    root_pid: int,
    names: Dict[int, str],
    harness_files: Iterable[str] = (),
    annotate: Optional[Callable[..., None]] = None,
    ours: Iterable[int] = (),
    outside: bool = True,
) -> Dict[str, Any]:
    """The whole picture of a sample, as plain data for the record: processes, threads with decoded
    blocked calls, their fds, and for each blocked pipe read/write the holders of the other end.
    annotate(snap, fds, processes, outside_tables) may add to the threads (wakers.annotate: who can end
    each wait). `ours`: the harness's processes around the tree, which are no outside party. outside=False
    skips the look at every other process's fds (a pipe's outside_holders then read [])."""
    tree = set(snap.procs)
    fds = {pid: fd_table(pid) for pid in tree}
    roles = {pid: role_of(pid, p, root_pid, names) for pid, p in snap.procs.items()}
    waited = {
        fds[pid].get(th.args[0], ("", ""))[0]
        for pid, p in snap.procs.items()
        for th in p.threads.values()
        if th.syscall in FD_WAITS and th.args
    }
    pipes = {t for t in waited if t.startswith("pipe:")}
    outside_tables = outside_fd_tables(tree, ours) if outside and (pipes or annotate) else {}
    held_outside = outside_holders(pipes, outside_tables)
    procs = []
    for pid in sorted(tree, key=lambda p: (p != root_pid, p)):
        proc = snap.procs[pid]
        threads = []
        for th in proc.threads.values():
            entry = {
                "tid": th.tid,
                "name": th.name,
                "state": th.state,
                "wchan": th.wchan,
                "syscall": th.syscall,
                "call": describe_call(th, fds[pid]),
                "wait": wait_kind(th),
                "cpu_ms": round(th.run_ns / 1e6, 1),
                "switches": th.slices,
            }
            fd = th.args[0] if th.syscall in FD_WAITS and th.args else None
            target = fds[pid].get(fd, ("", ""))[0] if fd is not None else ""
            if target.startswith("pipe:"):
                other = "w" if th.syscall in ("read", "readv", "pread64") else "r"
                peers = pipe_peers(target, other, fds)
                entry["pipe"] = {
                    "target": target,
                    "other_end": "write" if other == "w" else "read",
                    "holders": [
                        {"pid": p, "fd": f, "role": roles[p], "blocked_in": _main_call(snap.procs[p], fds[p])}
                        for p, f in peers
                    ],
                    "outside_holders": held_outside.get(target, []),
                }
            threads.append(entry)
        procs.append(
            {
                "pid": pid,
                "ppid": proc.ppid,
                "role": roles[pid],
                "cmdline": proc.cmdline[:300],
                "threads": threads,
                "fds": {
                    str(fd): "%s (%s)%s" % (t, m, " [hangmatrix]" if t in harness_files else "")
                    for fd, (t, m) in sorted(fds[pid].items())
                },
            }
        )
    if annotate:
        annotate(snap, fds, procs, outside_tables)
    return {"t": snap.t, "processes": procs}


def _main_call(proc, fds):
    th = proc.threads.get(proc.pid)
    if th is None:
        return "?"
    return describe_call(th, fds)
