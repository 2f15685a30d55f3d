"""The cause of a proven hang, named: which of model/cause.KINDS its wait-for graph (observe/waitfor.py) shows,
where the program's main flow waits, the chain of edges from there to the end, and a sentence or two.

Called once, by the supervisor, after a deadlock or stall is proven and the stacks are taken: it reads the
record's data only, so the proof's lag is untouched. Each kind needs its own evidence (docs/proof.md); with
none of them, the kind is `unknown`, and the chain is still the graph's.
"""

import re
from typing import Callable, Dict, List, Optional

from ..model.cause import UNKNOWN, Cause, Graph, Where
from . import pystacks, waitfor

# What a person calls the standard library's helper functions a hang runs through.
KNOWN = {
    "_handle_results": "the Pool's result handler",
    "_handle_tasks": "the Pool's task handler",
    "_handle_workers": "the Pool's worker handler",
    "_feed": "a Queue's feeder thread",
}
LOCK_IN_LINE = re.compile(r"with\s+([\w.\[\]'\"]+)\s*:|([\w.\[\]'\"]+)\.acquire\(")

SourceLine = Callable[[str, int], str]  # (file as the cell sees it, line) -> its text, '' when unreadable


def name(diag: dict, events: List[dict], verdict: str, source: Optional[SourceLine] = None, stderr: str = "") -> Cause:
    """The cause of a deadlock or stall whose diagnosis (with stacks and greenlets) is `diag`; `events` are
    the cell's events (a `fork` event is the evidence of a lock inherited at fork), stderr its tail (a thread
    that died of LoopExit)."""
    procs = diag.get("processes") or []
    forks = {e["pid"]: e.get("threads") or [] for e in events if e.get("ev") == "fork"}
    source = source or _no_source
    graph = waitfor.build(diag, forks, source, stderr)
    if not procs:
        return Cause(UNKNOWN, "no process was left to look at", graph=graph)
    root = procs[0]
    start = waitfor.start_node(root, diag)
    chain = waitfor.path_to_cycle(graph, start)
    where = _where(root, diag)
    rules = (
        _lock_held_across_switch,
        _hub_blocked,
        _lock_inherited_at_fork,
        _greenlet_primitive_from_thread,
        _thread_gone,
        _own_writer,
        _pipe_cycle,
        _outside,
    )
    for rule in rules:
        found = rule(procs, diag, graph, chain, forks, source)
        if found:
            kind, text = found
            return Cause(kind, text, where, tuple(chain), graph)
    return Cause(
        UNKNOWN,
        "A proven %s; its chain (%d edges) ends where no kind hangmatrix names applies." % (verdict, len(chain)),
        where,
        tuple(chain),
        graph,
    )


def busy_loop(spun: dict, proc: dict) -> Optional[Cause]:
    """The cause of a cell that timed out while its parent's main thread spun (spin.evidence): `busy-loop`
    at the program's frame the samples share, or None when they are in different files."""
    frames = spun["frames"]
    if len({f[0] for f in frames}) != 1:
        return None
    functions = [f[2] for f in frames]
    common = max(set(functions), key=functions.count)
    where = Where(*next(f for f in frames if f[2] == common))
    lines = sorted({f[1] for f in frames if f[2] == common})
    evidence = (
        "its main thread was on a CPU or ready for one %d%% of the time; %d stack samples at line(s) %s of %s"
        % (
            spun["cpu_share"] * 100,
            len(frames),
            ", ".join(map(str, lines)),
            common,
        )
    )
    node = waitfor.thread_node(proc["pid"], proc["pid"])
    graph = Graph({node: "%s %d thread %d" % (proc["role"], proc["pid"], proc["pid"])}, ())
    text = "The %s spins at %s and never blocks: %s, and it did not end before the timeout." % (
        proc["role"],
        where,
        evidence,
    )
    return Cause("busy-loop", text, where, (), graph)


def lead(found: Cause, signature: str) -> str:
    """The signature of a proven hang, led by its cause: `hub-blocked at seed_original.py:28 (<module>): …`."""
    return "%s: %s" % (found.headline, signature) if signature else found.headline


def _who(proc: dict) -> str:
    """`the child 6048`, `the pool worker 1 (5400)`, `the parent`."""
    role = "child" if proc["role"].startswith("child of") else proc["role"]
    return "the %s %d" % (role, proc["pid"]) if role != "parent" else "the parent"


def _no_source(file, line):
    return ""


def _where(proc: dict, diag: dict) -> Optional[Where]:
    """The program's own frame where the main flow of `proc` waits: in its main greenlet when gevent's dump
    shows one, else in its main thread's stack."""
    found = pystacks.greenlets((diag.get("greenlets") or {}).get(str(proc["pid"]), ""))
    main = next((g for g in found if g.main and g.thread_group == 1), None)
    frames = main.stack if main is not None else []
    frame = pystacks.own_frame(frames) or pystacks.own_frame(
        pystacks.main_thread_frames((diag.get("python_stacks") or {}).get(str(proc["pid"]), ""))
    )
    return Where(*frame) if frame else None


def _greenlet_words(g: pystacks.Greenlet) -> str:
    if g.main:
        at = pystacks.own_frame(g.stack)
        return "the main greenlet" + (" (at %s:%d)" % (at[0].rsplit("/", 1)[-1], at[1]) if at else "")
    if g.target in KNOWN:
        return "%s (%s)" % (KNOWN[g.target], g.target)
    return "the %s %s" % ("thread" if g.thread_greenlet else "greenlet", g.name)


def _hub_blocked(procs, diag, graph, chain, forks, source):
    """A process whose main thread's current greenlet, not its hub, is blocked in a call that does not
    yield (waitfor.hub_blocked), on the chain or the parent."""
    on_chain = {e.waiter.split("/")[0] for e in chain} | {"p%d" % procs[0]["pid"]}
    for proc in procs:
        blocked = waitfor.hub_blocked(proc, diag)
        if not blocked or waitfor.process_node(proc["pid"]) not in on_chain:
            continue
        group, current, _ = blocked
        others = [_greenlet_words(g) for g in group if g is not current and not g.hub]
        if not others:
            continue  # nothing waits for the hub: its being blocked explains nothing
        thread = waitfor.main_thread(proc)
        assert thread is not None
        who = _greenlet_words(current)
        patched = " runs as a greenlet, because `thread` was patched, and" if current.thread_greenlet else ""
        text = "%s%s its %s%s is a real, blocking call: it blocks the hub of the %s's thread, so no other greenlet " % (
            who[0].upper() + who[1:],
            patched,
            waitfor.call_name(thread["call"]),
            _on(thread),
            proc["role"],
        )
        text += "there runs (%s)." % ", ".join(others)
        text += _downstream(proc, thread, procs)
        return "hub-blocked", text
    return None


def _lock_held_across_switch(procs, diag, graph, chain, forks, source):
    """A blocked hub whose thread waits on a native lock that a suspended greenlet of the same thread holds
    (it is inside `with` that lock, waitfor.held_lock): the holder can only run when the hub does."""
    for proc in procs:
        blocked = waitfor.hub_blocked(proc, diag)
        held = blocked and waitfor.held_lock(proc, diag, blocked, source)
        if not held:
            continue
        lock, holder, frame, with_at = held
        _, current, _ = blocked
        at = pystacks.own_frame(current.stack)
        forking = pystacks.calls_fork(current.stack)
        who = _greenlet_words(current)
        text = (
            "%s%s waits for the native lock `%s`%s, which %s holds: it is inside `with` that lock (%s:%d, in %s) "
            % (
                who[0].upper() + who[1:],
                " (at %s:%d)" % (at[0].rsplit("/", 1)[-1], at[1]) if at else "",
                lock,
                " as it forks (an os.register_at_fork hook takes it)" if forking else "",
                _greenlet_words(holder),
                frame[0].rsplit("/", 1)[-1],
                with_at,
                frame[2],
            )
        )
        text += (
            "and switched away. The wait is a real lock wait, so it blocks the hub of the %s's thread, and "
            % (proc["role"])
        )
        text += "the holder, a greenlet of that same thread, never runs again to release it."
        return "lock-held-across-switch", text
    return None


def _on(thread) -> str:
    pipe = thread.get("pipe")
    return " on %s" % pipe["target"] if pipe else ""


def _downstream(proc, thread, procs) -> str:
    """` The 4 pool workers that hold pipe:[x]'s other end wait on pipe:[y], which only the parent could
    write, so they never write to it.` for a pipe read whose writers wait for the blocked process."""
    pipe = thread.get("pipe")
    if not pipe:
        return ""
    by_pid = {p["pid"]: p for p in procs}
    holders = [by_pid[h["pid"]] for h in pipe["holders"] if h["pid"] != proc["pid"] and h["pid"] in by_pid]
    if not holders:
        return " Nothing else holds %s's other end." % pipe["target"]
    calls: Dict[str, int] = {}
    waited = set()
    for h in holders:
        main = waitfor.main_thread(h) or {}
        calls[waitfor.call_name(main.get("call", "?"))] = calls.get(waitfor.call_name(main.get("call", "?")), 0) + 1
        theirs = main.get("pipe")
        if theirs and all(x["pid"] in {proc["pid"]} | {p["pid"] for p in holders} for x in theirs["holders"]):
            waited.add(theirs["target"])
    kinds = {re.sub(r" \d+$", "", h["role"]) for h in holders}
    group = "%d %s%s" % (len(holders), "/".join(sorted(kinds)), "s" if len(holders) > 1 else "")
    text = " The %s holding its other end (%s) " % (group, ", ".join("%d in %s" % (n, c) for c, n in calls.items()))
    if waited:
        text += "wait on %s, which only the %s (blocked) or they themselves (waiting) could write, so they never " % (
            ", ".join(sorted(waited)),
            proc["role"],
        )
        return text + "write to %s." % pipe["target"]
    return text + "wait too, so none of them writes to %s." % pipe["target"]


def _lock_inherited_at_fork(procs, diag, graph, chain, forks, source):
    """A child whose one thread waits on a lock of its own while a `fork` event says its parent had other
    threads when it forked: the edge waitfor adds to the thread that was not copied."""
    for edge in chain:
        if edge.waits_for.startswith(waitfor.NOT_COPIED):
            pid = int(edge.waiter.split("/")[0][1:])
            proc = next(p for p in procs if p["pid"] == pid)
            where = _where(proc, diag)
            lock = _lock_name(where, source)
            root_main = waitfor.main_thread(procs[0]) or {}
            text = "%s waits%s for %s that was copied locked when its parent forked while its thread %s " % (
                _who(proc).capitalize(),
                " at %s" % where if where else "",
                "the lock `%s`" % lock if lock else "a lock",
                " or ".join(forks.get(pid) or ["?"]),
            )
            text += "held it; that thread does not exist in the child, so nothing can release it."
            if proc is not procs[0]:
                text += " The %s waits in %s for it." % (
                    procs[0]["role"],
                    waitfor.call_name(root_main.get("call", "?")),
                )
            return "lock-inherited-at-fork", text
    return None


def _greenlet_primitive_from_thread(procs, diag, graph, chain, forks, source):
    """The chain ends at a thread of the parent that died of gevent's LoopExit: it used a gevent-only
    primitive (a patched queue, lock or event) from a native thread, whose own hub had nothing to run."""
    if not chain or not chain[-1].waits_for.startswith(waitfor.DIED) or "LoopExit" not in chain[-1].evidence:
        return None
    name = chain[-1].on.replace("the work of its thread ", "")
    target = re.search(r"\((\w+)\)$", name)
    who = KNOWN.get(target.group(1), "the thread %s" % name) if target else "the thread %s" % name
    main = waitfor.main_thread(procs[0]) or {}
    text = "%s, a native thread, used a gevent-only primitive and died of %s: its own hub had nothing that could " % (
        who[0].upper() + who[1:],
        chain[-1].evidence.replace("stderr: ", ""),
    )
    text += "wake it. Its work is never done, so the %s waits in %s forever." % (
        procs[0]["role"],
        waitfor.call_name(main.get("call", "?")),
    )
    return "greenlet-primitive-from-thread", text


def _thread_gone(procs, diag, graph, chain, forks, source):
    """The chain ends at threads gevent's dump shows gone while a main greenlet waits for one's work
    (waitfor._idle_hub_edges): a join or a threadpool's apply that nothing will ever answer."""
    if not chain or not chain[-1].waits_for.endswith("/threads-gone"):
        return None
    pid = int(chain[-1].waiter.split("/")[0][1:])
    proc = next(p for p in procs if p["pid"] == pid)
    where = _where(proc, diag)
    text = "The main greenlet of %s%s waits for another thread's work (%s), and that thread no longer exists " % (
        _who(proc),
        " (at %s)" % where if where else "",
        chain[-1].evidence.split(" waits for", 1)[0],
    )
    text += "(it exited, or a fork did not copy it): nothing will ever answer, and the hub idles."
    if proc is not procs[0]:
        main = waitfor.main_thread(procs[0]) or {}
        text += " The %s waits in %s for it." % (procs[0]["role"], waitfor.call_name(main.get("call", "?")))
    return "thread-gone", text


def _lock_name(where: Optional[Where], source: SourceLine) -> str:
    if where is None:
        return ""
    m = LOCK_IN_LINE.search(source(where.file, where.line))
    return (m.group(1) or m.group(2)) if m else ""


def _own_writer(procs, diag, graph, chain, forks, source):
    """The parent reads a pipe whose write end only the parent itself holds."""
    main = waitfor.main_thread(procs[0]) or {}
    pipe = main.get("pipe")
    if pipe and pipe["other_end"] == "write" and {h["pid"] for h in pipe["holders"]} == {procs[0]["pid"]}:
        if not pipe.get("outside_holders"):
            return (
                "own-writer",
                "The %s reads %s, whose only write end it holds itself: only it could end the read."
                % (
                    procs[0]["role"],
                    pipe["target"],
                ),
            )
    return None


def _pipe_cycle(procs, diag, graph, chain, forks, source):
    """The chain closes a cycle through two or more processes, every wait on it a pipe's."""
    if not chain or chain[-1].waits_for not in {e.waiter for e in chain}:
        return None
    cycle = chain[[e.waiter for e in chain].index(chain[-1].waits_for) :]
    waits = [e for e in cycle if e.on != "its thread"]
    pids = {e.waiter.split("/")[0] for e in cycle}
    if len(pids) >= 2 and waits and all(e.on.startswith("pipe:") for e in waits):
        return "pipe-cycle", "%s: each waits on a pipe only another of them could write." % ", ".join(
            graph.nodes.get(p, p) for p in sorted(pids)
        )
    return None


def _outside(procs, diag, graph, chain, forks, source):
    main = waitfor.main_thread(procs[0]) or {}
    outside = (main.get("wake") or {}).get("outside")
    if outside:
        return "outside", "The %s waits on %s, which only something outside the tree can end." % (
            procs[0]["role"],
            outside[0],
        )
    return None
