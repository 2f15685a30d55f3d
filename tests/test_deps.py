"""The declared runtime dependencies are exactly what the harness imports (issue 27), checked by deptry as
.ci/run checks them: it passes on this checkout, and fails on a copy with a planted unused dependency or an
undeclared import, so the check in CI can fail."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import NOT_SOURCE, REPO

DEPTRY = os.path.join(os.path.dirname(sys.executable), "deptry")


def deptry(folder):
    """deptry's run; its findings go to stderr, uncoloured here."""
    return subprocess.run([DEPTRY, "--no-ansi", "."], cwd=folder, capture_output=True, text=True, timeout=120)


@pytest.fixture
def copy(tmp_path):
    dest = tmp_path / "checkout"
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(*NOT_SOURCE, "tests", "docs"))
    return dest


def test_the_checkout_declares_what_it_imports():
    done = deptry(REPO)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_planted_unused_dependency_fails(copy):
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text()
    assert '    "rich>=13",' in text
    pyproject.write_text(text.replace('    "rich>=13",', '    "rich>=13",\n    "gevent>=26.9.0",', 1))
    done = deptry(copy)
    assert done.returncode == 1 and "DEP002 'gevent' defined as a dependency but not used" in done.stderr, done.stderr


def test_a_planted_undeclared_import_fails(copy):
    (copy / "hangmatrix" / "model" / "planted.py").write_text("import psutil\n")
    done = deptry(copy)
    assert done.returncode == 1 and "DEP004 'psutil' imported but declared as a dev dependency" in done.stderr, (
        done.stderr
    )
