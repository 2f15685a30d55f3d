"""The package's folders are layers, and imports flow down them only (README, Layout). From the bottom:

    model  <  envs, observe, store  <  run, report  <  checks, shard  <  cli, pytest

A module may import its own folder, any folder of a lower layer and the package root (`__version__`);
never a folder of its own layer or of a higher one. So model/ imports nothing of the rest, envs/ cannot
reach the supervisor, the harness and the reports do not know each other, and the pytest plugin does not
go through the command line. inject/ and the programs in data/ run inside a cell's own interpreter
(Python 2.7 included), so they import nothing of hangmatrix at all.

Every module under hangmatrix/ is parsed with ast, and every import in it counts: at any depth (a lazy
import inside a function is an import), relative or absolute, `from .. import x` naming a folder, and
importlib.import_module / __import__ of a literal name.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "hangmatrix"
LAYERS = (("model",), ("envs", "observe", "store"), ("run", "report"), ("checks", "shard"), ("cli", "pytest"))
CELL_SIDE = ("inject", "data")  # run inside the cell: no import of hangmatrix at all
RANK = {folder: rank for rank, folders in enumerate(LAYERS) for folder in folders}


def _folders():
    return sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__")


def imported(source, package):
    """The hangmatrix modules `source` imports, as dotted names, `package` being the dotted package the
    source's relative imports start from (hangmatrix.run for hangmatrix/run/runner.py)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found += [module + "." + alias.name for alias in node.names]  # `from a import b`: a.b or a's name b
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id == "__import__")
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(node.args[0].value)
    return [name for name in found if name == "hangmatrix" or name.startswith("hangmatrix.")]


def folder_of(dotted):
    """The folder of hangmatrix a dotted name lands in, or None for the package root itself (`__version__`)."""
    parts = dotted.split(".")
    if len(parts) < 2 or not (PACKAGE / parts[1]).is_dir():
        return None
    return parts[1]


def violations():
    """(module, the folder it imports, why not) for every import that does not flow down."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent)
        here = rel.parts[1] if len(rel.parts) > 2 else None  # None: a module at the package root
        package = ".".join(rel.parts[:-1])
        for name in imported(path.read_text(encoding="utf-8"), package):
            there = folder_of(name)
            if here in CELL_SIDE:
                out.append((str(rel), name, "%s/ runs inside the cell and imports nothing of hangmatrix" % here))
            elif there is None or there == here:
                continue
            elif here is None:
                out.append((str(rel), name, "the package root imports no folder"))
            elif there in CELL_SIDE or RANK[there] >= RANK[here]:
                out.append((str(rel), name, "%s/ is not below %s/" % (there, here)))
    return out


def test_every_folder_has_its_layer():
    named = [folder for folders in LAYERS for folder in folders] + list(CELL_SIDE)
    assert len(named) == len(set(named)), "a folder in two layers"
    assert sorted(set(RANK) | set(CELL_SIDE)) == _folders(), "a new folder of hangmatrix/ needs a layer here"
    assert [p.name for p in PACKAGE.glob("*.py")] == ["__init__.py"], "a module belongs in a folder, with a layer"


def test_imports_flow_down_the_layers_only():
    assert violations() == []


@pytest.mark.parametrize(
    "source, found",
    [
        ("from ..run import runner", ["hangmatrix.run.runner"]),
        ("from .. import run", ["hangmatrix.run"]),
        ("from .. import __version__", ["hangmatrix.__version__"]),
        ("from . import verdict", ["hangmatrix.model.verdict"]),
        ("def f():\n    if True:\n        from ..cli import main", ["hangmatrix.cli.main"]),
        ("def f():\n    from ..cli.options import say", ["hangmatrix.cli.options.say"]),
        ("import hangmatrix.report.show as show", ["hangmatrix.report.show"]),
        ("from hangmatrix.store import records", ["hangmatrix.store.records"]),
        ("importlib.import_module('hangmatrix.checks.bisect')", ["hangmatrix.checks.bisect"]),
        ("__import__('hangmatrix.envs')", ["hangmatrix.envs"]),
        ("import os, gevent", []),
    ],
)
def test_every_kind_of_import_is_seen(source, found):
    assert imported(source, "hangmatrix.model") == found


def test_an_upward_import_is_caught(tmp_path, monkeypatch):
    """The check itself: a model module that imports the harness lazily, and one in inject/, are found."""
    fake = tmp_path / "hangmatrix"
    for folder in _folders():
        (fake / folder).mkdir(parents=True)
    (fake / "model" / "bad.py").write_text("def f():\n    from ..run import runner\n")
    (fake / "inject" / "bad.py").write_text("from hangmatrix.model import settings\n")
    (fake / "cli" / "fine.py").write_text("from ..checks import baseline\nfrom .. import __version__\n")
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    inject = "inject/ runs inside the cell and imports nothing of hangmatrix"
    assert violations() == [
        ("hangmatrix/inject/bad.py", "hangmatrix.model.settings", inject),
        ("hangmatrix/model/bad.py", "hangmatrix.run.runner", "run/ is not below model/"),
    ]
