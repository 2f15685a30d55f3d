"""A sibling module of uses_own_module.py (not a case: it has no marker)."""


def double(n):
    return 2 * n
