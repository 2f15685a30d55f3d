"""Only the harness can start cells. The supervisor server listens on an abstract Unix socket: it has no
file permissions and its name is public in /proc/net/unix, and a spec is a command line the server runs as
its own user (root here). So a real unprivileged user finds the socket the way an attacker would and asks
it to run `id` as root."""

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from hangmatrix.model import cases, configs
from hangmatrix.run import runner

ATTACKER = r"""
import socket, sys
wanted = "@hangmatrix-%s-" % sys.argv[1]
names = [line.split()[-1] for line in open("/proc/net/unix") if wanted in line]
if not names:
    sys.exit("no hangmatrix socket of pid %s in /proc/net/unix" % sys.argv[1])
conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
conn.connect("\0" + names[0][1:])
try:
    conn.sendall(open(sys.argv[2], "rb").read())
    conn.shutdown(socket.SHUT_WR)
    answer = conn.recv(1 << 20)
except OSError as exc:
    answer = repr(exc).encode()
print("answer: %r" % answer[:200])
"""


@pytest.fixture
def unprivileged_user():
    """`nobody`, or a user made for this test and removed after it; None when we are not root (we cannot
    act as another user)."""
    if os.geteuid() != 0:
        yield None
        return
    try:
        import pwd

        pwd.getpwnam("nobody")
        yield "nobody"
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "hangmatrix-test"], check=True)
        try:
            yield "hangmatrix-test"
        finally:
            subprocess.run(["userdel", "hangmatrix-test"], check=False)


def test_an_unprivileged_user_cannot_make_the_server_run_a_command(env311, capfd, unprivileged_user):
    user = unprivileged_user
    if user is None:
        pytest.skip("needs root: only root can run the attacker as another user")
    scratch = tempfile.mkdtemp(prefix="hangmatrix-attack-", dir="/tmp")
    try:
        os.chmod(scratch, 0o755)  # the attacker reads its spec here; only root could write the proof file
        proof = os.path.join(scratch, "ran-as")
        case = cases.select(["seed_original"])[0]
        real = runner.make_spec(case, configs.parse("patch_all"), "fork", env311, timeout=20.0)
        forged = dict(real.to_json(), argv=["/bin/sh", "-c", "id > %s" % proof])  # a spec the server would accept
        spec_path = os.path.join(scratch, "spec.json")
        with open(spec_path, "w") as f:
            import json

            json.dump(forged, f)
        script = os.path.join(scratch, "attacker.py")
        with open(script, "w") as f:
            f.write(ATTACKER)
        os.chmod(spec_path, 0o644)
        os.chmod(script, 0o644)
        with runner.Supervisors() as server:
            attack = subprocess.run(
                ["su", "-s", "/bin/sh", user, "-c", "/usr/bin/python3 %s %d %s" % (script, os.getpid(), spec_path)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert "answer:" in attack.stdout, attack.stderr  # it found the socket and connected
            assert "verdict" not in attack.stdout, attack.stdout  # dropped without a record
            time.sleep(1.0)  # a supervisor would have launched the forged cell within milliseconds
            assert not os.path.exists(proof), "the server ran a command for %s: %s" % (user, open(proof).read())
            rec = server.run(real)  # the run's own cells are unaffected
        assert rec.verdict == "deadlock", rec.signature
        assert "refused a connection from pid" in capfd.readouterr().err
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
