# hangmatrix: what = imports a module its environment does not have (a missing dependency, not a program error)
import multiprocessing

import gevent  # hangmatrix: patch-point
import hangmatrix_absent_dependency

print(multiprocessing.cpu_count(), gevent.__version__, hangmatrix_absent_dependency)
