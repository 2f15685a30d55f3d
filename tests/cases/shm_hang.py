# hangmatrix: what = A deadlocked tree holding a named semaphore and a shared-memory segment: neither may outlive the cell.
# hangmatrix: python = >=3.8
import multiprocessing
from multiprocessing import shared_memory

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def wait(event):
    event.wait()


if __name__ == "__main__":
    multiprocessing.set_start_method("spawn", force=True)
    segment = shared_memory.SharedMemory(create=True, size=4096)
    event = multiprocessing.Event()
    child = multiprocessing.Process(target=wait, args=(event,))
    child.start()
    child.join()
