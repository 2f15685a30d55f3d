"""What the shard commands share (plan.py, merged.py, and run.py's --shard): `hangmatrix plan` (a selection split
into N shards, as a CI matrix), `run --shard
K/N` (one shard of a selection) and `hangmatrix merged` (the make-up and problems of a merged run).
The splitting is hangmatrix.shard.split's, the costs hangmatrix.shard.cost's, the audit hangmatrix.shard.merged's."""

import json
import uuid

from ..model import exits
from ..run import runner
from ..shard import cost, merged, split


def env_label(item):
    """A planned cell's environment as a string that is the same on every machine (no interpreter path)."""
    interp, gevent, requires, newest = runner.env_key(item)
    return "py%s-gevent%s%s%s" % (
        interp.short,
        gevent,
        "+" + ",".join(requires) if requires else "",
        " newest" if newest else "",
    )


def costs_from(paths, warn):
    """Costs from an earlier run's records (files, folders or a compat.json), or the built-in model."""
    if not paths:
        return cost.Costs()
    from ..report import selection

    return cost.Costs.from_records(selection.load(paths, warn=warn))


def shards_of(items, n, costs):
    """The planned cells split into n shards (lists of split.Cell)."""
    cells = [
        split.Cell(
            item.id,
            env_label(item),
            costs.of(item.id, cost.features(item.interpreter.short, item.gevent, item.start, item.config["name"])),
        )
        for item in items
    ]
    return split.split(cells, n)


def add_plan_arguments(parser):
    parser.add_argument("--shards", type=int, required=True, help="how many shards (1 to %d)" % split.MAX_JOBS)
    parser.add_argument(
        "--records",
        "--costs",
        dest="costs",
        action="append",
        metavar="RECORDS",
        help="an earlier run's records (file, folder or compat.json): its cells' times balance "
        "the shards (default: the built-in cost model)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='the plan as a GitHub Actions matrix: {"include": [one job per shard, its cells under "cells"]}',
    )


def add_run_arguments(parser):
    parser.add_argument("--shard", metavar="K/N", help="run only shard K of N of the selection (see `hangmatrix plan`)")
    parser.add_argument(
        "--plan",
        metavar="PLAN.json",
        help="with --shard: take shard K's cells from this `plan --json` output instead of splitting here",
    )
    parser.add_argument(
        "--costs",
        action="append",
        metavar="RECORDS",
        help="with --shard and no --plan: the records `plan --records` was given",
    )


def cmd_plan(args, items, say):
    costs = costs_from(args.costs, say)
    try:
        shards = shards_of(items, args.shards, costs)
    except split.ShardError as exc:
        say(str(exc))
        return exits.BAD_INPUT
    ci = split.as_ci_matrix(shards, costs.source)
    if args.json:
        print(json.dumps(ci, separators=(",", ":")))
        return exits.OK
    loads = [entry["expected_s"] for entry in ci["include"]]
    for entry in ci["include"]:
        print(
            "shard %-7s %5d cells %4d environments  expected %7.1f s"
            % (entry["shard"], len(entry["cells"]), entry["envs"], entry["expected_s"])
        )
    print(
        "plan %s: %d cells in %d shards; expected cost from %s; largest shard %.2f x the mean"
        % (ci["include"][0]["plan"], len(items), len(shards), costs.source, max(loads) / (sum(loads) / len(loads)))
    )
    return exits.OK


def select_shard(items, args, say):
    """(the items of shard K, the run tag every record gets); the tag only, with items unchanged, without --shard.
    Raises split.ShardError on a bad --shard or a plan file that does not fit it."""
    run_id = uuid.uuid4().hex[:12]
    if not args.shard:
        if args.plan or args.costs:
            raise split.ShardError("--plan and --costs go with --shard K/N")
        return items, merged.tag(run_id)
    k, n = split.parse(args.shard)
    if args.plan:
        entry = _plan_entry(args.plan, k, n)
        wanted = set(entry["cells"])
        chosen = [item for item in items if item.id in wanted]
        absent = len(wanted) - len({item.id for item in chosen})
        if absent:
            say(
                "shard %d/%d: %d of its %d planned cells are not in this selection here (an interpreter or "
                "release missing?); `hangmatrix merged --plan` will name them" % (k, n, absent, len(wanted))
            )
        plan = entry["plan"]
    else:
        shards = shards_of(items, n, costs_from(args.costs, say))
        wanted = {c.id for c in shards[k - 1]}
        chosen = [item for item in items if item.id in wanted]
        plan = split.digest(shards)
    say("shard %d/%d of plan %s: %d of %d cells" % (k, n, plan, len(chosen), len(items)))
    return chosen, merged.tag(run_id, k, n, plan)


def _plan_entry(path, k, n):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        entries = data["include"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise split.ShardError("%s is not a `hangmatrix plan --json` output (%s)" % (path, exc)) from None
    if len(entries) != n:
        raise split.ShardError("%s has %d shards, not %d" % (path, len(entries), n))
    return entries[k - 1]


def warn_merged(recs, say):
    """A merged run's problems, one line each, wherever records are read as one run (table, diff)."""
    for line in merged.problems(recs):
        say("merged records: " + line + " (hangmatrix merged says more)")


def add_merged_arguments(parser):
    parser.add_argument("records", nargs="+", help="records: JSONL files, folders (every *.jsonl), compat.json")
    parser.add_argument("--plan", metavar="PLAN.json", help="`plan --json` output: check every planned cell too")
    parser.add_argument("--json", action="store_true", help="the audit as JSON")


def cmd_merged(args, say):
    """Which machine ran which cells; exit 1 when a shard is missing or run twice, or a cell recorded twice."""
    from ..report import selection

    recs = selection.load(args.records, warn=say)
    plan = None
    if args.plan:
        try:
            with open(args.plan, encoding="utf-8") as f:
                plan = json.load(f)
        except (OSError, ValueError) as exc:
            say("cannot read the plan %s: %s" % (args.plan, exc))
            return exits.BAD_INPUT
    result = merged.audit(recs, plan)
    if args.json:
        print(json.dumps(result, default=sorted, sort_keys=True))
    else:
        print(merged.text(result))
    return exits.FINDING if result["problems"] else exits.OK
