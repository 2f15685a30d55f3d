# hangmatrix: what = A case that allocates memory without bound (a runaway cell): its cap must stop it, not the machine.
import time

from gevent import monkey
monkey.patch_all()  # hangmatrix: patch-point

if __name__ == "__main__":
    hoard = []
    while True:
        hoard.append(bytearray(64 << 20))  # 64 MiB a step, every page written
        time.sleep(0.01)
