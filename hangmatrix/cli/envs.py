"""hangmatrix envs list | build | prune: the cell environments in the cache."""

import argparse
import concurrent.futures
import os
import time

from ..envs import cache, files, index
from ..envs.build import ensure_env
from ..envs.errors import EnvError
from ..envs.interpreters import discover, find_interpreter
from ..model import exits, settings
from ..model import matrix as matrix_mod
from .options import say

HELP = "list, build and prune cell environments"


def add_arguments(parser):
    parser.description = "Cell environments (cached in %s)." % settings.cache_dir()
    sub = parser.add_subparsers(dest="envs_command", required=True)
    sub.add_parser("list", help="environments in the cache, and remembered failures").set_defaults(envs_func=_list)
    build = sub.add_parser("build", help="build (or reuse) the environments of a matrix, in parallel")
    prune = sub.add_parser("prune", help="remove unfinished builds and envs of vanished interpreters")
    build.set_defaults(envs_func=_build)
    prune.set_defaults(envs_func=_prune)
    for p in (build, prune):
        p.add_argument(
            "--matrix", default=matrix_mod.DEFAULT_NAME if p is build else None, help="matrix name in the file"
        )
        p.add_argument("--matrix-file", default=None, help="default: ./matrix.toml, else the built-in one")
    build.add_argument("--python", action="append", help="version or path (repeatable); default: the matrix")
    build.add_argument("--gevent", action="append", help="release, 'default' or 'all' (repeatable)")
    build.add_argument("--jobs", type=int, default=4)
    build.add_argument("--retry", action="store_true", help="retry envs that failed before")
    build.add_argument("--debian-root", action="store_true", help="include Python 3.14/3.15 from a Debian root")
    prune.add_argument("--failed", action="store_true", help="also forget remembered failures")
    prune.add_argument("--all", action="store_true", help="remove the whole cache, Debian root included")
    prune.add_argument("--dry-run", action="store_true")


def main(args):
    return args.envs_func(args)


def _wanted_pairs(args):
    """(interpreter, gevent) from --python/--gevent, else from the matrix."""
    m = matrix_mod.load_matrix(args.matrix_file, args.matrix)
    pythons = args.python or m.pythons
    root = args.debian_root or m.debian_root
    if args.python:
        interps = [find_interpreter(p, debian_root=root, say=say) for p in pythons]
    else:
        interps = m.select(discover([p for p in pythons if "/" in p], debian_root=root, say=say))
    if args.gevent and args.gevent not in (["default"], ["all"]):
        return [(i, g) for i in interps for g in args.gevent]
    chosen = matrix_mod.Matrix(pythons=["discovered"], gevents=args.gevent or m.gevents)
    return chosen.pairs(interps, index.gevent_releases)


def _build(args):
    """Build the envs in parallel. Exit 1 only for failures that are not remembered (network, a bad name):
    a remembered env-error is a finding about that env, not a failure of this command."""
    started = time.time()
    pairs = _wanted_pairs(args)
    counts = {"built": 0, "reused": 0, "env-error": 0}
    passing = []  # failures of the moment (network), not of the env: worth running again
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(ensure_env, i, g, None, args.retry): (i, g) for i, g in pairs}
        for future in concurrent.futures.as_completed(futures):
            interp, gv = futures[future]
            try:
                env = future.result()
            except EnvError as exc:
                counts["env-error"] += 1
                passing += [] if exc.lasting else [exc]
                print("env-error  %-7s gevent %-12s %s" % (interp.version, gv, exc), flush=True)
                continue
            state = "reused" if env.reused else "built"
            counts[state] += 1
            print(
                "%-10s %-7s gevent %-12s greenlet %-8s as of %s"
                % (state, interp.version, gv, env.greenlet, env.resolved_as_of),
                flush=True,
            )
    print(
        "%d environments (%s) in %.1f s"
        % (len(pairs), ", ".join("%d %s" % (n, k) for k, n in counts.items()), time.time() - started)
    )
    return exits.FINDING if passing else exits.OK


def _list(args):
    base = settings.cache_dir()
    for m in map(cache.read, cache.manifests(base)):
        late = " late wheels: " + ", ".join("%s %s" % kv for kv in m.late_wheels.items()) if m.late_wheels else ""
        requires = (
            "  requires: %s (%s, as of %s)"
            % (
                ", ".join("%s %s" % kv for kv in m.requires_resolved.items()),
                "; ".join(m.requires),
                "newest" if m.requires_newest else m.requires_as_of,
            )
            if m.requires
            else ""
        )
        print(
            "%-7s gevent %-12s greenlet %-8s as of %s  %s%s%s"
            % (m.interpreter.version, m.gevent, m.greenlet, m.resolved_as_of, m.folder, late, requires)
        )
    for path in cache.failures(base):
        with open(path) as f:
            print("env-error %s: %s" % (os.path.basename(path)[: -len(".failed")], f.read().strip()))
    return exits.OK


def _prune(args):
    """Remove builds that never finished, envs whose interpreter is gone, and with --failed the remembered
    failures, with --matrix the envs that matrix does not use, with --all the whole cache."""
    base = settings.cache_dir()
    doomed = []
    if args.all:
        doomed = [base]
    else:
        doomed += cache.unfinished(base)
        keep = None
        if args.matrix:
            keep = {
                (i.key, g)
                for i, g in _wanted_pairs(
                    argparse.Namespace(
                        matrix=args.matrix, matrix_file=args.matrix_file, python=None, gevent=None, debian_root=False
                    )
                )
            }
        for m in map(cache.read, cache.manifests(base)):
            if not m.present or (keep is not None and (m.interpreter.key, m.gevent) not in keep):
                doomed.append(m.folder)
        if args.failed:
            doomed += cache.failures(base)
    for path in doomed:
        print(("would remove " if args.dry_run else "removing ") + path)
        if not args.dry_run:
            files.remove_tree(path) if os.path.isdir(path) else os.unlink(path)
    return exits.OK
