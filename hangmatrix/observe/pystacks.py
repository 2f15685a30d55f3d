"""The Python stacks and greenlets a hang's record holds (observe/stacks.py takes them as text: faulthandler's
dump and gevent's `format_run_info`), read back as frames: which greenlet of a thread was running when
it was asked (the one the dump's own handler ran on), each greenlet's parent and stack, and the program's
own frame in a stack. What observe/waitfor.py builds its gevent edges from.
"""

import functools
import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

FRAME = re.compile(r'File "([^"]+)", line (\d+),? in (\S+)')
THREAD_TARGET = re.compile(r"<Thread\(([^,()]+)(?: \(([\w.<>]+)\))?, ")
GREENLET_NAME = re.compile(r'^<(?:Greenlet|\w*Greenlet\w*) "([^"]+)"')
# Frames no program owns: the interpreter's library (site-packages under it too), installed packages, the
# injected code, and the interpreter's frozen modules.
NOT_THE_PROGRAM = re.compile(
    r"/lib/python\d(\.\d+)?/|/site-packages/|/dist-packages/|/hangmatrix/inject/|^<frozen |^<string>"
)
LOCKED_LINE = "Locked native locks:"  # what the injected dump adds (sitecustomize._locked_native_locks)
DUMP_HANDLER = "_dump_greenlets"
BOOTSTRAPS = ("_bootstrap", "__bootstrap")  # threading.Thread's first frame (Python 3, Python 2)
GEVENT_FILE = re.compile(
    r"/gevent/|greenlet"
)  # the injected SIGUSR2 handler: the greenlet it ran on was the current one

Frame = Tuple[str, int, str]  # file, line, function


@dataclass
class Greenlet:
    """One greenlet of a gevent dump: its repr, its parent's, its stack (oldest first) and where it was
    spawned."""

    title: str
    parent: str = ""
    running: List[Frame] = field(default_factory=list)
    spawned: List[Frame] = field(default_factory=list)
    thread_group: int = 0  # greenlets of one thread share a group (gevent's "Thread boundary")

    @property
    def hub(self) -> bool:
        return self.title.startswith("<Hub")

    @property
    def main(self) -> bool:
        return self.title.startswith("<greenlet.greenlet") and self.title.rstrip(">").endswith(" main")

    @property
    def current(self) -> bool:
        """Whether it was running when the dump was asked for (the handler ran on it)."""
        return any(fn == DUMP_HANDLER for _, _, fn in self.running)

    @property
    def stack(self) -> List[Frame]:
        """Its stack without the dump's own frames."""
        frames = list(self.running)
        for i, (_, _, fn) in enumerate(frames):
            if fn == DUMP_HANDLER:
                return frames[:i]
        return frames

    @property
    def thread_gone(self) -> bool:
        """Whether gevent's dump shows its thread gone: a parent `(thread exited) dead`, or a destroyed hub."""
        return "(thread exited)" in self.parent or (self.hub and " destroyed " in self.title + " ")

    @property
    def thread_greenlet(self) -> bool:
        """Whether it runs a threading.Thread (a thread made a greenlet because `thread` was patched)."""
        return bool(THREAD_TARGET.search(self.title))

    @property
    def name(self) -> str:
        """`Thread-3 (_handle_results)` for a patched thread's greenlet, `Greenlet-2`, `main`, `hub`."""
        if self.hub:
            return "hub"
        if self.main:
            return "main greenlet"
        m = THREAD_TARGET.search(self.title)
        if m:
            return "%s (%s)" % (m.group(1), m.group(2)) if m.group(2) else m.group(1)
        m = GREENLET_NAME.match(self.title)
        return m.group(1) if m else self.title[:60]

    @property
    def target(self) -> str:
        """The function a patched thread's greenlet runs (`_handle_results`), else ''."""
        m = THREAD_TARGET.search(self.title)
        return m.group(2) or "" if m else ""


@functools.lru_cache(maxsize=32)
def greenlets(text: str) -> Tuple[Greenlet, ...]:
    """Every greenlet of a `format_run_info` dump (none for any other text); parsed once per text (the graph
    and each rule ask)."""
    return tuple(_parse_greenlets(text))


def _parse_greenlets(text: str) -> List[Greenlet]:
    found: List[Greenlet] = []
    if "* Greenlets" not in text:
        return found
    section, group, current = None, 0, None
    for raw in text.split("* Greenlets", 1)[1].splitlines():
        line = raw.lstrip(" :|+-")
        if raw.startswith("---- Thread boundary"):
            group += 1
            continue
        if line.startswith("<") and not raw.lstrip(" :").startswith("Parent"):
            current = Greenlet(line.strip(), thread_group=group)
            found.append(current)
            section = None
            continue
        if current is None:
            continue
        if line.startswith("Parent:"):
            current.parent = line[len("Parent:") :].strip()
        elif line.startswith("Running:"):
            section = current.running
        elif line.startswith("Spawned at:"):
            section = current.spawned
        elif line.startswith(("Spawning parent", "Spawn Tree Locals", "Greenlet Locals")):
            section = None
        else:
            m = FRAME.search(line)
            if m and section is not None:
                section.append((m.group(1), int(m.group(2)), m.group(3)))
    return found


WAITS_FOR_A_THREAD = (("/threading.py", "join"), ("/gevent/threadpool.py", "apply"), ("/gevent/pool.py", "apply"))


def waits_for_a_thread(frames: List[Frame]) -> Optional[Frame]:
    """The frame of a stack that waits for another thread's work (threading's join, gevent's threadpool
    apply), innermost first; None when it waits for none."""
    for frame in reversed(frames):
        if any(frame[0].endswith(f) and frame[2] == fn for f, fn in WAITS_FOR_A_THREAD):
            return frame
    return None


def locked_locks(text: str) -> List[str]:
    """`module.name` of the native locks the injected dump found locked (its `Locked native locks:` line)."""
    for line in text.splitlines():
        if line.startswith(LOCKED_LINE):
            return [n.strip() for n in line[len(LOCKED_LINE) :].split(",") if n.strip()]
    return []


def main_thread_frames(text: str) -> List[Frame]:
    """The stack (oldest first) of the thread faulthandler (or the Python 2.7 dump) calls current: the
    main thread, which the signal was sent to."""
    blocks = re.split(r"^(?=(?:Current thread|Thread) 0x)", text, flags=re.M)
    for block in blocks:
        if block.startswith("Current thread"):
            return [(f, int(n), fn) for f, n, fn in FRAME.findall(block)][::-1]
    for block in blocks:  # 2.7's Python-level dump: the thread its handler ran on is the main one
        frames = [(f, int(n), fn) for f, n, fn in FRAME.findall(block)][::-1]
        if any(fn == "_dump_threads" for _, _, fn in frames):
            return [f for f in frames if not NOT_THE_PROGRAM.search(f[0]) or "/hangmatrix/inject/" not in f[0]]
    return []


def thread_as_greenlet(frames: List[Frame]) -> Optional[Greenlet]:
    """The greenlet a main thread runs when its faulthandler stack (oldest first) starts in threading's
    `_bootstrap`: a threading.Thread run on the process's main OS thread, which only a patched `thread`
    does (each Thread a greenlet). Named as gevent's dump would name it; None for any other stack."""
    start = next((i for i, f in enumerate(frames[:4]) if f[2] in BOOTSTRAPS and f[0].endswith("threading.py")), None)
    if start is None or not all(GEVENT_FILE.search(f[0]) for f in frames[:start]):
        return None  # below the Thread's bootstrap only gevent's own frames (its Greenlet.run) may be
    frames = frames[start:]
    target = next((f[2] for f in frames if not f[0].endswith("threading.py")), "")  # below Thread.run (any)
    title = "<Greenlet at 0x0: <bound method Thread._bootstrap of <Thread(Thread (%s), started)>>>" % target
    return Greenlet(title, running=list(frames))


def own_frame(frames: List[Frame]) -> Optional[Frame]:
    """The innermost frame of the program itself (outside the standard library, site-packages and
    hangmatrix), or None."""
    for frame in reversed(frames):
        if not NOT_THE_PROGRAM.search(frame[0]):
            return frame
    return None


def calls_fork(frames: List[Frame]) -> bool:
    """Whether a stack is inside a fork (os.fork, gevent's fork_and_watch): os.register_at_fork's hooks run there."""
    return any(fn in ("fork", "fork_and_watch", "_fork", "fork_exec") for _, _, fn in frames[-3:])


def innermost(frames: List[Frame], skip: "re.Pattern[str]" = NOT_THE_PROGRAM) -> Optional[Frame]:
    """The innermost frame that is not in a file `skip` matches, else the innermost one."""
    for frame in reversed(frames):
        if not skip.search(frame[0]):
            return frame
    return frames[-1] if frames else None
