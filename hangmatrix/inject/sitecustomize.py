# -*- coding: utf-8 -*-
"""Loaded by every Python process of a cell (PYTHONPATH points here), so spawned children get it too.

It never edits the case. It does five things, all driven by the HANGMATRIX_CELL environment variable:
- at the case's patch point (the `monkey.patch_all()` call on the line marked `# hangmatrix: patch-point`,
  or, in a case with no marked line, the first patch_all() call of the process, in the main module or in
  a library it imports) it records what the program called there and applies the cell's patch
  configuration instead (`as-written` makes the program's own call), then the cell's start method; in a
  program that never reaches a patch point the start method is applied when multiprocessing first picks
  its context;
- it reports calls and loop ticks of the case's named functions (its progress) to an events file;
- it registers faulthandler on SIGUSR1, so the harness can dump every thread's stack from outside;
- it dumps gevent's greenlets on SIGUSR2 when gevent is loaded;
- it reports the exception a process dies of (so a missing dependency is told from a program error).
Runs on Python 2.7 and 3.6+; imports only what the interpreter has already loaded, until it must.
What it reads and writes (HANGMATRIX_CELL, the events file, the stack blocks) is the contract written
down in hangmatrix/run/cellside.py.
"""
import os
import sys
import time

try:
    import builtins
except ImportError:  # Python 2
    import __builtin__ as builtins

MARKER = "hangmatrix: patch-point"
UNSUPPORTED_EXIT = 86  # hangmatrix.run.cellside.UNSUPPORTED_EXIT (this file cannot import it)

_spec = None
_orig_import = builtins.__import__
_orig_patch_all = None
_patched_pids = set()
_main_pid = None  # the cell's first Python process (not a multiprocessing child, not a subprocess)


def _main_process():
    """Whether this is the cell's first Python process (a forked child inherits the pid it compares)."""
    return os.getpid() == _main_pid
_start_applied = False
_patch_point_seen = False


def emit(ev, **fields):
    """Append one event line; open/close each time so no fd of ours lingers in the case's processes."""
    import json
    fields["ev"] = ev
    fields["pid"] = os.getpid()
    fields["t"] = time.time()
    line = (json.dumps(fields) + "\n").encode("utf-8")
    try:
        fd = os.open(_spec["events"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:
        pass


def _gevent_version():
    g = sys.modules.get("gevent")
    return getattr(g, "__version__", None)


# ---------------------------------------------------------------- patch configurations

def _flag_names(func):
    import inspect
    try:
        return list(inspect.signature(func).parameters)
    except AttributeError:  # Python 2
        return inspect.getargspec(func).args


def _program_flags(args, kwargs):
    """The program's patch_all() arguments by name (positional ones named from the signature), in the
    order it wrote them."""
    return list(zip(_flag_names(_orig_patch_all), args)) + list(kwargs.items())


def _jsonable(pairs):
    return [[k, v if isinstance(v, (bool, int, float, str, type(None))) else repr(v)] for k, v in pairs]


def _call_text(pairs):
    return "patch_all(%s)" % ", ".join("%s=%r" % kv for kv in pairs)


def _patch_with_flags(flags, where, base=()):
    """patch_all(**flags) over the program's own flags (base, from its call), but a flag this gevent does
    not name is `unsupported`, not a case error."""
    known = _flag_names(_orig_patch_all)
    unknown = sorted(k for k in flags if k not in known)
    if unknown:
        emit("unsupported", reason="gevent %s patch_all() has no flag %s" % (_gevent_version(), ", ".join(unknown)))
        sys.stderr.flush()
        os._exit(UNSUPPORTED_EXIT)
    merged = [(k, flags.get(k, v)) for k, v in base] + sorted((k, v) for k, v in flags.items()
                                                                 if k not in dict(base))
    _orig_patch_all(**dict(merged))
    if base:
        call = _call_text(merged)
    else:  # the form records before programs' own flags counted had
        call = "patch_all(%s)" % ", ".join("%s=%s" % kv for kv in sorted(flags.items()))
    emit("patched", where=where, call=call)


def _apply_config(frame, args, kwargs):
    config = _spec["config"]
    kind = config["kind"]
    from gevent import monkey
    if kind == "as_written":
        result = _orig_patch_all(*args, **kwargs)
        emit("patched", where="patch point", call=_call_text(_program_flags(args, kwargs)) + " (as written)")
    elif kind == "patch_all":
        result = _patch_with_flags(config.get("flags", {}), "patch point",
                                   _program_flags(args, kwargs) if config.get("relative") else ())
    elif kind == "selective":
        result = None
        monkey.patch_socket()
        monkey.patch_time()
        emit("patched", where="patch point", call="patch_socket(); patch_time()")
    elif kind == "lazy":
        result = None
        emit("patched", where="patch point", call="nothing (patch_all deferred to the worker functions)")
    else:
        result = None
        emit("patched", where="patch point", call="nothing")
    names = set(_spec.get("progress", []))
    if kind == "lazy":
        names |= set(_spec.get("workers", []))
    if names:
        _wrap_when_defined(_main_frame(frame), names)
    if _main_process():
        _apply_start_method()
    return result


def _main_frame(frame):
    """The main module's frame below a patch point (a library's patch point runs inside an import the
    main module makes): the case's functions are defined there."""
    f = frame
    while f is not None:
        if f.f_globals.get("__name__") in ("__main__", "__mp_main__"):
            return f
        f = f.f_back
    return frame


def _apply_start_method():
    """Set the requested start method; if the context is already set (gevent does it on 3.14+, or the
    program did), record that and install the requested context anyway, so the cell runs with the method
    it names. Once per process: later set_start_method() calls of the program are recorded, not obeyed."""
    global _start_applied
    start = _spec["start"]
    import multiprocessing
    if _start_applied:
        return
    _start_applied = True
    if _orig_set_start_method is None and hasattr(multiprocessing, "set_start_method"):
        _hook_context(sys.modules["multiprocessing.context"])  # the import hook was bypassed
    if start == "default" or not hasattr(multiprocessing, "set_start_method"):
        current = getattr(multiprocessing, "get_start_method", lambda **kw: "fork")(allow_none=True)
        emit("start_method", requested=start, current=current, via="default")
        return
    try:
        _orig_set_start_method(multiprocessing.context._default_context, start)
        via = "set_start_method"
    except RuntimeError as exc:
        emit("start_method_refused", requested=start, error="%s: %s" % (type(exc).__name__, exc),
             current=multiprocessing.get_start_method(allow_none=True))
        _orig_set_start_method(multiprocessing.context._default_context, start, force=True)
        via = "get_context(%r) forced as default context" % start
    emit("start_method", requested=start, current=multiprocessing.get_start_method(), via=via)


def _where(frame):
    """file:line of a frame, and whether it is the main module or which library."""
    module = frame.f_globals.get("__name__", "?")
    main = module in ("__main__", "__mp_main__")
    return {"file": frame.f_code.co_filename, "line": frame.f_lineno, "module": module,
            "in": "main module" if main else "library %s" % module.split(".")[0]}


def _patch_point_patch_all(*args, **kwargs):
    """Stands in for gevent.monkey.patch_all: the call on a marked line is the patch point; in a case
    without a marked line, the first call of the process (a fork child inherits its parent's)."""
    global _patch_point_seen
    import linecache
    frame = sys._getframe(1)
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    if _spec.get("marked", True):
        if MARKER not in line:
            return _orig_patch_all(*args, **kwargs)
    elif _patch_point_seen:
        return _orig_patch_all(*args, **kwargs)
    _patch_point_seen = True
    emit("patch_point", call=_call_text(_program_flags(args, kwargs)), flags=_jsonable(_program_flags(args, kwargs)),
         source=line.strip(), marked=MARKER in line, **_where(frame))
    return _apply_config(frame, args, kwargs)


# ---------------------------------------------------------------- the start method without a patch point

_orig_set_start_method = None


def _hook_context(context):
    """In the cell's first process: the start method is applied when multiprocessing first resolves its
    default context (if no patch point did it before), and a set_start_method() of the program after that
    is recorded and not obeyed, so the cell runs with the method it names (`default`: obeyed)."""
    global _orig_set_start_method
    cls = getattr(context, "DefaultContext", None)
    if "context" in _hooked or not hasattr(context, "_default_context") or not hasattr(cls, "get_context"):
        return  # hooked already, or the module is still being imported
    _hooked.add("context")
    orig_get_context, orig_get_start = cls.get_context, cls.get_start_method
    _orig_set_start_method = cls.set_start_method

    def get_context(self, method=None):
        if method is None and not _start_applied and _main_process():
            _apply_start_method()
        return orig_get_context(self, method)

    def get_start_method(self, allow_none=False):
        if not allow_none and not _start_applied and _main_process():
            _apply_start_method()
        return orig_get_start(self, allow_none)

    def set_start_method(self, method, force=False):
        if _start_applied and _main_process() and _spec["start"] != "default":
            caller = sys._getframe(1)
            emit("start_method_program", asked=method, force=force, kept=_spec["start"],
                 **_where(caller))
            return None
        return _orig_set_start_method(self, method, force)

    cls.get_context, cls.get_start_method, cls.set_start_method = get_context, get_start_method, set_start_method
    package = sys.modules.get("multiprocessing")
    default = getattr(context, "_default_context", None)
    if package is not None and default is not None:  # the package bound these at its import
        for name in ("get_context", "get_start_method", "set_start_method"):
            if hasattr(package, name):
                setattr(package, name, getattr(default, name))


# ---------------------------------------------------------------- progress of named functions

def _wrap_when_defined(frame, names):
    """Wrap the named module functions; those defined below the patch point are wrapped as soon as
    their `def` has run, by tracing the module frame's lines (the pdb set_trace technique)."""
    g = frame.f_globals
    pending = set(names)

    def wrap_ready():
        for name in list(pending):
            func = g.get(name)
            if callable(func):
                if not getattr(func, "_hangmatrix_wrapped", False):
                    g[name] = _wrapper(func, name)
                pending.discard(name)

    wrap_ready()
    if not pending:
        return
    previous = sys.gettrace()

    def on_line(fr, event, arg):
        wrap_ready()
        if not pending or event == "return":
            fr.f_trace = None
            sys.settrace(previous)
            return None
        return on_line

    def on_call(fr, event, arg):
        return None

    frame.f_trace = on_line
    sys.settrace(on_call)


def _wrapper(func, name):
    progress = name in _spec.get("progress", [])
    if progress and hasattr(func, "__code__"):
        _tick_codes[func.__code__] = name
    lazy = _spec["config"]["kind"] == "lazy" and name in _spec.get("workers", [])

    def hangmatrix_wrapper(*args, **kwargs):
        if lazy and os.getpid() not in _patched_pids:
            _patched_pids.add(os.getpid())
            from gevent import monkey
            (_orig_patch_all or monkey.patch_all)()
            emit("patched", where="worker %s" % name, call="patch_all()")
        if progress:
            emit("call", fn=name)
            _trace_ticks()
        return func(*args, **kwargs)

    for attr in ("__name__", "__qualname__", "__module__", "__doc__"):
        if hasattr(func, attr):
            setattr(hangmatrix_wrapper, attr, getattr(func, attr))
    hangmatrix_wrapper._hangmatrix_wrapped = True
    hangmatrix_wrapper.__wrapped__ = func
    return hangmatrix_wrapper


_tick_codes = {}
_interval_clock = getattr(time, "monotonic", time.time)  # a wall-clock step must not stop the ticks (2.7: no monotonic)


def _trace_ticks():
    """Report a tick each time a progress function's loop jumps back (a new iteration): at most one a
    0.2 s per frame, so a tight loop is one tick but ten greenlets each sleeping in a loop are ten."""
    if sys.gettrace() is not None:
        return
    last_line = {}
    last_emit = {}

    def on_line(fr, event, arg):
        key = id(fr)
        if event == "line":
            if fr.f_lineno <= last_line.get(key, 0):
                now = _interval_clock()
                if now - last_emit.get(key, 0.0) >= 0.2:
                    last_emit[key] = now
                    emit("tick", fn=_tick_codes[fr.f_code])
            last_line[key] = fr.f_lineno
        elif event == "return":
            last_line.pop(key, None)
            last_emit.pop(key, None)
        return on_line

    def on_call(fr, event, arg):
        return on_line if fr.f_code in _tick_codes else None

    sys.settrace(on_call)


# ---------------------------------------------------------------- roles and stacks

def _hook_bootstrap(cls):
    original = cls._bootstrap

    def _bootstrap(self, *args, **kwargs):
        emit("process", name=self.name, ppid=os.getppid())
        return original(self, *args, **kwargs)

    cls._bootstrap = _bootstrap


def _dump_greenlets(signum, frame):
    util = sys.modules.get("gevent.util")
    if util is None and "gevent" in sys.modules:
        import gevent.util as util
    try:
        if util is not None and hasattr(util, "format_run_info"):
            text = "\n".join(util.format_run_info())
        else:  # gevent before 1.3: walk the greenlets ourselves
            text = _greenlet_stacks()
    except Exception as exc:  # the dump must never raise into the case
        text = "greenlet dump failed: %r" % (exc,)
    locked = _locked_native_locks()
    if locked:
        text += "\n%s %s" % (LOCKED_LINE, ", ".join(locked))
    _write_block("greenlets", text)


LOCKED_LINE = "Locked native locks:"  # hangmatrix.observe.pystacks reads this line of the greenlets block


def _locked_native_locks():
    """`module.name` of every module-level native lock (`_thread` lock or RLock, not gevent's) that is locked
    now: a lock held by a greenlet that switched away, or copied locked at a fork, blocks its whole thread.
    Read only when the supervisor asks, after a hang is proven."""
    found = []
    native = {}  # type -> whether it is a native lock: one look per type, not per value
    try:
        for modname, module in list(sys.modules.items()):
            names = getattr(module, "__dict__", None)
            if not isinstance(names, dict):
                continue
            for name, value in list(names.items()):
                kind = type(value)
                is_lock = native.get(kind)
                if is_lock is None:
                    is_lock = native[kind] = (kind.__name__ in ("lock", "RLock")
                                              and kind.__module__ in ("_thread", "thread"))
                if is_lock and repr(value).startswith("<locked") and "%s.%s" % (modname, name) not in found:
                    found.append("%s.%s" % (modname, name))
    except Exception:  # the dump must never raise into the case
        pass
    return found[:20]


def _write_block(label, text):
    """One marked block in one O_APPEND write, so blocks of several processes never interleave."""
    block = "=== %s pid=%d ===\n%s\n=== end pid=%d ===\n" % (label, os.getpid(), text, os.getpid())
    fd = os.open(_spec[label], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, block.encode("utf-8", "replace"))
    finally:
        os.close(fd)


def _dump_threads(signum, frame):
    import traceback
    lines = []
    for ident, top in sys._current_frames().items():
        lines.append("Thread 0x%x (most recent call first):" % ident)
        lines.extend("  " + line.rstrip() for line in reversed(traceback.format_stack(top)))
    _write_block("stacks", "\n".join(lines))


def _greenlet_stacks():
    import gc
    import traceback
    greenlet = sys.modules.get("greenlet")
    if greenlet is None:
        return "(greenlet not loaded)"
    lines = []
    for ob in gc.get_objects():
        if isinstance(ob, greenlet.greenlet) and getattr(ob, "gr_frame", None) is not None:
            lines.append(repr(ob))
            lines.extend("  " + line.rstrip() for line in traceback.format_stack(ob.gr_frame))
    return "\n".join(lines) or "(no suspended greenlets)"


def _install_stack_dumps():
    import signal
    try:
        import faulthandler
        _install_stack_dumps.file = open(_spec["stacks"], "a")
        faulthandler.register(signal.SIGUSR1, file=_install_stack_dumps.file, all_threads=True)
    except ImportError:  # Python 2.7: a Python-level dump, which runs once the main thread runs bytecode
        signal.signal(signal.SIGUSR1, _dump_threads)
    except (AttributeError, OSError, RuntimeError, ValueError):
        pass
    if signal.getsignal(signal.SIGUSR2) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGUSR2, _dump_greenlets)


# ---------------------------------------------------------------- the exception a process dies of

_orig_excepthook = sys.excepthook


def _report_uncaught(kind, value, tb):
    """Report the uncaught exception (its type, whether it is the interpreter's own, its message, the
    module name an ImportError carries and the source line it was raised on), then let the previous hook
    print it as usual."""
    try:
        import linecache
        name = getattr(value, "name", None)
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        frame, lineno = (tb.tb_frame, tb.tb_lineno) if tb is not None else (None, 0)
        while frame is not None and _ours(frame.f_code.co_filename):  # our import hook: its caller's line
            frame = frame.f_back
            lineno = frame.f_lineno if frame is not None else 0
        line = linecache.getline(frame.f_code.co_filename, lineno).strip() if frame is not None else ""
        emit("uncaught", type=kind.__name__, builtin=kind.__module__ in ("builtins", "exceptions"),
             message=("%s" % (value,))[:500], name=name if isinstance(name, str) else None, line=line[:300])
    except Exception:  # the report must never change how the program ends
        pass
    _orig_excepthook(kind, value, tb)


def _ours(filename):
    return os.path.splitext(os.path.abspath(filename))[0] == os.path.splitext(os.path.abspath(__file__))[0]


# ---------------------------------------------------------------- the import hook

_hooked = set()


def _watch_imports(name, *args, **kwargs):
    module = _orig_import(name, *args, **kwargs)
    global _orig_patch_all
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and "monkey" not in _hooked and hasattr(monkey, "patch_all"):
        _hooked.add("monkey")
        _orig_patch_all = monkey.patch_all
        monkey.patch_all = _patch_point_patch_all
    process = sys.modules.get("multiprocessing.process")
    cls = getattr(process, "BaseProcess", None) or getattr(process, "Process", None)
    if cls is not None and "process" not in _hooked and hasattr(cls, "_bootstrap"):
        _hooked.add("process")
        _hook_bootstrap(cls)
    context = sys.modules.get("multiprocessing.context")
    if context is not None and "context" not in _hooked and "multiprocessing" in sys.modules:
        _hook_context(context)
    if len(_hooked) == (3 if sys.version_info[0] >= 3 else 2) and builtins.__import__ is _watch_imports:
        builtins.__import__ = _orig_import
    return module


def _install():
    global _spec, _main_pid
    raw = os.environ.get("HANGMATRIX_CELL")
    if not raw:
        return
    import json
    _spec = json.loads(raw)
    _main_pid = os.getpid() if "HANGMATRIX_CHILD" not in os.environ else None
    os.environ["HANGMATRIX_CHILD"] = "1"  # inherited by every process the program starts
    _install_stack_dumps()
    sys.excepthook = _report_uncaught
    emit("start", ppid=os.getppid())
    builtins.__import__ = _watch_imports


_install()


# ---------------------------------------------------------------- modules hooked as they load

class _OnImport(object):
    """Calls after(module) once a named module has been executed (a finder on sys.meta_path that wraps the
    loader the other finders return), so what the cell reports is hooked without importing anything."""

    def __init__(self, hooks):
        self.hooks = hooks

    def find_spec(self, name, path=None, target=None):
        if name not in self.hooks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _AfterLoader(spec.loader, self.hooks[name])
                return spec
        return None


class _AfterLoader(object):
    def __init__(self, loader, after):
        self.loader, self.after = loader, after

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        try:
            self.after(module)
        except Exception:  # a hook must never break the program's import
            pass


# ---------------------------------------------------------------- names of what the cell creates in /dev/shm

def _hook_created(cls_name):
    """Without a private /dev/shm (no namespace allowed): report the name of every named semaphore and
    shared-memory segment this process creates, once created, so the supervisor unlinks exactly those
    still there after the kill; the creating class is wrapped as its module loads (_OnImport)."""
    def after(module):
        cls = getattr(module, cls_name, None)
        if cls is not None:
            cls.__init__ = _reporting_init(cls.__init__, cls_name)
    return after


def _reporting_init(init, cls_name):
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if cls_name == "SemLock":  # glibc's sem_open("/x") is /dev/shm/sem.x
            name = getattr(getattr(self, "_semlock", None), "name", None)
            if name:
                emit("shm_created", kind="semaphore", name="sem." + name.lstrip("/"))
        elif getattr(self, "_name", None) and (kwargs.get("create") or (len(args) > 1 and args[1])):
            emit("shm_created", kind="shared memory", name=self._name.lstrip("/"))
    __init__._hangmatrix_wrapped = True
    return __init__


def _report_shm_names():
    if _spec and _spec.get("shm_names") and sys.version_info >= (3, 4):
        hooks = {"multiprocessing.synchronize": _hook_created("SemLock"),
                 "multiprocessing.shared_memory": _hook_created("SharedMemory")}
        sys.meta_path.insert(0, _OnImport(hooks))


_report_shm_names()


# ---------------------------------------------------------------- the threads a fork leaves behind

_threads_at_fork = []  # in the parent, between its fork's before and after hooks


def _before_fork():
    """In a forking process with other native threads: their names (a lock one of them holds is copied
    locked into the child, where no thread can release it). One listdir of /proc when it has none."""
    del _threads_at_fork[:]
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return
    if len(tids) < 2:
        return
    others = [t for t in tids if t != _gettid()]
    threading = sys.modules.get("threading")
    named = {}
    if threading is not None:
        for t in list(getattr(threading, "_active", {}).values()):
            native = getattr(t, "native_id", None)
            if native in others:
                target = getattr(getattr(t, "_target", None), "__name__", None)
                named[native] = "%s (%s)" % (t.name, target) if target and target not in t.name else t.name
    _threads_at_fork.extend(named.get(t, "thread %d" % t) for t in others)


def _gettid():
    """The calling thread's kernel id (`/proc/thread-self` links to PID/task/TID; a patched threading's
    get_native_id may name a greenlet instead)."""
    try:
        return int(os.readlink("/proc/thread-self").rsplit("/", 1)[-1])
    except (OSError, ValueError):
        return os.getpid()


def _after_fork_in_child():
    if _threads_at_fork:
        emit("fork", ppid=os.getppid(), threads=list(_threads_at_fork))
        del _threads_at_fork[:]


def _after_fork_in_parent():
    del _threads_at_fork[:]


if _spec and hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child,
                        after_in_parent=_after_fork_in_parent)
# ---------------------------------------------------------------- the test that runs

def _reporting_test(run, runner, name_of):
    """run, reporting `test` and `test_end` events around it (name_of(args) names the test)."""
    def reporting(*args, **kwargs):
        name = name_of(args)
        emit("test", name=name, runner=runner)
        try:
            return run(*args, **kwargs)
        finally:
            emit("test_end", name=name, runner=runner)
    reporting._hangmatrix_wrapped = True
    return reporting


def _hook_pytest(module):
    if hasattr(module, "runtestprotocol"):
        module.runtestprotocol = _reporting_test(module.runtestprotocol, "pytest", lambda a: a[0].nodeid)


def _hook_unittest(module):
    case = getattr(module, "TestCase", None)
    if case is not None and hasattr(case, "run"):
        case.run = _reporting_test(case.run, "unittest", lambda a: str(a[0]))


def _report_tests():
    if _spec and sys.version_info >= (3, 4):
        sys.meta_path.insert(0, _OnImport({"_pytest.runner": _hook_pytest, "unittest.case": _hook_unittest}))


_report_tests()
