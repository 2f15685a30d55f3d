# hangmatrix: what = The seed program exactly as printed in the post (xiaorui.cc, 2017); only the marker comment was added.
# hangmatrix: success = never exits by design: `running` once krun is seen ticking in a pool worker
# hangmatrix: endless = true
# hangmatrix: progress = krun, report_task
# hangmatrix: workers = report_task
# xiaorui.cc
# -*- coding: utf-8 -*-

import multiprocessing

import gevent
from gevent.pool import Pool
from gevent import monkey, sleep
monkey.patch_all()  # hangmatrix: patch-point

def report_task(task):
    jobs = []
    for i in range(10):
        jobs.append(gevent.spawn(krun, task))
    gevent.joinall(jobs)

def krun(task):
    while 1:
        gevent.sleep(1)

if __name__ == "__main__":
    plist = []
    pool = multiprocessing.Pool(processes=4)
    for i in range(0,2):
        pool.apply_async(report_task, (i, ))

    pool.close()
    pool.join()
