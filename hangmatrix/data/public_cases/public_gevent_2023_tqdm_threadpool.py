# hangmatrix: what = tqdm (which creates a multiprocessing RLock) driven from the hub threadpool under patch_all(thread=True); stuck at exit
# hangmatrix: source = https://github.com/gevent/gevent/issues/2023 (comment by ddorian, 2024-03-25)
# hangmatrix: reported = "I can see the same thing with `tqdm` too ... python 3.11.8, gevent 24.2.1, tqdm 4.66.2. Disabling `thread` monkey patching fixes it." Output ends "# here it's stuck" after printing 0..4 (commenter ddorian; no maintainer reply)
# hangmatrix: requires = tqdm
import gevent.monkey

gevent.monkey.patch_all(thread=True)


def tttqqqdddmmm():
    import tqdm

    def do_it():
        for i in tqdm.tqdm(range(5)):
            print(i)

    global_threadpool = gevent.get_hub().threadpool
    global_threadpool.spawn(do_it).get()
    exit("tqdm_exit")


tttqqqdddmmm()

