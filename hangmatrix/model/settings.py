"""Every HANGMATRIX_* environment variable the harness reads, and the defaults several commands share.

Each variable is read and checked here and nowhere else, so a bad value is one line that names the variable
it came from, and the same value means the same thing in every command. They are read when asked (not at
import), so a test or a wrapper may set them late. docs/reference.md lists them with their meanings.
Not here: HANGMATRIX_CELL and HANGMATRIX_CHILD, the cell-side contract the supervisor writes and
inject/sitecustomize.py reads inside the cell (an interpreter that cannot import this package).
"""

import os
import re
from typing import Callable, Iterable, List, Optional, Set, Tuple, Union

from . import text

# Where `run` appends records: a gzip store (one gzip member per record, so `zcat` reads it and each append
# stays one write); the default matrix's records take about 2.5 MB so, 12.7 MB as plain JSONL.
DEFAULT_RECORDS = os.path.join("results", "records.jsonl.gz")
DEFAULT_TIMEOUT = 30.0  # seconds: the backstop per cell of run, bisect, advise and upgrade-check
MINIMAL_TIMEOUT = 20.0  # seconds: minimal's backstop per cell (many short runs; a hang is proven long before)
# what HANGMATRIX_CONTAIN_OFF may switch off (run/contain.py)
CONTAIN_MECHANISMS = ("pidns", "cgroup", "userns", "fs", "overlay")


class SettingError(ValueError):
    """A setting with a value that cannot be used; one line naming where the value came from."""


def _bad(name: str, value: str, wanted: str) -> SettingError:
    return SettingError("%s=%r (environment variable): %s" % (name, value, wanted))


# ---------------------------------------------------------------- options: one validator per value
# Each takes the value and the option it came from (`--memory`, `--hangmatrix-memory`, an ini key), and says
# that option in its one-line error, as pytest-timeout validates its settings.


def detect(value: str, option: str = "--detect") -> bool:
    """on|off -> whether verdicts are proven from observation (off: wait out the timeout)."""
    if value not in ("on", "off"):
        raise SettingError("%s: %r is not on or off" % (option, value))
    return value == "on"


def memory(value: Union[str, int, None], option: str = "--memory") -> Optional[int]:
    """A cell's memory cap: '2G', '512M', '2GiB', '1.5g' or bytes -> bytes; None when not given."""
    if value is None or value == "":
        return None
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", str(value), re.I)
    if not m or float(m.group(1)) <= 0:
        raise SettingError("%s wants a size like 2G, 512M or 2GiB, not %r" % (option, value))
    return int(float(m.group(1)) * 1024 ** "bkmgt".index((m.group(2) or "b").lower()))


def _get(name: str) -> str:
    return os.environ.get(name, "").strip()


def cache_dir() -> str:
    """HANGMATRIX_CACHE: where cell environments, the package index's metadata and the Debian root are kept
    (default ~/.cache/hangmatrix), shared between runs and users of the machine."""
    value = _get("HANGMATRIX_CACHE")
    return os.path.abspath(value) if value else os.path.join(os.path.expanduser("~"), ".cache", "hangmatrix")


def debian_root(asked: bool = False) -> Optional[bool]:
    """Whether Python 3.14/3.15 come from the Debian unstable root (built with debootstrap when missing).
    True: asked for (a command's --debian-root, a matrix's `debian_root = true`) or HANGMATRIX_DEBIAN_ROOT=1;
    False: HANGMATRIX_DEBIAN_ROOT=0 (never build it; an already built root is still used for its versions);
    None: unset, so the root is built only for a command that names one of its versions (3.14, 3.15)."""
    value = _get("HANGMATRIX_DEBIAN_ROOT")
    said = text.truth(value) if value else None
    if value and said is None:
        raise _bad("HANGMATRIX_DEBIAN_ROOT", value, "use 1 (build and use the Debian root) or 0 (never build it)")
    return True if asked else said


def index_json() -> Optional[str]:
    """HANGMATRIX_INDEX_JSON: the base URL of a package index's JSON API (default: pip's own index)."""
    value = _get("HANGMATRIX_INDEX_JSON")
    if value and not value.startswith(("http://", "https://", "file://")):
        raise _bad("HANGMATRIX_INDEX_JSON", value, "not a URL (like https://pypi.org/pypi)")
    return value or None


def writable(named: Iterable[str] = (), option: str = "--writable") -> List[str]:
    """The folders a sealed cell may write besides its own: where a program shares lock files, FIFOs or logs
    with the world outside it. HANGMATRIX_WRITABLE's (os.pathsep-separated, absolute), then those `named` on
    a command line (`option`, relative to the current folder); each must be an existing folder."""
    value = os.environ.get("HANGMATRIX_WRITABLE", "")
    folders = [d.strip() for d in value.split(os.pathsep) if d.strip()]
    for folder in folders:
        if not os.path.isabs(folder) or not os.path.isdir(folder):
            raise _bad("HANGMATRIX_WRITABLE", value, "%s is not an absolute path of an existing folder" % folder)
    for folder in named:
        if not os.path.isdir(folder):
            raise SettingError("%s %s: not an existing folder" % (option, folder))
    found = [os.path.realpath(folder) for folder in folders + list(named)]
    return sorted(set(found), key=found.index)


def case_dirs() -> List[str]:
    """HANGMATRIX_CASES: folders of cases (os.pathsep-separated), looked up before ./cases and the built-in."""
    return [d for d in os.environ.get("HANGMATRIX_CASES", "").split(os.pathsep) if d.strip()]


def contain_off() -> Set[str]:
    """HANGMATRIX_CONTAIN_OFF: containment mechanisms switched off (comma-separated: pidns, cgroup, userns, fs),
    to compare with them on or to test a fallback."""
    value = _get("HANGMATRIX_CONTAIN_OFF")
    off = {w.strip() for w in value.split(",") if w.strip()}
    unknown = sorted(off - set(CONTAIN_MECHANISMS))
    if unknown:
        raise _bad("HANGMATRIX_CONTAIN_OFF", value, "%s is not one of %s" % (unknown[0], ", ".join(CONTAIN_MECHANISMS)))
    return off


def owner() -> Optional[str]:
    """HANGMATRIX_OWNER: a tag passed on to every cell's environment, so a test session can tell its own
    cells' processes from other sessions' (conftest.py's leak guard)."""
    return _get("HANGMATRIX_OWNER") or None


def dump_samples() -> Optional[str]:
    """HANGMATRIX_DUMP_SAMPLES: a file every /proc sample of the watched cells is appended to (how the
    classifier's test data was recorded)."""
    return _get("HANGMATRIX_DUMP_SAMPLES") or None


def check() -> None:
    """Read every setting once, so a bad one stops a command before anything runs (the supervisor and the
    builders read them again later, where an error could not be said in one line)."""
    readers: Tuple[Callable[[], object], ...] = (
        cache_dir,
        debian_root,
        index_json,
        case_dirs,
        contain_off,
        owner,
        dump_samples,
        writable,
    )
    for read in readers:
        read()
