# hangmatrix: what = patch_all then eight subprocess.check_output(["tput", ...]) calls
# hangmatrix: source = https://github.com/microsoft/debugpy/issues/1005 (comment by reallistic, 2022-08-12)
# hangmatrix: reported = under debugpy with gevent support: "finished 1 of 8 after 55.08450624498073s", each call ~55 s ("Sending message related to process being replaced timed-out after 5 seconds"); no claim about a plain run (commenter reallistic)
# hangmatrix: expect = ^Done in
from gevent import monkey; monkey.patch_all()

import time
import subprocess


if __name__ == "__main__":
    start = time.monotonic()
    colors = (
        "bold",
        "setaf 1",
        "setaf 2",
        "setaf 3",
        "setaf 4",
        "setaf 5",
        "setaf 6",
        "setaf 7",
    )
    for i, ccheck in enumerate(colors):
        resp = subprocess.check_output(
            f"tput -T xterm-256color {ccheck}".split()
        ).decode("utf-8")
        dur = time.monotonic() - start
        print(f"finished {i+1} of {len(colors)} after {dur}s - {resp}")

    dur = time.monotonic() - start
    print(f"Done in - {dur}")

