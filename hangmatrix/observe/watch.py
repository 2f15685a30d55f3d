"""Looking at a cell's process tree from outside, through /proc: cheap samples for the detector (processes,
threads, the syscall each is blocked in and how long it can last), and the few facts about a process the
rest of observe/ and run/ ask for (children, PID namespace ids, signal handlers).

Samples are raw /proc reads, not psutil: reading /proc is the point here, and a sample must cost little
(the supervisor takes one every 5-100 ms for the whole life of the cell, when observe/schedule.py says);
so a sample takes over from the last one what cannot have changed since. What a wait means is
observe/waits.py's; fds and who holds them, observe/descriptors.py; the full look, observe/diagnosis.py.
"""

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from . import syscalls
from .waits import FUTEX_WAITS, NO_TIMEOUT

# Compiled at import, so the supervisor server compiles them once and every supervisor it forks has them.
SIG_CAUGHT = re.compile(r"^SigCgt:\s*([0-9a-f]+)", re.M)
NS_PIDS = re.compile(r"^NSpid:\s*(.*)$", re.M)


@dataclass
class Thread:
    tid: int
    name: str
    state: str  # R, S, D, T, Z ...
    syscall: str  # name, "running", or "" when not in a syscall
    args: tuple  # raw syscall arguments (ints)
    wchan: str
    run_ns: int  # CPU time
    slices: int  # times scheduled in: rises with every wake-up
    pid: int = 0
    timeout_s: Optional[float] = None  # for a timed wait: how long it can last at most (read from the process)


@dataclass
class Proc:
    pid: int
    ppid: int
    cmdline: str
    threads: dict  # tid -> Thread
    rchar: int = 0
    wchar: int = 0
    children: list = field(default_factory=list)


@dataclass
class Sample:
    t: float
    procs: dict = field(default_factory=dict)  # pid -> Proc


def to_json(snap: Sample) -> Dict[str, Any]:
    """A sample as plain data (recorded snapshots of real runs feed the classifier's tests)."""
    return {
        "t": snap.t,
        "procs": [dict(vars(p), threads=[vars(t) for t in p.threads.values()]) for p in snap.procs.values()],
    }


def from_json(data: Dict[str, Any]) -> Sample:
    procs = {}
    for p in data["procs"]:
        threads = {t["tid"]: Thread(**dict(t, args=tuple(t["args"]))) for t in p["threads"]}
        procs[p["pid"]] = Proc(**dict(p, threads=threads))
    return Sample(data["t"], procs)


def _read(path, limit=4096):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if limit <= 4096:  # one page: a single read is the whole file
            return os.read(fd, limit).decode("utf-8", "replace")
        chunks, size = [], 0
        while size < limit:  # bigger /proc files come a page at a time
            chunk = os.read(fd, limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def children(pid: int) -> List[int]:
    """Direct children of every thread of pid (needs a kernel with /proc/.../children, as here)."""
    kids: List[int] = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return kids
    for tid in tids:
        text = _read("/proc/%d/task/%s/children" % (pid, tid), 65536)
        if text:
            kids.extend(int(k) for k in text.split())
    return kids


def descendants(pid: int) -> List[int]:
    """All live descendants of pid (the supervisor is a subreaper, so orphans of the cell stay below it)."""
    found, todo = [], children(pid)
    while todo:
        p = todo.pop()
        if p not in found:
            found.append(p)
            todo.extend(children(p))
    return found


def read_thread(pid: int, tid: int, full: bool = True, previous: Optional[Thread] = None) -> Optional[Thread]:
    """One thread; `full` adds what only the diagnosis needs (the kernel wait channel). previous: this
    thread in the last sample; if it was asleep then and is still asleep now without having run since (the
    same CPU time and times scheduled), it cannot have left or changed its syscall, which is then taken over
    instead of read (only from a sleep: a stopped thread's registers can be changed by a tracer). A sample
    does not read the syscall of a runnable thread either: it is in none."""
    base = "/proc/%d/task/%d/" % (pid, tid)
    stat = _read(base + "stat")
    if not stat:
        return None
    close = stat.rfind(")")
    name, state = stat[stat.find("(") + 1 : close], stat[close + 2 : close + 3]
    sched = (_read(base + "schedstat") or "0 0 0").split()
    run_ns, slices = int(sched[0]), int(sched[2])
    if (
        previous is not None
        and not full
        and (previous.state, previous.name, previous.run_ns, previous.slices) == ("S", name, run_ns, slices)
        and state == "S"
        and slices  # 0: no schedstat to tell (a kernel without it), so always read
    ):
        syscall, args = previous.syscall, previous.args
    elif state == "R" and not full:
        syscall, args = "running", ()  # what the file says of a runnable thread: no read (it waits in nothing)
    else:
        syscall, args = _syscall(_read(base + "syscall") or "")
    wchan = (_read(base + "wchan") or "") if full else ""
    th = Thread(tid, name, state, syscall, args, wchan, run_ns, slices, pid)
    if th.state == "S" and args:
        th.timeout_s = timeout_of(th)
    return th


def _syscall(text):
    """(name, args) from /proc/.../syscall: ("running", ()) for a thread on a CPU, ("", ()) outside one."""
    raw = text.split()
    if raw and raw[0] == "running":
        return "running", ()
    if raw and raw[0] != "-1":
        nr = int(raw[0])
        return syscalls.names().get(nr, "syscall_%d" % nr), tuple(int(a, 16) for a in raw[1:7])
    return "", ()


def _read_mem(pid, addr, size):
    """Bytes of a process's memory (root may read any): how a timed wait's timeout struct is seen."""
    try:
        fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.pread(fd, size, addr)
        return data if len(data) == size else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _timespec(pid, addr, micro=False):
    import struct

    data = _read_mem(pid, addr, 16)
    if data is None:
        return None
    sec, frac = struct.unpack("qq", data)
    return sec + frac / (1e6 if micro else 1e9)


def timeout_of(th: Thread) -> Optional[float]:
    """The longest a timed wait can still last, in seconds, or None when it has no timeout or is unknown."""
    sc, a = th.syscall, th.args
    if sc in ("epoll_wait", "epoll_pwait", "poll"):
        ms = a[3] if sc != "poll" else a[2]
        return None if ms in NO_TIMEOUT else (ms & 0xFFFFFFFF) / 1000.0
    if sc == "futex" and a[3] and (a[1] & 0x7F) in FUTEX_WAITS:
        value = _timespec(th.pid, a[3])
        if value is None or (a[1] & 0x7F) == 0:
            return value  # FUTEX_WAIT: relative
        clock = time.CLOCK_REALTIME if a[1] & 256 or (a[1] & 0x7F) == 6 else time.CLOCK_MONOTONIC
        return value - time.clock_gettime(clock)
    if sc in ("select", "pselect6") and a[4]:
        return _timespec(th.pid, a[4], micro=(sc == "select"))
    if sc == "ppoll" and a[2]:
        return _timespec(th.pid, a[2])
    if sc == "rt_sigtimedwait" and a[2]:
        return _timespec(th.pid, a[2])
    if sc == "nanosleep":
        return _timespec(th.pid, a[0])
    if sc == "clock_nanosleep":
        value = _timespec(th.pid, a[2])
        return value - time.clock_gettime(a[0]) if value is not None and a[1] & 1 else value
    return None


def read_proc(pid: int, full: bool = True, previous: Optional[Proc] = None) -> Optional[Proc]:
    """One process with all its threads and its children; a sample (full=False) skips what only the
    diagnosis needs: each read costs, and the supervisor samples every 5-100 ms. previous: this process
    in the last sample (see read_thread)."""
    stat = _read("/proc/%d/stat" % pid)
    if not stat:
        return None
    state, ppid = stat[stat.rfind(")") + 2 :].split()[:2]
    if state == "Z":
        return None  # a zombie can do nothing and wake nobody: not part of the live tree
    ppid = int(ppid)
    cmdline = (_read("/proc/%d/cmdline" % pid, 8192) or "").replace("\0", " ").strip() if full else ""
    try:
        tids = sorted(int(t) for t in os.listdir("/proc/%d/task" % pid))
    except OSError:
        return None
    threads: Dict[int, Thread] = {}
    kids: List[int] = []
    for tid in tids:
        th = read_thread(pid, tid, full, previous.threads.get(tid) if previous is not None else None)
        if th is not None:
            threads[tid] = th
        text = _read("/proc/%d/task/%d/children" % (pid, tid), 65536)
        if text:
            kids.extend(int(k) for k in text.split())
    if not full and previous is not None and _none_ran(previous.threads, threads):
        return Proc(pid, ppid, cmdline, threads, previous.rchar, previous.wchar, kids)  # no syscall since: same io
    io = dict(line.split(": ") for line in (_read("/proc/%d/io" % pid) or "").splitlines() if ": " in line)
    return Proc(pid, ppid, cmdline, threads, int(io.get("rchar", 0)), int(io.get("wchar", 0)), kids)


def _none_ran(before, now):
    """Whether the same threads are there and none of them has run since `before` (the same CPU time and
    times scheduled, and schedstat there to say so): the process's io counters cannot have moved then (a
    thread that exits adds its counts to the process's, so only the same set of threads proves it)."""
    if set(before) != set(now):
        return False
    return all(
        th.slices and (th.run_ns, th.slices) == (before[tid].run_ns, before[tid].slices) for tid, th in now.items()
    )


def sample(root_parent: int, full: bool = False, previous: Optional[Sample] = None) -> Sample:
    """One look at every live process below root_parent (the supervisor) and every thread of each,
    walking the tree through each thread's children file as it goes. previous: the last sample, whose
    threads that have not run since keep their syscall (read_thread)."""
    snap = Sample(time.monotonic())
    todo, seen = children(root_parent), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        proc = read_proc(pid, full, previous.procs.get(pid) if previous is not None else None)
        if proc is not None and proc.threads:
            snap.procs[pid] = proc
            todo.extend(proc.children)
    return snap


def caught(pid: int, signum: int) -> bool:
    """Whether pid has a handler for signum (SigCgt)."""
    text = _read("/proc/%d/status" % pid) or ""
    m = SIG_CAUGHT.search(text)
    return m is not None and bool(int(m.group(1), 16) & (1 << (signum - 1)))


def ns_pids(pid: int) -> List[int]:
    """NSpid of /proc/PID/status: the process's pid in each PID namespace, the host's first."""
    m = NS_PIDS.search(_read("/proc/%d/status" % pid) or "")
    return [int(p) for p in m.group(1).split()] if m else [pid]
