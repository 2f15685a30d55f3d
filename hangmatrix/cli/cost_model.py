"""`python -m hangmatrix.cli.cost_model RECORDS`: refit the built-in shard cost model
(hangmatrix/data/cost_model.json, hangmatrix.shard.cost) from a records file (docs/compat.json) and print
its error for 4, 16, 64 and 256 shards, one JSON line each. A maintainer's command, not a subcommand."""

import argparse
import json
import os
import sys

from ..model import exits
from ..report import selection
from ..shard import cost


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hangmatrix.cli.cost_model", description=__doc__.split("\n")[0])
    parser.add_argument("records", metavar="RECORDS", help="a JSONL file, folder or compat.json")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)  # a bad usage exits BAD_INPUT (2)
    records = selection.load(args.records)
    model = dict(cost.fit(records), fitted_from=os.path.basename(args.records))
    with open(cost.MODEL_PATH, "w", encoding="utf-8") as f:
        json.dump(model, f, indent=1, sort_keys=True)
        f.write("\n")
    for shards in (4, 16, 64, 256):
        print(json.dumps(cost.error(records, shards), sort_keys=True))
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
