"""The wait-for graph of a proven hang, from what its diagnosis already holds: nodes are processes, threads
and greenlets; an edge says its waiter waits for another node, on what (a pipe, a lock, a child's exit, a
hub) and from which observation. Built once a deadlock or stall is proven (observe/cause.py names the
cause from it), never while watching: it reads only the record's data, nothing of /proc.

The gevent edge: a thread whose current greenlet is not its hub, blocked in a call that does not yield,
stops its hub; every other greenlet of that thread waits for the hub, and the hub for that call.
"""

import re
from typing import Callable, Dict, List, Optional, Tuple

from ..model.cause import Edge, Graph
from . import pystacks, verdict

GONE = "gone:"  # node ids of parties that can never act: threads a fork did not copy, threads that died
NOT_COPIED, DIED = GONE + "not-copied/", GONE + "died/"
HUB_LOOP_CALLS = ("epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "select", "pselect6", "ppoll")


def process_node(pid: int) -> str:
    return "p%d" % pid


def thread_node(pid: int, tid: int) -> str:
    return "p%d/t%d" % (pid, tid)


def greenlet_node(pid: int, tid: int, name: str) -> str:
    return "p%d/t%d/%s" % (pid, tid, name)


def call_name(call: str) -> str:
    return call.split("(", 1)[0] + "()"


def main_thread(proc: dict) -> Optional[dict]:
    return next((t for t in proc["threads"] if t["tid"] == proc["pid"]), None)


def hub_blocked(proc: dict, diag: dict) -> Optional[tuple]:
    """(greenlets of the main thread, the current one, the hub) when the main thread's current greenlet is
    not its hub and the thread is blocked in an untimed call that does not yield (not the hub's own loop
    wait): gevent's hub cannot run. None otherwise, or when no greenlet dump shows it."""
    thread = main_thread(proc)
    if thread is None or thread.get("wait") != "untimed" or thread["syscall"] in HUB_LOOP_CALLS:
        return None
    found = pystacks.greenlets((diag.get("greenlets") or {}).get(str(proc["pid"]), ""))
    current = next((g for g in found if g.current), None)
    if current is None and not found:  # no dump (the handler never ran): faulthandler's stack may still tell
        return _thread_as_greenlet(proc, diag)
    if current is None or current.hub:
        return None
    group = [g for g in found if g.thread_group == current.thread_group]
    hub = next((g for g in group if g.hub), None)
    if hub is None:
        return None
    return group, current, hub


SourceLine = Callable[[str, int], str]  # (file as the cell sees it, line) -> its text, '' when unreadable
WITH_SCAN_LINES = 60  # how far above a frame's line a `with lock:` that encloses it is looked for


DEAD_THREAD = re.compile(r"^Exception in thread (.+?):\s*$", re.M)


def dead_threads(stderr: str) -> List[Tuple[str, str]]:
    """(thread name, the exception it died of) for each `Exception in thread NAME:` traceback on stderr
    (threading's excepthook): a thread that will never act again."""
    found = []
    marks = list(DEAD_THREAD.finditer(stderr))
    for i, m in enumerate(marks):
        chunk = stderr[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(stderr)]
        found.append((m.group(1), verdict.last_exception(chunk)))
    return found


MAIN_UNSEEN = pystacks.Greenlet("<greenlet.greenlet object (its stack not dumped) suspended active started main>")
HUB_UNSEEN = pystacks.Greenlet("<Hub (not dumped)>")


def _thread_as_greenlet(proc: dict, diag: dict) -> Optional[tuple]:
    """hub_blocked's answer from faulthandler alone, when gevent's dump did not come (its handler needs the
    blocked main thread to run Python code): the main thread runs a threading.Thread (a greenlet of a
    patched `thread`); its main greenlet, suspended, waits for the hub like every greenlet does."""
    current = pystacks.thread_as_greenlet(
        pystacks.main_thread_frames((diag.get("python_stacks") or {}).get(str(proc["pid"]), ""))
    )
    if current is None:
        return None
    return (MAIN_UNSEEN, current, HUB_UNSEEN), current, HUB_UNSEEN


def build(
    diag: dict,
    forks: Optional[Dict[int, List[str]]] = None,
    source: Optional[SourceLine] = None,
    stderr: str = "",
) -> Graph:
    """The wait-for graph of a diagnosis (diagnosis.diagnose's, with stacks and greenlets). forks: {child
    pid: the names of the other threads its parent had when it forked} (the cell's `fork` events). source
    reads a program's or library's line (who holds a lock: a frame inside `with lock:`). stderr: the cell's;
    a thread that died of an exception is a party of the parent that can never act."""
    procs = diag.get("processes") or []
    nodes: Dict[str, str] = {}
    edges: List[Edge] = []
    children: Dict[int, List[int]] = {}
    for p in procs:
        children.setdefault(p["ppid"], []).append(p["pid"])
    for p in procs:
        pid = p["pid"]
        nodes[process_node(pid)] = "%s %d" % (p["role"], pid)
        if p is procs[0]:  # threading's excepthook prints to the tree's stderr: the parent's helpers, most likely
            for name, exc in dead_threads(stderr):
                gone = DIED + "p%d/%s" % (pid, name)
                nodes[gone] = "thread %s of %s %d, dead of %s" % (name, p["role"], pid, exc.split(":", 1)[0] or "?")
                edges.append(Edge(process_node(pid), gone, "the work of its thread %s" % name, "stderr: " + exc))
        for t in p["threads"]:
            node = thread_node(pid, t["tid"])
            nodes[node] = "%s %d thread %d in %s" % (p["role"], pid, t["tid"], call_name(t["call"]))
            edges.append(Edge(process_node(pid), node, "its thread", "a process acts only through its threads"))
            if t["tid"] == pid:
                edges.extend(_idle_hub_edges(node, p, diag, nodes))
            if t["tid"] == pid and (forks or {}).get(pid):
                edges.extend(_inherited_lock_edges(node, t, p, forks[pid], nodes))  # type: ignore[index]
            edges.extend(_thread_edges(node, t, p, procs, children))
        blocked = hub_blocked(p, diag)
        if blocked:
            edges.extend(_gevent_edges(p, blocked, nodes, diag, source))
    return Graph(nodes, tuple(edges))


def _thread_edges(node, t, proc, procs, children) -> List[Edge]:
    pid = proc["pid"]
    roles = {p["pid"]: p["role"] for p in procs}
    out = []
    pipe = t.get("pipe")
    if pipe:
        for h in sorted(pipe["holders"], key=lambda h: h["pid"] == pid):  # the others first, itself last
            who = "itself" if h["pid"] == pid else "%s %d" % (h["role"], h["pid"])
            out.append(
                Edge(
                    node,
                    process_node(h["pid"]),
                    pipe["target"],
                    "%s(fd %d) holds its %s end; blocked in %s"
                    % (who, h["fd"], pipe["other_end"], call_name(h["blocked_in"])),
                )
            )
        return out
    if t["syscall"] in ("wait4", "waitid"):
        for kid in children.get(pid, []):
            out.append(Edge(node, process_node(kid), "the exit of %s %d" % (roles[kid], kid), t["call"]))
        return out
    wake = t.get("wake") or {}
    on = ", ".join(wake.get("on") or []) or t["call"]
    for other in sorted(wake.get("inside") or [], key=lambda p: p == pid):  # the others first, itself last
        if other in roles:
            out.append(Edge(node, process_node(other), on, "%s; %s %d could end it" % (t["call"], roles[other], other)))
    return out


def _inherited_lock_edges(node, t, proc, threads, nodes) -> List[Edge]:
    """A lone thread's untimed lock wait that only its own process could end, in a child forked while its
    parent had other threads: it waits for those threads, which the fork did not copy."""
    wake = t.get("wake") or {}
    if (
        len(proc["threads"]) != 1
        or t["syscall"] != "futex"
        or t.get("wait") != "untimed"
        or (wake.get("inside") or [proc["pid"]]) != [proc["pid"]]
    ):
        return []
    gone = NOT_COPIED + "p%d" % proc["pid"]
    nodes[gone] = "%s's thread(s) at the fork, not copied into %s %d" % (
        "parent %d" % proc["ppid"],
        proc["role"],
        proc["pid"],
    )
    return [
        Edge(
            node,
            gone,
            ", ".join(wake.get("on") or ["a lock of the process"]),
            "%s, the child's only thread; at the fork its parent had other threads: %s"
            % (t["call"], ", ".join(threads)),
        )
    ]


def lock_node(pid: int, name: str) -> str:
    return "p%d/lock:%s" % (pid, name)


def held_lock(
    proc: dict, diag: dict, blocked: tuple, source: Optional[SourceLine]
) -> Optional[Tuple[str, pystacks.Greenlet, pystacks.Frame, int]]:
    """(lock, holder greenlet, the frame inside `with lock:` and that line's number) for a blocked hub whose
    thread waits on a lock (futex) while the injected dump found a module-level native lock locked and a
    suspended greenlet of the thread is inside `with` that lock; None when no such greenlet is seen."""
    thread = main_thread(proc)
    if thread is None or thread["syscall"] != "futex" or source is None:
        return None
    group, current, _ = blocked
    for lock in pystacks.locked_locks((diag.get("greenlets") or {}).get(str(proc["pid"]), "")):
        short = lock.rsplit(".", 1)[-1]
        for g in group:
            if g is current or g.hub:
                continue
            for frame in reversed(g.stack):
                at = _enclosing_with(frame, short, source)
                if at:
                    return lock, g, frame, at
    return None


def _enclosing_with(frame, name, source: SourceLine) -> int:
    """The line number of a `with ... name ...:` whose block holds frame's line (scanning up to the function's
    `def`), else 0."""
    path, line, _ = frame
    text = source(path, line)
    if not text.strip():
        return 0
    indent = len(text) - len(text.lstrip())
    pattern = re.compile(r"^\s*with\b.*\b%s\b" % re.escape(name))
    for n in range(line - 1, max(0, line - WITH_SCAN_LINES), -1):
        above = source(path, n)
        if not above.strip():
            continue
        depth = len(above) - len(above.lstrip())
        if depth >= indent:
            continue
        if pattern.match(above):
            return n
        if above.lstrip().startswith(("def ", "async def ", "class ")):
            return 0
        indent = depth
    return 0


def _short_frame(frame: Tuple[str, int, str]) -> str:
    return "%s:%d %s" % _short(frame)


def _idle_hub_edges(node, proc, diag, nodes) -> List[Edge]:
    """A main thread whose hub idles in its loop wait (the hub was the greenlet running when asked) waits for
    what its main greenlet waits for; a main greenlet that waits for another thread's work (a join, a
    threadpool's apply) while gevent's dump shows a thread gone (exited, or not copied by a fork) waits for
    a party that can never act."""
    found = pystacks.greenlets((diag.get("greenlets") or {}).get(str(proc["pid"]), ""))
    current = next((g for g in found if g.current), None)
    main = next((g for g in found if g.main and g.thread_group == 1), None)
    if current is None or not current.hub or main is None:
        return []
    pid = proc["pid"]
    main_node = greenlet_node(pid, pid, main.name)
    nodes[main_node] = "%s %d main greenlet" % (proc["role"], pid)
    at = pystacks.innermost(main.stack)
    out = [
        Edge(
            node,
            main_node,
            "its main greenlet",
            "the hub idles in its loop wait; the main greenlet is suspended%s"
            % (" at " + _short_frame(at) if at else ""),
        )
    ]
    waiting = pystacks.waits_for_a_thread(main.stack)
    gone = sorted({g.thread_group for g in found if g.thread_gone})
    if waiting and gone:
        dead = DIED + "p%d/threads-gone" % pid
        nodes[dead] = "a thread of %s %d that no longer exists" % (proc["role"], pid)
        evidence = "%s waits for another thread's work; gevent's dump shows %s" % (
            _short_frame(waiting),
            "; ".join(
                next((g.title[:100] for g in found if g.thread_group == n and not g.hub), "a thread")
                + ": its thread gone"
                for n in gone
            ),
        )
        out.append(Edge(main_node, dead, "a thread's work", evidence))
    return out


def _gevent_edges(proc, blocked, nodes, diag, source) -> List[Edge]:
    pid = proc["pid"]
    thread = main_thread(proc)
    assert thread is not None  # hub_blocked found it
    group, current, hub = blocked
    out = []
    tnode = thread_node(pid, pid)
    hub_node = greenlet_node(pid, pid, "hub")
    nodes[hub_node] = "hub of %s %d" % (proc["role"], pid)
    cur_node = greenlet_node(pid, pid, current.name)
    nodes[cur_node] = "%s %d greenlet %s" % (proc["role"], pid, current.name)
    out.append(
        Edge(
            hub_node,
            cur_node,
            "the thread",
            "the thread is inside %s, made by greenlet %s (the one running when asked), a call that does not "
            "yield to the hub" % (thread["call"], current.name),
        )
    )
    held = held_lock(proc, diag, blocked, source)
    if held:
        lock, holder, frame, with_at = held
        node = lock_node(pid, lock)
        nodes[node] = "native lock %s" % lock
        inside = pystacks.innermost(current.stack)
        out.append(
            Edge(
                cur_node,
                node,
                "native lock %s" % lock,
                "%s: the thread's untimed lock wait%s; the injected dump found %s locked"
                % (thread["call"], " at " + _short_frame(inside) if inside else "", lock),
            )
        )
        out.append(
            Edge(
                node,
                greenlet_node(pid, pid, holder.name),
                "its holder",
                "greenlet %s is inside `with` it (%s:%d, in %s) and switched away at %s"
                % (holder.name, _short(frame)[0], with_at, frame[2], _short_frame(holder.stack[-1])),
            )
        )
    out.append(Edge(cur_node, tnode, thread["call"], "its blocked call (/proc syscall)"))
    for g in group:
        if g is current or g.hub:
            continue
        node = greenlet_node(pid, pid, g.name)
        nodes[node] = "%s %d %s" % (proc["role"], pid, g.name if g.main else "greenlet " + g.name)
        at = pystacks.innermost(g.stack)
        out.append(
            Edge(
                node,
                hub_node,
                "the hub",
                "suspended%s; only the hub switches to it" % (" at %s:%d %s" % _short(at) if at else ""),
            )
        )
    return out


def _short(frame):
    return frame[0].rsplit("/", 1)[-1], frame[1], frame[2]


def start_node(proc: dict, diag: dict) -> str:
    """Where the main flow of a process waits: its main greenlet when its hub is blocked, else its main
    thread."""
    blocked = hub_blocked(proc, diag)
    if blocked:
        group, current, _ = blocked
        main = next((g for g in group if g.main), current)
        return greenlet_node(proc["pid"], proc["pid"], main.name)
    return thread_node(proc["pid"], proc["pid"])


def path_to_cycle(graph: Graph, start: str) -> List[Edge]:
    """The edges from start, depth first, to the first node met again on the way (a cycle), else the longest
    way to a node that waits for nothing; [] when start has no edge. A node explored once is not again."""
    by_waiter: Dict[str, List[Edge]] = {}
    for e in graph.edges:
        by_waiter.setdefault(e.waiter, []).append(e)
    done: set = set()
    longest: List[Edge] = []

    def walk(node: str, path: List[Edge], on_path: set) -> Optional[List[Edge]]:
        nonlocal longest
        if node in done:
            return None
        for e in by_waiter.get(node, []):
            if e.waits_for in on_path or e.waits_for.startswith(GONE):
                return path + [e]  # a cycle, or a party that can never act: the chain's end
            found = walk(e.waits_for, path + [e], on_path | {e.waits_for})
            if found:
                return found
        done.add(node)
        if not by_waiter.get(node) and len(path) > len(longest):
            longest = path
        return None

    return walk(start, [], {start}) or longest
