"""procmap: who maps a file shared, asked of the kernel (PROCMAP_QUERY) or read from /proc/PID/maps."""

import mmap
import os
import tempfile

from hangmatrix.observe import procmap


def _dev_inode(path):
    st = os.stat(path)
    return "%02x:%02x" % (os.major(st.st_dev), os.minor(st.st_dev)), st.st_ino


def _maps_text(pid):
    with open("/proc/%d/maps" % pid) as f:
        return f.read()


def test_a_shared_mapping_is_found_and_a_private_one_is_not():
    with tempfile.NamedTemporaryFile(dir="/dev/shm") as shared, tempfile.NamedTemporaryFile(dir="/dev/shm") as private:
        for f in (shared, private):
            f.truncate(mmap.PAGESIZE)
        pages = [
            mmap.mmap(shared.fileno(), mmap.PAGESIZE, mmap.MAP_SHARED),
            mmap.mmap(private.fileno(), mmap.PAGESIZE, mmap.MAP_PRIVATE),
        ]
        try:
            me = os.getpid()
            assert procmap.mapped_shared([me, 1], *_dev_inode(shared.name), _maps_text) == [me]
            if procmap.shared_files(me) is not None:  # the kernel answers: only shared mappings count
                assert procmap.mapped_shared([me], *_dev_inode(private.name), _maps_text) == []
        finally:
            for page in pages:
                page.close()
        assert procmap.mapped_shared([os.getpid()], *_dev_inode(shared.name), _maps_text) == []


def test_a_gone_process_maps_nothing():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    assert procmap.shared_files(pid) == set()


def test_the_mapping_at_an_address_names_its_file_perms_and_deletion():
    with tempfile.NamedTemporaryFile(dir="/dev/shm", delete=False) as f:
        f.truncate(mmap.PAGESIZE)
        page = mmap.mmap(f.fileno(), mmap.PAGESIZE, mmap.MAP_SHARED)
    dev, inode = _dev_inode(f.name)
    os.unlink(f.name)
    try:
        import ctypes

        addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
        found = procmap.mapping_at(os.getpid(), addr + 100)
        if found is False:
            return  # the kernel cannot be asked: wakers reads /proc/PID/maps instead
        assert found == ("rw-s", dev, inode, f.name + " (deleted)")
    finally:
        del found
        page.close()
    assert procmap.mapping_at(os.getpid(), addr) is False  # unmapped now: no answer, the text decides
