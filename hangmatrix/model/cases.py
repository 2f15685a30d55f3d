r"""Cases: real programs in cases/ (or a user's own folder), each with a header the harness reads.

Where they come from, first wins by name: the folders in $HANGMATRIX_CASES, the current project's cases/
folder (in the working folder), then the built-in cases and the public-record ones (package data,
hangmatrix.model.packaged). A file whose name starts with `_` is not a case (cases/__init__.py makes the built-in
folder a package).

A header line is `# hangmatrix: key = value`; both are optional, so a user's program runs unedited. The
patch point is the monkey.patch_all() call on the line marked `# hangmatrix: patch-point` (for programs
with several calls) or, with no marked line, the first patch_all() call the program makes, wherever it is
(the injected sitecustomize finds it). Keys: what, success, expect (a regex stdout must match), endless
(true: never exits, verdict from
progress), progress (functions whose calls and loop ticks prove progress), workers (functions that
`lazy` patches in), python (`>=3.2` or `<3`: other interpreters are `unsupported`), requires (the program's
own dependencies, e.g. `grequests, requests<3`, installed in its cell environment; see hangmatrix.model.requirements),
stdin (text fed to the program's standard input, `\n`, `\t` and `\\` decoded, e.g. `c\nc\n` for a program
that stops at pdb; without it, stdin is empty), cmd (how the file is run when not as `python FILE`, e.g.
`python -m pytest {path}`: {path} is the file, {dir} its folder; `python` is the cell's interpreter; it
runs in the file's folder).
"""

import fnmatch
import glob
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from . import packaged, requirements, settings

HEADER = re.compile(r"^#\s*hangmatrix:\s*([\w-]+)\s*=\s*(.*?)\s*$")
MARKER = "# hangmatrix: patch-point"
ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}


class CaseError(ValueError):
    """A case that cannot be selected or read; one line."""


@dataclass
class Case:
    name: str
    path: str
    sha256: str
    what: str = ""
    success: str = ""
    expect: str = ""
    endless: bool = False
    progress: List[str] = field(default_factory=list)
    workers: List[str] = field(default_factory=list)
    python: str = ""
    requires: List[str] = field(default_factory=list)  # requirement strings, as the header gives them
    stdin: str = ""  # what the program reads on its standard input (decoded)
    marked: bool = False  # a line marked as the patch point (else: the first patch_all() call)
    problem: str = ""  # set when the file cannot be run as a case: its cells are `error` without a run
    cwd: str = ""  # the working folder it runs in (at_home: where hangmatrix runs, or its project's)
    cmd: List[str] = field(default_factory=list)  # a command case's words (path is then "")
    args: List[str] = field(default_factory=list)  # a file case's arguments
    env: Dict[str, str] = field(default_factory=dict)  # variables set in its environment
    project: str = ""  # the project folder it runs in (its dependencies go into the cell environment)

    def supports(self, version: str) -> bool:
        """Whether a full Python version like '2.7.18' satisfies the case's `python = >=X.Y` or `<X[.Y]`."""
        from . import versions  # here, not at the top: the module's imports are another change's

        if not re.match(r"^(>=|<)\s*(\d+)(?:\.(\d+))?$", self.python):
            return True
        return versions.in_range(version, self.python)  # on the bound's components: 3.11.7 >= 3.11


def load(path: str) -> Case:
    """Read one case file; problems are kept on the case (never raised) so the rest of a matrix runs."""
    name = os.path.splitext(os.path.basename(path))[0]
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return Case(name, path, "", problem="cannot read %s: %s" % (path, exc.strerror))
    case = Case(name, os.path.abspath(path), hashlib.sha256(data).hexdigest())
    text = data.decode("utf-8", "replace")
    for line in text.splitlines():
        m = HEADER.match(line)
        if not m:
            continue
        key, value = m.group(1), m.group(2)
        if key in ("progress", "workers"):
            setattr(case, key, [v.strip() for v in value.split(",") if v.strip()])
        elif key == "endless":
            case.endless = value.lower() in ("1", "true", "yes")
        elif key in ("what", "success", "expect", "python"):
            setattr(case, key, value)
        elif key == "requires":
            case.requires += requirements.split(value)
        elif key == "stdin":
            case.stdin = re.sub(r"\\(.)", lambda m: ESCAPES.get(m.group(1), m.group(0)), value)
        elif key == "cmd":  # how the file runs, e.g. under pytest: {path} is the file, {dir} its folder
            case.cmd = _header_command(value, case.path)
            case.cwd = os.path.dirname(case.path)  # in its own folder, which its command names
    case.marked = any(MARKER in line for line in text.splitlines())
    if case.expect:
        try:
            re.compile(case.expect)
        except re.error as exc:
            case.problem = "%s: bad expect regex: %s" % (path, exc)
    if not case.problem:
        try:
            requirements.normalize(case.requires)
        except requirements.RequirementError as exc:
            case.problem = "%s: bad requires: %s" % (path, exc)
    return case


def _header_command(value: str, path: str) -> List[str]:
    """A `cmd` header's words, {path} and {dir} replaced by the case file's and its folder's paths."""
    import shlex

    try:
        words = shlex.split(value)
    except ValueError:
        return [value]  # run as one word: its cell says the command cannot start
    return [w.replace("{path}", path).replace("{dir}", os.path.dirname(path)) for w in words]


def dirs() -> List[str]:
    """Case folders, first wins: $HANGMATRIX_CASES (os.pathsep-separated), ./cases, the built-in ones, then
    the public-record ones."""
    extra = settings.case_dirs()
    project = os.path.abspath("cases")
    out: List[str] = []
    seen: Set[str] = set()
    builtin = [packaged.cases_dir(), packaged.public_cases_dir()]
    for folder in extra + ([project] if os.path.isdir(project) else []) + builtin:
        if folder and os.path.realpath(folder) not in seen:
            seen.add(os.path.realpath(folder))
            out.append(folder)
    return out


def listing(folders: Optional[Sequence[str]] = None) -> List[Tuple[str, List[Case]]]:
    """[(folder, [Case])] in the order names are looked up; the same name may be in several folders."""
    out: List[Tuple[str, List[Case]]] = []
    for folder in folders or dirs():
        paths = sorted(glob.glob(os.path.join(folder, "*.py")))
        out.append((folder, [load(p) for p in paths if not os.path.basename(p).startswith("_")]))
    return out


def discover(folders: Optional[Sequence[str]] = None) -> Dict[str, Case]:
    """All cases by name; a case in an earlier folder wins over one of the same name in a later one."""
    found: Dict[str, Case] = {}
    for _, found_here in listing(folders):
        for case in found_here:
            found.setdefault(case.name, case)
    return found


def select(
    patterns: Optional[Iterable[Union[str, Mapping[str, Any]]]], folders: Optional[Sequence[str]] = None
) -> List[Case]:
    """Cases matching names, globs or file paths; an unknown name is a CaseError."""
    available = discover(folders)
    chosen: Dict[str, Case] = {}
    for pattern in patterns or ["*"]:
        if not isinstance(pattern, str):  # a matrix's case table
            case = from_table(pattern)
            chosen[case.name] = case
            continue
        if pattern.endswith(".py") and os.path.exists(pattern):
            case = load(pattern)
            chosen[case.name] = case
            continue
        hits = [n for n in available if fnmatch.fnmatch(n, pattern)]
        if not hits:
            raise CaseError("no case named %r (known: %s)" % (pattern, ", ".join(sorted(available))))
        for n in hits:
            chosen[n] = available[n]
    return [chosen[n] for n in sorted(chosen)]


def command(words: Union[str, Sequence[str]], name: str = "", **fields: Any) -> Case:
    """A command as a case: `python -m pytest tests -x`, `gunicorn app:app` (`python` at its start is the cell's
    interpreter, console scripts of the cell environment run by name). Its name is the one given, or one
    derived from the command (command_name); its sha256 is the command's."""
    import shlex

    try:
        argv = shlex.split(words) if isinstance(words, str) else list(words)
    except ValueError as exc:
        raise CaseError("the command %r cannot be read: %s" % (words, exc)) from None
    if not argv:
        return Case(name or "command", "", "", problem="an empty command")
    text = " ".join(shlex.quote(w) for w in argv)
    case = Case(name or command_name(argv), "", hashlib.sha256(text.encode()).hexdigest(), cmd=argv, **fields)
    case.what = case.what or "the command `%s`" % text
    return case


VALUE_OPTIONS = {"-p", "-k", "-o", "-W", "-X", "-n", "--rootdir", "--level"}  # python's and pytest's


def command_name(words: Sequence[str]) -> str:
    """A readable cell name for a command: its module or script and the files or tests it names, e.g.
    `pytest-test_pool` for `python -m pytest tests/test_pool.py -x`."""
    parts: List[str] = []
    for i, word in enumerate(words):
        if word.startswith("-") or (i == 0 and re.match(r"^(.*/)?python[\d.]*$", word)):
            continue
        if i and words[i - 1] in VALUE_OPTIONS:
            continue  # an option's value (`-p no:cacheprovider`, `-k slow`), not what the command runs
        path, _, test = word.partition("::")
        for part in (re.sub(r"\.py$", "", os.path.basename(path.rstrip("/"))), test):
            parts.append(re.sub(r"[^\w.]+", "_", part).strip("_"))
    name = "-".join(p for p in parts if p)[:60].strip("-_")
    return name or "command"


def at_home(case: Case, cwd: str, args: Iterable[str] = ()) -> Case:
    """The case as it runs at home: in the working folder `cwd` (absolute), with `args` after the program."""
    case.cwd = os.path.abspath(cwd)
    case.args = list(args)
    return case


TABLE_KEYS = ("name", "cmd", "path", "args", "project", "env", "stdin")


def from_table(table: Mapping[str, Any]) -> Case:
    """A case from a matrix's case table: `cmd` (a command) or `path` (a program) with `args`, and `name`,
    `project` (its working folder), `env` (variables) and `stdin`; paths as the matrix resolved them."""
    import shlex

    fields: Dict[str, Any] = {"env": dict(table.get("env") or {}), "project": table.get("project", "")}
    if fields["project"]:
        fields["cwd"] = fields["project"]
    if table.get("cmd"):
        case = command(table["cmd"], table.get("name", ""), **fields)
    else:
        case = load(table["path"])
        case.name = table.get("name") or case.name
        for key, value in fields.items():
            setattr(case, key, value)
    args = table.get("args", [])
    case.args = shlex.split(args) if isinstance(args, str) else list(args)
    if "stdin" in table:
        case.stdin = table["stdin"]
    return case
