# hangmatrix: what = The seed program made to finish: each krun ticks 3 times, report_task returns a sum, the parent prints the results.
# hangmatrix: success = exits 0 and prints "results: [45, 1045]"
# hangmatrix: expect = ^results: \[45, 1045\]$
# hangmatrix: progress = krun, report_task
# hangmatrix: workers = report_task
import multiprocessing

import gevent
from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point


def report_task(task):
    jobs = [gevent.spawn(krun, task, i) for i in range(10)]
    gevent.joinall(jobs)
    return sum(job.value for job in jobs)


def krun(task, i):
    for _ in range(3):
        gevent.sleep(0.05)
    return task * 100 + i


if __name__ == "__main__":
    pool = multiprocessing.Pool(processes=4)
    results = [pool.apply_async(report_task, (i,)) for i in range(2)]
    pool.close()
    pool.join()
    print("results: %s" % [r.get() for r in results])
