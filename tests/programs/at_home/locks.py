"""Takes an flock on /tmp/app.lock and keeps its state in ~/.app-state, as many daemons and CLIs do (issue
25's second row): at home it prints `locked`."""
import fcntl
import os

from gevent import monkey

monkey.patch_all()

lock = open(os.environ.get("APP_LOCK", "/tmp/app.lock"), "w")
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
with open(os.path.expanduser(os.environ.get("APP_STATE", "~/.app-state")), "w") as f:
    f.write("state\n")
print("locked")
