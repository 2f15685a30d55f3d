"""The package list, which pyproject.toml cannot express: every package under hangmatrix/ (found, so a new
subpackage ships without an edit here) plus `hangmatrix.builtin_cases`, which is the repository's top-level
cases/ folder. Mapping it (rather than copying) keeps one copy of the cases: the wheel takes its files from
cases/, and an editable install imports the package straight from cases/. The rest is in pyproject.toml."""

from setuptools import find_packages, setup

BUILTIN_CASES = {"hangmatrix.builtin_cases": "cases"}

setup(packages=find_packages(include=["hangmatrix", "hangmatrix.*"]) + list(BUILTIN_CASES), package_dir=BUILTIN_CASES)
