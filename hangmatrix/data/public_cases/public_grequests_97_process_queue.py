# hangmatrix: what = (Python 2) import grequests first, then 4 multiprocessing.Process workers put_nowait into a multiprocessing.Queue polled with get_nowait
# hangmatrix: source = https://github.com/spyoungtech/grequests/issues/97
# hangmatrix: reported = without grequests the program prints four "Worker N finished", "Done", "True"; "However, if you import `grequests` beforehand the progr[am ...]" (rest of the sentence not in the stored copy) (reporter joshlk, 2016); title "Multiprocessing and queue broken by `monkey.patch_all(...)`"
# hangmatrix: requires = grequests
# hangmatrix: python = <3
# hangmatrix: expect = ^True$
import grequests
from multiprocessing import Process, Queue
from Queue import Full, Empty

# Setup
n_elements = 10
n_workers = 4

def worker(queue, worker_i):
    for i in xrange(n_elements):
        while True:
            try:
                queue.put_nowait(i)
                break
            except Full:
                pass

    print("Worker {} finished".format(worker_i))

queue = Queue()
processes = [Process(target=worker, args=(queue, i)) for i in range(n_workers)]

# Start
[p.start() for p in processes]

# Collect data from queue until all processes end
results = []
while True:
    all_dead = True
    for p in processes:
        all_dead &= not p.is_alive()
        try:
            result = queue.get_nowait()
            results.append(result)
        except Empty as e:
            pass

    if all_dead:
        break

# Collect any remaining items in the queue after all processes end
while True:
    try:
        result = queue.get_nowait()
        results.append(result)
    except Empty as e:
        break

print("Done")
print(len(results) == n_elements*n_workers)
