"""Patch configurations: what the harness does at a case's patch point instead of its `monkey.patch_all()`.

The seed post's three fixes are `selective`, `thread_false` and `lazy`; `flags:k=v,...` changes the given
patch_all keyword flags of the program's own call (its other flags stay as it wrote them); `as-written`
leaves the program's call alone. The injected sitecustomize applies them; this module only names and
parses them, and says which of them need a patch point to mean anything.
"""

from typing import Any, Dict

from . import text

Config = Dict[str, Any]  # what the injected code applies: {"kind", "name", "flags"?, "relative"?} (JSON)

NAMED: Dict[str, Config] = {
    "as-written": {"kind": "as_written"},
    "none": {"kind": "none"},
    "patch_all": {"kind": "patch_all", "flags": {}},
    "selective": {"kind": "selective"},
    "thread_false": {"kind": "patch_all", "flags": {"thread": False}},
    "thread_queue_false": {"kind": "patch_all", "flags": {"thread": False, "queue": False}},
    "lazy": {"kind": "lazy"},
}

DESCRIPTIONS = {
    "as-written": "the program's own patch_all(...) call, untouched (and every other call it makes)",
    "none": "no monkey patching at all",
    "patch_all": "monkey.patch_all(), as the seed program does",
    "selective": "only patch_socket() and patch_time() (the post's first fix)",
    "thread_false": "patch_all(thread=False) (the post's second fix)",
    "thread_queue_false": "patch_all(thread=False, queue=False)",
    "lazy": "no patching in the parent; patch_all() inside the worker function, after the fork (the post's third fix)",
}

STARTS = ("fork", "spawn", "forkserver", "default")


class ConfigError(ValueError):
    """A configuration name that means nothing; one line."""


def parse(name: str) -> Config:
    """Return the spec dict the injected code applies, for a named config or `flags:thread=0,queue=0`."""
    if name in NAMED:
        return dict(NAMED[name], name=name)
    if name.startswith("flags:"):
        flags: Dict[str, bool] = {}
        for item in filter(None, name[len("flags:") :].split(",")):
            key, sep, value = item.partition("=")
            on = text.truth(value)
            if not sep or not key.isidentifier() or on is None:
                raise ConfigError("bad patch flag %r in %r: write flags:name=0|1,..." % (item, name))
            flags[key] = on
        return {"kind": "patch_all", "flags": flags, "name": name, "relative": True}
    raise ConfigError("unknown configuration %r (known: %s, or flags:name=0|1,...)" % (name, ", ".join(NAMED)))


def needs_patch_point(config: Config) -> bool:
    """Whether the configuration replaces a patch_all() call: in a program that makes none it is
    `unsupported` (`none` and `as-written` mean the same thing with or without one)."""
    return config["kind"] not in ("none", "as_written")


def check_start(start: str) -> str:
    if start not in STARTS:
        raise ConfigError("unknown start method %r (known: %s)" % (start, ", ".join(STARTS)))
    return start
