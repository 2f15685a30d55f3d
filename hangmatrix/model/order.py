"""The order a table, a diff and a baseline list each axis in: the seed's cases first, configurations and
start methods as hangmatrix.model.configs names them, anything unknown after them by name, and versions
by hangmatrix.model.versions.key."""

from typing import Callable, Sequence, Tuple

from . import configs, versions

SEED_CASES = ("seed_original", "seed_terminating")  # the post's program, and the same program ending


def _known_first(name: str, known: Sequence[str]) -> Tuple[int, str]:
    return (known.index(name), "") if name in known else (len(known), name)


def case(name: str) -> Tuple[int, str]:
    return _known_first(name, SEED_CASES)


def config(name: str) -> Tuple[int, str]:
    return _known_first(name, list(configs.NAMED))


def start(name: str) -> Tuple[int, str]:
    return _known_first(name, configs.STARTS)


BY_AXIS: dict[str, Callable[[str], object]] = {
    "case": case,
    "config": config,
    "start": start,
    "python": versions.key,
    "gevent": versions.key,
}
