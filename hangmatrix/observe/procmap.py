"""Which processes map a file shared: the one look at other processes' memory that a deadlock proof makes
(wakers: a futex in shared memory that an outside process could change).

Reading every process's /proc/PID/maps costs the kernel a line per mapping (on a busy machine 2-3 MB of
text, 130-220 ms per look, measured); PROCMAP_QUERY (Linux 6.11) asks for the shared file mappings only,
a few per process (2-14 ms for the same machine). Where the kernel lacks it, the text is read as before.
"""
import errno
import fcntl
import os
import re
import struct

_QUERY = "=9Q4I2Q"  # struct procmap_query (include/uapi/linux/fs.h)
_SIZE = struct.calcsize(_QUERY)
PROCMAP_QUERY = (3 << 30) | (_SIZE << 16) | (ord("f") << 8) | 17  # _IOWR('f', 17, struct procmap_query)
_SHARED, _NEXT, _FILE = 0x08, 0x10, 0x20  # PROCMAP_QUERY_VMA_SHARED, _COVERING_OR_NEXT_VMA, _FILE_BACKED_VMA


def shared_files(pid):
    """{(dev 'MM:mm' in hex as /proc/PID/maps writes it, inode)} of pid's shared file mappings; None when
    the kernel has no PROCMAP_QUERY; an empty set for a process gone or not readable."""
    try:
        fd = os.open("/proc/%d/maps" % pid, os.O_RDONLY)
    except OSError:
        return set()
    found, addr, buf = set(), 0, bytearray(_SIZE)
    try:
        while True:
            struct.pack_into(_QUERY, buf, 0, _SIZE, _SHARED | _NEXT | _FILE, addr, *([0] * 12))
            try:
                fcntl.ioctl(fd, PROCMAP_QUERY, buf, True)
            except OSError as e:
                if e.errno == errno.ENOENT:  # no mapping at or after addr
                    return found
                if e.errno in (errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP):
                    return None
                return set()  # ESRCH, EACCES: gone, or not ours to read
            f = struct.unpack_from(_QUERY, buf)
            found.add(("%02x:%02x" % (f[9], f[10]), f[8]))
            addr = f[4]  # vma_end
    finally:
        os.close(fd)


def mapped_shared(pids, dev, inode, maps_text):
    """The pids among pids that map the file dev:inode shared. maps_text(pid) is the fallback where the
    kernel cannot be asked (any mapping of the file counts there, as the text cannot be narrowed cheaply).

    Only shared mappings count: a private mapping cannot change the file (its first write copies the
    page), so it cannot change a futex word there, and a wake-up alone ends no wait (every futex protocol
    checks its word again and sleeps on)."""
    hits = []
    key = None
    for pid in sorted(pids):
        files = shared_files(pid)
        if files is None:
            key = key or re.compile(r" %s %d(?: |$)" % (re.escape(dev), inode), re.M)
            if key.search(maps_text(pid)):
                hits.append(pid)
        elif (dev, inode) in files:
            hits.append(pid)
    return hits
