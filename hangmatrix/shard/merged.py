"""A merged run: the records of many `hangmatrix run` invocations (shards, machines) read as one.

`hangmatrix run` tags each record with the run that wrote it (`run`: its id, and for `--shard K/N` the
shard, the shard count and the plan's digest); the supervisor puts the machine's hostname in the
provenance. From those tags this says which machine ran which cells, which shards are missing or were run
twice, and which cells were recorded by two runs one of which was a shard: those are flagged, never
silently kept twice (unsharded runs appended to one file are a cell's history, as before). Records
without a tag (older ones, docs/compat.json) count as one untagged run.
"""

UNTAGGED = "untagged"


def tag(run_id, shard=None, of=None, plan=None):
    """What `hangmatrix run` puts in each record's `run`."""
    out = {"id": run_id}
    if shard:
        out.update(shard=shard, of=of, plan=plan)
    return out


def _run_of(rec):
    """The run tag of a record (tag()'s), None when it has none."""
    return rec.run if isinstance(rec.run, dict) and rec.run.get("id") else None


def _host(rec):
    return rec.provenance.get("hostname") or "an unnamed machine"


def audit(records, plan=None):
    """The merged run's make-up and its problems. plan: `hangmatrix plan --json`'s output, to check every
    planned cell against. Returns {"runs": {run id: {"host", "shard", "of", "plan", "cells"}}, "hosts":
    {host: {"cells", "shards"}}, "twice": {cell id: [run ids]}, "missing_shards": {plan: [K]},
    "duplicated_shards": {plan: {K: [run ids]}}, "missing_cells": {shard name: [ids]}, "unplanned": [ids],
    "problems": [one line each]}."""
    runs, sources = {}, {}
    for rec in records:
        run = _run_of(rec)
        rid = run.get("id") if run else UNTAGGED
        entry = runs.setdefault(
            rid,
            {
                "host": set(),
                "shard": (run or {}).get("shard"),
                "of": (run or {}).get("of"),
                "plan": (run or {}).get("plan"),
                "cells": set(),
            },
        )
        entry["host"].add(_host(rec))
        entry["cells"].add(rec.id)
        sources.setdefault(rec.id, set()).add(rid)
    for entry in runs.values():
        entry["host"] = ", ".join(sorted(entry["host"]))
    hosts = {}
    for entry in runs.values():
        h = hosts.setdefault(entry["host"], {"cells": 0, "shards": []})
        h["cells"] += len(entry["cells"])
        if entry["shard"]:
            h["shards"].append("%s/%s" % (entry["shard"], entry["of"]))
    twice = {
        cid: sorted(rids)
        for cid, rids in sources.items()  # unsharded runs appended to one file are history
        if len(rids) > 1 and any(runs[r]["shard"] for r in rids)
    }
    by_plan = {}
    for rid, entry in runs.items():
        if entry["shard"]:
            by_plan.setdefault((entry["plan"], entry["of"]), {}).setdefault(entry["shard"], []).append(rid)
    missing_shards, duplicated = {}, {}
    for (digest, of), seen in by_plan.items():
        gone = [k for k in range(1, int(of) + 1) if k not in seen]
        if gone:
            missing_shards[digest] = gone
        for k, rids in seen.items():
            if len(rids) > 1 and any(runs[a]["cells"] & runs[b]["cells"] for a in rids for b in rids if a < b):
                duplicated.setdefault(digest, {})[k] = sorted(rids)
    missing_cells, unplanned = {}, []
    if plan is not None:
        recorded = set(sources)
        planned = set()
        for entry in plan.get("include", []):
            planned.update(entry["cells"])
            gone = [c for c in entry["cells"] if c not in recorded]
            if gone:
                missing_cells[entry["shard"]] = gone
        unplanned = sorted(recorded - planned)
        wanted = {e.get("plan") for e in plan.get("include", [])}
        for digest in list(missing_shards):
            if digest not in wanted:
                del missing_shards[digest]  # another plan's: reported as unplanned cells below
    problems = []
    if len(by_plan) > 1:
        problems.append(
            "records from %d different shard plans: %s"
            % (len(by_plan), ", ".join("%s (%s shards)" % key for key in sorted(by_plan, key=str)))
        )
    for digest, ks in sorted(missing_shards.items(), key=str):
        problems.append(
            "plan %s: %d shard%s missing: %s" % (digest, len(ks), "s" * (len(ks) > 1), ", ".join(map(str, ks)))
        )
    for digest, ks in sorted(duplicated.items(), key=str):
        for k, rids in sorted(ks.items()):
            problems.append(
                "plan %s: shard %s was run %d times (runs %s on %s)"
                % (digest, k, len(rids), ", ".join(rids), ", ".join(runs[r]["host"] for r in rids))
            )
    if twice:
        first = sorted(twice)[0]
        problems.append(
            "%d cell%s recorded by more than one run, e.g. %s by %s"
            % (
                len(twice),
                "s" * (len(twice) > 1),
                first,
                " and ".join("%s on %s" % (_run_name(r, runs[r]), runs[r]["host"]) for r in twice[first]),
            )
        )
    for shard, gone in sorted(missing_cells.items()):
        problems.append(
            "shard %s: %d planned cell%s not recorded, e.g. %s" % (shard, len(gone), "s" * (len(gone) > 1), gone[0])
        )
    if unplanned:
        problems.append(
            "%d recorded cell%s not in the plan, e.g. %s" % (len(unplanned), "s" * (len(unplanned) > 1), unplanned[0])
        )
    return {
        "runs": runs,
        "hosts": hosts,
        "twice": twice,
        "missing_shards": missing_shards,
        "duplicated_shards": duplicated,
        "missing_cells": missing_cells,
        "unplanned": unplanned,
        "problems": problems,
    }


def _run_name(rid, entry):
    return "shard %s/%s (run %s)" % (entry["shard"], entry["of"], rid) if entry["shard"] else "run %s" % rid


def problems(records):
    """Only the one-line problems: what `table` and `diff` warn about."""
    return audit(records)["problems"]


def text(result):
    """The audit as a person reads it: runs by machine, then the problems (or that there are none)."""
    lines = []
    for host, h in sorted(result["hosts"].items()):
        lines.append(
            "%s: %d cells%s"
            % (
                host,
                h["cells"],
                " in shard%s %s"
                % ("s" * (len(h["shards"]) > 1), ", ".join(sorted(h["shards"], key=lambda s: int(s.split("/")[0]))))
                if h["shards"]
                else "",
            )
        )
    for rid, entry in sorted(result["runs"].items(), key=lambda kv: (int(kv[1]["shard"] or 0), kv[0])):
        lines.append("  %s on %s: %d cells" % (_run_name(rid, entry), entry["host"], len(entry["cells"])))
    lines += result["problems"] or ["no shard missing or run twice, no cell recorded twice"]
    return "\n".join(lines)
