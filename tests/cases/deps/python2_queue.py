# hangmatrix: what = A Python 2 program (`import Queue`, as grequests issue 97's reproducer): on Python 3 the module is gone, and no requirement brings it back.
import multiprocessing
import Queue

if __name__ == "__main__":
    q = multiprocessing.Queue()
    q.put(Queue.Queue().qsize())
    print(q.get())
