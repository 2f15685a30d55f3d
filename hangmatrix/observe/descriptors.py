"""A process's open files as /proc shows them: its fd table, what an epoll, poll or select wait watches,
timerfds and fdinfo fields, the processes holding each end of a pipe, and the fds of every process outside
the tree (who else could end a wait). Read for the diagnosis and by wakers.py, never for a sample: these
reads cost more than a sample may.
"""

import os
import re
import struct
from typing import Dict, Iterable, List, Optional, Set, Tuple

from . import watch

# Compiled at import, so the supervisor server compiles them once and every supervisor it forks has them.
FDINFO_FLAGS = re.compile(r"^flags:\s*(\d+)", re.M)
FDINFO_TFD = re.compile(r"^tfd:\s*(\d+).*?\bino:\s*([0-9a-f]+)", re.M)
TIMER_VALUE = re.compile(r"\((\d+),\s*(\d+)\)")


def fd_table(pid: int) -> Dict[int, Tuple[str, str]]:
    """fd -> (target, mode) where mode is 'r', 'w' or 'rw'."""
    table: Dict[int, Tuple[str, str]] = {}
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return table
    for fd in fds:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        info = watch._read("/proc/%d/fdinfo/%s" % (pid, fd)) or ""
        m = FDINFO_FLAGS.search(info)
        acc = int(m.group(1), 8) & 3 if m else 0
        table[int(fd)] = (target, {0: "r", 1: "w", 2: "rw"}.get(acc, "?"))
    return table


def epoll_targets(pid: int, epfd: int) -> List[int]:
    """fds registered in an epoll instance (from fdinfo 'tfd:' lines)."""
    return [fd for fd, _ in epoll_entries(pid, epfd)]


def epoll_entries(pid: int, epfd: int) -> List[Tuple[int, int]]:
    """(fd, inode) of each registration of an epoll instance: the fd number it was added under and the
    inode of the file it watches (the registration outlives a close while the file is open elsewhere)."""
    info = watch._read("/proc/%d/fdinfo/%d" % (pid, epfd), 65536) or ""
    return [(int(fd), int(ino, 16)) for fd, ino in FDINFO_TFD.findall(info)]


def watched_fds(th: watch.Thread) -> Optional[List[int]]:
    """The fds a poll, select or epoll wait watches: epoll's from fdinfo, poll's and select's read from the
    process's memory (the pollfd array, the fd_set bitmaps). None when they cannot be read."""
    sc, a = th.syscall, th.args
    if sc.startswith("epoll"):
        return epoll_targets(th.pid, a[0])
    if sc in ("poll", "ppoll"):
        if a[1] > 65536:
            return None
        data = watch._read_mem(th.pid, a[0], 8 * a[1]) if a[1] else b""
        return None if data is None else sorted({fd for fd, _, _ in struct.iter_unpack("ihh", data) if fd >= 0})
    if sc in ("select", "pselect6"):
        if a[0] > 65536:
            return None
        fds: Set[int] = set()
        size = (a[0] + 63) // 64 * 8
        for ptr in a[1:4]:
            data = watch._read_mem(th.pid, ptr, size) if ptr and size else b""
            if data is None:
                return None
            bits = int.from_bytes(data, "little")
            fds.update(fd for fd in range(a[0]) if bits >> fd & 1)
        return sorted(fds)
    return []


def fdinfo_field(pid: int, fd: int, key: str) -> Optional[str]:
    """One field of /proc/PID/fdinfo/FD (`eventfd-id`, `Pid`, `it_value`...), or None."""
    m = re.search(r"^%s:\s*(.*?)\s*$" % re.escape(key), watch._read("/proc/%d/fdinfo/%d" % (pid, fd)) or "", re.M)
    return m.group(1) if m else None


def timerfd_left(pid: int, fd: int) -> Optional[float]:
    """Seconds until a timerfd fires, or None when it is disarmed."""
    m = TIMER_VALUE.match(fdinfo_field(pid, fd, "it_value") or "")
    left = int(m.group(1)) + int(m.group(2)) / 1e9 if m else 0
    return left or None


def pipe_peers(
    inode_target: str, want_mode: str, tables: Dict[int, Dict[int, Tuple[str, str]]]
) -> List[Tuple[int, int]]:
    """(pid, fd) of the processes whose fd tables hold pipe inode_target open for want_mode ('w' or 'r')."""
    peers = []
    for pid, table in sorted(tables.items()):
        for fd, (target, mode) in table.items():
            if target == inode_target and (want_mode in mode or mode == "rw"):
                peers.append((pid, fd))
    return peers


def outside_fd_tables(tree_pids: Iterable[int], ours: Iterable[int] = ()) -> Dict[int, Dict[int, str]]:
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


def outside_holders(targets: Set[str], outside_tables: Dict[int, Dict[int, str]]) -> Dict[str, List[int]]:
    """{pipe: [pid]} of processes outside the tree holding any of `targets` open: they could still wake
    a wait on it, so no deadlock proof."""
    holders: Dict[str, List[int]] = {}
    for pid, table in sorted(outside_tables.items()):
        for target in set(table.values()) & targets:
            holders.setdefault(target, []).append(pid)
    return holders
