"""Real headless Chromium for the HTML page's test and its load-time benchmark: found (or installed with
apt-get as root), driven over the DevTools protocol on a pipe, and never left running."""

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import time


class Unavailable(Exception):
    """No Chromium here, and no way to install it."""


REAL_BINARY = "/usr/lib/chromium/chromium"  # what Debian's /usr/bin/chromium shell wrapper execs


def chromium():
    """The Chromium binary; installed with apt-get when missing (root only)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return REAL_BINARY if os.access(REAL_BINARY, os.X_OK) else path
    if os.geteuid() != 0:
        raise Unavailable("Chromium is not installed and installing it needs root (apt-get install -y chromium)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, env=env, stdout=subprocess.DEVNULL)
    path = shutil.which("chromium")
    assert path, "apt-get installed chromium but it is not on PATH"
    return REAL_BINARY if os.access(REAL_BINARY, os.X_OK) else path


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: commands on
    its fd 3, replies on fd 4, NUL-terminated JSON): no extra package, no port, nothing left behind."""

    def __init__(self, binary, profile, log):
        self.log = log.name
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # far from 3 and 4 before they are placed there (and close-on-exec: only fds 3 and 4 are inherited)
        src_r, src_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_chrome_r, from_chrome_w))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        argv = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--user-data-dir=" + profile,
            "--disable-crash-reporter",
            "--disable-breakpad",
            "--remote-debugging-pipe",
            "--window-size=1400,1000",
            "about:blank",
        ]
        self.pid = os.posix_spawn(
            binary,
            argv,
            os.environ,
            setsid=True,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, log.fileno(), 2),
                (os.POSIX_SPAWN_DUP2, src_r, 3),
                (os.POSIX_SPAWN_DUP2, src_w, 4),
            ],
        )
        os.close(src_r)
        os.close(src_w)
        self.status = None
        self._buf, self._id, self.events = b"", 0, []

    def poll(self):
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def _read(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.time()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("no reply from Chromium")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                with open(self.log, "rb") as f:
                    tail = f.read()[-3000:].decode(errors="replace")
                raise EOFError("Chromium closed the pipe (exit %s); its log ends:\n%s" % (self.poll(), tail))
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None, timeout=30):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method, timeout=30):
        deadline = time.time() + timeout
        while True:
            for ev in self.events:
                if ev.get("method") == method:
                    self.events.remove(ev)
                    return ev
            self.events.append(self._read(deadline))

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except (OSError, RuntimeError, TimeoutError, EOFError, ValueError):
            pass
        deadline = time.time() + 10
        while self.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        try:
            os.killpg(self.pid, signal.SIGKILL)  # helpers (zygote, renderers) share its process group
        except ProcessLookupError:
            pass
        if self.status is None:
            os.waitpid(self.pid, 0)
        for fd in (self._r, self._w):
            os.close(fd)


def evaluate(browser, session, expression):
    res = browser.call(
        "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, session=session
    )
    assert "exceptionDetails" not in res, res["exceptionDetails"]
    return res["result"].get("value")


def leftovers(profile, wait=10.0):
    """Live (not zombie) processes whose command line names the profile folder: the browser and every
    helper it started (renderers, zygotes, crashpad), whatever group they moved to; after a grace period."""
    deadline = time.time() + wait
    while True:
        alive = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmdline = f.read()
                with open("/proc/%s/stat" % pid) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if profile.encode() in cmdline and state != "Z":
                alive.append(int(pid))
        if not alive or time.time() > deadline:
            return alive
        time.sleep(0.05)
