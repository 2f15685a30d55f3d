"""Why a hang hangs: the cause named from a hang's wait-for graph (observe/waitfor.py, observe/cause.py), on
records of real runs (tests/data/cause-*.json: diagnosis with stacks and greenlets, and the cell's fork
events, as the supervisor had them) and on real cells; the record's `cause` field and its JSON form."""

import json
import linecache
import os

import pytest

from hangmatrix.model import packaged
from hangmatrix.model.cause import KINDS, Cause
from hangmatrix.model.record import Record
from hangmatrix.observe import cause, waitfor

DATA = os.path.join(os.path.dirname(__file__), "data")
BUILT_IN = os.path.join(os.path.dirname(__file__), "..", "cases")
CASES = os.path.join(os.path.dirname(__file__), "cases")


def recorded(name):
    with open(os.path.join(DATA, "cause-%s.json" % name), encoding="utf-8") as f:
        return json.load(f)


def source_of(path, line):
    """The line as the cell saw it: the recorded paths are those of the machine that ran it, so a case is read
    by its name here, and the interpreter's library where the run found it."""
    base = os.path.basename(path)
    for folder in (BUILT_IN, packaged.public_cases_dir()):
        if os.path.exists(os.path.join(folder, base)):
            path = os.path.join(folder, base)
    return linecache.getline(path, line)


def test_the_seed_under_patch_all_is_a_blocked_hub():
    """The post's own explanation: the result handler is a greenlet whose real read() blocks the hub, so the
    task handler never runs and the workers wait for tasks forever."""
    rec = recorded("seed_original-patch_all-fork")
    found = cause.name(rec["diagnosis"], rec["events_fork"], rec["verdict"], source_of)
    assert found.kind == "hub-blocked", found.text
    assert found.where is not None and found.where.file.endswith("/seed_original.py")
    assert (found.where.line, found.where.function) == (28, "<module>")  # the Pool(...) call, not pool.py
    assert "result handler" in found.text and "blocks the hub" in found.text and "4 pool workers" in found.text
    assert "task handler" in found.text
    on = [e.on for e in found.chain]
    assert on[0] == "the hub" and any(o.startswith("read(fd=") for o in on)
    assert found.chain[-1].waits_for in {e.waiter for e in found.chain}  # it ends in a cycle


def test_without_gevent_s_dump_faulthandler_still_shows_a_thread_run_as_a_greenlet():
    """3.12 with gevent 23.7.0: the greenlet dump's handler never ran (the main thread stayed in read()), but
    faulthandler shows the parent's main OS thread running a threading.Thread: only a patched thread does."""
    rec = recorded("seed_original-py3.12-gevent23.7.0-patch_all-spawn")
    root = str(rec["diagnosis"]["processes"][0]["pid"])
    assert rec["diagnosis"]["greenlets"][root].startswith("(no answer within")
    found = cause.name(rec["diagnosis"], [], rec["verdict"], source_of)
    assert found.kind == "hub-blocked", found.text
    assert "result handler" in found.text and "blocks the hub" in found.text and "(the main greenlet)" in found.text
    assert found.where is None  # the main greenlet's stack is in the dump that did not come


def test_a_lock_held_at_fork_is_named_from_the_fork_event():
    rec = recorded("fork_with_threads-none-fork")
    assert rec["events_fork"] and rec["events_fork"][0]["threads"] == ["Thread-1 (hold_lock)"]
    found = cause.name(rec["diagnosis"], rec["events_fork"], rec["verdict"], source_of)
    assert found.kind == "lock-inherited-at-fork", found.text
    assert (found.where.line, found.where.function) == (31, "<module>")  # the parent's os.waitpid
    assert "`lock`" in found.text and "Thread-1 (hold_lock)" in found.text
    parent = rec["diagnosis"]["processes"][0]["pid"]
    assert found.chain[0].waiter == waitfor.thread_node(parent, parent) and "wait4" in found.chain[0].evidence
    assert found.chain[-1].waits_for.startswith(waitfor.GONE)  # a party that can never act


def test_gevent_1865_the_native_lock_held_across_a_switch():
    """PR #2191 (merged by the maintainer): Executor.submit holds _global_shutdown_lock across Thread.start(),
    so a worker greenlet that forks runs the at-fork hook that takes it while another greenlet holds it."""
    rec = recorded("public_gevent_1865-py3.12-gevent24.2.1")
    found = cause.name(rec["diagnosis"], [], rec["verdict"], source_of)
    assert found.kind == "lock-held-across-switch", found.text
    assert found.where.file.endswith("public_gevent_1865_fork_in_executor_worker.py") and found.where.line == 19
    assert "`concurrent.futures.thread._global_shutdown_lock`" in found.text and "as it forks" in found.text
    assert "the main greenlet" in found.text and "in submit" in found.text
    assert [e.on for e in found.chain][-2:] == [
        "native lock concurrent.futures.thread._global_shutdown_lock",
        "its holder",
    ]
    assert found.chain[-1].waits_for == found.chain[0].waiter  # the main greenlet: a cycle through the hub
    assert cause.name(rec["diagnosis"], [], rec["verdict"]).kind == "hub-blocked"  # without the sources: no holder


def test_a_helper_thread_dead_of_loop_exit_is_a_greenlet_primitive_used_from_a_thread():
    """thread=False: the Pool's task handler is a native thread, its queue gevent's; it dies of LoopExit (the
    post's own explanation of why thread=False alone does not fix the seed)."""
    rec = recorded("seed_original-thread_false-spawn")
    found = cause.name(rec["diagnosis"], [], rec["verdict"], source_of, rec["stderr_tail"])
    assert found.kind == "greenlet-primitive-from-thread", found.text
    assert (found.where.line, found.where.function) == (33, "<module>")  # pool.join()
    assert "task handler" in found.text and "LoopExit" in found.text
    assert found.chain[-1].waits_for.startswith(waitfor.DIED)
    assert cause.name(rec["diagnosis"], [], rec["verdict"], source_of).kind == "unknown"  # no stderr: no evidence


def test_a_lock_held_at_fork_behind_gevent_s_cooperative_waitpid():
    """thread_false: the parent's waitpid is gevent's, its hub idles in epoll_wait() until SIGCHLD (the child's
    exit, through an eventfd): the chain runs from that wait to the child, then to the thread not copied."""
    rec = recorded("fork_with_threads-thread_false-fork")
    found = cause.name(rec["diagnosis"], rec["events_fork"], rec["verdict"], source_of)
    assert found.kind == "lock-inherited-at-fork", found.text
    child = rec["diagnosis"]["processes"][1]["pid"]
    assert found.chain[0].waits_for == waitfor.process_node(child) and "epoll_wait" in found.chain[0].evidence


@pytest.mark.parametrize(
    "name,waits,child",
    [
        ("public_gevent_2023_fork_hook-py3.11-gevent24.2.1", "apply", True),
        ("public_gevent_2023_tqdm-py3.11-gevent24.2.1", "join", False),
    ],
)
def test_a_main_greenlet_waiting_for_a_thread_that_is_gone(name, waits, child):
    """gevent#2023: a fork hook's threadpool.apply in the child, whose worker thread the fork did not copy; tqdm's
    monitor thread, a greenlet of a threadpool thread that has exited, joined at exit. gevent's dump shows each
    thread gone while the hub idles."""
    rec = recorded(name)
    found = cause.name(rec["diagnosis"], rec["events_fork"], rec["verdict"], source_of, rec["stderr_tail"])
    assert found.kind == "thread-gone", found.text
    assert found.chain[-1].waits_for.startswith(waitfor.DIED) and waits in found.chain[-1].evidence
    assert ("The parent waits in epoll_wait() for it." in found.text) == child


def test_without_the_fork_event_a_lone_lock_wait_is_no_inherited_lock():
    """The evidence is the fork event: a child's own lock wait alone may be its own double acquire."""
    rec = recorded("fork_with_threads-none-fork")
    found = cause.name(rec["diagnosis"], [], rec["verdict"], source_of)
    assert found.kind == "unknown" and found.chain


def test_every_kind_named_is_in_the_vocabulary_and_the_signature_leads_with_it():
    rec = recorded("seed_original-patch_all-fork")
    found = cause.name(rec["diagnosis"], [], rec["verdict"], source_of)
    assert found.kind in KINDS
    assert rec["signature"].startswith("hub-blocked at seed_original.py:28 (<module>): parent blocked in read()")
    assert cause.lead(found, "x") == found.headline + ": x"


def test_the_cause_field_reads_and_writes_back_and_old_records_have_none():
    rec = recorded("seed_original-patch_all-fork")
    found = cause.name(rec["diagnosis"], [], rec["verdict"], source_of)
    base = {"case": "c", "config": "none", "start": "fork", "python": "3.11.7", "gevent": "26.9.0"}
    typed = Record.from_json(dict(base, verdict="deadlock", cause=found.as_json(), schema=2))
    assert typed.cause == found and isinstance(typed.cause, Cause)
    back = typed.to_json()
    assert back["cause"] == found.as_json() and Record.from_json(json.loads(json.dumps(back))) == typed
    assert Record.from_json(dict(base, verdict="ok")).cause is None
    assert "cause" not in Record.from_json(dict(base, verdict="ok")).to_json()
    with pytest.raises(ValueError, match="not a cause"):
        Record.from_json(dict(base, verdict="deadlock", cause={"text": "no kind"}))


def test_a_real_lock_inherited_at_fork(run_one):
    """cases/fork_with_threads.py unpatched: the parent forks while its other thread holds a threading.Lock;
    the child takes it. Before causes its signature was only "parent blocked in wait4()"."""
    rec = run_one("fork_with_threads", "none", "fork")
    assert rec.verdict == "deadlock", rec.signature
    found = rec.cause
    assert found.kind == "lock-inherited-at-fork", found.text
    head = "lock-inherited-at-fork at fork_with_threads.py:31 (<module>): parent blocked in"
    assert rec.signature.startswith(head)
    assert "wait4" in found.chain[0].evidence and found.chain[-1].waits_for.startswith(waitfor.GONE)
    assert "`lock`" in found.text


def test_show_prints_why_first_and_the_graph_as_dot():
    from hangmatrix.report import show, waitgraph

    rec = recorded("seed_original-patch_all-fork")
    found = cause.name(rec["diagnosis"], [], rec["verdict"], source_of)
    base = {"case": "seed_original", "config": "patch_all", "start": "fork", "python": "3.11.7", "gevent": "26.9.0"}
    typed = Record.from_json(dict(base, verdict="deadlock", signature=rec["signature"], cause=found.as_json()))
    lines = show.render(typed).splitlines()
    assert lines[1] == "why: hub-blocked at seed_original.py:28 (<module>)" and "result handler" in lines[2]
    assert lines.index("  " + rec["signature"]) > 2 + len(found.chain)  # the why, then what it rests on
    graph = waitgraph.dot(found, typed.id)
    assert graph.startswith("digraph waitfor {") and graph.endswith("}")
    assert graph.count("style=bold") == len(found.chain) and graph.count(" -> ") == len(found.graph.edges)


def test_gevent_966_spin_is_a_busy_loop_whether_it_prints_or_not(run_one):
    """gevent#966: the patched waitpid(pid, WNOHANG) never reports the killed child, so the loop spins. As
    posted it prints a line a turn (over the output cap in a second); its silent twin prints nothing. Both
    are the same: a timeout whose cause is a busy-loop in the loop, never an error."""
    printing = run_one("public_gevent_966_waitpid_wnohang_spin", "as-written", "fork", timeout=4.0)
    silent = run_one("spins_silently", "patch_all", "fork", timeout=4.0, folders=[CASES])
    for rec, loop in ((printing, range(20, 28)), (silent, range(15, 17))):
        assert rec.verdict == "timeout", rec.signature
        found = rec.cause
        assert found.kind == "busy-loop", found.text
        assert found.where.function == "<module>" and found.where.line in loop, found.where
        assert rec.signature.startswith("busy-loop at ")
    assert printing.proof["output_trimmed"]["stdout"]["head"].startswith("Wtf child did not die from SIGKILL!")


def test_show_graph_from_the_command_line(tmp_path):
    """`hangmatrix show CELL --graph` prints the DOT of a hang's record; a record without a cause, one line."""
    import subprocess
    import sys

    rec = recorded("seed_original-patch_all-fork")
    found = cause.name(rec["diagnosis"], [], rec["verdict"], source_of)
    base = {"case": "seed_original", "config": "patch_all", "start": "fork", "python": "3.11.7", "gevent": "26.9.0"}
    store = tmp_path / "r.jsonl"
    lines = [dict(base, verdict="deadlock", cause=found.as_json()), dict(base, config="none", verdict="running")]
    store.write_text("".join(json.dumps(r) + "\n" for r in lines))
    hm = [sys.executable, "-m", "hangmatrix.cli", "show", "--records", str(store), "--graph"]
    out = subprocess.run(hm + ["seed_original-py3.11-gevent26.9.0-patch_all-fork"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("digraph waitfor {"), out.stderr
    out = subprocess.run(hm + ["seed_original-py3.11-gevent26.9.0-none-fork"], capture_output=True, text=True)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "no wait-for graph" in out.stderr
