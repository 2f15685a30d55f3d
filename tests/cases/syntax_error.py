# hangmatrix: what = A case that does not even compile.
from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

def broken(:
    pass
