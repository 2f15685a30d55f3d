"""The plugin's settings: its pytest options (the selection options of `hangmatrix run`, as --hangmatrix-*,
each also an ini key hangmatrix_*), resolved once per pytest process into one frozen Settings, which
every other part reads (as pytest-timeout does). Which matrix file, which expectations and where records
go are decided here and nowhere else in the plugin."""

import os
from dataclasses import dataclass
from typing import Optional

import pytest

from ..model import matrix as matrix_mod
from ..model.settings import DEFAULT_RECORDS, DEFAULT_TIMEOUT
from ..model.text import listed as _list

# The expectation when the project has no expectations.toml: a cell passes unless it hangs or fails
# (an `unsupported` cell passes the check and is then reported as skipped, never as passed).
DEFAULT_EXPECTATION = (
    'expect = [ { verdict = ["works", "unsupported"], note = "no expectations.toml: a cell must not hang or fail" } ]'
)

# (option, metavar, help); the ini key is hangmatrix_<option with _>. Lists are comma-separated and repeatable.
LISTS = (
    ("case", "NAME", "cases: names, globs or paths (default: the matrix's)"),
    ("config", "CONFIG", "patch configurations (default: the matrix's)"),
    ("start", "METHOD", "start methods: fork, spawn, forkserver, default"),
    ("python", "VERSION", "interpreter versions (3.11) or paths"),
    ("gevent", "RELEASE", "gevent releases"),
    ("requires", "REQ", "requirements the programs need, e.g. 'grequests, requests<3'"),
    ("writable", "DIR", "folders every cell may write besides its own (a sealed cell writes nowhere else)"),
)
VALUES = (
    ("matrix", "NAME", "the matrix to collect (default: default)"),
    (
        "file",
        "FILE",
        "the matrix file (default: ./matrix.toml, else [tool.hangmatrix] in ./pyproject.toml, "
        "else the built-in matrices)",
    ),
    (
        "expectations",
        "FILE",
        "the expectations baseline (default: ./expectations.toml, else: no cell may hang or fail)",
    ),
    ("records", "FILE", "JSONL file every cell's record is appended to (default: the CLI's)"),
    ("timeout", "SECONDS", "backstop per cell (default %g)" % DEFAULT_TIMEOUT),
    ("detect", "on|off", "prove verdicts from observation (on) or wait out the timeout (off)"),
    ("memory", "SIZE", "memory cap per cell, like 2G (default: the machine's memory / jobs)"),
    ("jobs", "N", "cells at once in this pytest process (default: as `hangmatrix run`)"),
    ("repeat", "N", "runs per cell, one test item each; a summary gives each cell's flake rate"),
)


class SettingsError(Exception):
    """One line: which option is wrong and why."""


@dataclass(frozen=True)
class Settings:
    active: bool
    matrix: str = matrix_mod.DEFAULT_NAME
    matrix_file: Optional[str] = None  # None: looked up as `hangmatrix run --matrix` does (./matrix.toml, built-in)
    source: str = ""  # the file the collected matrix comes from: the cells' node ids hang on it
    cases: tuple = ()
    configs: tuple = ()
    starts: tuple = ()
    pythons: tuple = ()
    gevents: tuple = ()
    requires: tuple = ()
    requires_newest: bool = False
    timeout: float = DEFAULT_TIMEOUT
    detect: bool = True
    memory: Optional[int] = None
    writable: tuple = ()  # HANGMATRIX_WRITABLE's and the option's folders, checked (model.settings.writable)
    jobs: int = 0
    repeat: int = 1
    records: str = ""  # absolute
    expectations: Optional[str] = None  # absolute; None: DEFAULT_EXPECTATION


def add_options(parser):
    group = parser.getgroup("hangmatrix", "hangmatrix: the project's matrix cells as test items")
    group.addoption(
        "--hangmatrix",
        action="store_true",
        default=False,
        help="collect the cells of the project's matrix (nothing happens without this flag)",
    )
    parser.addini("hangmatrix", "collect the matrix cells as with --hangmatrix", type="bool", default=False)
    for name, metavar, text in LISTS:
        group.addoption("--hangmatrix-" + name, action="append", metavar=metavar, help=text)
        parser.addini("hangmatrix_" + name, text, type="args", default=[])
    for name, metavar, text in VALUES:
        group.addoption("--hangmatrix-" + name, metavar=metavar, help=text)
        parser.addini("hangmatrix_" + name, text, default=None)
    group.addoption(
        "--hangmatrix-requires-newest",
        action="store_true",
        default=False,
        help="resolve requirements to their newest releases, not as of the gevent release's date",
    )


def _value(config, name):
    given = config.getoption("hangmatrix_" + name.replace("-", "_"))
    return given if given is not None else config.getini("hangmatrix_" + name.replace("-", "_"))


def _number(config, name, kind, low):
    raw = _value(config, name)
    if raw in (None, ""):
        return None
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value < low:
        raise SettingsError("--hangmatrix-%s: %r is not a number >= %s" % (name, raw, low))
    return value


def matrix_source(explicit, name):
    """(matrix_file to plan with, the file the matrix comes from). A file named on the command line is the
    only one; else ./matrix.toml (looked up as the CLI does: it first, then the built-in one); else a
    pyproject.toml with [tool.hangmatrix]; else the built-in matrices."""
    import tomllib

    if explicit:
        return os.path.abspath(explicit), matrix_mod.load_matrix(os.path.abspath(explicit), name).path
    if not os.path.exists("matrix.toml") and os.path.exists("pyproject.toml"):
        try:
            with open("pyproject.toml", "rb") as f:
                has = "hangmatrix" in tomllib.load(f).get("tool", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError("pyproject.toml: %s" % exc) from None
        if has:
            path = os.path.abspath("pyproject.toml")
            return path, matrix_mod.load_matrix(path, name).path
    return None, os.path.abspath(matrix_mod.load_matrix(None, name).path)


def resolve(config):
    """The Settings of this pytest process, from its options, then its ini keys, then the defaults.
    Raises SettingsError (or the model's one-line errors) on bad input."""
    from ..checks import baseline
    from ..model import packaged, requirements
    from ..model import settings as model_settings
    from ..run import plan

    active = bool(config.getoption("hangmatrix") or config.getini("hangmatrix"))
    axes = {  # --hangmatrix-case ... --hangmatrix-gevent: the fields cases ... gevents
        name + "s": tuple(_list(_value(config, name) or []))
        for name, _, _ in LISTS
        if name not in ("requires", "writable")
    }
    name = _value(config, "matrix") or matrix_mod.DEFAULT_NAME
    matrix_file, source = matrix_source(_value(config, "file"), name) if active else (None, "")
    expectations = _value(config, "expectations")
    if not expectations:
        found = baseline.default_path()  # the project's own file, if it has one
        expectations = None if found == packaged.baseline_path() else found
    jobs = _number(config, "jobs", int, 1)
    return Settings(
        active=active,
        matrix=name,
        matrix_file=matrix_file,
        source=source,
        **axes,
        requires=tuple(r for v in _value(config, "requires") or [] for r in requirements.split(v)),
        requires_newest=bool(config.getoption("hangmatrix_requires_newest")),
        timeout=_number(config, "timeout", float, 0.1) or DEFAULT_TIMEOUT,
        detect=model_settings.detect(_value(config, "detect") or "on", "--hangmatrix-detect"),
        memory=model_settings.memory(_value(config, "memory"), "--hangmatrix-memory"),
        writable=tuple(model_settings.writable(_list(_value(config, "writable") or []), "--hangmatrix-writable")),
        jobs=jobs or plan.default_jobs(),
        repeat=_number(config, "repeat", int, 1) or 1,
        records=os.path.abspath(_value(config, "records") or DEFAULT_RECORDS),
        expectations=os.path.abspath(expectations) if expectations else None,
    )


def load_expectations(settings):
    """The Baseline the cells are checked against."""
    from ..checks import baseline

    if settings.expectations:
        return baseline.load(settings.expectations)
    return baseline.parse(DEFAULT_EXPECTATION, "the default expectation (no expectations.toml)")


def usage_error(exc):
    return pytest.UsageError("hangmatrix: %s" % exc)
