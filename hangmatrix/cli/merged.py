"""hangmatrix merged: which machine ran which cells of a merged run, and what is missing or twice."""

from . import shards
from .options import say

HELP = "which machine ran which cells of a merged run; exit 1 on a missing or twice-run shard or a cell recorded twice"


def add_arguments(parser):
    shards.add_merged_arguments(parser)


def main(args):
    return shards.cmd_merged(args, say)
