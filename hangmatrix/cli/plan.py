"""hangmatrix plan: a selection split into N shards for N machines (--json: a CI job matrix)."""

from . import run, shards
from .options import say

HELP = "split a selection into N shards for N machines (--json: a CI job matrix)"


def add_arguments(parser):
    run.add_selection(parser)
    shards.add_plan_arguments(parser)


def main(args):
    return shards.cmd_plan(args, run.selection(args), say)
