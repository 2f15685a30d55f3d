"""Who can end a blocked wait. For each waiting thread: what it waits on (a pipe, a FIFO, a socket and its
peer, a lock, a shared futex word, an eventfd or timer, a signal), which processes of the tree could end it,
and what outside the tree could (a peer process, anyone who can open a name or connect, a timer, a signal).

A deadlock needs every wait on the parent's chain (its threads, the processes that could end their waits,
theirs in turn) to be endable from inside only; a stall needs the same of its pollers. These look-ups read
kernel tables (other processes' fds and maps, socket tables, /proc/locks), so they run only when a
deadlock or stall is about to be declared, once per look (World caches each table for that look).
"""

import errno
import functools
import os
import re
import signal
import socket
import stat
import struct
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from . import descriptors, procmap, syscalls, waits, watch

SIGNAL_WAITS = {"pause", "rt_sigsuspend", "rt_sigtimedwait"}
POLLS = {"poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2"}
LOCK_LINE = re.compile(r"^(\d+):\s+(->\s+)?(\S+)\s+\S+\s+\S+\s+(-?\d+)\s+(\S+)")  # compiled once, in the server


class World:
    """The kernel's tables for one look at the tree, each read at most once and only when needed."""

    def __init__(
        self,
        snap: watch.Sample,
        fds: Dict[int, Dict[int, Tuple[str, str]]],
        outside_tables: Dict[int, Dict[int, str]],
        cell_dir: Optional[str] = None,
    ) -> None:
        self.procs = snap.procs
        self.cell_dir = cell_dir  # the cell's own folder (the harness's path), see _reachable_by_name
        self.tree = set(snap.procs)
        self.fds = fds  # pid -> {fd: (target, mode)} of the tree, as descriptors.fd_table
        self._outside_fds = outside_tables  # pid -> {fd: target} outside the tree, as descriptors.outside_fd_tables
        self._unix: Optional[Dict[int, Any]] = None
        self._locks: Optional[List[Tuple[Any, ...]]] = None
        self._inet: Dict[int, List[Tuple[str, str, str, str, int]]] = {}
        self._maps: Dict[int, str] = {}
        self._namespaces: Optional[Dict[str, List[int]]] = None
        self._mapped_outside: Dict[Tuple[str, int], List[int]] = {}
        self._held_outside: Dict[str, List[int]] = {}
        self._mapped: Dict[Any, List[int]] = {}

    def outside_fds(self) -> Dict[int, Dict[int, str]]:
        return self._outside_fds

    def held_outside(self, target: str) -> List[int]:
        """The processes outside the tree holding target open (each target looked up once per look)."""
        if target not in self._held_outside:
            self._held_outside[target] = sorted(
                pid for pid, table in self.outside_fds().items() if target in table.values()
            )
        return self._held_outside[target]

    def holders(self, target: str, mode: Optional[str] = None) -> Tuple[List[int], List[int]]:
        """(inside pids, outside pids) holding target open (inside: for mode 'r' or 'w' when given)."""
        inside = sorted(
            {
                pid
                for pid, table in self.fds.items()
                for t, m in table.values()
                if t == target and (mode is None or mode in m or m == "rw")
            }
        )
        return inside, self.held_outside(target)

    def same_file_holders(self, pid: int, fd: int) -> Optional[Tuple[List[int], List[int]]]:
        """Holders of the very file pid's fd refers to, for anonymous-inode files (eventfd, timerfd), which
        all read `anon_inode:[...]`: told apart with kcmp(KCMP_FILE). (inside pids, outside pids), or None
        when the kernel cannot compare."""
        target = self.fds[pid][fd][0]
        candidates = [(p, f) for p, table in self.fds.items() for f, (t, _) in table.items() if t == target] + [
            (p, f) for p, table in self.outside_fds().items() for f, t in table.items() if t == target
        ]
        same = set()
        for other, other_fd in candidates:
            answer = _kcmp_file(pid, fd, other, other_fd)
            if answer is None:
                return None
            if answer:
                same.add(other)
        return sorted(same & self.tree), sorted(same - self.tree)

    def by_inode(self, pid: int, fd: int, inode: Optional[int]) -> Tuple[int, int]:
        """(pid, fd) through which to examine an epoll registration: pid's own fd when it still is the file
        registered, else a tree process's fd on that inode (pid closed it; a forked child still has it)."""
        target = self.fds.get(pid, {}).get(fd, ("",))[0]
        if inode is None or target.endswith("[%d]" % inode):
            return pid, fd
        for other, table in sorted(self.fds.items(), key=lambda item: item[0] != pid):
            for other_fd, (t, _) in table.items():
                if t.endswith(":[%d]" % inode):
                    return other, other_fd
        return pid, fd

    # -- sockets
    def unix(self) -> Dict[int, Any]:
        """inode -> (type, state, name, peer inode) of every Unix socket, from sock_diag (as `ss -x`)."""
        if self._unix is None:
            try:
                self._unix = _unix_sockets()
            except OSError:
                self._unix = {}
        return self._unix

    def inet(self, pid: int) -> List[Tuple[str, str, str, str, int]]:
        """[(proto, local, remote, state, inode)] of the TCP and UDP sockets in pid's network namespace."""
        if pid not in self._inet:
            rows = []
            for proto in ("tcp", "tcp6", "udp", "udp6"):
                text = watch._read("/proc/%d/net/%s" % (pid, proto), 1 << 22) or ""
                for line in text.splitlines()[1:]:
                    f = line.split()
                    if len(f) >= 10:
                        rows.append((proto.rstrip("6"), _addr(f[1]), _addr(f[2]), f[3], int(f[9])))
            self._inet[pid] = rows
        return self._inet[pid]

    # -- locks and mappings
    def locks(self) -> List[Tuple[Any, ...]]:
        """[(blocker line id, pid, lock type, file, waiting)] from /proc/locks; `waiting` rows are
        blocked on the id."""
        if self._locks is None:
            self._locks = []
            for line in (watch._read("/proc/locks", 1 << 22) or "").splitlines():
                m = LOCK_LINE.match(line)
                if m:
                    self._locks.append((m.group(1), int(m.group(4)), m.group(3), m.group(5), bool(m.group(2))))
        return self._locks

    def maps_text(self, pid: int) -> str:
        """/proc/PID/maps as text (searched, not parsed: a tree of Python processes maps a lot)."""
        if pid not in self._maps:
            self._maps[pid] = watch._read("/proc/%d/maps" % pid, 1 << 24) or ""
        return self._maps[pid]

    def mapping(self, pid: int, addr: int) -> Optional[Tuple[str, str, int, str]]:
        """(perms, dev, inode, path) of pid's mapping that contains addr, or None."""
        asked = procmap.mapping_at(pid, addr)
        if asked is not False:
            return asked
        for line in self.maps_text(pid).splitlines():
            f = line.split(None, 5)
            start, end = (int(x, 16) for x in f[0].split("-"))
            if start <= addr < end and len(f) >= 5:
                return f[1], f[3], int(f[4]), f[5].strip() if len(f) > 5 else ""
        return None

    def mapped_by(self, pids: Iterable[int], dev: str, inode: int) -> List[int]:
        """The pids among pids that map the file dev:inode (a search of their maps text, which a few
        processes of the tree read faster than asking the kernel mapping by mapping)."""
        key = (tuple(sorted(pids)), dev, inode)
        if key not in self._mapped:
            found = re.compile(r" %s %d(?: |$)" % (re.escape(dev), inode), re.M)
            self._mapped[key] = sorted(p for p in pids if found.search(self.maps_text(p)))
        return self._mapped[key]

    def mapped_outside(self, dev: str, inode: int) -> List[int]:
        """The processes outside the tree that map the file dev:inode shared (procmap says why shared)."""
        if (dev, inode) not in self._mapped_outside:
            self._mapped_outside[dev, inode] = procmap.mapped_shared(self.outside_fds(), dev, inode, self.maps_text)
        return self._mapped_outside[dev, inode]

    def outside_in_namespace(self, pid: int) -> List[int]:
        """Processes outside the tree that share pid's mount namespace (and so its /dev/shm)."""
        if self._namespaces is None:
            self._namespaces = {}
            for other in self.outside_fds():
                try:
                    self._namespaces.setdefault(os.readlink("/proc/%d/ns/mnt" % other), []).append(other)
                except OSError:
                    continue
        try:
            return self._namespaces.get(os.readlink("/proc/%d/ns/mnt" % pid), [])
        except OSError:
            return []


def _addr(text):
    """`0100007F:4E20` (or 32 hex digits for IPv6) -> ('127.0.0.1', 20000); v4-mapped IPv6 as IPv4."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip = socket.inet_ntop(socket.AF_INET, struct.pack("<I", struct.unpack(">I", raw)[0]))
    else:
        raw = b"".join(struct.pack("<I", struct.unpack(">I", raw[i : i + 4])[0]) for i in range(0, 16, 4))
        ip = socket.inet_ntop(socket.AF_INET6, raw)
        if ip.startswith("::ffff:") and "." in ip:
            ip = ip[7:]
    return ip, int(port, 16)


def _show(addr):
    return ("[%s]:%d" if ":" in addr[0] else "%s:%d") % addr


def _unix_sockets():
    """Every Unix socket of this network namespace through NETLINK_SOCK_DIAG, with its peer's inode."""
    req = struct.pack("=BBHIIIII", socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0, 1 | 4, 0xFFFFFFFF, 0xFFFFFFFF)
    msg = struct.pack("=IHHII", 16 + len(req), 20, 1 | 0x300, 1, 0) + req  # SOCK_DIAG_BY_FAMILY, dump
    found = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4) as nl:
        nl.settimeout(2.0)
        nl.send(msg)
        while True:
            data, off = nl.recv(1 << 20), 0
            while off + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, off)
                if kind == 3:  # NLMSG_DONE
                    return found
                if kind == 2:  # NLMSG_ERROR
                    raise OSError("sock_diag refused the dump")
                stype, state, ino = struct.unpack_from("=xBBxI", data, off + 16)
                name, peer, a = "", 0, off + 16 + 16
                while a + 4 <= off + length:
                    alen, atype = struct.unpack_from("=HH", data, a)
                    if alen < 4:
                        break
                    value = data[a + 4 : a + alen]
                    if atype == 0:  # UNIX_DIAG_NAME
                        name = (
                            "@" + value[1:].decode("utf-8", "replace")
                            if value[:1] == b"\0"
                            else value.split(b"\0")[0].decode("utf-8", "replace")
                        )
                    elif atype == 2:  # UNIX_DIAG_PEER
                        peer = struct.unpack("=I", value[:4])[0]
                    a += (alen + 3) & ~3
                found[ino] = (stype, state, name, peer)
                off += (length + 3) & ~3
            if not data:
                return found


# ---------------------------------------------------------------- one wait


class Wake:
    """What one wait is on, who inside could end it, and what outside could (each a reason)."""

    def __init__(self, ends_in_s: Optional[float] = None) -> None:
        self.on: List[str] = []
        self.inside: Set[int] = set()
        self.outside: List[str] = []
        self.ends_in_s = ends_in_s  # a timed wait: it ends by itself within this long
        self.between: List[
            str
        ] = []  # a timed wait's: what its process could try between two waits that outside can ready

    def as_json(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"on": self.on[:8], "inside": sorted(self.inside), "outside": self.outside[:8]}
        if self.ends_in_s is not None:
            data["ends_in_s"] = round(self.ends_in_s, 3)
        if self.between:
            data["between"] = self.between[:8]
        return data


def explain(th: watch.Thread, pid: int, world: World) -> Optional[Wake]:
    """The Wake of a thread in a blocking wait, or None when it is not waiting on anything we examine."""
    kind = waits.wait_kind(th)
    if kind is None:
        return None
    wake, sc, a = Wake(th.timeout_s if kind == "timed" else None), th.syscall, th.args
    fds = world.fds.get(pid, {})
    if sc in waits.FD_WAITS:
        _fd(wake, pid, a[0], fds, world, th.syscall)
    elif sc in POLLS:
        watched = descriptors.watched_fds(th)
        if watched is None:
            wake.outside.append("%s() on fds that cannot be read" % sc)
        inodes = dict(descriptors.epoll_entries(pid, a[0])) if sc.startswith("epoll") else {}
        for fd in watched or ():
            holder, held_fd = world.by_inode(pid, fd, inodes.get(fd))
            _fd(wake, holder, held_fd, world.fds.get(holder, {}), world, None)
        if not watched and kind == "untimed":
            _signal(wake, pid)  # an untimed wait on nothing: only a signal ends it
    elif sc == "futex":
        _futex(wake, pid, a, world)
    elif sc in SIGNAL_WAITS:
        _signal(wake, pid)
    elif sc in ("flock", "fcntl"):
        _lock(wake, pid, world)
    elif sc in ("wait4", "waitid"):
        wake.on.append("a child's exit")
        wake.inside.update(p for p, proc in world.procs.items() if proc.ppid == pid)
    elif sc in ("semop", "semtimedop"):
        wake.on.append("a SysV semaphore")
        wake.outside.append("a SysV semaphore (any process allowed to use the set can change it)")
    elif th.timeout_s is not None or sc in waits.TIMED_BY_NATURE:
        wake.on.append("time")
    return wake


def _fd(wake, pid, fd, fds, world, call):
    """What can make fd of pid ready: the other end's holders for pipes, the peer for sockets, ..."""
    target, mode = fds.get(fd, ("", ""))
    if not target:
        wake.outside.append("fd %d, closed or unknown" % fd)
        return
    if target.startswith("pipe:") or _is_fifo(pid, fd):
        reading = call in ("read", "readv", "pread64") or (call is None and "r" in mode and mode != "rw")
        inside, outside = world.holders(target, "w" if reading else "r")
        label = target if target.startswith("pipe:") else "FIFO %s" % target
        wake.on.append(label)
        wake.inside.update(inside)
        if label != target and _reachable_by_name(world, pid, target, cell_view=False):
            wake.outside.append("%s (%s: a process outside the tree can open it)" % (label, NAMED_OUTSIDE))
        if outside:
            wake.outside.append("%s (also held outside the tree by %s)" % (label, outside))
    elif target.startswith("socket:["):
        _socket(wake, pid, int(target[8:-1]), world)
    elif target in ("anon_inode:[eventfd]", "anon_inode:[timerfd]"):
        kind = target[12:-1]
        left = descriptors.timerfd_left(pid, fd) if kind == "timerfd" else None
        wake.on.append(kind)
        if left is not None and left <= waits.LONG_WAIT_S:
            wake.outside.append("a timerfd that fires in %s" % waits.duration(left))
            return
        held = world.same_file_holders(pid, fd)  # an eventfd or a disarmed timerfd: its holders write or arm it
        if held is None:
            wake.outside.append("an %s whose holders cannot be told apart (no kcmp)" % kind)
            return
        wake.inside.update(held[0])
        if held[1]:
            wake.outside.append("%s (also held outside the tree by %s)" % (kind, held[1]))
    elif target == "anon_inode:[eventpoll]":
        wake.on.append("a nested epoll")
        wake.outside.append("a nested epoll instance (not examined)")
    elif target == "anon_inode:[signalfd]":
        wake.on.append("a signalfd")
        wake.outside.append("a signalfd (any process allowed to signal it can end the wait)")
    elif target in ("anon_inode:inotify", "anon_inode:[inotify]"):
        wake.on.append("inotify")
        wake.outside.append("an inotify watch (anyone writing a watched file can end the wait)")
    elif target == "anon_inode:[pidfd]":
        other = descriptors.fdinfo_field(pid, fd, "Pid")
        wake.on.append("pidfd of %s" % other)
        if other is None or int(other) not in world.tree:
            wake.outside.append("the exit of process %s, outside the tree" % other)
        else:
            wake.inside.add(int(other))
    else:
        wake.on.append(target)
        wake.outside.append("%s (not examined)" % target)


NAMED_OUTSIDE = "its name lies outside the cell's own folder"


def _reachable_by_name(world, pid, name, cell_view):
    """Whether a process outside the tree can reach a FIFO or Unix socket by its name (open it, connect or
    send to it). Folder modes prove nothing: every root process, and every process of the name's owner,
    passes a 0700 folder. So a name is closed to the outside only when it lies in the cell's own folder
    (made by the harness with mkdtemp 0700, a random name nobody outside is told, removed after; the
    cell's TMPDIR, and so multiprocessing's pymp-* folders, are in it), reached through no symlink or `..`
    the program could have pointed elsewhere. An abstract address, a relative name (resolved against a
    working directory we do not know) and any other path are reachable. A deleted FIFO has no name left
    (its holders are examined as a pipe's are). cell_view: the name is as pid gave it (a socket's bound
    address: inside a chroot, the path under pid's root); else as this process reads it (an fd's target)."""
    if name.endswith(" (deleted)"):
        return False
    if not world.cell_dir or not name.startswith("/") or "/../" in name + "/":
        return True
    base = world.cell_dir
    if cell_view:
        try:
            root = os.readlink("/proc/%d/root" % pid).rstrip("/")
        except OSError:
            return True
        if root and not base.startswith(root + "/"):
            return True  # the cell's folder is not under pid's root: pid cannot have named it
        base = base[len(root) :]
    else:  # an fd's target: the kernel's path, with no link left in it
        base = os.path.realpath(base)
    base = base.rstrip("/") + "/"
    if not name.startswith(base):
        return True
    path, below = world.cell_dir, [p for p in name[len(base) :].split("/") if p not in ("", ".")]
    for part in below[:-1]:
        path = os.path.join(path, part)
        if os.path.islink(path):  # a link the program made could lead anywhere
            return True
    return not below


def _kcmp_file(pid1, fd1, pid2, fd2):
    """Whether two processes' fds are one open file (kcmp KCMP_FILE), or None when the kernel will not say
    (no kcmp, not allowed). A process or fd gone since the scan holds nothing."""
    import ctypes

    result = _libc().syscall(syscalls.number("kcmp"), pid1, pid2, 0, fd1, fd2)
    if result < 0:
        return None if ctypes.get_errno() in (errno.ENOSYS, errno.EPERM, errno.EACCES) else False
    return result == 0


@functools.lru_cache(maxsize=None)
def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _is_fifo(pid, fd):
    try:
        return stat.S_ISFIFO(os.stat("/proc/%d/fd/%d" % (pid, fd)).st_mode)
    except OSError:
        return False


def _socket(wake, pid, ino, world):
    unix = world.unix().get(ino)
    if unix is not None:
        stype, state, name, peer = unix
        peer_name = world.unix().get(peer, (0, 0, "", 0))[2] if peer else ""
        label = "Unix socket %s%s" % (name or "socket:[%d]" % ino, " → %s" % peer_name if peer_name else "")
        if state == 10:  # listening
            wake.on.append(label + " (listening)")
            if _reachable_by_name(world, pid, name, cell_view=True):
                wake.outside.append("%s (%s: a process outside the tree can connect)" % (label, NAMED_OUTSIDE))
        elif peer:
            wake.on.append(label)
            inside, outside = world.holders("socket:[%d]" % peer)
            wake.inside.update(inside)
            if outside or not inside:
                wake.outside.append(
                    "%s (peer outside the tree%s)" % (label, ": held by %s" % outside if outside else "")
                )
        elif name and stype != 1:  # a bound datagram socket: whoever may open its name can send to it
            wake.on.append(label)
            if _reachable_by_name(world, pid, name, cell_view=True):
                wake.outside.append("%s (%s: a process outside the tree can send to it)" % (label, NAMED_OUTSIDE))
        else:
            wake.on.append(label + " (unconnected)")
        return
    row = next((r for r in world.inet(pid) if r[4] == ino), None)
    if row is None:
        wake.on.append("socket:[%d]" % ino)
        wake.outside.append("socket:[%d] of a kind not examined" % ino)
        return
    proto, local, remote, state, _ = row
    label = "%s %s → %s" % (proto.upper(), _show(local), _show(remote))
    if state == "0A" or remote[1] == 0:
        label = "%s %s" % (proto.upper(), _show(local))
        wake.on.append(label + (" (listening)" if proto == "tcp" else ""))
        wake.outside.append(
            "%s (%s)" % (label, "listening: anyone can connect" if proto == "tcp" else "anyone can send to it")
        )
        return
    wake.on.append(label)
    peers = [r for r in world.inet(pid) if r[0] == proto and r[1] == remote and r[2] == local]
    held = [r[4] for r in peers if r[4]]
    if peers and not held and proto == "tcp":  # not accepted yet: whoever holds the listener can
        held = [r[4] for r in world.inet(pid) if r[0] == "tcp" and r[3] == "0A" and r[1][1] == remote[1]]
    inside, outside = set(), set()
    for peer in held:
        i, o = world.holders("socket:[%d]" % peer)
        inside.update(i)
        outside.update(o)
    wake.inside.update(inside)
    if outside or not inside:
        wake.outside.append("%s (peer outside the tree)" % label)


def _futex(wake, pid, a, world):
    """A private futex is woken by the process's own threads; a shared one by whoever maps its page."""
    if a[1] & 128:
        wake.on.append("a lock of the process")
        wake.inside.add(pid)
        return
    page = world.mapping(pid, a[0])
    if page is None or page[0][3] != "s":
        wake.on.append("a lock of the process")
        wake.inside.add(pid)
        return
    _, dev, ino, path = page
    wake.on.append("a lock in shared memory %s" % (path or "(anonymous)"))
    wake.inside.update(world.mapped_by(world.tree, dev, ino))
    if path.startswith("/SYSV"):
        wake.outside.append("SysV shared memory %s (any process allowed can attach it)" % path)
        return
    private = _private_shm(pid, dev)
    if path and not path.endswith(" (deleted)") and not private:
        wake.outside.append("shared memory %s (anyone can map it by name)" % path)
        return
    if private or path == "/dev/zero (deleted)":
        # the cell's own /dev/shm, or anonymous shared memory: reachable from outside only through an fd
        # on the file, or from the cell's mount namespace (scanning every process's maps costs seconds)
        outside = world.held_outside(path) + (world.outside_in_namespace(pid) if private else [])
    else:  # a deleted file elsewhere: whoever still maps it, or holds an fd on it and so could map it
        outside = world.mapped_outside(dev, ino) + world.held_outside(path)
    if outside:
        wake.outside.append("shared memory %s also reachable outside the tree by %s" % (path, sorted(set(outside))))


def _private_shm(pid, dev):
    """Whether dev is the cell's own /dev/shm (a tmpfs in its private mount namespace, see supervisor),
    whose names no process outside that namespace can open."""
    try:
        cell = os.stat("/proc/%d/root/dev/shm" % pid).st_dev
        host = os.stat("/dev/shm").st_dev
    except OSError:
        return False
    major, minor = (int(x, 16) for x in dev.split(":"))
    return cell != host and cell == os.makedev(major, minor)


def _lock(wake, pid, world):
    """flock / fcntl(F_SETLKW): the holder of the lock it waits behind, from /proc/locks."""
    rows = world.locks()
    blockers = {r[0] for r in rows if r[4] and r[1] == pid}
    holders = [r for r in rows if not r[4] and r[0] in blockers]
    if not holders:
        wake.on.append("a file lock")
        wake.outside.append("a file lock whose holder /proc/locks does not name")
        return
    for _, holder, kind, file_id, _ in holders:
        what = "%s lock on %s held by %s" % (kind, file_id, holder)
        wake.on.append(what)
        if holder in world.tree:
            wake.inside.add(holder)
        else:
            wake.outside.append("%s (outside the tree)" % what)


def _signal(wake, pid):
    """A wait only a signal ends: any process allowed to signal it can, so it is never proven."""
    timers = watch._read("/proc/%d/timers" % pid, 65536) or ""
    n = timers.count("ID:")
    wake.on.append("a signal")
    wake.outside.append(
        "a signal (any process allowed to signal it, an alarm or a timer%s can end the wait)"
        % (" — %d POSIX timer%s set" % (n, "s" * (n > 1)) if n else "")
    )


# ---------------------------------------------------------------- the tree


def _between_waits(pid, world):
    """What outside the tree could make ready among the fds a process holds: a thread that wakes from a timed
    wait again and again may try any of them between two waits (a `time.sleep` loop around a non-blocking
    `recv`), which no sample sees. Files and devices are always ready, so only what can become ready counts."""
    between = []
    for fd, (target, _) in sorted(world.fds.get(pid, {}).items()):
        if target.startswith("/") and not _is_fifo(pid, fd) or target == "anon_inode:[eventpoll]":
            continue
        scratch = Wake()
        _fd(scratch, pid, fd, world.fds.get(pid, {}), world, None)
        between.extend("fd %d: %s" % (fd, why) for why in scratch.outside)
    return between


def annotate(
    snap: watch.Sample,
    fds: Dict[int, Dict[int, Tuple[str, str]]],
    procs: List[Dict[str, Any]],
    outside_tables: Dict[int, Dict[int, str]],
    cell_dir: Optional[str] = None,
) -> None:
    """Adds `wake` (what each waiting thread waits on, who could end it) to the diagnosis's threads; a timed
    wait also gets `between` (_between_waits). cell_dir: the cell's own folder, whose names nobody outside
    knows (None: every name is reachable)."""
    world = World(snap, fds, outside_tables, cell_dir)
    between = {}
    for entry in procs:
        pid = entry["pid"]
        proc = snap.procs[pid]
        for t in entry["threads"]:
            th = proc.threads.get(t["tid"])
            wake = explain(th, pid, world) if th is not None else None
            if wake is None:
                continue
            if t["tid"] == pid and th.syscall in POLLS and watch.caught(pid, signal.SIGCHLD):
                # the SIGCHLD handler runs in the main thread and writes the pipe its poll watches (gevent's
                # hub, Python's wakeup fd): a child's exit ends that wait
                wake.inside.update(p for p, other in snap.procs.items() if other.ppid == pid)
            if wake.ends_in_s is not None:
                if pid not in between:
                    between[pid] = _between_waits(pid, world)
                wake.between = between[pid]
            t["wake"] = wake.as_json()


def outside_reachable(diag: Dict[str, Any], start_pids: Iterable[int] = ()) -> List[Tuple[int, int, str]]:
    """Reasons something outside the tree can end a wait on the parent's chain: the parent's threads,
    then every process that could end one of those waits, and so on (plus the processes of start_pids,
    e.g. a stall's pollers, whose timed waits also count what they may try between two waits). Waits no
    chain reaches (an idle forkserver's listening socket) do not matter: ending them wakes nothing the hang
    waits on. Each reason is (pid, tid, text)."""
    procs = {p["pid"]: p for p in diag.get("processes", [])}
    if not procs:
        return []
    todo, seen, reasons = [diag["processes"][0]["pid"]] + list(start_pids), set(), []
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in procs:
            continue
        seen.add(pid)
        for t in procs[pid]["threads"]:
            wake = t.get("wake") or {}
            tried = ["between two waits it may try %s" % why for why in wake.get("between", [])]
            for why in wake.get("outside", []) + (tried if pid in start_pids else []):
                reasons.append(
                    (
                        pid,
                        t["tid"],
                        "%s (thread %d) in %s: %s"
                        % (procs[pid]["role"], t["tid"], t["call"].split("(")[0] + "()", why),
                    )
                )
            todo.extend(wake.get("inside", []))
    return reasons


def unseen_waits(diag: Dict[str, Any], threads: Iterable[Tuple[int, int]]) -> List[str]:
    """Reasons a diagnosis cannot speak for threads (pid, tid) yet (a stall's pollers, a timed-out parent):
    they were awake when it looked, so what their wait watches, and who could end it, went unseen."""
    procs = {p["pid"]: p for p in diag.get("processes", [])}
    reasons = []
    for pid, tid in threads:
        thread = next((t for t in procs.get(pid, {}).get("threads", []) if t["tid"] == tid), None)
        if thread is not None and not thread.get("wake"):
            reasons.append(
                "%s (thread %d) was awake when looked at, so what its poll watches went unseen"
                % (procs[pid]["role"], tid)
            )
    return reasons


def unproven(name: str, proof: Dict[str, Any], diag: Dict[str, Any]) -> List[str]:
    """Why a deadlock or stall is not proven (or what a timeout waited on): the waits on its chain (the
    parent's, and a stall's pollers') that something outside the tree can end, what the pollers (and a timed
    out parent) may try between two timed waits that something outside can make ready, and pollers caught
    awake, whose waits went unseen; each a line."""
    pollers = proof.get("pollers", []) if name == "stall" else []
    tries = [p["pid"] for p in pollers]  # what they may try between two waits counts too
    if name == "timeout" and diag.get("processes"):
        tries.append(diag["processes"][0]["pid"])  # so does the parent's, for a timeout
    reasons = [text for _, _, text in outside_reachable(diag, tries)]
    return reasons + unseen_waits(diag, [(p["pid"], p["tid"]) for p in pollers])
