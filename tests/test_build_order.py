"""The order environments are built in (issue 14 item 5): cells can begin as soon as the first quick build
is done, and the slow Python 2.7 builds, whose cells are few and cheap, come last."""

import threading
import time

from hangmatrix.envs.errors import EnvError
from hangmatrix.envs.interpreters import find_interpreter
from hangmatrix.model import cases, configs
from hangmatrix.run import runner

PAIRS = [("2.7", "1.1.0"), ("2.7", "22.10.2"), ("3.11", "22.10.1"), ("3.11", "26.9.0"), ("3.13", "24.10.1"),
         ("3.13", "26.9.0")]  # fmt: skip


def _items():
    interps = {v: find_interpreter(v) for v in ("2.7", "3.11", "3.13")}
    case = cases.select(["seed_terminating"])[0]
    return [
        runner.make_item(case, configs.parse("none"), "fork", interps[python], gevent)
        for python, gevent in PAIRS  # plan order: the oldest interpreter first
    ]


def test_uv_envs_first_newest_gevent_first_python_27_last():
    keys = [runner.env_key(item) for item in _items()]
    order = [(key[0].short, key[1]) for key in runner.build_order(keys)]
    assert set(order) == set(PAIRS) and len(order) == len(PAIRS)
    assert [py for py, _ in order[-2:]] == ["2.7", "2.7"], order  # virtualenv + pip builds last
    uv = order[:-2]
    assert uv[0][1] == "26.9.0" and uv[1][1] == "26.9.0", order  # the newest release's builds first
    assert uv[0][0] == "3.13", order  # then the newest interpreter
    assert order[-2][1] == "22.10.2", order  # newest first among the 2.7 builds too


def test_python_27_builds_run_beside_the_others_from_the_start():
    asked, lock, started_27 = [], threading.Lock(), threading.Event()
    state = {"building_27": 0, "most_27_at_once": 0, "waited_for_27": []}

    def ensure(interp, gevent, requires=(), newest=False):
        with lock:
            asked.append((interp.short, gevent))
        if interp.short == "2.7":
            with lock:
                state["building_27"] += 1
                state["most_27_at_once"] = max(state["most_27_at_once"], state["building_27"])
            started_27.set()
            time.sleep(0.2)
            with lock:
                state["building_27"] -= 1
        else:  # a quick build finishes only once a 2.7 build has begun: they must run side by side
            state["waited_for_27"].append(started_27.wait(20))
        raise EnvError("not built in this test")

    records = runner.execute(_items(), jobs=2, ensure=ensure)
    assert sorted(rec.verdict for rec in records) == ["env-error"] * len(PAIRS)
    assert sorted(asked) == sorted(PAIRS)
    assert state["waited_for_27"] == [True] * 4, "a quick build waited for the 2.7 builds to start"
    assert 1 <= state["most_27_at_once"] <= 2
    quick = [pair for pair in asked if pair[0] != "2.7"]
    assert quick[0] in (("3.13", "26.9.0"), ("3.11", "26.9.0")) and quick[1] in (("3.13", "26.9.0"), ("3.11", "26.9.0"))
    assert [pair for pair in asked if pair[0] == "2.7"][0] == ("2.7", "22.10.2") or state["most_27_at_once"] == 2
