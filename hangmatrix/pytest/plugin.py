"""hangmatrix's pytest plugin (the `pytest11` entry point): `pytest --hangmatrix` collects the cells of the
project's matrix as test items, runs the selected ones concurrently and checks each against the
expectations. Without the flag it only offers the `hangmatrix_cell` fixture. See docs/pytest-plugin.md.

The hooks wire the parts together: settings (options, resolved once), items (collection), runs
(running), judge (pass or fail). Planning is hangmatrix.run.plan's, done once per process."""

import uuid
from pathlib import Path

import pytest

from . import items
from . import settings as settings_mod

STATE = pytest.StashKey["State"]()


class State:
    """What one pytest process (the controller, or one xdist worker) knows and holds."""

    def __init__(self, settings):
        from .runs import Runs

        self.settings = settings
        self.plan, self.warnings = [], []
        self.expectations = None
        self.collected = False  # the matrix file came through normal collection
        self.runs = Runs(settings.jobs, settings.records)
        self.verdicts = {}  # cell id -> verdicts of the runs reported here (the flake summary)


def state(config):
    return config.stash[STATE]


def pytest_addoption(parser):
    settings_mod.add_options(parser)


def _plan(s, warn):
    from ..run import plan

    return plan.plan(
        case_names=s.cases,
        config_names=s.configs,
        starts=s.starts,
        pythons=s.pythons,
        gevents=s.gevents,
        matrix=s.matrix,
        matrix_file=s.matrix_file,
        timeout=s.timeout,
        detect=s.detect,
        warn=warn,
        requires=s.requires,
        requires_newest=s.requires_newest,
        memory=s.memory,
        writable=s.writable,
    )


def pytest_configure(config):
    from ..checks import baseline
    from ..model import cases, configs, matrix
    from ..model import settings as model_settings
    from ..run import plan

    config.addinivalue_line("markers", "hangmatrix: a cell of the hangmatrix matrix (pytest --hangmatrix)")
    bad_input = (
        settings_mod.SettingsError,
        model_settings.SettingError,
        cases.CaseError,
        configs.ConfigError,
        plan.PlanError,
        matrix.MatrixError,
        baseline.BaselineError,
    )
    try:
        current = State(settings_mod.resolve(config))
        config.stash[STATE] = current
        if current.settings.active:
            model_settings.check()  # a bad HANGMATRIX_* variable stops the run in one line, as the CLI's does
            current.expectations = settings_mod.load_expectations(current.settings)
            current.plan = _plan(current.settings, current.warnings.append)
    except bad_input as exc:
        raise settings_mod.usage_error(exc) from None


def pytest_report_header(config):
    current = state(config)
    s = current.settings
    if not s.active:
        return None
    return [
        "hangmatrix: matrix %s from %s: %d cells x %d runs, %d at a time; expectations %s; records %s"
        % (
            s.matrix,
            s.source,
            len(current.plan),
            s.repeat,
            s.jobs,
            s.expectations or "none (no cell may hang or fail)",
            s.records,
        )
    ] + ["hangmatrix: " + w for w in current.warnings]


def _matrix_file(parent, current):
    return items.MatrixFile.from_parent(
        parent,
        path=Path(current.settings.source),
        plan=current.plan,
        repeat=current.settings.repeat,
        nodeid=items.node_id(parent.config.rootpath, current.settings.source),
    )


def pytest_collect_file(file_path, parent):
    current = state(parent.config)
    if current.settings.active and str(file_path) == current.settings.source:
        current.collected = True
        return _matrix_file(parent, current)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """The matrix's cells even when collection did not pass its file (testpaths elsewhere, or named
    tests): before -k, -m and --lf deselect (they run after this hook)."""
    current = state(config)
    if current.settings.active and not current.collected:
        current.collected = True
        items.extend(_matrix_file(session, current).collect())


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    """Every selected cell starts now, all at once (the runner limits them to --hangmatrix-jobs). An
    xdist worker does not know its items ahead: pytest_runtest_protocol starts them as they come."""
    if session.config.option.collectonly or hasattr(session.config, "workerinput"):
        return
    state(session.config).runs.start([(i.nodeid, i.planned) for i in session.items if isinstance(i, items.CellItem)])


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """Start this cell and the next, so an xdist worker has one running ahead."""
    state(item.config).runs.start([(i.nodeid, i.planned) for i in (item, nextitem) if isinstance(i, items.CellItem)])


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    if STATE in session.config.stash:
        state(session.config).runs.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_terminal_summary(terminalreporter, config):
    yield
    if STATE not in config.stash or hasattr(config, "workerinput"):
        return
    from ..model import results

    runs = []
    for outcome in ("passed", "failed", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            props = dict(getattr(report, "user_properties", ()))
            if items.PROPERTIES[0] in props:
                runs.append((props[items.PROPERTIES[0]], props[items.PROPERTIES[1]]))
    repeated = results.repeated(runs)
    if not repeated:
        return
    terminalreporter.write_sep("-", "hangmatrix: verdicts of repeated cells")
    for cell in repeated.values():
        terminalreporter.write_line(cell.line())


class CellRequestError(ValueError):
    """A hangmatrix_cell() call that names no single runnable cell; one line."""


@pytest.fixture
def hangmatrix_cell(request):
    """hangmatrix_cell(case, config="as-written", start="default", python=None, gevent=None, requires=(),
    timeout=None) runs one cell (python: this interpreter, gevent: the installed release, unless given) and
    returns its Record (hangmatrix.model.record), also stored in the records file. Works without --hangmatrix."""
    from ..model import cases, configs, requirements
    from ..run import plan

    current = state(request.config)

    def run(case, config="as-written", start="default", python=None, gevent=None, requires=(), timeout=None):
        warnings = []
        wanted = requirements.split(requires) if isinstance(requires, str) else list(requires)
        try:
            planned = plan.plan(
                case_names=[case],
                config_names=[config],
                starts=[start],
                pythons=[python] if python else (),
                gevents=[gevent] if gevent else (),
                timeout=timeout or current.settings.timeout,
                warn=warnings.append,
                requires=wanted,
            )
        except (plan.PlanError, cases.CaseError, configs.ConfigError) as exc:
            raise CellRequestError("hangmatrix_cell: %s" % "; ".join(warnings + [str(exc)])) from None
        if len(planned) != 1:
            raise CellRequestError(
                "hangmatrix_cell: %s names %d cells (%s); name python= and gevent="
                % (case, len(planned), ", ".join(p.id for p in planned))
            )
        return current.runs.record("fixture-" + uuid.uuid4().hex, planned[0])

    return run
