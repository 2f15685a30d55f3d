"""Cases: real programs in cases/ (or a user's own folder), each with a header the harness reads.

A header line is `# hangmatrix: key = value`; both are optional, so a user's program runs unedited. The
patch point is the monkey.patch_all() call on the line marked `# hangmatrix: patch-point` (for programs
with several calls) or, with no marked line, the first patch_all() call the program makes, wherever it is
(the injected sitecustomize finds it). Keys: what, success, expect (a regex stdout must match), endless (true: never exits, verdict from
progress), progress (functions whose calls and loop ticks prove progress), workers (functions that
`lazy` patches in), python (e.g. `>=3.2`: older interpreters are `unsupported`).
"""
import fnmatch
import glob
import hashlib
import os
import re
from dataclasses import dataclass, field

BUILTIN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cases")
HEADER = re.compile(r"^#\s*hangmatrix:\s*([\w-]+)\s*=\s*(.*?)\s*$")
MARKER = "# hangmatrix: patch-point"


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
    progress: list = field(default_factory=list)
    workers: list = field(default_factory=list)
    python: str = ""
    marked: bool = False  # a line marked as the patch point (else: the first patch_all() call)
    problem: str = ""  # set when the file cannot be run as a case: its cells are `error` without a run

    def supports(self, version):
        """Whether a full Python version like '2.7.18' satisfies the case's `python = >=X.Y`."""
        m = re.match(r"^>=\s*(\d+)\.(\d+)$", self.python)
        if not m:
            return True
        return tuple(int(p) for p in version.split(".")[:2]) >= (int(m.group(1)), int(m.group(2)))


def load(path):
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
    case.marked = any(MARKER in line for line in text.splitlines())
    if case.expect:
        try:
            re.compile(case.expect)
        except re.error as exc:
            case.problem = "%s: bad expect regex: %s" % (path, exc)
    return case


def dirs():
    """Case folders: the built-in cases/ plus any in $HANGMATRIX_CASES (os.pathsep-separated)."""
    extra = [d for d in os.environ.get("HANGMATRIX_CASES", "").split(os.pathsep) if d]
    return extra + [BUILTIN_DIR]


def discover(folders=None):
    """All cases by name; a user's folder listed first wins over a built-in case of the same name."""
    found = {}
    for folder in folders or dirs():
        for path in sorted(glob.glob(os.path.join(folder, "*.py"))):
            case = load(path)
            found.setdefault(case.name, case)
    return found


def select(patterns, folders=None):
    """Cases matching names, globs or file paths; an unknown name is a CaseError."""
    available = discover(folders)
    chosen = {}
    for pattern in patterns or ["*"]:
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
