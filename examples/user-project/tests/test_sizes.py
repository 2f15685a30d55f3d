import gevent
from thumbs.render import render


def test_sizes_in_greenlets():
    jobs = [gevent.spawn(render, side) for side in (16, 32)]
    gevent.joinall(jobs)
    assert [job.value for job in jobs] == [256, 1024]
