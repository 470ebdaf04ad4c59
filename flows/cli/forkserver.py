"""A fork server for ``nesyflow batch`` and ``nesyflow solve``: the imports are paid once, not per run.

A CLI process spends ~1.2 s of CPU importing before it does any work (Prefect alone ~0.9 s), and a
batch's engine processes ~0.3 s each more; on a short batch that is most of the run, and on two
cores it competes with the solving. The fork server is a process that has imported the CLI,
Prefect and the engine once. ``nesyflow`` connects to it over a Unix socket (same user only: the
socket sits in a 0700 directory and the server checks the peer's uid), hands over its arguments,
working directory, environment, umask and its stdin/stdout/stderr, and the server forks a child
that runs exactly the in-process CLI with them. Files, output and exit codes are the same; only
the imports are already done.

Nothing else is shared. The server never runs a flow, solves, opens the store or reads settings:
no results, clients or caches cross the fork, and the child re-reads Prefect's settings from the
caller's environment (``refresh_prefect``). "Cold" still means an empty store.

The caller relays SIGINT/SIGTERM/SIGHUP to its child and exits with the child's code; if the
caller dies (even by SIGKILL) the server kills the child's process group, as a killed CLI would
have died. Servers are keyed by a fingerprint of the interpreter, the installed packages and our
source files, so an edited checkout or an upgraded package gets a fresh server; an idle one exits
after ``NESYFLOW_FORKSERVER_IDLE_S`` (900 s). ``NESYFLOW_FORKSERVER=0`` runs in-process. Anything
going wrong before the hand-over falls back to the in-process CLI, never to running twice: the
hand-over is ready/go (``run_in_server``), and the server reads every request without blocking,
by its own deadline, so a caller that stalls mid-request holds up no other.


This module is the server and the child it forks; the caller's side is ``flows.cli.forkclient``.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from pathlib import Path

from flows.cli.forkclient import HANDSHAKE_S, HEADER, MAX_REQUEST, RELAYED, retire_older
from flows.cli.prefect_env import remember_import_logging
from flows.engine.forks import close_quietly, exit_after

__all__ = ["serve"]

# Defaults our modules put into os.environ when they are imported — flows.llm.clients sets
# LITELLM_OFFLINE_MODE so that importing litellm never fetches its price list over the network.
# In a child those imports ran in the server, before its environment became the caller's: put
# them back (unless the caller set them), or an LLM batch's workers reach for the network.
_IMPORT_ENV = {"LITELLM_OFFLINE_MODE": "true"}


def _become_cli(request: dict, fds: list[int]) -> int:
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.umask(int(request["umask"]))
    os.environ.clear()
    os.environ.update(request["env"])
    for key, value in _IMPORT_ENV.items():  # what our imports set in the server, and would have set here
        os.environ.setdefault(key, value)
    time.tzset()  # local time (log timestamps) in the caller's TZ
    sys.argv = ["nesyflow", *request["argv"]]
    sys.stdout.reconfigure(line_buffering=os.isatty(1))
    sys.stderr.reconfigure(line_buffering=True)
    from flows.cli.launch import run_here

    return run_here(request["argv"])


def _run_child(request: dict, fds: list[int], close: list[int]) -> None:
    def body() -> int:
        gc.enable()
        os.setpgid(0, 0)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)
        close_quietly(close)
        return _become_cli(request, fds)

    exit_after(body)


# --- the server -------------------------------------------------------------------------------

class _Pending:
    """A connection whose request is still arriving (or waiting for the caller's ``go``)."""

    def __init__(self, conn: socket.socket, deadline: float):
        self.conn, self.deadline = conn, deadline
        self.data = b""
        self.fds: list[int] = []
        self.request: dict | None = None

    def close(self) -> None:
        close_quietly(self.fds)
        self.fds = []
        self.conn.close()


class _Server:
    """One selector loop, nothing in it blocks: a request is read as it arrives, by each
    connection's own deadline, so a caller that stalls mid-request (Ctrl-Z, a client that sends
    a byte every few seconds) holds up no one else."""

    def __init__(self, path: Path, idle_s: float):
        self.path, self.idle_s = path, idle_s
        self.sel = selectors.DefaultSelector()
        self.children: dict[int, socket.socket] = {}
        self.conns: dict[socket.socket, int] = {}
        self.pending: dict[socket.socket, _Pending] = {}
        self.last = time.monotonic()

    def listen(self) -> None:
        self.path.unlink(missing_ok=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self.listener.listen(128)
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel.register(self.wake_r, selectors.EVENT_READ)

    def _own_fds(self) -> list[int]:
        """What a child must close: the server's own fds, every caller's connection, and the
        streams other pending callers handed over."""
        return [self.listener.fileno(), self.wake_r, self.wake_w, self.sel.fileno(), *(c.fileno() for c in self.conns),
                *(p.conn.fileno() for p in self.pending.values()), *(fd for p in self.pending.values() for fd in p.fds)]

    def accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        try:
            _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        except OSError:
            uid = -1
        if uid != os.getuid():
            conn.close()
            return
        conn.setblocking(False)
        self.pending[conn] = _Pending(conn, time.monotonic() + HANDSHAKE_S)
        self.sel.register(conn, selectors.EVENT_READ)

    def _drop_pending(self, pending: _Pending) -> None:
        self.pending.pop(pending.conn, None)
        try:
            self.sel.unregister(pending.conn)
        except (KeyError, ValueError):
            pass
        pending.close()

    def from_pending(self, pending: _Pending) -> None:
        """Read what has arrived; say ``ready`` once the request is whole, fork on ``go``."""
        try:
            data, fds, _flags, _addr = socket.recv_fds(pending.conn, 1 << 16, 3)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, fds = b"", []
        pending.fds.extend(fds)
        if not data:  # the caller left (or gave up) before ``go``: nothing is forked
            self._drop_pending(pending)
            return
        pending.data += data
        try:
            if pending.request is None:
                if len(pending.data) < HEADER.size:
                    return
                (size,) = HEADER.unpack(pending.data[:HEADER.size])
                if size > MAX_REQUEST or len(pending.fds) != 3:
                    raise ValueError("expected stdin, stdout and stderr, and a request of sensible size")
                if len(pending.data) < HEADER.size + size:
                    return
                if len(pending.data) > HEADER.size + size:
                    raise ValueError("bytes after the request before ready")
                pending.request = json.loads(pending.data[HEADER.size:])
                pending.data = b""
                pending.conn.send(b'{"ready": true}\n')  # a few bytes into an empty buffer: never blocks
                return
            if b"\n" not in pending.data:
                return
            if json.loads(pending.data.split(b"\n", 1)[0]) != {"go": True}:
                raise ValueError("expected go")
        except (OSError, ValueError, struct.error):
            self._drop_pending(pending)
            return
        self.pending.pop(pending.conn)
        self._fork(pending)

    def _fork(self, pending: _Pending) -> None:
        conn, fds = pending.conn, pending.fds
        close = [*self._own_fds(), conn.fileno()]
        child = os.fork()
        if child == 0:
            _run_child(pending.request, fds, close)
        try:  # its own process group before anything can signal it (the child sets it too)
            os.setpgid(child, child)
        except OSError:
            pass  # it already did, or has already exited
        close_quietly(fds)
        pending.fds = []
        conn.setblocking(True)
        try:
            conn.sendall(json.dumps({"pid": child}).encode() + b"\n")
        except OSError:
            pass
        self.children[child] = conn
        self.conns[conn] = child

    def expire(self) -> float:
        """Drop requests past their deadline; the seconds until the next one is due."""
        now = time.monotonic()
        for pending in [p for p in self.pending.values() if p.deadline <= now]:
            self._drop_pending(pending)
        return min((p.deadline - now for p in self.pending.values()), default=5.0)

    def from_caller(self, conn: socket.socket) -> None:
        pid = self.conns.get(conn)
        try:
            data = conn.recv(4096)
        except OSError:
            data = b""
        if not data:  # the caller died: so does its run, as an in-process CLI would have
            if pid is not None:
                self._kill(pid, signal.SIGKILL)
            self._drop(conn)
            return
        for line in data.splitlines():
            try:
                signum = int(json.loads(line)["signal"])
            except (ValueError, KeyError, TypeError):
                continue
            if pid is not None and signum in RELAYED:
                self._kill(pid, signum, group=False)

    def _kill(self, pid: int, signum: int, group: bool = True) -> None:
        try:
            (os.killpg if group else os.kill)(pid, signum)
        except OSError:
            pass

    def _drop(self, conn: socket.socket) -> None:
        pid = self.conns.pop(conn, None)
        if pid is not None:
            self.children.pop(pid, None)
        try:
            self.sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.last = time.monotonic()
            code = os.waitstatus_to_exitcode(status)
            conn = self.children.get(pid)
            if conn is not None:
                try:
                    conn.sendall(json.dumps({"exit": code if code >= 0 else 128 - code}).encode() + b"\n")
                except OSError:
                    pass
                self._drop(conn)

    def loop(self, lock) -> None:
        """Serve until idle; once the socket is removed (``stop``), finish the running children
        without taking new work, the lock released so a fresh server can start meanwhile."""
        accepting = True
        while True:
            wait = min(5.0, self.idle_s, max(0.05, self.expire()))
            for key, _ in self.sel.select(timeout=wait):
                if key.fileobj is self.listener:
                    self.accept()
                    self.last = time.monotonic()
                elif key.fileobj == self.wake_r:
                    try:
                        os.read(self.wake_r, 512)
                    except BlockingIOError:
                        pass
                elif key.fileobj in self.pending:
                    self.from_pending(self.pending[key.fileobj])
                    self.last = time.monotonic()
                elif key.fileobj in self.conns:
                    self.from_caller(key.fileobj)
            self.reap()
            if accepting and not self.path.exists():
                self.sel.unregister(self.listener)
                self.listener.close()
                lock.close()
                accepting = False
            if not self.children and not self.pending and (not accepting or time.monotonic() - self.last > self.idle_s):
                if accepting:  # ours: we hold the lock
                    self.path.unlink(missing_ok=True)
                    self.path.with_suffix(".lock").unlink(missing_ok=True)
                return


def serve(path: Path) -> None:
    """One server per socket path: the lock file says whether one already runs."""
    import fcntl

    lock = open(path.with_suffix(".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return
    from flows.orchestration.server import QUIET_CONSOLE, offline_env

    # Prefect's import-time side effects stay in the server's private directory; it never talks to
    # a Prefect server (each child reads its caller's settings: ``refresh_prefect``).
    os.environ.update(offline_env(path.parent))
    os.environ.update(QUIET_CONSOLE)  # as a CLI run without --verbose has them (cli._setup_env)
    remember_import_logging()
    # Copy-on-write: a child's garbage collector touching every imported object would copy the
    # whole heap (measured, AR-LSAT replay with two forked workers: 1.63-1.70 s before, 1.43-1.45 s
    # after). Collect nothing while loading, then freeze what was loaded out of the collector's
    # sight; children collect their own objects.
    gc.disable()
    from flows.cli.preload import preload

    preload()
    gc.freeze()
    server = _Server(path, float(os.environ.get("NESYFLOW_FORKSERVER_IDLE_S", "900")))
    server.listen()
    retire_older(path)
    server.loop(lock)


if __name__ == "__main__":
    # Serve from the imported module, not ``__main__``: the CLI in a child imports
    # ``flows.cli.forkserver``, which must be the module whose globals the server set.
    from flows.cli import forkserver

    forkserver.serve(Path(sys.argv[1]))
