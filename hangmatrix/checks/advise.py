"""`hangmatrix advise SCRIPT`: for a person with one program that hangs, an exact code change that stops it.

It runs the program as written (`as-written`) on every interpreter, gevent release and start method asked
for. If any cell hangs or fails, it tries candidate changes, least invasive first, and stops at the first
that works in every cell asked for:

1. flags turned off in the program's own patch_all() call (the flags: configurations, relative to the
   program's call): on the first failing cell, each enabled flag off alone; if none helps, the flags that
   hang on their own (minimal.py's first look) all off; each result checked on every cell, and the search
   goes on from the next failing cell with what was turned off so far;
2. the seed post's fixes: `selective` (only socket and time), `lazy` (only with a `workers` header naming
   the functions to patch in after the fork; an unedited program has none, so it is skipped, said why);
3. another start method: the program as written with multiprocessing.set_start_method(X) (its as-written
   cells on X, on every interpreter and release).

Exit status: 0 works as written, 1 fails as written and a change fixes it, 3 nothing fixes it, 2 bad input.
"""

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

from ..envs.build import ensure_env
from ..envs.errors import EnvError
from ..envs.index import gevent_releases
from ..envs.interpreters import discover, find_interpreter
from ..model import cases, configs, exits, requirements, settings
from ..run import runner
from ..store import records
from . import minimal

START_CANDIDATES = ("fork", "spawn", "forkserver")


class AdviseError(ValueError):
    """Input advise cannot run: one line, exit 2."""


class Cells:
    """The cells of one advice: the program on each (interpreter, gevent) environment and start method,
    run through one supervisor server, each configuration at most once per cell."""

    def __init__(self, case, envs_, starts, server, timeout, jobs, requires, on_record):
        self.case, self.envs, self.starts, self.server = case, envs_, list(starts), server
        self.timeout, self.jobs, self.requires, self.on_record = timeout, jobs, list(requires), on_record
        self.done = {}
        self.reruns = 0
        self.excluded = set()  # labels of cells the program cannot run in at all (unsupported, env-error)

    def where(self):
        """Every (env, start) asked for, in order, but those excluded."""
        return [(env, start) for env in self.envs for start in self.starts if _label(env, start) not in self.excluded]

    def run(self, wanted):
        """Records of [(config name, env, start)], running those not run yet, all at once."""
        todo = list({self._key(*w): w for w in wanted if self._key(*w) not in self.done}.values())
        for rec in self._execute(todo):
            self.done[rec.id] = rec
        return [self.done[self._key(*w)] for w in wanted]

    def again(self, wanted, times):
        """New runs of cells already run (a race can make a hanging program work once): their records."""
        self.reruns += len(wanted) * times
        return self._execute([w for w in wanted for _ in range(times)])

    def _execute(self, todo):
        items = [
            runner.make_item(
                self.case, configs.parse(c), s, env.interpreter, env.gevent, self.timeout, requires=self.requires
            )
            for c, env, s in todo
        ]
        return runner.execute(items, jobs=self.jobs, server=self.server, on_record=self.on_record)

    def _key(self, config, env, start):
        return records.cell_id(self.case.name, env.interpreter.short, env.gevent, config, start)


def _label(env, start):
    return "py%s gevent %s %s" % (env.interpreter.short, env.gevent, start)


def _line(env, start, rec):
    return ("  %-32s %-11s %s" % (_label(env, start), rec.verdict, rec.signature)).rstrip()


def _point_text(point, script):
    """Where the program patches, for people: line N of SCRIPT, or the library's file and line."""
    if point["in"] == "main module":
        return "line %d of %s" % (point["line"], script if script.endswith(".py") else _shown(point["file"]))
    where = _shown(point["file"].split("site-packages/")[-1])  # an installed library: its path in any environment
    return "line %d of %s (%s, imported by %s)" % (point["line"], where, point["in"], script)


def _shown(path):
    """A path as a person in the working folder would write it (relative when it is below that folder)."""
    here = os.getcwd()
    return os.path.relpath(path, here) if path.startswith(here.rstrip("/") + "/") else path


def _written_call(point, pairs):
    """The program's call as it spells it (`monkey.`, `curious_george.`), with these flags."""
    return "%spatch_all(%s)" % (_prefix(point), ", ".join("%s=%r" % (k, v) for k, v in pairs))


def _resolve(script, pythons, gevents, requires):
    """The case, its requirements (its own `requires` header and --requires) and its environments, or
    AdviseError: every input problem, an uninstallable requirement too, is found before any cell runs."""
    if isinstance(script, cases.Case):  # a command (model.cases.command)
        case = script
    elif not script.endswith(".py") or not os.path.isfile(script):
        raise AdviseError("%s is not a Python program (a .py file)" % script)
    else:
        case = cases.load(script)
    if case.problem:
        raise AdviseError(case.problem)
    try:
        requires = requirements.normalize(case.requires + list(requires))
    except requirements.RequirementError as exc:
        raise AdviseError(str(exc)) from None
    try:
        interps = [find_interpreter(p) for p in pythons] or discover()[-1:]
    except EnvError as exc:
        raise AdviseError(str(exc)) from None
    if not interps:
        raise AdviseError("no Python interpreter found")
    pairs = []
    for interp in interps:
        try:
            releases = list(gevents) or gevent_releases(interp)[-1:]
        except EnvError as exc:
            raise AdviseError(str(exc)) from None
        if not releases:
            raise AdviseError("no gevent release installs on Python %s" % interp.version)
        pairs.extend((interp, gv) for gv in releases)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(ensure_env, interp, gv, requires=requires) for interp, gv in pairs]
        built = []
        for (interp, gv), fut in zip(pairs, futures):
            try:
                built.append(fut.result())
            except EnvError as exc:
                raise AdviseError("gevent %s on Python %s: %s" % (gv, interp.version, exc)) from None
    return case, requires, built


def advise(
    script,
    pythons=(),
    gevents=(),
    starts=START_CANDIDATES,
    requires=(),
    timeout=settings.DEFAULT_TIMEOUT,
    jobs=None,
    say=print,
    on_record=None,
    confirm=1,
):
    """Run the advice, printing as it goes (say); returns the exit status. A candidate that works in every
    cell is run `confirm` more times in each before it is recommended."""
    for s in starts:
        configs.check_start(s)
    case, requires, built = _resolve(script, pythons, gevents, requires)
    if case.cmd:  # said as the command it is
        script = "`%s`" % " ".join(case.cmd)
    say(
        "advise: %s on %s; start methods %s"
        % (
            script,
            ", ".join("Python %s with gevent %s" % (e.interpreter.version, e.gevent) for e in built),
            ", ".join(starts),
        )
    )
    started = time.time()
    with runner.Supervisors() as server:
        cells = Cells(case, built, starts, server, timeout, jobs or runner.default_jobs(), requires, on_record)
        code, recommendation = _advise(cells, script, say, confirm)
    say("%d cells run (%d runs) in %.1f s" % (len(cells.done), len(cells.done) + cells.reruns, time.time() - started))
    say("recommendation: " + recommendation)
    return code


def _advise(cells, script, say, confirm):
    """(exit status, recommendation)."""
    where = cells.where()
    written = list(zip(where, cells.run([("as-written", env, s) for env, s in where])))
    point = next((r.patch_point for _, r in written if r.patch_point), None)
    if point:
        say("its patch point: %s on %s" % (_written_call(point, point["flags"]), _point_text(point, script)))
    else:
        say("its patch point: none (no cell saw it call gevent.monkey.patch_all())")
    say("as written:")
    for (env, start), rec in written:
        say(_line(env, start, rec))
    broken = [(w, r) for w, r in written if r.untested]
    if len(broken) == len(written):
        return exits.BAD_INPUT, "none: the program could not run here (%s)" % broken[0][1].signature
    if broken:
        cells.excluded = {_label(*w) for w, _ in broken}
        say("not counted from here on (the program cannot run there): %s" % ", ".join(sorted(cells.excluded)))
        written = [(w, r) for w, r in written if _label(*w) not in cells.excluded]
    if all(r.works for _, r in written):
        return exits.OK, "no change: it works as written in every cell asked for"
    failing = [w for w, r in written if not r.works]
    n = 0
    for candidate in _candidates(cells, point, failing, script):
        n += 1
        say("candidate %d: %s" % (n, candidate["what"]))
        for line in candidate.get("notes", []):
            say("  " + line)
        if candidate.get("skipped"):
            say("  skipped: %s" % candidate["skipped"])
            continue
        good = sum(r.works for _, r in candidate["results"])
        if all(any(rec is r for _, r in written) for _, rec in candidate["results"]):
            say("  its as-written cells above: works in %d of %d cells" % (good, len(candidate["results"])))
            continue
        for (env, start), rec in candidate["results"]:
            say(_line(env, start, rec))
        if good == len(candidate["results"]):
            config = candidate["results"][0][1].config
            again = cells.again([(config, env, start) for (env, start), _ in candidate["results"]], confirm)
            if all(r.works for r in again):
                say(
                    "  works in every cell asked for, and again in %d more run%s of each"
                    % (confirm, "s" if confirm > 1 else "")
                )
                return exits.FINDING, candidate["change"]
            say(
                "  works in every cell once, but %d of %d more runs did not (%s): not relied on"
                % (
                    sum(not r.works for r in again),
                    len(again),
                    "; ".join(sorted({"%s %s" % (r.verdict, r.signature) for r in again if not r.works})),
                )
            )
            continue
        say("  works in %d of %d cells" % (good, len(candidate["results"])))
    return exits.UNFIXED, "none of the candidate changes works"


def _candidates(cells, point, failing, script):
    """The candidate changes, least invasive first, each run when it is asked for (a generator: advise
    stops asking once one works everywhere)."""
    where = cells.where()
    if point is None:
        yield {
            "what": "patch changes",
            "skipped": "the program never called gevent.monkey.patch_all(), so there is no call to change",
        }
    else:
        yield from _flag_candidates(cells, point, failing, script)
        results = list(zip(where, cells.run([("selective", env, s) for env, s in where])))
        yield {
            "what": "selective (the post's first fix): only socket and time patched",
            "results": results,
            "change": "%spatch_socket(); %spatch_time() in place of %s on %s"
            % (_prefix(point), _prefix(point), _written_call(point, point["flags"]), _point_text(point, script)),
        }
        if cells.case.workers:
            results = list(zip(where, cells.run([("lazy", env, s) for env, s in where])))
            yield {
                "what": "lazy (the post's third fix): no patching in the parent, patch_all() in %s after the "
                "fork" % ", ".join(cells.case.workers),
                "results": results,
                "change": "remove %s on %s and call %spatch_all() first thing in %s"
                % (
                    _written_call(point, point["flags"]),
                    _point_text(point, script),
                    _prefix(point),
                    ", ".join(cells.case.workers),
                ),
            }
        else:
            yield {
                "what": "lazy (the post's third fix)",
                "skipped": "it needs to know the functions the "
                "workers run, to patch there after the fork; add `# hangmatrix: workers = FUNC, ...` to %s "
                "to try it" % script,
            }
    for start in START_CANDIDATES:
        there = [(env, start) for env in cells.envs if _label(env, start) not in cells.excluded]
        if not there:
            continue
        results = list(zip(there, cells.run([("as-written", env, s) for env, s in there])))
        yield {
            "what": "another start method, the program otherwise as written: %s" % start,
            "results": results,
            "change": "multiprocessing.set_start_method(%r) first thing under `if __name__ == "
            '"__main__":` in %s' % (start, script),
        }


def _prefix(point):
    m = re.search(r"([\w.]*?)patch_all\s*\(", point.get("source", ""))
    return m.group(1) if m else "monkey."


def _flag_candidates(cells, point, failing, script, rounds=4):
    """Flags to turn off in the program's own call. On a failing cell: every enabled flag off alone; if
    none of them makes that cell work, the flags that hang on their own (all off at once). The change
    is then run on every cell; where it still fails, the search goes on from there."""
    env0, start0 = failing[0]
    try:
        universe = minimal.flag_universe(env0)
    except minimal.MinimalError as exc:
        yield {"what": "flags turned off in its own call", "skipped": str(exc)}
        return
    own = {k: v for k, v in point.get("flags", [])}
    enabled = [f for f, default in universe if own.get(f, default) is True]
    off, probe, tried = [], (env0, start0), set()
    for _ in range(rounds):
        env, start = probe
        remaining = [f for f in enabled if f not in off]
        notes = []
        singles = cells.run(
            [(minimal.config_for(set(remaining) - {f}, remaining, "off", off), env, start) for f in remaining]
        )
        fixing = [f for f, rec in zip(remaining, singles) if rec.works]
        notes.append(
            "on %s: each of its %d enabled flags turned off alone: %s"
            % (
                _label(env, start),
                len(remaining),
                "works with %s off" % ", ".join(fixing) if fixing else "none of them is enough",
            )
        )
        if fixing:
            choices = [off + [f] for f in fixing]
        else:
            alone = cells.run([(minimal.config_for({f}, remaining, "off", off), env, start) for f in remaining])
            hangers = [f for f, rec in zip(remaining, alone) if not rec.works]
            notes.append("flags that fail on their own there: %s" % (", ".join(hangers) or "none"))
            if not hangers or len(hangers) == len(remaining):
                yield {
                    "what": "flags turned off in its own call",
                    "notes": notes,
                    "skipped": "no set of flags to turn off found on %s" % _label(env, start),
                }
                return
            choices = [off + hangers]
        best = None
        for choice in choices:
            key = tuple(sorted(choice))
            if key in tried:
                continue
            tried.add(key)
            name = "flags:" + ",".join("%s=0" % f for f in sorted(choice))
            results = list(zip(cells.where(), cells.run([(name, e, s) for e, s in cells.where()])))
            score = sum(r.works for _, r in results)
            if best is None or score > best[0]:
                best = (score, choice, results)
            if score == len(results):
                break
        if best is None:
            return
        score, choice, results = best
        pairs = [(k, False if k in choice else v) for k, v in point.get("flags", [])] + [
            (f, False) for f in choice if f not in own
        ]
        yield {
            "what": "flags turned off in its own call: %s (configuration flags:%s)"
            % (", ".join(choice), ",".join("%s=0" % f for f in sorted(choice))),
            "notes": notes,
            "results": results,
            "change": "%s in place of %s on %s"
            % (_written_call(point, pairs), _written_call(point, point["flags"]), _point_text(point, script)),
        }
        if score == len(results):
            return
        off = list(choice)
        probe = next(w for w, r in results if not r.works)
