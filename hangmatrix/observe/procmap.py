"""Other processes' mappings, as a deadlock proof needs them (wakers: which mapping holds a futex word,
which processes map that file): asked of the kernel one mapping at a time, not read as text.

Reading /proc/PID/maps costs the kernel a line per mapping and us a parse (every process of a busy machine:
2-3 MB of text, 130-220 ms per look; one Python process's maps, searched for one address: 5-13 ms under
load, measured); PROCMAP_QUERY (Linux 6.11) answers "the mapping at this address" or "the next shared file
mapping" directly (all processes' shared file mappings: 2-14 ms). Where the kernel lacks it (None), the
callers read the text as before.
"""

import ctypes
import errno
import fcntl
import os
import re
import struct
from typing import Callable, Iterable, List, Literal, Set, Tuple, Union

_QUERY = "=9Q4I2Q"  # struct procmap_query (include/uapi/linux/fs.h)
_SIZE = struct.calcsize(_QUERY)
PROCMAP_QUERY = (3 << 30) | (_SIZE << 16) | (ord("f") << 8) | 17  # _IOWR('f', 17, struct procmap_query)
_READ, _WRITE, _EXEC, _SHARED = 0x01, 0x02, 0x04, 0x08  # PROCMAP_QUERY_VMA_* (query flags and vma_flags)
_NEXT, _FILE = 0x10, 0x20  # PROCMAP_QUERY_COVERING_OR_NEXT_VMA, PROCMAP_QUERY_FILE_BACKED_VMA


def _query(fd, flags, addr, name=None):
    """One PROCMAP_QUERY: the fields of struct procmap_query, or errno as an int."""
    buf = bytearray(_SIZE)
    name_size, name_addr = (len(name), ctypes.addressof(name)) if name is not None else (0, 0)
    struct.pack_into(_QUERY, buf, 0, _SIZE, flags, addr, 0, 0, 0, 0, 0, 0, 0, 0, name_size, 0, name_addr, 0)
    try:
        fcntl.ioctl(fd, PROCMAP_QUERY, buf, True)
    except OSError as e:
        return e.errno
    return struct.unpack_from(_QUERY, buf)


def _files(pid, flags):
    """{(dev 'MM:mm' in hex as /proc/PID/maps writes it, inode)} of pid's file mappings matching flags;
    an empty set for a process gone; None when the kernel gives no full answer (read the text then)."""
    try:
        fd = os.open("/proc/%d/maps" % pid, os.O_RDONLY)
    except OSError:
        return set()
    found, addr = set(), 0
    try:
        while True:
            f = _query(fd, flags | _NEXT | _FILE, addr)
            if isinstance(f, int):  # ENOENT: no mapping at or after addr; ESRCH: gone; anything else (no
                # PROCMAP_QUERY, not ours to read, interrupted, contended): the caller reads the text instead
                return found if f == errno.ENOENT else set() if f == errno.ESRCH else None
            found.add(("%02x:%02x" % (f[9], f[10]), f[8]))
            addr = f[4]  # vma_end
    finally:
        os.close(fd)


def shared_files(pid: int) -> Set[Tuple[str, int]]:
    """The files pid maps shared (see _files)."""
    return _files(pid, _SHARED)


def mapping_at(pid: int, addr: int) -> Union[Tuple[str, str, int, str], None, Literal[False]]:
    """(perms as maps writes them, dev, inode, path) of pid's mapping that contains addr; None when the
    process is gone; False when the kernel gives no answer (then the maps text is read instead)."""
    try:
        fd = os.open("/proc/%d/maps" % pid, os.O_RDONLY)
    except OSError:
        return None
    name = ctypes.create_string_buffer(4096)
    try:
        f = _query(fd, 0, addr, name)
    finally:
        os.close(fd)
    if isinstance(f, int):  # whatever the reason (none there, interrupted, no PROCMAP_QUERY): the text decides
        return False
    flags = f[5]
    perms = "".join(c if flags & bit else "-" for c, bit in (("r", _READ), ("w", _WRITE), ("x", _EXEC))) + (
        "s" if flags & _SHARED else "p"
    )
    return perms, "%02x:%02x" % (f[9], f[10]), f[8], name.value.decode("utf-8", "replace") if f[11] else ""


def mapped_shared(pids: Iterable[int], dev: str, inode: int, maps_text: Callable[[int], str]) -> List[int]:
    """The pids among pids that map the file dev:inode shared. maps_text(pid) is the fallback where the
    kernel cannot be asked (any mapping of the file counts there, as the text cannot be narrowed cheaply).

    Only shared mappings count: a private mapping cannot change the file (its first write copies the
    page), so it cannot change a futex word there, and a wake-up alone ends no wait (every futex protocol
    checks its word again and sleeps on)."""
    return _mapped(pids, dev, inode, maps_text, _SHARED)


def _mapped(pids, dev, inode, maps_text, flags):
    hits = []
    key = None
    for pid in sorted(pids):
        files = _files(pid, flags)
        if files is None:
            key = key or re.compile(r" %s %d(?: |$)" % (re.escape(dev), inode), re.M)
            if key.search(maps_text(pid)):
                hits.append(pid)
        elif (dev, inode) in files:
            hits.append(pid)
    return hits
