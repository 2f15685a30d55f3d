"""The minimal patch set: which of patch_all()'s flags it takes for the seed program to hang.

For one interpreter, gevent release, case and start method: every flag patch_all() enables by default is
a candidate (or the `universe` given). Each subset S is run as the configuration `flags:f=1,g=0,...` (the
flags of S on, the other candidates off; flags outside the universe stay as the case's own patch_all()
call sets them (patch_all's defaults where it sets none), or are all off with rest="off"). Hypothesis searches the
subsets for one that hangs and shrinks it; the result is then
checked to be 1-minimal (removing any single flag of it stops the hang), shrinking further by hand if
Hypothesis stopped early. First, in parallel, the full set, each flag removed alone from it (which answers
"which single flag's removal makes the program run") and each flag on alone. Every subset is run once
(results are cached; Hypothesis re-uses them).

Stable interface:

    flag_universe(env) -> [(flag, default)]   patch_all's boolean keyword flags in that env's gevent
    config_for(subset, universe, rest="default") -> "flags:..." configuration name
    search(case, start, python, gevent, universe=None, rest="default", timeout=settings.MINIMAL_TIMEOUT,
           max_examples=25,
           jobs=None, say=print, run=None) -> dict
        {"universe": [flags], "rest": rest, "full": verdict, "single_removals": {flag: verdict},
         "runs_after_single_removal": [flags whose removal alone makes it run],
         "hangs_alone": [flags that hang when they are the only candidate on],
         "minimal": [flags] or None, "minimal_verdict": verdict, "minimal_signature": str,
         "also_minimal": [[flags]] (other hanging sets of that size seen), "globally_smallest": bool,
         "removal_from_minimal": {flag: verdict}, "runs": cells run, "message": str}
    report(result) -> str
"""

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

from ..model import cases, configs, settings, verdicts
from ..model.results import outcome
from ..run import runner

_FLAGS_PROBE = r"""
import inspect, json
from gevent import monkey
f = monkey.patch_all
try:
    items = [(n, p.default) for n, p in inspect.signature(f).parameters.items()]
except AttributeError:
    spec = inspect.getargspec(f)
    items = list(zip(spec.args[len(spec.args) - len(spec.defaults or ()):], spec.defaults or ()))
print(json.dumps([(n, d) for n, d in items if isinstance(d, bool)]))
"""


class MinimalError(ValueError):
    """A search that cannot start; one line."""


def flag_universe(env):
    """patch_all's boolean keyword flags and their defaults, as the env's gevent declares them."""
    argv = env.command([env.python, "-c", _FLAGS_PROBE])
    out = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
    )
    if out.returncode != 0:
        raise MinimalError(
            "cannot read patch_all's flags in %s: %s"
            % (env.path, (out.stderr.strip().splitlines() or ["no output"])[-1])
        )
    return [tuple(x) for x in json.loads(out.stdout.strip().splitlines()[-1])]


def config_for(subset, universe, rest="default", defaults=None):
    """The configuration that enables exactly `subset` of `universe` (others of it off)."""
    flags = {f: (f in subset) for f in universe}
    if rest == "off":
        for f in defaults or ():
            flags.setdefault(f, False)
    return "flags:" + ",".join("%s=%d" % (f, int(v)) for f, v in sorted(flags.items()))


def search(
    case,
    start,
    python,
    gevent,
    universe=None,
    rest="default",
    timeout=settings.MINIMAL_TIMEOUT,
    max_examples=25,
    jobs=None,
    say=print,
    run=None,
):
    try:
        from hypothesis import HealthCheck, Phase, find, settings
        from hypothesis import strategies as st
        from hypothesis.errors import NoSuchExample
    except ImportError:
        raise MinimalError("the minimal patch set search needs hypothesis: pip install 'hangmatrix[test]'") from None
    from ..envs.build import ensure_env
    from ..envs.errors import EnvError
    from ..envs.interpreters import find_interpreter

    if rest not in ("default", "off"):
        raise MinimalError("rest must be default or off")
    case_obj = [case] if isinstance(case, cases.Case) else cases.select([case])  # a name, or a command case
    if len(case_obj) != 1:
        raise MinimalError("--case must name one case")
    case_obj = case_obj[0]
    configs.check_start(start)
    try:
        env = ensure_env(find_interpreter(python), gevent, requires=case_obj.requires)
    except EnvError as exc:
        raise MinimalError(str(exc)) from None
    declared = flag_universe(env)
    enabled_by_default = [f for f, d in declared if d]
    if universe:
        unknown = sorted(set(universe) - {f for f, _ in declared})
        if unknown:
            raise MinimalError(
                "gevent %s patch_all() has no flag %s (it has: %s)"
                % (env.gevent, ", ".join(unknown), ", ".join(f for f, _ in declared))
            )
        universe = [f for f in enabled_by_default + [f for f, d in declared if not d] if f in universe]
    else:
        universe = enabled_by_default
    others = [f for f, _ in declared if f not in universe]
    cache = {}

    def run_cell(config_name):
        spec = runner.make_spec(case_obj, configs.parse(config_name), start, env, timeout)
        return runner.run_cell(spec)

    run = run or run_cell

    def ran(subset, rec):
        return "  %s  on: %s" % (outcome(rec), ", ".join(sorted(subset, key=universe.index)) or "(none)")

    def verdict(subset):
        subset = frozenset(subset)
        if subset not in cache:
            rec = run(config_for(subset, universe, rest, others))
            cache[subset] = rec
            say(ran(subset, rec))
        return cache[subset].verdict

    def prefetch(subsets):
        todo = [frozenset(s) for s in subsets if frozenset(s) not in cache]
        with ThreadPoolExecutor(max_workers=jobs or runner.default_jobs()) as pool:
            for subset, rec in zip(todo, pool.map(lambda s: run(config_for(s, universe, rest, others)), todo)):
                cache[subset] = rec
                say(ran(subset, rec))

    say(
        "minimal patch set of %s / %s on Python %s, gevent %s; candidate flags: %s; other flags %s"
        % (
            case,
            start,
            env.interpreter.version,
            env.gevent,
            ", ".join(universe),
            "at patch_all's defaults" if rest == "default" else "off",
        )
    )
    full = frozenset(universe)
    say("the full set, each flag removed alone, each flag on alone:")
    prefetch([full] + [full - {f} for f in universe] + [{f} for f in universe])
    result = {
        "universe": universe,
        "rest": rest,
        "python": env.interpreter.version,
        "gevent": env.gevent,
        "case": case,
        "start": start,
        "full": cache[full].verdict,
        "single_removals": {f: cache[full - {f}].verdict for f in universe},
    }
    result["runs_after_single_removal"] = [f for f in universe if verdicts.works(result["single_removals"][f])]
    result["hangs_alone"] = [f for f in universe if cache[frozenset({f})].hangs]
    if not verdicts.is_hang(result["full"]):
        result.update(
            minimal=None,
            minimal_verdict=None,
            removal_from_minimal={},
            runs=len(cache),
            message="with every candidate flag on it does not hang (%s): nothing to shrink" % result["full"],
        )
        return result
    say("hypothesis: searching subsets that still hang, and shrinking:")
    try:
        found = find(
            st.sets(st.sampled_from(universe)),
            lambda s: verdicts.is_hang(verdict(s)),
            settings=settings(
                max_examples=max_examples,
                database=None,
                derandomize=True,
                deadline=None,
                phases=[Phase.generate, Phase.shrink],
                suppress_health_check=list(HealthCheck),
            ),
        )
    except NoSuchExample:
        found = full  # nothing smaller found at random: shrink the full set by hand below
    minimal = set(found)
    shrinking = True
    while shrinking:  # make sure no single flag can go (Hypothesis may stop early)
        shrinking = False
        for f in sorted(minimal, key=universe.index):
            if verdicts.is_hang(verdict(minimal - {f})):
                minimal.discard(f)
                shrinking = True
                break
    minimal = sorted(minimal, key=universe.index)
    peers = sorted(
        (
            sorted(sub, key=universe.index)
            for sub, rec in cache.items()
            if len(sub) == len(minimal) and sub != frozenset(minimal) and rec.hangs
        ),
        key=lambda sub: [universe.index(f) for f in sub],
    )
    result.update(
        minimal=minimal,
        also_minimal=peers,
        minimal_verdict=cache[frozenset(minimal)].verdict,
        minimal_signature=cache[frozenset(minimal)].signature,
        removal_from_minimal={f: verdict(set(minimal) - {f}) for f in minimal},
        runs=len(cache),
    )
    smallest = len(minimal) <= 1 or all(not rec.hangs for sub, rec in cache.items() if len(sub) < len(minimal))
    result["globally_smallest"] = len(minimal) <= 1  # else only: no single flag of it can go
    result["message"] = "smallest set of enabled flags that still hangs: %s%s" % (
        ", ".join(minimal) or "(none: it hangs with every candidate flag off)",
        ""
        if result["globally_smallest"]
        else " (no flag of it can be removed%s)" % ("; no smaller set tried hangs" if smallest else ""),
    )
    return result


def report(result):
    lines = ["patch_all() with every candidate flag on: %s" % result["full"]]
    rm = result["single_removals"]
    lines.append("each flag removed alone from the full set: " + ", ".join("%s=0 → %s" % (f, rm[f]) for f in rm))
    runs = result["runs_after_single_removal"]
    lines.append("single flags whose removal makes the program run: %s" % (", ".join(runs) or "none"))
    lines.append("flags that make it hang on their own: %s" % (", ".join(result["hangs_alone"]) or "none"))
    if result.get("minimal") is not None:
        lines.append(
            "minimal hanging set (%s): %s" % (result["minimal_verdict"], ", ".join(result["minimal"]) or "(empty)")
        )
        if result.get("minimal_signature"):
            lines.append("  its signature: %s" % result["minimal_signature"])
        if result.get("also_minimal"):
            lines.append(
                "other hanging sets of that size seen: %s" % "; ".join(", ".join(sub) for sub in result["also_minimal"])
            )
        lines.append(
            "removing one flag from it: " + ", ".join("%s → %s" % kv for kv in result["removal_from_minimal"].items())
        )
    lines.append("%d cells run" % result["runs"])
    lines.append(result["message"])
    return "\n".join(lines)
