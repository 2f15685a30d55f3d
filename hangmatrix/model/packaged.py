"""Where the built-in cases, matrices and baseline are: package data, found through the installed package,
so a wheel in any virtual environment and an editable checkout find the same files, and nothing depends on
the working folder or on the checkout's layout.

- cases: the package `hangmatrix.builtin_cases` (setup.py maps the repository's top-level cases/ to it);
- public-record cases: hangmatrix/data/public_cases/ (reporters' programs; their own matrix, `public`);
- matrices and baselines: hangmatrix/data/matrix.toml, hangmatrix/data/expectations.toml and
  hangmatrix/data/public_expectations.toml.

A user's files in the working folder win over these; that choice lives in hangmatrix.model.cases (cases/),
hangmatrix.model.matrix (matrix.toml) and hangmatrix.checks.baseline (expectations.toml)."""

import importlib.resources
import importlib.util
import os
from typing import Optional

PACKAGE = __package__.split(".")[0]  # hangmatrix: the data lives beside its top-level modules
BUILTIN = "built-in"  # how listings and run output name the packaged files as a source


def cases_dir() -> Optional[str]:
    """The folder of the built-in cases, or None when the package does not carry them (hangmatrix imported
    from a bare source tree that was never installed)."""
    spec = importlib.util.find_spec(PACKAGE + ".builtin_cases")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.realpath(list(spec.submodule_search_locations)[0])


def public_cases_dir() -> str:
    """The folder of the cases taken from the public record (docs/public-cases.md)."""
    return _data("public_cases")


def _data(name: str) -> str:
    return os.path.realpath(str(importlib.resources.files(PACKAGE).joinpath("data", name)))


def matrix_path() -> str:
    """The built-in matrix file (default, full, patterns)."""
    return _data("matrix.toml")


def baseline_path() -> str:
    """The built-in expectations baseline."""
    return _data("expectations.toml")


def public_baseline_path() -> str:
    """The expectations of the public-record cases (tests/test_public_cases.py checks and rewrites it)."""
    return _data("public_expectations.toml")


def source(path: str) -> str:
    """`built-in` for a packaged file or folder, else the path itself: what listings and `run` print."""
    real = os.path.realpath(path)
    return (
        BUILTIN
        if real in (cases_dir(), public_cases_dir(), matrix_path(), baseline_path(), public_baseline_path())
        else path
    )
