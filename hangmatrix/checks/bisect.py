"""`hangmatrix bisect`: the first gevent release whose verdict differs from a known-good release's.

For one case, configuration, start method and interpreter, binary search over the gevent releases that
install on that interpreter (gevent_releases, oldest first), between --good and --bad (either may be
the older one). Only the environments of the releases it tries are built. With n releases from good to
bad inclusive it tries at most ceil(log2 n) + 1 of them: the good one (its verdict is the reference), then
a search whose split point leans towards bad, so that bad itself is run only when the search ends there.
A release whose environment cannot be built (env-error) is skipped, like `git bisect skip`.

Stable interface:

    bisect(case, config, start, python, good, bad, timeout=settings.DEFAULT_TIMEOUT, say=print, records_path=None,
           releases=None) -> dict
        {"first_changed": release or None, "last_same": release, "reference": verdict of good,
         "tried": [Tried], "releases": [candidates],
         "skipped": [releases], "message": str}
        releases: the candidate list to search (default: gevent_releases of the interpreter).
    max_tries(n) -> int   ceil(log2 n) + 1
"""

import math
from dataclasses import dataclass

from ..envs.build import ensure_env
from ..envs.errors import EnvError
from ..envs.index import gevent_releases
from ..envs.interpreters import find_interpreter
from ..model import cases, configs, settings
from ..model.record import Record, cell_id
from ..model.results import outcome
from ..run import runner
from ..store import records as records_mod


class BisectError(ValueError):
    """A bisect that cannot start; one line."""


@dataclass(frozen=True)
class Tried:
    """One release tried: its record (an env-error one when its environment could not be built)."""

    gevent: str
    record: Record

    @property
    def verdict(self):
        return self.record.verdict


def max_tries(n):
    return math.ceil(math.log2(n)) + 1 if n > 1 else 1


def _run(case, config, start, interp, release, timeout):
    try:
        env = ensure_env(interp, release, requires=case.requires)
    except EnvError as exc:
        return Record(
            id=cell_id(case.name, interp.short, release, config["name"], start),
            case=case.name,
            config=config["name"],
            start=start,
            python=interp.version,
            gevent=release,
            verdict="env-error",
            signature=str(exc),
        )
    spec = runner.make_spec(case, config, start, env, timeout)
    return runner.run_cell(spec)


def bisect(
    case,
    config,
    start,
    python,
    good,
    bad,
    timeout=settings.DEFAULT_TIMEOUT,
    say=print,
    records_path=None,
    releases=None,
    run=None,
):
    chosen = [case] if isinstance(case, cases.Case) else cases.select([case])  # a name, or a command case
    if len(chosen) != 1:
        raise BisectError("--case must name one case, not %d" % len(chosen))
    case_obj = chosen[0]
    config_spec = configs.parse(config)
    configs.check_start(start)
    try:
        interp = find_interpreter(python)
        candidates = list(releases) if releases is not None else gevent_releases(interp)
    except EnvError as exc:
        raise BisectError(str(exc)) from None
    for name, release in (("good", good), ("bad", bad)):
        if release not in candidates:
            raise BisectError(
                "--%s %s is not a gevent release installable on Python %s (%s … %s)"
                % (
                    name,
                    release,
                    interp.version,
                    candidates[0] if candidates else "-",
                    candidates[-1] if candidates else "-",
                )
            )
    i, j = candidates.index(good), candidates.index(bad)
    if i == j:
        raise BisectError("--good and --bad are the same release")
    line = candidates[i : j + 1] if i < j else list(reversed(candidates[j : i + 1]))  # good first, bad last
    run = run or (lambda release: _run(case_obj, config_spec, start, interp, release, timeout))
    say(
        "bisecting %s / %s / %s on Python %s over %d gevent releases %s … %s (at most %d runs)"
        % (case, config, start, interp.version, len(line), line[0], line[-1], max_tries(len(line)))
    )
    tried, results, skipped = [], {}, []

    def probe(release):
        rec = run(release)
        if records_path and rec.verdict != "env-error":  # a release without an environment ran nothing
            records_mod.append(records_path, rec)
        results[release] = rec
        tried.append(Tried(release, rec))
        say("  gevent %-12s %s  %s" % (release, outcome(rec), rec.signature))
        return rec.verdict

    reference = probe(line[0])
    if reference == "env-error":
        raise BisectError("the good release %s has no environment: %s" % (line[0], results[line[0]].signature))
    lo, hi = 0, len(line) - 1  # line[lo] gives the reference verdict; the change is in (lo, hi]
    while True:
        while hi - lo > 1:
            mid = lo + (hi - lo + 1) // 2  # towards bad: when every probe matches, bad is reached with fewer runs
            v = probe(line[mid])
            if v == "env-error":
                skipped.append(line.pop(mid))
                hi -= 1
                continue
            if v == reference:
                lo = mid
            else:
                hi = mid
        if hi == lo or line[hi] in results:
            break
        if probe(line[hi]) != "env-error":
            break
        skipped.append(line.pop(hi))  # bad itself has no environment: its predecessor is the new bad
        hi -= 1
    first = line[hi]
    result = {"releases": line, "reference": reference, "tried": tried, "skipped": skipped, "last_same": line[lo]}
    if hi == lo or results[first].verdict == reference:
        result["first_changed"] = None
        result["message"] = (
            "no change: no release after %s could be built" % line[0]
            if hi == lo
            else "no change: %s and %s are both %s" % (line[0], first, reference)
        )
        return result
    result["first_changed"] = first
    result["message"] = "first changed: %s" % first
    return result


def report(result, show_diagnoses=True):
    """The answer with both diagnoses: the last release like good, and the first that differs."""
    from ..report import show

    lines = []
    by = {t.gevent: t for t in result["tried"]}
    if result.get("skipped"):
        lines.append("skipped (no environment): %s" % ", ".join(result["skipped"]))
    if result["first_changed"] is None:
        lines.append(result["message"])
        return "\n".join(lines)
    same, first = by.get(result["last_same"]), by[result["first_changed"]]
    lines.append(
        "last like good: gevent %s (%s)   first changed: gevent %s (%s)"
        % (
            result["last_same"],
            same.verdict if same else result["reference"],
            result["first_changed"],
            first.verdict,
        )
    )
    if show_diagnoses:
        for title, t in (("last like good", same), ("first changed", first)):
            if t is None:
                continue
            lines.append("")
            lines.append("--- %s: gevent %s ---" % (title, t.gevent))
            lines.append(show.render(t.record))
    lines.append("")
    lines.append(result["message"])
    return "\n".join(lines)
