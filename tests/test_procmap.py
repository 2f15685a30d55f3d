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
        pages = [mmap.mmap(shared.fileno(), mmap.PAGESIZE, mmap.MAP_SHARED),
                 mmap.mmap(private.fileno(), mmap.PAGESIZE, mmap.MAP_PRIVATE)]
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
