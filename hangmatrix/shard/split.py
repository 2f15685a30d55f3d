"""Splitting a selection of cells into N shards: deterministic (the same cells, costs and N give the same
shards on any machine), disjoint, covering every cell, grouped by environment so a shard builds few, and
balanced by expected cost.

Two splits are made, each environment a shard builds counting ENV_BUILD_S; the one by environment is kept
unless the one in line is expected to finish sooner by more than the cost model's own error on a shard (in
line, a shard's cells are alike and their errors add up: in 64 shards of the full run, in line was
expected 7% sooner and really took 10% longer):
- by environment: each environment's cells stay together unless the environment alone costs more than a
  shard should; then it is cut into as few consecutive pieces as keep each under a shard's share. Pieces
  go, largest first, to the shard with the least expected cost so far (longest-processing-time first: the
  largest shard exceeds the mean by at most one piece). Best when a shard holds several environments.
- in line: the cells in environment order cut into N consecutive runs of equal cost (each shard within one
  cell of its share; at most N-1 environments built twice). Best when an environment is about a shard's
  share or more (the full matrix in 256 shards: expected 1.26x the mean by environment, 1.08x in line).
"""

import hashlib
import json
import math
from dataclasses import dataclass

MAX_JOBS = 256  # GitHub Actions: at most 256 jobs per matrix
ENV_BUILD_S = 1.1  # one environment built from uv's cache (benchmarks/envs_build.py: 27 in 30.6 s)
MODEL_SHARD_ERROR = 0.10  # a shard's expected seconds are off by about this much (docs/scale-out.md)


class ShardError(ValueError):
    """A shard request that cannot be met; one line."""


@dataclass(frozen=True)
class Cell:
    """A cell to place: its id (unique in a selection), its environment (a string the same on every machine)
    and its expected seconds."""

    id: str
    env: str
    cost: float


def parse(text):
    """(K, N) from "K/N", 1 <= K <= N <= MAX_JOBS."""
    try:
        k, n = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ShardError("--shard takes K/N, like 3/16 (got %r)" % text) from None
    if not 1 <= n <= MAX_JOBS:
        raise ShardError(
            "the shard count must be 1 to %d (GitHub runs at most %d jobs per matrix); got %d" % (MAX_JOBS, MAX_JOBS, n)
        )
    if not 1 <= k <= n:
        raise ShardError("shard %d/%d does not exist: K runs from 1 to %d" % (k, n, n))
    return k, n


def split(cells, n):
    """cells: [Cell] (ids unique). Returns n lists of those cells, shard 1 first, each in environment then id
    order."""
    if not 1 <= n <= MAX_JOBS:
        raise ShardError(
            "the shard count must be 1 to %d (GitHub runs at most %d jobs per matrix); got %d" % (MAX_JOBS, MAX_JOBS, n)
        )
    ids = [c.id for c in cells]
    if len(set(ids)) != len(ids):
        raise ShardError("the selection names a cell twice: %s" % sorted(i for i in set(ids) if ids.count(i) > 1)[0])
    if len(cells) < n:
        raise ShardError("the selection has %d cells: it cannot fill %d shards" % (len(cells), n))
    ordered = sorted(cells, key=lambda c: (c.env, c.id))
    whole, line = _filled(_by_environment(ordered, n), n), _filled(_cut(ordered, n), n)
    best = line if _longest(line) * (1 + MODEL_SHARD_ERROR) < _longest(whole) else whole
    return [sorted(s, key=lambda c: (c.env, c.id)) for s in best]


def _by_environment(ordered, n):
    """Whole environments (cut only when one costs more than a share), longest first to the lightest shard."""
    groups = {}
    for cell in ordered:
        groups.setdefault(cell.env, []).append(cell)
    share = sum(_cost(c) for c in ordered) / n
    pieces = []
    for env in sorted(groups):
        pieces.extend(_cut(groups[env], math.ceil(sum(_cost(c) for c in groups[env]) / share - 1e-9)))
    pieces.sort(key=lambda p: (-sum(_cost(c) for c in p), p[0].env, p[0].id))
    shards = [[] for _ in range(n)]
    loads = [0.0] * n
    for piece in pieces:
        k = min(range(n), key=lambda i: (loads[i], i))
        shards[k].extend(piece)
        loads[k] += sum(_cost(c) for c in piece)
    return shards


def _filled(shards, n):
    """n shards, none empty: fewer pieces than shards (a few costly cells) gives each empty one a cell."""
    shards = [list(s) for s in shards] + [[] for _ in range(n - len(shards))]
    for k in range(n):
        if not shards[k]:
            donor = max(range(n), key=lambda i: (len(shards[i]), -i))
            shards[k].append(shards[donor].pop())
    return shards


def _envs(shard):
    return len({c.env for c in shard})


def _longest(shards):
    """The expected wall of the slowest shard: its cells, and building each of its environments."""
    return max(sum(_cost(c) for c in s) + ENV_BUILD_S * _envs(s) for s in shards)


def _cost(cell):
    return max(float(cell.cost), 0.001)  # a free cell still counts, so none is piled up without limit


def _cut(group, pieces):
    """A group cut into up to `pieces` consecutive runs of about equal cost: each cell goes to the run its
    middle falls in, so a run misses its share by at most half a cell at either end."""
    pieces = max(1, min(pieces, len(group)))
    total = sum(_cost(c) for c in group)
    out, acc = [[] for _ in range(pieces)], 0.0
    for cell in group:
        out[min(pieces - 1, int((acc + _cost(cell) / 2) * pieces / total))].append(cell)
        acc += _cost(cell)
    return [run for run in out if run]


def digest(shards):
    """What names one split: the same cells in the same shards give the same 12 hex digits."""
    ids = [[c.id for c in shard] for shard in shards]
    return hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:12]


def as_ci_matrix(shards, source):
    """The split as a GitHub Actions matrix (`strategy.matrix: ${{ fromJSON(...) }}`): {"include": one
    entry per shard with its name "K/N", K, N, the plan's digest, its cells' ids, how many environments
    it builds, and its expected seconds}. Every key is per job, since any top-level key but include would
    be read as an axis."""
    n, plan = len(shards), digest(shards)
    return {
        "include": [
            {
                "shard": "%d/%d" % (k, n),
                "index": k,
                "of": n,
                "plan": plan,
                "cost_source": source,
                "envs": len({c.env for c in shard}),
                "cells": [c.id for c in shard],
                "expected_s": round(sum(c.cost for c in shard), 1),
            }
            for k, shard in enumerate(shards, 1)
        ]
    }
