import os

r, w = os.pipe()
os.read(r, 1)  # nobody ever writes: the program hangs before it reaches its patch_all() call

from gevent import monkey
monkey.patch_all()
