# hangmatrix: what = three greenlets counting for two seconds after patch_all, run by IPython (`python -m IPython FILE`), as reported: IPython's history-saving thread, a native thread made before the program patched, meets gevent's hub
# hangmatrix: source = https://github.com/gevent/gevent/issues/1079
# hangmatrix: cmd = python -m IPython --no-banner {path}
# hangmatrix: requires = ipython
# hangmatrix: reported = "a very simple test.py but got 'This operation would block forever'": run in IPython the result is right, but first "The history saving thread hit an unexpected error (LoopExit('This operation would block forever', <Hub ...>)).History will not be written to the database." (reporter Desperatesonic, 2018-01-24, Python 3.5.2); in Spyder it did not end
from gevent import monkey; monkey.patch_all()
import gevent
import datetime

def f2(x,i,start):
    while 1:
        x[i]=x[i]+1
        thistime=datetime.datetime.now().timestamp()
        if thistime-start>2.0:
            break
        if x[i]%1000==0:            
            gevent.sleep(0)
    gevent.sleep(0)

b=[0,0,0]
starttime=datetime.datetime.now().timestamp()
gevent.joinall([
        gevent.spawn(f2, b,0,starttime),
        gevent.spawn(f2, b,1,starttime),
        gevent.spawn(f2, b,2,starttime),
])
print(b)
