"""Attacks a generated program tries from inside the sandbox (issue 10), shared by the sandbox
unit tests and the end-to-end CLI test.

Each payload is a Program-of-Thought program whose ``answer`` counts what it achieved: 0 means
contained. Host-side evidence (marker files, surviving processes, connections) is checked by the
tests too, so a payload that silently failed to run cannot pass as contained.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

__all__ = ["payloads", "plant_pickles", "PickleBomb", "survivors", "SURVIVOR_SECONDS"]

SURVIVOR_SECONDS = "4242.125"
"""A sleep duration no other process uses: a sandboxed child that outlives its sandbox shows up in ps."""


def payloads(marker_dir: Path, state_dir: Path, canary: str, port: int) -> dict[str, str]:
    """Program text per attack. ``marker_dir``: a host directory the attacks try to write into;
    ``state_dir``: the project's state (results, cache, Prefect home); ``canary``: the API key
    value in the parent's environment; ``port``: a TCP listener on the host's loopback."""
    m, st = str(marker_dir), str(state_dir)
    return {
        "write_outside": f"""
import os, tempfile
done = 0
for path in [{m!r} + '/written', tempfile.gettempdir() + '/../{os.path.basename(m)}/written2', '/tmp/../{m.lstrip('/')}/w3']:
    try:
        with open(path, 'w') as fh:
            fh.write('escaped')
        done += os.path.exists({m!r} + '/written')
    except OSError:
        pass
answer = done
""",
        "read_environ": f"""
import os
found = 0
for pid in ['1', 'self', str(os.getppid())] + [p for p in os.listdir('/proc') if p.isdigit()]:
    try:
        found += {canary!r}.encode() in open('/proc/' + pid + '/environ', 'rb').read()
    except OSError:
        pass
found += {canary!r} in str(os.environ)
answer = found
""",
        "list_state": f"""
import os
seen = 0
for path in [{st!r}, {st!r} + '/results', {st!r} + '/cache', '/proc/1/root' + {st!r}, '/proc/1/cwd']:
    try:
        seen += len(os.listdir(path))
    except OSError:
        pass
answer = seen
""",
        "fork_setsid_survivor": f"""
import os
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv('/usr/bin/sleep', ['sleep', {SURVIVOR_SECONDS!r}])
    os._exit(0)
os.waitpid(pid, 0)
answer = 0
""",
        "fork_bomb": """
import os, time
n = 0
try:
    while n < 400:
        if os.fork() == 0:
            time.sleep(20)
            os._exit(0)
        n += 1
except OSError:
    pass
answer = int(n >= 64)
""",
        "network": f"""
import socket
reached = 0
for host in ['127.0.0.1', '10.0.2.2', '1.1.1.1']:
    try:
        s = socket.socket()  # refused by the seccomp filter; without it, the connect must fail
    except OSError:
        continue
    s.settimeout(1)
    try:
        s.connect((host, {port}))
        reached += 1
    except OSError:
        pass
    finally:
        s.close()
answer = reached
""",
        "new_namespaces": """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
made = 0
for flag in [0x10000000, 0x40000000, 0x20000, 0x20000000]:  # CLONE_NEWUSER, NEWNET, NEWNS, NEWPID
    made += libc.unshare(flag) == 0
pid = libc.syscall(56 if os.uname().machine == 'x86_64' else 220, 0x10000000 | 17, 0, 0, 0, 0)  # raw clone
if pid == 0:
    os._exit(0)
if pid > 0:
    os.waitpid(pid, 0)
    made += 1
for target in ['/proc/1/ns/user', '/proc/1/ns/net']:
    try:
        fd = os.open(target, os.O_RDONLY)
        made += libc.setns(fd, 0) == 0
        os.close(fd)
    except OSError:
        pass
answer = made
""",
        "exotic_sockets": """
import socket
opened = 0
for family in ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_VSOCK', 'AF_PACKET', 'AF_ALG', 'AF_BLUETOOTH']:
    for kind in [socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW]:
        try:
            socket.socket(getattr(socket, family, 40), kind).close()
            opened += 1
        except OSError:
            pass
a, b = socket.socketpair()  # AF_UNIX stays available (multiprocessing needs it)
a.close(); b.close()
answer = opened
""",
        "poison_results": f"""
import os, pickle
class P:
    def __reduce__(self):
        return (open, ({m!r} + '/unpickled', 'w'))
blob = pickle.dumps(P())
written = 0
targets = [{st!r} + '/results/poison', {st!r} + '/cache/poison.json', {st!r} + '/prefect/prefect.db']
try:
    os.symlink({st!r} + '/results', '/tmp/results-link')
    targets.append('/tmp/results-link/poison2')
except OSError:
    pass
for path in targets:
    try:
        with open(path, 'wb') as fh:
            fh.write(blob)
        written += 1
    except OSError:
        pass
answer = written
""",
    }


class PickleBomb:
    """Unpickling this creates ``path``: planted in state files, it shows whether anything unpickles them."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def plant_pickles(state_dir: Path, marker: Path) -> int:
    """Overwrite every result and cache file under ``state_dir`` with a pickle payload, as an
    attacker with write access would. Returns how many files were replaced."""
    blob = pickle.dumps(PickleBomb(str(marker)))
    n = 0
    for sub in ("results", "cache"):
        for path in (state_dir / sub).rglob("*"):
            if path.is_file():
                path.write_bytes(blob)
                n += 1
    return n


def survivors() -> list[int]:
    """PIDs of host processes left by the survivor payload."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if SURVIVOR_SECONDS.encode() in argv:
                out.append(int(entry.name))
    return out
