"""--each-test: a pytest command as one case per test it collects, so a suite gives one verdict per test,
patch configuration and release. Collection is pytest's own (`--collect-only -q`), run once per command in
its working folder with the cell environment's interpreter (uncontained, as `pytest --collect-only` at
home: it imports the test modules, and writes no cache)."""

import os
import re
import subprocess
from typing import Callable, List, Sequence

from ..envs.build import ensure_env
from ..envs.env import Env
from ..envs.errors import EnvError
from ..envs.interpreters import Interpreter
from ..model import cases, requirements
from ..model.cases import Case

COLLECT_TIMEOUT = 300.0


class EachTestError(ValueError):
    """A command whose tests cannot be collected; one line."""


def expand(
    chosen: Sequence[Case],
    interp: Interpreter,
    gevent: str,
    shared: List[str],
    newest: bool,
    argv_of: Callable[[Case, Env], Sequence[str]],
) -> List[Case]:
    """The cases, each pytest command replaced by one command per test it collects (in the environment of
    `interp` and `gevent`, with the case's requirements and `shared`); argv_of(case, env) is how the
    cell runs a case (plan.case_argv). Other cases as they are."""
    out: List[Case] = []
    for case in chosen:
        if not runs_pytest(case):
            out.append(case)
            continue
        try:
            env = ensure_env(interp, gevent, requires=requirements.normalize(case.requires + shared), newest=newest)
        except EnvError as exc:
            raise EachTestError("--each-test: no environment to collect `%s` in: %s" % (_text(case), exc)) from None
        for node in collect(case, env, argv_of):
            out.append(one_test(case, node))
    return out


def runs_pytest(case: Case) -> bool:
    return bool(case.cmd) and "pytest" in [os.path.basename(w) for w in case.cmd[:3]]


def collect(case: Case, env: Env, argv_of: Callable[[Case, Env], Sequence[str]]) -> List[str]:
    """pytest's node ids the command collects."""
    argv = list(argv_of(case, env)) + ["--collect-only", "-p", "no:cacheprovider"] + _one_id_a_line(case.cmd)
    bin_dir = os.path.dirname(env.python)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HANGMATRIX", "VIRTUAL_ENV"))}
    clean.update(
        PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", os.defpath)]), VIRTUAL_ENV=os.path.dirname(bin_dir)
    )
    try:
        done = subprocess.run(
            env.command(argv), cwd=case.cwd, env=clean, capture_output=True, text=True, timeout=COLLECT_TIMEOUT
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EachTestError("--each-test: collecting `%s` failed: %s" % (_text(case), exc)) from None
    nodes = [line.strip() for line in done.stdout.splitlines() if "::" in line and not line.startswith(" ")]
    if not nodes:
        last = (done.stdout.strip() or done.stderr.strip() or "no output").splitlines()[-1]
        raise EachTestError("--each-test: `%s` collected no test (%s)" % (_text(case), last))
    return nodes


def _one_id_a_line(words: List[str]) -> List[str]:
    """The -q or -v options that bring the command's verbosity to -1, where --collect-only prints one node
    id a line (at -2 it prints counts per file)."""
    level = sum(w.count("v") for w in words if re.match(r"^-v+$", w)) + words.count("--verbose")
    level -= sum(w.count("q") for w in words if re.match(r"^-q+$", w)) + words.count("--quiet")
    return ["-q"] * (level + 1) if level >= 0 else ["-v"] * (-1 - level)


def one_test(case: Case, node: str) -> Case:
    """The command running only `node`: its words without the paths it names (they would run theirs
    again), the node id after them; named from that command (`pytest-test_pool-test_map`), or after the
    case's given name (`NAME-test_pool-test_map`)."""
    words = [w for w in case.cmd if w.startswith("-") or not os.path.exists(os.path.join(case.cwd, w.split("::")[0]))]
    given = case.name != cases.command_name(case.cmd)  # a --name: kept as the prefix
    named = "%s-%s" % (case.name, cases.command_name(["pytest", node])[len("pytest-") :]) if given else ""
    test = cases.command(words + [node], named)
    for key in ("cwd", "env", "project", "requires", "stdin"):
        setattr(test, key, getattr(case, key))
    return test


def _text(case: Case) -> str:
    return " ".join(case.cmd)
