# hangmatrix: what = A case that exits at once, successfully, printing nothing.
from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point
