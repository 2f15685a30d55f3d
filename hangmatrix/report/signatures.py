"""Signatures compared across runs: run-specific numbers (pipe inodes, thread ids, pids, addresses) and
list orders removed, so one situation (case, configuration, verdict, normalized signature) is one group."""

import re

from ..model import order, verdicts
from ..model.text import split_top_level

_NUMS = [
    (re.compile(r"pipe:\[\d+\]"), "pipe:[…]"),
    (re.compile(r"socket:\[\d+\]"), "socket:[…]"),
    (re.compile(r"\bthread \d+"), "thread …"),
    (re.compile(r"\bpid \d+"), "pid …"),
    (re.compile(r"0x[0-9a-f]{6,}"), "0x…"),
]


def _sort_lists(text):
    """Sort comma lists (inside parentheses and after `: `) so orderings of one situation compare equal."""

    def inner(m):
        return "(" + ", ".join(sorted(split_top_level(_sort_lists(m.group(1))))) + ")"

    text = re.sub(r"\(((?:[^()]|\([^()]*\))*,(?:[^()]|\([^()]*\))*)\)", inner, text)
    return re.sub(
        r"(writers|readers): ([^;]*)",
        lambda m: "%s: %s" % (m.group(1), ", ".join(sorted(split_top_level(m.group(2))))),
        text,
    )


def normalize_signature(sig):
    """A signature with run-specific numbers (pipe inodes, thread ids) and list orders removed."""
    sig = sig or ""
    for pat, rep in _NUMS:
        sig = pat.sub(rep, sig)
    return _sort_lists(sig)


def situation(cell):
    """What one set of stacks stands for: case, configuration, verdict and normalized signature (of a table
    cell or a record: both name these)."""
    return cell.case, cell.config, cell.verdict, normalize_signature(cell.signature)


_PROBLEM_ORDER = verdicts.HANG + verdicts.FAIL + verdicts.UNTESTED


def problems(cs):
    """Non-passing cells grouped by situation: hangs, then failures, then cells that did not run but say why."""
    groups = {}
    for c in cs:
        if verdicts.works(c.verdict) or verdicts.untested(c.verdict) and not c.signature:
            continue
        groups.setdefault(situation(c), []).append(c)
    return sorted(
        groups.items(),
        key=lambda kv: (
            order.case(kv[0][0]),
            order.config(kv[0][1]),
            _PROBLEM_ORDER.index(kv[0][2]) if kv[0][2] in _PROBLEM_ORDER else 99,
            kv[0][3],
        ),
    )
