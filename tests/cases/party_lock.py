"""A sibling module of outside_flock.py and outside_lockf.py (not a case: it has no marker)."""

import os
import time
import uuid


def locked_by_party(prefix):
    """A new file in $WAIT_PARTY named prefix.RANDOM, once the outside party has locked it (it marks that
    with prefix.RANDOM.held)."""
    path = os.path.join(os.environ["WAIT_PARTY"], prefix + "." + uuid.uuid4().hex)
    open(path, "w").close()
    while not os.path.exists(path + ".held"):
        time.sleep(0.02)
    return path
