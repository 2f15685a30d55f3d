# hangmatrix: what = patch_all, multiprocessing.Value, then Pool(processes=16, initializer=lambda) between two breakpoint() calls (the reporter typed 'c' at the pdb prompt; with stdin at EOF pdb quits with BdbQuit before the Pool)
# hangmatrix: source = https://github.com/gevent/gevent/issues/1876
# hangmatrix: stdin = c\nc\n
# hangmatrix: reported = "multiprocess.Pool hangs when ForkPoolworker using python 3.9.10": after "(Pdb) c" the 16 initializers print "okay", then the program hangs until ^C (reporter allen-munsch; Python 3.9.10, gevent 21.12.0, greenlet 1.1.2)
try:
    from gevent import monkey
    monkey.patch_all()
except ImportError:
    pass
import ctypes
import multiprocessing
logger = multiprocessing.log_to_stderr()
logger.setLevel(25)
counter = multiprocessing.Value(ctypes.c_int, 0)
breakpoint()
pool = multiprocessing.Pool(
    processes=16,
    initializer=lambda: print('okay'),
)
breakpoint()

