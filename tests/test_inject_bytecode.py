"""The injected sitecustomize is loaded from bytecode the harness wrote for the cell's interpreter (cells run
with PYTHONDONTWRITEBYTECODE, so every process of every cell compiled it from source before), still does
its work, and an edited source is never shadowed by old bytecode (hash-checked on Python 3.7+)."""

import json
import os
import shutil
import subprocess

import pytest

from hangmatrix.envs.build import ensure_env
from hangmatrix.envs.interpreters import find_interpreter
from hangmatrix.model import cases, configs
from hangmatrix.run import runner

ENVS = {"2.7": "1.5.0", "3.11": "26.9.0"}


def _env(python):
    return ensure_env(find_interpreter(python), ENVS[python])


def _run(env, inject, code, events=None):
    """Run code in the env's python as a cell process would start (the injected folder on PYTHONPATH, no
    bytecode written); returns the -v trace and the output."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HANGMATRIX"))}
    environ.update(PYTHONPATH=inject, PYTHONDONTWRITEBYTECODE="1")
    if events:
        environ["HANGMATRIX_CELL"] = json.dumps(
            {"config": {"kind": "none", "name": "none"}, "start": "fork", "marked": True, "progress": [],
             "workers": [], "events": events, "stacks": events + ".stacks", "greenlets": events + ".greenlets",
             "shm_names": False}
        )  # fmt: skip
    done = subprocess.run([env.python, "-v", "-c", code], env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr, done.stdout


@pytest.fixture
def inject(tmp_path):
    folder = tmp_path / "inject"
    shutil.copytree(os.path.join(runner.PACKAGE_DIR, "inject"), str(folder), ignore=shutil.ignore_patterns("*.pyc"))
    return str(folder)


@pytest.mark.parametrize("python", sorted(ENVS))
def test_cells_load_the_injected_code_from_bytecode_and_it_still_reports(python, inject, tmp_path):
    env = _env(python)
    trace, _ = _run(env, inject, "pass")
    assert "sitecustomize" in trace and ".pyc" not in _lines_about(trace, "sitecustomize"), "compiled before?"
    env.compile_staged(os.path.join(inject, "sitecustomize.py"))
    trace, _ = _run(env, inject, "pass", events=str(tmp_path / "events"))
    assert ".pyc" in _lines_about(trace, "sitecustomize"), _lines_about(trace, "sitecustomize")
    with open(str(tmp_path / "events")) as f:
        assert [json.loads(line)["ev"] for line in f] == ["start"]
    leftovers = [n for _, _, names in os.walk(inject) for n in names if ".tmp" in n]
    assert not leftovers


def test_an_edited_source_is_not_shadowed_by_its_old_bytecode(inject):
    env = _env("3.11")
    source = os.path.join(inject, "sitecustomize.py")
    env.compile_staged(source)
    stat = os.stat(source)
    with open(source) as f:
        text = f.read()
    with open(source, "w") as f:  # same size, same mtime: only the content tells
        f.write(text.replace('MARKER = "hangmatrix: patch-point"', 'MARKER = "hangmatrix: patch-POINT"'))
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.path.getsize(source) == stat.st_size
    _, out = _run(env, inject, "import sitecustomize; print(sitecustomize.MARKER)")
    assert out.strip() == "hangmatrix: patch-POINT"


def test_make_spec_compiles_the_package_sitecustomize_for_the_cell_interpreter():
    env = _env("3.11")
    compiled = os.path.join(runner.INJECT_DIR, "__pycache__", "sitecustomize.cpython-311.pyc")
    if os.path.exists(compiled):
        os.unlink(compiled)  # from an earlier run (a cell starting meanwhile compiles the source, as before)
    case = cases.select(["seed_terminating"])[0]
    spec = runner.make_spec(case, configs.parse("none"), "fork", env)
    assert spec.inject == runner.INJECT_DIR
    assert os.path.exists(compiled)


def _lines_about(trace, module):
    return "\n".join(line for line in trace.splitlines() if module in line and "cleanup" not in line)


def test_a_failed_compile_is_not_tried_again_in_the_same_run(tmp_path):
    """A folder that cannot take bytecode stays so for the run: one failed compile, not one per cell."""
    env = _env("3.11")
    source = tmp_path / "sitecustomize.py"
    source.write_text("def broken(:\n")
    env.compile_staged(str(source))
    assert not (tmp_path / "__pycache__").exists() or not os.listdir(str(tmp_path / "__pycache__"))
    source.write_text("x = 1\n")
    env.compile_staged(str(source))  # the same run, the same module: not compiled again
    assert not (tmp_path / "__pycache__").exists() or not os.listdir(str(tmp_path / "__pycache__"))
