"""Looking at a cell's process tree from outside, through /proc: cheap samples for the detector, and the
full diagnosis (blocked syscalls decoded, fds, pipes and who holds their other end, Python stacks).

Samples are raw /proc reads, not psutil: reading /proc is the point here, and a sample must cost little
(the supervisor takes one every 5-100 ms for the whole life of the cell, when observe/schedule.py says);
so a sample takes over from the last one what cannot have changed since.
"""

import os
import re
import signal
import struct
import time
from dataclasses import dataclass, field
from typing import Optional

# x86_64 syscall numbers the diagnosis names (see FACTS.md); others show as syscall_N.
SYSCALLS = {
    0: "read",
    1: "write",
    7: "poll",
    17: "pread64",
    19: "readv",
    20: "writev",
    23: "select",
    34: "pause",
    35: "nanosleep",
    42: "connect",
    43: "accept",
    44: "sendto",
    45: "recvfrom",
    46: "sendmsg",
    47: "recvmsg",
    61: "wait4",
    64: "semop",
    72: "fcntl",
    73: "flock",
    128: "rt_sigtimedwait",
    130: "rt_sigsuspend",
    202: "futex",
    220: "semtimedop",
    228: "clock_gettime",
    230: "clock_nanosleep",
    232: "epoll_wait",
    247: "waitid",
    270: "pselect6",
    271: "ppoll",
    281: "epoll_pwait",
    288: "accept4",
    441: "epoll_pwait2",
}
FD_WAITS = {
    "read",
    "write",
    "pread64",
    "readv",
    "writev",
    "recvfrom",
    "recvmsg",
    "sendto",
    "sendmsg",
    "accept",
    "accept4",
    "connect",
}
UNTIMED_BY_NATURE = FD_WAITS | {"wait4", "waitid", "pause", "rt_sigsuspend", "flock", "semop"}
TIMED_BY_NATURE = {"nanosleep", "clock_nanosleep"}
FUTEX_WAITS = {0: "FUTEX_WAIT", 6: "FUTEX_LOCK_PI", 9: "FUTEX_WAIT_BITSET", 11: "FUTEX_WAIT_REQUEUE_PI"}
NO_TIMEOUT = (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)  # -1 as a 32- or 64-bit register
# A wait that cannot end within a week counts as untimed: its timeout is a sentinel (gevent's idle hub: libev's
# ~17.4 days; 2**32 ms, ~49.7 days; threading's TIMEOUT_MAX). A shorter one, even time.sleep(7200), ends by itself.
LONG_WAIT_S = 7 * 86400.0
LOCK_WAIT_CMDS = (7, 38)  # fcntl F_SETLKW, F_OFD_SETLKW: the fcntl calls that wait
# Compiled at import, so the supervisor server compiles them once and every supervisor it forks has them.
FDINFO_FLAGS = re.compile(r"^flags:\s*(\d+)", re.M)
FDINFO_TFD = re.compile(r"^tfd:\s*(\d+).*?\bino:\s*([0-9a-f]+)", re.M)
TIMER_VALUE = re.compile(r"\((\d+),\s*(\d+)\)")
POOL_WORKER = re.compile(r"^\w*PoolWorker-(\d+)$")
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


def to_json(snap):
    """A sample as plain data (recorded snapshots of real runs feed the classifier's tests)."""
    return {
        "t": snap.t,
        "procs": [dict(vars(p), threads=[vars(t) for t in p.threads.values()]) for p in snap.procs.values()],
    }


def from_json(data):
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


def children(pid):
    """Direct children of every thread of pid (needs a kernel with /proc/.../children, as here)."""
    kids = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return kids
    for tid in tids:
        text = _read("/proc/%d/task/%s/children" % (pid, tid), 65536)
        if text:
            kids.extend(int(k) for k in text.split())
    return kids


def descendants(pid):
    """All live descendants of pid (the supervisor is a subreaper, so orphans of the cell stay below it)."""
    found, todo = [], children(pid)
    while todo:
        p = todo.pop()
        if p not in found:
            found.append(p)
            todo.extend(children(p))
    return found


def read_thread(pid, tid, full=True, previous=None):
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
        return SYSCALLS.get(nr, "syscall_%d" % nr), tuple(int(a, 16) for a in raw[1:7])
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


def timeout_of(th):
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


def read_proc(pid, full=True, previous=None):
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
    threads, kids = {}, []
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


def sample(root_parent, full=False, previous=None):
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


# ---------------------------------------------------------------- what a blocked thread waits for


def _signed(value):
    return value - (1 << 64) if value >= 1 << 63 else value


def wait_kind(th):
    """'untimed' when the thread can only be woken by another thread or process (or not within an hour),
    'timed' when it will wake by itself, None when it is not waiting (running, or a call we cannot vouch for)."""
    if th.state not in ("S",) or not th.syscall or th.syscall == "running":
        return None
    sc, a = th.syscall, th.args
    if sc in TIMED_BY_NATURE:
        return "timed"  # a sleep ends by itself, however long (time.sleep(7200) is no deadlock)
    if th.timeout_s is not None and th.timeout_s > LONG_WAIT_S:
        return "untimed"
    if sc in UNTIMED_BY_NATURE:
        return "untimed"
    if sc == "fcntl" and len(a) >= 2:
        return "untimed" if a[1] in LOCK_WAIT_CMDS else None
    if sc in ("rt_sigtimedwait", "semtimedop") and len(a) >= 4:
        return "untimed" if (a[2] if sc == "rt_sigtimedwait" else a[3]) == 0 else "timed"
    if sc == "futex" and len(a) >= 4:
        if (a[1] & 0x7F) not in FUTEX_WAITS:
            return None
        return "untimed" if a[3] == 0 else "timed"
    if sc in ("poll",) and len(a) >= 3:
        return "untimed" if a[2] in NO_TIMEOUT else "timed"
    if sc in ("epoll_wait", "epoll_pwait") and len(a) >= 4:
        return "untimed" if a[3] in NO_TIMEOUT else "timed"
    if sc in ("select", "pselect6") and len(a) >= 5:
        return "untimed" if a[4] == 0 else "timed"
    if sc in ("ppoll", "epoll_pwait2") and len(a) >= 4:
        return "untimed" if (a[2] if sc == "ppoll" else a[3]) == 0 else "timed"
    return None


# ---------------------------------------------------------------- the full diagnosis


def fd_table(pid):
    """fd -> (target, mode) where mode is 'r', 'w' or 'rw'."""
    table = {}
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return table
    for fd in fds:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        info = _read("/proc/%d/fdinfo/%s" % (pid, fd)) or ""
        m = FDINFO_FLAGS.search(info)
        acc = int(m.group(1), 8) & 3 if m else 0
        table[int(fd)] = (target, {0: "r", 1: "w", 2: "rw"}.get(acc, "?"))
    return table


def epoll_targets(pid, epfd):
    """fds registered in an epoll instance (from fdinfo 'tfd:' lines)."""
    return [fd for fd, _ in epoll_entries(pid, epfd)]


def epoll_entries(pid, epfd):
    """(fd, inode) of each registration of an epoll instance: the fd number it was added under and the
    inode of the file it watches (the registration outlives a close while the file is open elsewhere)."""
    info = _read("/proc/%d/fdinfo/%d" % (pid, epfd), 65536) or ""
    return [(int(fd), int(ino, 16)) for fd, ino in FDINFO_TFD.findall(info)]


def watched_fds(th):
    """The fds a poll, select or epoll wait watches: epoll's from fdinfo, poll's and select's read from the
    process's memory (the pollfd array, the fd_set bitmaps). None when they cannot be read."""
    sc, a = th.syscall, th.args
    if sc.startswith("epoll"):
        return epoll_targets(th.pid, a[0])
    if sc in ("poll", "ppoll"):
        if a[1] > 65536:
            return None
        data = _read_mem(th.pid, a[0], 8 * a[1]) if a[1] else b""
        return None if data is None else sorted({fd for fd, _, _ in struct.iter_unpack("ihh", data) if fd >= 0})
    if sc in ("select", "pselect6"):
        if a[0] > 65536:
            return None
        fds, size = set(), (a[0] + 63) // 64 * 8
        for ptr in a[1:4]:
            data = _read_mem(th.pid, ptr, size) if ptr and size else b""
            if data is None:
                return None
            bits = int.from_bytes(data, "little")
            fds.update(fd for fd in range(a[0]) if bits >> fd & 1)
        return sorted(fds)
    return []


def fdinfo_field(pid, fd, key):
    """One field of /proc/PID/fdinfo/FD (`eventfd-id`, `Pid`, `it_value`...), or None."""
    m = re.search(r"^%s:\s*(.*?)\s*$" % re.escape(key), _read("/proc/%d/fdinfo/%d" % (pid, fd)) or "", re.M)
    return m.group(1) if m else None


def timerfd_left(pid, fd):
    """Seconds until a timerfd fires, or None when it is disarmed."""
    m = TIMER_VALUE.match(fdinfo_field(pid, fd, "it_value") or "")
    left = int(m.group(1)) + int(m.group(2)) / 1e9 if m else 0
    return left or None


def describe_call(th, fds):
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


def duration(seconds):
    """`0.5 s`, `12 min`, `2.0 h`, `17.4 days`: a wait's length as a person says it."""
    if seconds < 90:
        return "%.1f s" % seconds
    if seconds < 5400:
        return "%.0f min" % (seconds / 60)
    if seconds < 2 * 86400:
        return "%.1f h" % (seconds / 3600)
    return "%.1f days" % (seconds / 86400)


def role_of(pid, proc, root_pid, names):
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


def pipe_peers(inode_target, want_mode, tables):
    """(pid, fd) of the processes whose fd tables hold pipe inode_target open for want_mode ('w' or 'r')."""
    peers = []
    for pid, table in sorted(tables.items()):
        for fd, (target, mode) in table.items():
            if target == inode_target and (want_mode in mode or mode == "rw"):
                peers.append((pid, fd))
    return peers


def outside_fd_tables(tree_pids, ours=()):
    """pid -> {fd: target} of every process outside the tree (and not this one, nor `ours`: the cell's own
    machinery, such as its PID namespace's init): one pass over /proc, made only when a deadlock or stall
    is being proven (it reads every fd of the machine: each link is read relative to its process's fd
    folder, which saves the kernel the path walk, a quarter of the pass on a busy machine)."""
    tables = {}
    skip = set(ours) | {os.getpid()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in tree_pids or int(entry) in skip:
            continue
        try:
            folder = os.open("/proc/%s/fd" % entry, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            fds = os.listdir(folder)
        except OSError:
            os.close(folder)
            continue
        table = {}
        try:
            for fd in fds:
                try:
                    table[int(fd)] = os.readlink(fd, dir_fd=folder)
                except OSError:
                    continue
        finally:
            os.close(folder)
        tables[int(entry)] = table
    return tables


def outside_holders(targets, outside_tables):
    """{pipe: [pid]} of processes outside the tree holding any of `targets` open: they could still wake
    a wait on it, so no deadlock proof."""
    holders = {}
    for pid, table in sorted(outside_tables.items()):
        for target in set(table.values()) & targets:
            holders.setdefault(target, []).append(pid)
    return holders


def diagnose(snap, root_pid, names, harness_files=(), annotate=None, ours=(), outside=True):
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
    outside = outside_holders(pipes, outside_tables)
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
                    "outside_holders": outside.get(target, []),
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


# ---------------------------------------------------------------- Python stacks, from inside, on a signal


def caught(pid, signum):
    """Whether pid has a handler for signum (SigCgt)."""
    text = _read("/proc/%d/status" % pid) or ""
    m = SIG_CAUGHT.search(text)
    return bool(m) and bool(int(m.group(1), 16) & (1 << (signum - 1)))


def _tgkill(pid, signum):
    """Signal the main thread itself: a Python-level handler only runs there."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall(234, pid, pid, signum)  # SYS_tgkill on x86_64


def _wait_stable(path, before, limit):
    """Wait until path grew past `before` and stopped growing (a dump is written in many small writes)."""
    deadline, last = time.monotonic() + limit, -1
    while time.monotonic() < deadline:
        size = os.path.getsize(path) if os.path.exists(path) else 0
        if size > before and size == last:
            return size
        last = size
        time.sleep(0.01)
    return os.path.getsize(path) if os.path.exists(path) else 0


def python_stacks(pids, stacks_path, greenlets_path, faulthandler=True):
    """Every thread's stack (SIGUSR1) and gevent's greenlets (SIGUSR2), from inside each process. Only
    after the verdict: signals wake blocked calls, so this would disturb the observation it explains.
    faulthandler writes a dump in many small writes, so those processes are asked one at a time; the
    Python-level handlers (greenlets; threads where faulthandler is missing, Python 2.7) write one
    marked block each, so those are asked all at once."""
    stacks = {}
    if faulthandler:
        for pid in pids:
            if not caught(pid, signal.SIGUSR1):
                stacks[str(pid)] = "(no faulthandler in this process)"
                continue
            before = os.path.getsize(stacks_path) if os.path.exists(stacks_path) else 0
            _tgkill(pid, signal.SIGUSR1)
            after = _wait_stable(stacks_path, before, 0.3)
            if after <= before:
                stacks[str(pid)] = "(no dump within 0.3 s)"
                continue
            with open(stacks_path, "rb") as f:
                f.seek(before)
                stacks[str(pid)] = f.read(after - before).decode("utf-8", "replace").strip()
    else:
        stacks = _marked_blocks(pids, signal.SIGUSR1, stacks_path, "stacks")
    return stacks, _marked_blocks(pids, signal.SIGUSR2, greenlets_path, "greenlets")


def ns_pids(pid):
    """NSpid of /proc/PID/status: the process's pid in each PID namespace, the host's first."""
    m = NS_PIDS.search(_read("/proc/%d/status" % pid) or "")
    return [int(p) for p in m.group(1).split()] if m else [pid]


def _marked_blocks(pids, signum, path, label, limit=0.5):
    """Signal every process that handles signum, then collect the `=== label pid=N ===` blocks they append."""
    blocks = {}
    targets = [p for p in pids if caught(p, signum)]
    for pid in targets:
        _tgkill(pid, signum)
    deadline = time.monotonic() + limit
    pattern = re.compile(r"=== %s pid=(\d+) ===\n(.*?)\n=== end pid=\1 ===" % label, re.S)
    host = {ns_pids(p)[-1]: p for p in targets}  # a block names its writer by its pid inside its namespace
    while targets and time.monotonic() < deadline:
        text = open(path, encoding="utf-8", errors="replace").read() if os.path.exists(path) else ""
        for m in pattern.finditer(text):
            blocks[str(host.get(int(m.group(1)), m.group(1)))] = m.group(2)
        if all(str(p) in blocks for p in targets):
            break
        time.sleep(0.02)
    for pid in targets:
        blocks.setdefault(str(pid), "(no answer within %.1f s: the main thread did not run Python code)" % limit)
    return blocks
