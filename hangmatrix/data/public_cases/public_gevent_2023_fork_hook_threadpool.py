# hangmatrix: what = subprocess.Popen under patch_all while an os.register_at_fork child hook uses the hub threadpool
# hangmatrix: source = https://github.com/gevent/gevent/issues/2023
# hangmatrix: reported = "gevent stuck when `gevent.threadpool` is used inside a fork hook ... Issue only happens with Python 3.11 and above. `3.10` works just fine." (reporter sumerc; issue still open, no maintainer reply)
# hangmatrix: expect = ended!
import gevent.monkey
gevent.monkey.patch_all(
        subprocess=True,
    )

import os, gevent, subprocess, time

def hook():
    print("inside fork hook")
    gevent.get_hub().threadpool.apply(lambda: print("run with threadpool!"))
    

os.register_at_fork(after_in_child=hook)
print(gevent.get_hub().threadpool, " >>> HUB.threadpool before hook")
r = subprocess.Popen("pwd", close_fds=False)

time.sleep(1.0)
print("ended!", r)
