"""Containment of one cell: what it may use (memory, processes) and where it runs (its own PID namespace,
its own /dev/shm), so a runaway or hostile case cannot harm the harness, the other cells or the machine.

Each mechanism is a small setup/teardown pair, chosen by what the machine allows and recorded per cell:
- caps: a cgroup per cell (cgroup v2 `memory.max`/`pids.max` where delegated; cgroup v1
  `memory.limit_in_bytes` and `pids.max` on hybrid machines), else RLIMIT_DATA per process; the watch's
  process guard (lifecycle.MAX_PROCESSES) stays in any case;
- the tree: a PID namespace whose init (PID 1, a fork of the supervisor) starts the case as its first child,
  so ending the namespace ends everything at once; else the supervisor's subreaper loop (with `cgroup.kill` when a
  cgroup2 hierarchy is there);
- /dev/shm: a private tmpfs in a mount namespace (as root; unprivileged inside a user namespace of its own),
  else the injected code names every semaphore and segment the cell creates and those are unlinked after;
- the filesystem (as root): in that mount namespace a copy-on-write view of the machine (overlays whose upper
  layers are on a tmpfs of the cell's own, pivoted into: overlay_filesystem), so every write the program makes
  succeeds and none reaches the machine but in its own folder and the writable ones; else (a chroot cell,
  no overlayfs) every mount read-only, nosuid and nodev but those folders (sealed_filesystem); either way
  a fresh /dev of its own, and the case started with a bounded set of capabilities, so a case running as
  root cannot mount its way back.
HANGMATRIX_CONTAIN_OFF=pidns,cgroup,userns,fs,overlay switches mechanisms off (to compare, or to test a
fallback).
"""

import ctypes
import errno
import functools
import os
import re
import resource
import signal
import stat
import time
from typing import Any, Dict, Iterable, List, NoReturn, Optional, Sequence, Set, Tuple, cast

from ..model import settings
from ..observe import watch

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 0x1000, 0x4000, 1 << 18
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, AT_FDCWD, AT_RECURSIVE = 1, 2, 4, -100, 0x8000
SYS_MOUNT_SETATTR = 442  # x86_64, like every syscall number here (Linux 5.12+)
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 1, 24, 47, 4
CGROUP = "/sys/fs/cgroup"
PIDS_MAX = 1000  # tasks (threads count): above the watch's 400-process guard, below what hurts the machine

_libc = ctypes.CDLL(None, use_errno=True)


def switched_off() -> Set[str]:
    """Mechanisms switched off through HANGMATRIX_CONTAIN_OFF (comma-separated: pidns, cgroup, userns)."""
    return settings.contain_off()


# ---------------------------------------------------------------- sizes


def memory_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def default_memory(jobs: int) -> int:
    """A cell's share of the machine: its memory divided by the cells running at once."""
    return memory_total() // max(1, jobs)


def human(size: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            value = size / float(1 << shift)
            return ("%d %s" if value == int(value) else "%.1f %s") % (value, unit)
    return "%d B" % size


# ---------------------------------------------------------------- cgroups


def _own_cgroups() -> Dict[str, str]:
    """{hierarchy: path} of this process, from /proc/self/cgroup ('' is the unified cgroup2 one)."""
    found: Dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            for name in names.split(",") if names else [""]:
                found[name] = path
    return found


def _write(path: str, value: object) -> None:
    with open(path, "w") as f:
        f.write(str(value))


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _counter(path: str, key: str) -> int:
    m = re.search(r"^%s (\d+)$" % re.escape(key), _read(path), re.M)
    return int(m.group(1)) if m else 0


class Cgroups:
    """The cell's own cgroups: made before launch, joined by the cell's first process, removed after.
    `memory`/`pids` say which mechanism caps each (None: no cgroup could), `kill_file` is cgroup.kill."""

    memory: Optional[str]
    pids: Optional[str]
    memory_dir: Optional[str]
    pids_dir: Optional[str]
    kill_file: Optional[str]

    def __init__(self, name: str, memory: Optional[int], pids: int = PIDS_MAX) -> None:
        self.name, self.memory_cap, self.pids_cap = name, memory, pids
        self.dirs: List[str] = []  # every cgroup made, to join and to remove
        self.memory = self.pids = None
        self.memory_dir = self.pids_dir = self.kill_file = None
        self.layout = ""

    def setup(self) -> "Cgroups":
        if "cgroup" in switched_off() or os.geteuid() != 0 and not os.access(CGROUP, os.W_OK):
            return self
        own = _own_cgroups()
        if os.path.exists(os.path.join(CGROUP, "cgroup.controllers")):
            self.layout = "unified (cgroup v2)"
            self._v2(os.path.join(CGROUP, own.get("", "/").lstrip("/")), controllers=True)
        else:
            self.layout = "hybrid (cgroup v1 + v2)" if os.path.isdir(os.path.join(CGROUP, "unified")) else "cgroup v1"
            memory = self._make(os.path.join(CGROUP, "memory", own.get("memory", "/").lstrip("/")))
            if memory and self._try(os.path.join(memory, "memory.limit_in_bytes"), self.memory_cap):
                self.memory, self.memory_dir = "cgroup v1 memory.limit_in_bytes", memory
                self._try(os.path.join(memory, "memory.memsw.limit_in_bytes"), self.memory_cap)
            pids = self._make(os.path.join(CGROUP, "pids", own.get("pids", "/").lstrip("/")))
            if pids and self._try(os.path.join(pids, "pids.max"), self.pids_cap):
                self.pids, self.pids_dir = "cgroup v1 pids.max", pids
            if os.path.isdir(os.path.join(CGROUP, "unified")):
                self._v2(os.path.join(CGROUP, "unified", own.get("", "/").lstrip("/")), controllers=False)
        return self

    def _v2(self, parent: str, controllers: bool) -> None:
        """A cgroup2 child: cgroup.kill always; memory.max and pids.max where the parent delegates them
        (enabling them in the parent's subtree_control fails where the parent holds processes)."""
        if controllers:
            wanted = {"memory", "pids"} - set(_read(os.path.join(parent, "cgroup.subtree_control")).split())
            available = set(_read(os.path.join(parent, "cgroup.controllers")).split())
            for name in wanted & available:
                self._try(os.path.join(parent, "cgroup.subtree_control"), "+" + name)
        made = self._make(parent)
        if not made:
            return
        if os.path.exists(os.path.join(made, "cgroup.kill")):
            self.kill_file = os.path.join(made, "cgroup.kill")
        if controllers and self._try(os.path.join(made, "memory.max"), self.memory_cap):
            self.memory, self.memory_dir = "cgroup v2 memory.max", made
            self._try(os.path.join(made, "memory.swap.max"), 0)
        if controllers and self._try(os.path.join(made, "pids.max"), self.pids_cap):
            self.pids, self.pids_dir = "cgroup v2 pids.max", made

    def _make(self, parent: str) -> Optional[str]:
        path = os.path.join(parent, self.name)
        try:
            os.mkdir(path)
        except OSError:
            return None
        self.dirs.append(path)
        return path

    @staticmethod
    def _try(path: str, value: object) -> bool:
        try:
            _write(path, value)
            return True
        except OSError:
            return False

    def join(self, pid: int = 0) -> None:
        """Put a process (0: the calling one, the cell's first, before anything else) in every cgroup made:
        every process it starts later is inside. The first move waits for an RCU grace period (about 10 ms
        here, cgroup v1's threadgroup lock), so a namespace's supervisor makes it while init mounts."""
        for path in self.dirs:
            _write(os.path.join(path, "cgroup.procs"), pid)

    def oom_kills(self) -> int:
        """Processes the kernel killed for the memory cap (v2 memory.events, v1 memory.oom_control)."""
        if not self.memory_dir:
            return 0
        if cast(str, self.memory).startswith("cgroup v2"):  # set with memory_dir
            return _counter(os.path.join(self.memory_dir, "memory.events"), "oom_kill")
        return _counter(os.path.join(self.memory_dir, "memory.oom_control"), "oom_kill")

    def fork_refusals(self) -> int:
        """Forks refused by pids.max."""
        return _counter(os.path.join(self.pids_dir, "pids.events"), "max") if self.pids_dir else 0

    def kill(self) -> bool:
        """Every process of the cgroup at once (cgroup.kill: atomic, no fork can escape it)."""
        return self.kill_file is not None and self._try(self.kill_file, 1)

    def remove(self) -> List[str]:
        """rmdir each cgroup, once its last process is gone (a killed task leaves within milliseconds)."""
        left: List[str] = []
        for path in reversed(self.dirs):
            deadline = time.monotonic() + 2
            while True:
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        left.append(path)
                        break
                    time.sleep(0.01)
        return left


# ---------------------------------------------------------------- namespaces and the first process


def _fail(what: str) -> NoReturn:
    raise OSError(ctypes.get_errno(), what)


def _mount(source: str, target: str, fstype: Optional[str], flags: int, data: Optional[str] = None) -> None:
    if (
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        )
        != 0
    ):
        _fail("mount %s on %s" % (source, target))


def mount_namespace() -> Tuple[int, int]:
    """(st_dev, st_ino) of the calling process's mount namespace."""
    st = os.stat("/proc/self/ns/mnt")
    return st.st_dev, st.st_ino


def own_mount_namespace(as_user: bool = False) -> None:
    """A mount namespace of the calling process's own, every mount in it private, so nothing mounted here
    propagates back to the machine. as_user: in a user namespace of its own too, our uid and gid mapped to
    themselves (how an unprivileged user may mount; the case still sees its own uid)."""
    if as_user:
        uid, gid = os.geteuid(), os.getegid()
        if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
            _fail("unshare(CLONE_NEWUSER | CLONE_NEWNS)")
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", "%d %d 1" % (uid, uid))
        _write("/proc/self/gid_map", "%d %d 1" % (gid, gid))
    elif _libc.unshare(CLONE_NEWNS) != 0:
        _fail("unshare(CLONE_NEWNS)")
    _mount("none", "/", None, MS_REC | MS_PRIVATE)


def _shared(target: str) -> bool:
    """Whether a mount on target would propagate to peers: the mount holding target (the longest mount
    point above it; of equals, the last, on top) has a `shared:` field in /proc/self/mountinfo."""
    target = os.path.realpath(target)
    fields: Optional[List[str]]
    best, fields = -1, None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            these = line.split(" - ")[0].split()
            point = these[4].replace("\\040", " ")
            if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) >= best:
                best, fields = len(point), these
    return fields is None or any(opt.startswith("shared:") for opt in fields[6:])


def mount_over(
    source: str, target: str, fstype: Optional[str], flags: int, data: Optional[str], outer: Tuple[int, int]
) -> None:
    """Mount over target only in a mount namespace other than `outer` (the supervisor's, which is the
    machine's) and only where the mount cannot propagate: the one way this module mounts over a path. A
    fresh /proc mounted in the machine's namespace hides every process of the machine from everyone
    (it happened once, from a launch that had not made a namespace of its own): refused, never tried."""
    _may_mount(fstype, target, outer)
    _mount(source, target, fstype, flags, data)


def _may_mount(what: Optional[str], target: str, outer: Tuple[int, int]) -> None:
    """Refuse (OSError) a mount of `what` on target in the namespace `outer`, or where it would propagate."""
    if mount_namespace() == outer:
        raise OSError("refused to mount %s on %s in the supervisor's own mount namespace" % (what, target))
    if _shared(target):
        raise OSError("refused to mount %s on %s: the mount there propagates to other namespaces" % (what, target))


def private_shm(root: str, outer: Tuple[int, int], as_user: bool = False) -> None:
    """A mount namespace of the calling process's own with a fresh tmpfs on /dev/shm: every named semaphore
    and segment of the tree vanishes with it."""
    own_mount_namespace(as_user)
    _shm_tmpfs(root + "/dev/shm", outer)


def _shm_tmpfs(target: str, outer: Tuple[int, int]) -> None:
    """The cell's own /dev/shm: a fresh tmpfs (private_shm's, or inside the sealed filesystem's /dev)."""
    mount_over("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=256m", outer)


def shm_mechanism(root: str) -> Optional[str]:
    """How the cell's /dev/shm will be private, or None (then the injected code names what it creates)."""
    if os.geteuid() == 0:
        return "mount namespace (root)"
    if "userns" in switched_off() or root:
        return None
    return "user namespace + mount namespace (unprivileged)"


# ---------------------------------------------------------------- the filesystem


DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
DEV_LINKS = {"fd": "/proc/self/fd", "ptmx": "pts/ptmx"}
DEV_LINKS.update({name: "/proc/self/fd/%d" % fd for fd, name in enumerate(("stdin", "stdout", "stderr"))})
# The capabilities a sealed case keeps: Docker's default set without CAP_MKNOD (no device cgroup here), plus
# CAP_SYS_RESOURCE (below), so it keeps what ordinary programs use as root (files of any owner, its own
# processes' signals and ids, low ports, raw sockets, chroot for the Debian root's cells, a root-sized
# pipe) and loses mounting (CAP_SYS_ADMIN), raw devices, modules, the clock, file handles
# (CAP_DAC_READ_SEARCH), tracing and the network's configuration.
CAPS_KEPT = frozenset(
    {
        0,  # CAP_CHOWN
        1,  # CAP_DAC_OVERRIDE
        3,  # CAP_FOWNER
        4,  # CAP_FSETID
        5,  # CAP_KILL
        6,  # CAP_SETGID
        7,  # CAP_SETUID
        8,  # CAP_SETPCAP
        10,  # CAP_NET_BIND_SERVICE
        13,  # CAP_NET_RAW
        18,  # CAP_SYS_CHROOT
        24,  # CAP_SYS_RESOURCE: without it (and CAP_SYS_ADMIN) the kernel counts the case as unprivileged for pipe
        # buffers and shrinks its new pipes to 8 KiB once root's pipes pass pipe-user-pages-soft, which would
        # change a program whose hang depends on a pipe's capacity (the memory and pids cgroups still hold)
        29,  # CAP_AUDIT_WRITE
        31,  # CAP_SETFCAP
    }
)


class _MountAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ("attr_set", "attr_clr", "propagation", "userns_fd")]


def _mount_setattr(path: str, attr_set: int, attr_clr: int, flags: int = 0) -> None:
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    if _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), flags, ctypes.byref(attr), ctypes.sizeof(attr)):
        _fail("mount_setattr %s" % path)


@functools.cache
def _mount_setattr_exists() -> bool:
    """Whether the kernel has mount_setattr (5.12+): asked with an empty path, which it refuses otherwise."""
    _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, b"", 0, None, 0)
    return ctypes.get_errno() != errno.ENOSYS


def seal_mechanism() -> Optional[str]:
    """How the cell's filesystem will be sealed, or None (then it writes wherever its user may): only as
    root, where a mount namespace of the cell's own holds the seal and the capabilities can be bounded."""
    if os.geteuid() != 0 or "fs" in switched_off() or not _mount_setattr_exists():
        return None
    return "read-only but its folder, a /dev of its own, capabilities bounded"


def sealed_filesystem(root: str, writable: Sequence[str], outer: Tuple[int, int]) -> None:
    """In the cell's own mount namespace: every mount read-only, nosuid and nodev, but the folders in
    `writable` (the cell's own, then any the user named; each bound onto itself); a fresh /dev (under the
    chroot `root`, if any) with the usual devices, a private /dev/shm and a new devpts instance; nothing
    else a case can write. The case is started with bounded capabilities (bound_capabilities), so it
    cannot undo any of this."""
    if mount_namespace() == outer:
        raise OSError("refused to seal the filesystem of the supervisor's own mount namespace")
    _mount_setattr("/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, AT_RECURSIVE)
    for folder in writable:
        mount_over(folder, folder, None, MS_BIND, None, outer)
        _mount_setattr(folder, 0, MOUNT_ATTR_RDONLY)
    _own_dev(root + "/dev", outer)
    try:
        os.chdir(os.getcwd())  # a working directory in a writable folder, taken before its bind, is on it now
    except OSError:
        pass  # one that is gone (the supervisor's own may be): the case's is set after


def _own_dev(dev: str, outer: Tuple[int, int]) -> None:
    """A fresh /dev on `dev`: the usual devices, a private /dev/shm, a new devpts instance, read-only."""
    mount_over("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k", outer)
    for name, (major, minor) in DEVICES.items():
        os.mknod(os.path.join(dev, name), stat.S_IFCHR | 0o666, os.makedev(major, minor))
        os.chmod(os.path.join(dev, name), 0o666)  # mknod's mode passes the umask
    for name, target in DEV_LINKS.items():
        os.symlink(target, os.path.join(dev, name))
    os.mkdir(dev + "/shm")
    os.mkdir(dev + "/pts")
    _shm_tmpfs(dev + "/shm", outer)
    mount_over("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620", outer)
    _mount_setattr(dev, MOUNT_ATTR_RDONLY, 0)


# ---------------------------------------------------------------- the copy-on-write view

# Filesystems that hold no files of the machine's: not given an overlay (those under /proc, /sys and /dev come
# with them; any elsewhere are left out of the cell's view).
PSEUDO_FS = frozenset(
    "proc sysfs devtmpfs devpts cgroup cgroup2 mqueue debugfs tracefs securityfs pstore bpf configfs fusectl "
    "binfmt_misc autofs hugetlbfs nsfs efivarfs rpc_pipefs nfsd selinuxfs ramfs".split()
)
LAYERS = ".layers"  # in the cell's folder: where its layers' tmpfs is attached in its namespace, hidden from the case
SYS_PIVOT_ROOT, MNT_DETACH = 155, 2
SYS_MOVE_MOUNT, SYS_FSOPEN, SYS_FSCONFIG, SYS_FSMOUNT = 429, 430, 431, 432
FSOPEN_CLOEXEC, FSMOUNT_CLOEXEC, MOVE_MOUNT_F_EMPTY_PATH = 1, 1, 4
FSCONFIG_SET_STRING, FSCONFIG_CMD_CREATE = 1, 6


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts() -> List[Tuple[str, str, bool]]:
    """[(mount point, fstype, read-only)] of this mount namespace, the one on top where several share a point."""
    found: Dict[str, Tuple[str, str, bool]] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            point = _unescape(fields[4])
            found.pop(point, None)
            found[point] = (point, right.split()[0], "ro" in fields[5].split(","))
    return list(found.values())


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def view_plan(cell_dir: str, writable: Sequence[str] = ()) -> Optional[List[Tuple[str, str]]]:
    """The cell's view, planned from the machine's mounts: [(mount point, "overlay" | "read-only")], parents
    first. Every writable data filesystem gets a copy-on-write overlay (an overlay of / holds only the root
    filesystem: /tmp or /home on mounts of their own need theirs); a read-only one stays read-only, as it is at
    home; /proc, /sys, /dev, the cell's folder and the writable folders are made apart (overlay_filesystem)."""
    apart = ["/proc", "/sys", "/dev", cell_dir, *writable]
    plan = [
        (point, "read-only" if ro else "overlay")
        for point, fstype, ro in mounts()
        if fstype not in PSEUDO_FS and not any(_under(point, a) for a in apart)
    ]
    plan.sort(key=lambda layer: (layer[0] != "/", layer[0].count("/"), layer[0]))
    return plan if plan and plan[0] == ("/", "overlay") else None


def overlay_layers(cell_dir: str, writable: Sequence[str], size: Optional[int]) -> Optional["Layers"]:
    """The cell's copy-on-write view (Layers), or None where the machine's mounts or the kernel give none."""
    plan = view_plan(cell_dir, writable)
    if not plan:
        return None
    try:
        return Layers(plan, size)
    except OSError:
        return None


def _check(result: int, what: str) -> int:
    if result < 0:
        _fail(what)
    return result


class Layers:
    """The view's plan and its upper and work layers: a tmpfs of the cell's own, made detached here in the
    supervisor (fsopen/fsmount: mounted in no namespace, so never in the machine's), attached in the cell's
    namespace at LAYERS in its folder (overlay_filesystem), and read through its fd once the cell is gone
    (overlay_writes). Closing the fd frees it all at once, where layers in folders on disk cost a journaled
    rmdir each. Its size is the cell's memory cap; its pages are charged to the memory cgroup of the process
    that writes them, so the cell's cap bounds its writes outside its folder either way."""

    fd: Optional[int]  # None once closed

    def __init__(self, plan: List[Tuple[str, str]], size: Optional[int]) -> None:
        self.plan = plan  # [(mount point, "overlay" | "read-only")], parents first (view_plan)
        self.size = size
        fs = _check(_libc.syscall(SYS_FSOPEN, b"tmpfs", FSOPEN_CLOEXEC), "fsopen(tmpfs)")
        try:
            for key, value in (("size", str(size)), ("mode", "0700")):
                _check(_libc.syscall(SYS_FSCONFIG, fs, FSCONFIG_SET_STRING, key.encode(), value.encode(), 0), key)
            _check(_libc.syscall(SYS_FSCONFIG, fs, FSCONFIG_CMD_CREATE, None, None, 0), "fsconfig(create)")
            # no mount flags: the overlays mounted on it are nosuid and nodev, and programs run what they write
            self.fd = _check(_libc.syscall(SYS_FSMOUNT, fs, FSMOUNT_CLOEXEC, 0), "fsmount(tmpfs)")
        finally:
            os.close(fs)
        os.mkdir("root", dir_fd=self.fd)  # the new root's mount point
        for i, (_, how) in enumerate(plan):
            if how == "overlay":
                os.mkdir("upper%d" % i, dir_fd=self.fd)
                os.mkdir("work%d" % i, dir_fd=self.fd)

    def full(self) -> bool:
        """Whether the program's writes filled the tmpfs (under 1 MiB or no inode left)."""
        st = os.fstatvfs(cast(int, self.fd))  # open: read before close()
        return st.f_bavail * st.f_frsize < 1 << 20 or st.f_favail == 0

    def held(self) -> int:
        """Bytes the layers hold: what the program wrote outside its folder, in memory."""
        st = os.fstatvfs(cast(int, self.fd))  # open: read before close()
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def names(self) -> List[str]:
        """The names at the layers' top (their fd is fsmount's O_PATH one, which cannot be listed itself);
        none where they cannot be read: the record loses a note, the clean-up still runs."""
        try:
            fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=self.fd)
        except OSError:
            return []
        try:
            return os.listdir(fd)
        except OSError:
            return []
        finally:
            os.close(fd)

    def read(self, name: str) -> str:
        """A note overlay_filesystem left in the layers ('' when there is none). Everything the supervisor
        reads of the layers goes through their fd, never through /proc (which a case may hide from it)."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=self.fd)
        except OSError:
            return ""
        with open(fd) as f:
            return f.read()

    def close(self) -> None:
        """Free the layers (the cell's namespace, where they were attached, is gone by now)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _attach(fd: Optional[int], target: str, outer: Tuple[int, int]) -> None:
    """Attach a detached mount (Layers.fd) on target, under mount_over's rules."""
    _may_mount("the cell's layers", target, outer)
    if _libc.syscall(SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH) != 0:
        _fail("move_mount the cell's layers on %s" % target)


def overlay_mechanism(root: str) -> Optional[str]:
    """How the cell's filesystem will be a copy-on-write view, or None: as root (seal_mechanism), on the host
    (a Debian root's chroot keeps the read-only seal), where the kernel has overlayfs."""
    if root or not seal_mechanism() or "overlay" in switched_off() or "overlay" not in _read("/proc/filesystems"):
        return None
    return "copy-on-write overlay of the machine's filesystems, upper layers on a tmpfs of the cell's own"


def _option_path(path: str) -> str:
    return re.sub(r"([,:\\])", r"\\\1", path)


def overlay_filesystem(
    cell_dir: str, layers: Layers, writable: Sequence[str], cwd: str, outer: Tuple[int, int]
) -> None:
    """In the cell's own mount namespace: a new root whose filesystems are overlays of the machine's (their
    upper layers on the cell's tmpfs, Layers, attached at LAYERS), so every write succeeds and none reaches
    the machine; the cell's folder and the writable folders bound in as they are (shared with the world); /proc and /sys
    read-only, a /dev of its own (_own_dev). The new root is pivoted into and the old one detached, so nothing
    of the machine's own mounts stays reachable. Where the overlay of / itself cannot be mounted, the read-only
    seal instead (sealed_filesystem), and why in LAYERS/fallback for the record."""
    if mount_namespace() == outer:
        raise OSError("refused to give the supervisor's own mount namespace a new root")
    base = os.path.join(cell_dir, LAYERS)
    new = base + "/root"
    os.mkdir(base)  # the one folder on disk: the layers are on their tmpfs
    _attach(layers.fd, base, outer)
    for i, (point, how) in enumerate(layers.plan):
        target = new + point.rstrip("/")
        if how == "overlay":
            upper, work = "%s/upper%d" % (base, i), "%s/work%d" % (base, i)  # made with the tmpfs (Layers)
            data = "lowerdir=%s,upperdir=%s,workdir=%s,volatile" % tuple(map(_option_path, (point, upper, work)))
            try:
                mount_over("overlay", target or new, "overlay", MS_NOSUID | MS_NODEV, data, outer)
                continue
            except OSError as exc:
                if point == "/":
                    _write(base + "/fallback", "overlay of / refused (%s): the read-only seal instead" % exc)
                    return sealed_filesystem("", [cell_dir, *writable], outer)
                _write("%s/refused-%d" % (base, i), "%s read-only: overlay refused (%s)" % (point, exc.strerror or exc))
        mount_over(point, target, None, MS_BIND | MS_REC, None, outer)
        _mount_setattr(target, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, AT_RECURSIVE)
    for pseudo in ("/proc", "/sys"):
        mount_over(pseudo, new + pseudo, None, MS_BIND | MS_REC, None, outer)
        _mount_setattr(new + pseudo, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, AT_RECURSIVE)
    _own_dev(new + "/dev", outer)
    for folder in [cell_dir, *writable]:
        mount_over(folder, new + folder, None, MS_BIND | MS_REC, None, outer)
        _mount_setattr(new + folder, 0, MOUNT_ATTR_RDONLY)
    mount_over("tmpfs", new + base, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0", outer)
    os.chdir(new)
    if _libc.syscall(SYS_PIVOT_ROOT, b".", b".") != 0:
        _fail("pivot_root into the cell's view")
    if _libc.umount2(b".", MNT_DETACH) != 0:
        _fail("detach the machine's root from the cell's view")
    os.chdir(cwd if os.path.isdir(cwd) else "/")


def overlay_writes(layers: Layers, limit: int = 200) -> Dict[str, Any]:
    """What the cell wrote outside its folder and the writable ones, read from its overlays' upper layers:
    [{"path", "kind", "size"}] sorted by path (kind: file, symlink, socket, fifo, deleted, device), at most
    `limit`, and how many more (`more`); the bytes the layers hold in memory (`bytes`), and whether the
    program's writes filled them (`full`: a cap it ran into, counted_cap). Read without following a link,
    and only below the layers' upperN."""
    found: List[Dict[str, Any]] = []
    for i, (point, how) in enumerate(layers.plan):
        upper = "upper%d" % i
        if how != "overlay" or not _is_dir(upper, layers.fd):
            continue
        for top, dirs, names, top_fd in os.fwalk(upper, dir_fd=layers.fd):
            for name in names + [d for d in dirs if not _is_dir(d, top_fd)]:
                try:
                    st = os.stat(name, dir_fd=top_fd, follow_symlinks=False)
                except OSError:
                    continue
                found.append(
                    {
                        "path": os.path.join(point, os.path.relpath(os.path.join(top, name), upper)),
                        "kind": _kind(st),
                        "size": st.st_size if stat.S_ISREG(st.st_mode) else 0,
                    }
                )
    found.sort(key=lambda w: w["path"])
    return {"paths": found[:limit], "more": max(0, len(found) - limit), "bytes": layers.held(), "full": layers.full()}


def _is_dir(name: str, dir_fd: Optional[int]) -> bool:
    """Whether name (below dir_fd) is a folder itself, not a link to one."""
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _kind(st: os.stat_result) -> str:
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        return "deleted"  # an overlay whiteout
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISLNK, "symlink"), (stat.S_ISSOCK, "socket")):
        if test(st.st_mode):
            return name
    return "fifo" if stat.S_ISFIFO(st.st_mode) else "device"


def refused_by_seal(uncaught: Optional[Dict[str, Any]]) -> str:
    """The env-error signature of a program that died of a write the read-only seal refused (an uncaught
    EROFS naming its path), or '': the harness's doing, never the program's error."""
    message = (uncaught or {}).get("message") or ""
    m = re.search(r"\[Errno 30\] Read-only file system: '([^']*)'", message)
    if not m or (uncaught or {}).get("type") not in ("OSError", "IOError", "PermissionError"):
        return ""
    return (
        "the cell's filesystem refused a write to %s (read-only in the cell: the seal, or a mount the kernel "
        "would not overlay, as the record's containment says): name its folder with --writable %s"
        % (m.group(1), os.path.dirname(m.group(1)) or m.group(1))
    )


def overlay_fallback(layers: Optional[Layers]) -> str:
    """Why the cell's overlay gave way to the read-only seal ('' when it did not, or it had no view)."""
    return layers.read("fallback") if layers and layers.fd is not None else ""


def overlay_refused(layers: Optional[Layers]) -> List[str]:
    """The mounts the cell's view left read-only because the kernel refused their overlay (each a line)."""
    if not layers or layers.fd is None:
        return []
    return [layers.read(n) for n in sorted(layers.names()) if n.startswith("refused-")]


def bound_capabilities() -> None:
    """Last before the case's exec: drop every capability outside CAPS_KEPT from the bounding set (a root
    exec gets its permitted set from it) and clear the ambient set."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        if cap not in CAPS_KEPT and _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            _fail("prctl(PR_CAPBSET_DROP, %d)" % cap)
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)


def memory_rlimit(cap: int) -> None:
    """The fallback cap without a memory cgroup: RLIMIT_DATA per process (writable private mappings,
    so reserved thread stacks and malloc arenas do not count as RLIMIT_AS would)."""
    resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))


class Launch:
    """What the cell's first process needs: argv, env, cwd, its standard fds, the chroot, the caps, and the
    seal (the folders it writes through to the machine, its own first; None: not sealed), as a copy-on-write
    view (layers) or read-only."""

    def __init__(
        self,
        argv: List[str],
        env: Dict[str, str],
        cwd: str,
        stdin: int,
        stdout: int,
        stderr: int,
        root: str,
        cgroups: Cgroups,
        rlimit: Optional[int],
        shm: Optional[str],
        writable: Optional[List[str]] = None,
        layers: Optional[Layers] = None,
    ) -> None:
        self.argv, self.env, self.cwd = argv, env, cwd
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.root, self.cgroups, self.rlimit, self.shm = root, cgroups, rlimit, shm
        self.writable = writable
        self.layers = layers  # the copy-on-write view's (overlay_layers; None: the read-only seal)
        self.outer = mount_namespace()  # the supervisor's (the machine's): nothing is ever mounted there

    def prepare(self, join: bool = True) -> None:
        """Before exec, in the cell's first process (the namespace's init, or preexec_fn through
        prepare_to_exec). join=False: the supervisor puts it in its cgroups (Namespace)."""
        if join:
            self.cgroups.join()
        if self.rlimit:
            memory_rlimit(self.rlimit)
        if self.writable and self.layers:
            own_mount_namespace()
            overlay_filesystem(self.writable[0], self.layers, self.writable[1:], self.cwd, self.outer)
        elif self.writable:
            own_mount_namespace()
            sealed_filesystem(self.root, self.writable, self.outer)
        elif self.shm:
            private_shm(self.root, self.outer, as_user=self.shm.startswith("user"))
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # last: entering a user namespace clears it

    def bound(self) -> None:
        """The very last step before the case's exec."""
        if self.writable:
            bound_capabilities()

    def prepare_to_exec(self) -> None:
        """preexec_fn of a cell without a PID namespace: the first process is the case."""
        self.prepare()
        self.bound()


class Namespace:
    """The cell in a PID namespace of its own. The supervisor forks init (PID 1 there); init forks the case
    parent (PID 2, an ordinary process), reaps every orphan and tells the supervisor the parent's exit
    status on a pipe. Ending the namespace (kill()) takes every process in it at once.

    Quacks like the subprocess.Popen it replaces: pid (the case parent, as the host sees it), poll(), wait().
    Pids the cell reports from inside (os.getpid()) are mapped to host pids through NSpid."""

    mechanism = "pid namespace (init as PID 1)"

    def __init__(self, launch: Launch) -> None:
        self.returncode: Optional[int] = None
        self._inner: Dict[int, int] = {}  # pid inside -> pid on the host
        status_r, status_w = os.pipe()
        go_r, go_w = os.pipe()
        # unshare(CLONE_NEWPID) puts every later child of the supervisor in the new namespace, and once init
        # is gone a fork there fails: so only init is born there, and the supervisor's own children after it
        # (a look at the env's python for a missing module, say) are born in its own namespace again.
        own = os.open("/proc/self/ns/pid_for_children", os.O_RDONLY)
        if _libc.unshare(CLONE_NEWPID) != 0:  # the supervisor's next child is PID 1 of a new namespace
            for fd in (status_r, status_w, go_r, go_w, own):
                os.close(fd)
            _fail("unshare(CLONE_NEWPID)")
        self.init_pid: Optional[int] = None
        try:
            self.init_pid = os.fork()
            if self.init_pid == 0:
                code = 1
                try:
                    os.close(status_r)
                    os.close(go_w)
                    code = _init(launch, status_w, go_r)
                finally:
                    os._exit(code)
        finally:
            if self.init_pid != 0 and _libc.setns(own, CLONE_NEWPID) != 0:  # (init itself never gets here)
                os.close(own)
                _fail("setns(back to the supervisor's own PID namespace)")
            os.close(own)
        os.close(status_w)
        os.close(go_r)
        self._status = status_r
        os.set_blocking(status_r, False)
        refused: Optional[OSError] = None  # why the cell's processes could not join its cgroups
        try:
            launch.cgroups.join(self.init_pid)  # while init mounts the cell's filesystem
        except OSError as exc:
            refused = exc
        deadline = time.monotonic() + 10
        kids: List[int] = []
        while not kids and time.monotonic() < deadline:  # the case parent waits for `go` before its exec,
            kids = watch.children(self.init_pid)  # so it is init's only child here
            if not kids:
                if os.waitpid(self.init_pid, os.WNOHANG)[0]:
                    self.init_pid = None
                    break
                time.sleep(0.001)
        if kids and refused is None:
            try:
                launch.cgroups.join(kids[0])  # forked before init was in them, maybe: in them before its exec
                os.write(go_w, b"g")
            except BrokenPipeError:  # init is gone
                kids = []
            except OSError as exc:
                refused = exc
        os.close(go_w)  # without `go`, the case parent exits without its exec
        if not kids or refused is not None:
            self.kill()
            os.close(status_r)
            raise OSError(
                "the cell's processes could not join its cgroups: %s" % refused
                if refused is not None
                else "the namespace's init did not start the case"
            )
        self.pid = kids[0]
        self._inner.update({1: cast(int, self.init_pid), 2: self.pid})  # init is alive: it started the case

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            try:
                data = os.read(self._status, 64)
            except BlockingIOError:
                return None
            if data.strip():
                self.returncode = os.waitstatus_to_exitcode(int(data.split()[0]))
            elif not data:  # init gone without a word: the namespace was killed
                self.returncode = -signal.SIGKILL
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        deadline = time.monotonic() + (timeout or 0)
        while self.poll() is None:
            if timeout is not None and time.monotonic() > deadline:
                import subprocess

                raise subprocess.TimeoutExpired("init", timeout)
            time.sleep(0.005)
        return self.returncode

    def kill(self) -> None:
        """End the namespace in one act: SIGTERM asks init to kill(-1) everything in it and reap it all (so
        the cell's CPU time reaches the supervisor's children times, which a namespace torn down by init's
        death loses); SIGKILL to init is the backstop, and the kernel then kills whatever is left."""
        if self.init_pid is None:
            return
        for sig, within in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            deadline = time.monotonic() + within  # a task stuck in the kernel must not hang the supervisor
            try:
                os.kill(self.init_pid, sig)
                while not os.waitpid(self.init_pid, os.WNOHANG)[0]:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.002)
                else:
                    break
            except (ProcessLookupError, ChildProcessError):
                break
        self.init_pid = None

    def close(self) -> None:
        try:
            os.close(self._status)
        except OSError:
            pass

    def exit_fd(self) -> int:
        """An fd that turns readable once the case parent has exited (or init is gone): the status pipe."""
        return self._status

    def host_pid(self, inner: int) -> Optional[int]:
        """The host's pid of a process the cell names by its pid inside, or None once it is gone."""
        if inner not in self._inner and self.init_pid:
            for pid in watch.descendants(self.init_pid):
                ns = watch.ns_pids(pid)
                if len(ns) > 1:
                    self._inner[ns[-1]] = pid
        return self._inner.get(inner)


def _init(launch: Launch, status_w: int, go_r: int) -> int:
    """PID 1 of the cell's namespace: caps and mounts, a fresh /proc, the case parent, then reap until
    the case is over. Returns init's exit code (it only exits when it has no child left)."""
    launch.prepare(join=False)  # the supervisor joins us meanwhile, and the case parent before its exec
    if not launch.root:  # the case sees its own namespace's pids under /proc (chroot cells keep theirs),
        if mount_namespace() == launch.outer:  # in a mount namespace of its own, whatever the launch asked
            own_mount_namespace()
        sealed = MS_RDONLY if launch.writable else 0  # a sealed case writes no /proc/sys, no sysrq-trigger
        mount_over("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | sealed, None, launch.outer)
    keep = {launch.stdin, launch.stdout, launch.stderr, status_w, go_r}
    for fd in os.listdir("/proc/self/fd"):
        if int(fd) > 2 and int(fd) not in keep:
            try:
                os.close(int(fd))
            except OSError:
                pass
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    parent = os.fork()
    if parent == 0:
        _exec_case(launch, go_r, status_w)
    os.close(go_r)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(-1, signal.SIGKILL))  # the end: every process but init
    reported = False
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if pid == parent and not reported:
            os.write(status_w, b"%d\n" % status)
            reported = True


def _exec_case(launch: Launch, go_r: int, status_w: int) -> NoReturn:
    """The case parent: wait until the supervisor has seen our pid, then become the case."""
    code = 127
    try:
        os.close(status_w)
        if not os.read(go_r, 1):
            os._exit(code)  # the supervisor is gone
        os.close(go_r)
        os.setsid()
        os.dup2(launch.stdin, 0)
        os.dup2(launch.stdout, 1)
        os.dup2(launch.stderr, 2)
        os.closerange(3, 65536)
        os.chdir(launch.cwd)
        launch.bound()
        os.execvpe(launch.argv[0], launch.argv, launch.env)
    except OSError as exc:
        os.write(2, ("hangmatrix: cannot start the case: %s\n" % exc).encode())
    finally:
        os._exit(code)


# ---------------------------------------------------------------- after the cell


def counted_cap(cgroups: Cgroups, containment: Dict[str, Any]) -> Optional[str]:
    """The signature of a cap the kernel counted the cell running into (cgroup OOM kills, refused forks, the
    copy-on-write view's tmpfs filled), or None; whatever the cell's verdict would be. The view's layers are
    memory charged to the cell, so an OOM kill says how much of the cap they held."""
    wrote = containment.get("wrote_outside") or {}
    cap = human(containment.get("memory_cap") or 0)
    if cgroups.oom_kills():
        held = wrote.get("bytes") or 0
        return "out of memory (cap %s)%s" % (
            cap,
            ", %s of it the program's writes outside its folder" % human(held) if held >= 1 << 20 else "",
        )
    if cgroups.fork_refusals():
        return "process cap: forks refused beyond %d processes and threads (%s)" % (cgroups.pids_cap, cgroups.pids)
    if wrote.get("full"):
        return (
            "the program's writes outside its folder filled the %s its copy-on-write view may hold (the "
            "cell's memory cap)" % cap
        )
    return None


def created_shm(events: Iterable[Dict[str, Any]], root: str = "") -> Set[str]:
    """/dev/shm paths of the named semaphores and segments the cell reported creating (injected code,
    `shm_created` events). Only plain names are taken: an event line is written by the case's processes,
    and must never make the supervisor unlink anything outside /dev/shm."""
    paths: Set[str] = set()
    for event in events:
        name = event.get("name") if event.get("ev") == "shm_created" else None
        if isinstance(name, str) and name and "/" not in name and name not in (".", ".."):
            paths.add(os.path.join(root + "/dev/shm", name))
    return paths
