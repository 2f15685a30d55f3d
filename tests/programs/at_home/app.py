"""Runs from its own folder: imports helper.py beside it, which reads data.txt from the working folder;
takes its argument from sys.argv (issue 25's first and fourth rows)."""
import sys

from gevent import monkey

monkey.patch_all()

import helper  # noqa: E402

print(helper.data(), *sys.argv[1:])
