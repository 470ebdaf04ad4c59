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

Only the standard library (and ``flows/__init__``) is imported here: ``flows.cli.launch`` uses this before anything heavy.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import selectors
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

from flows import ROOT, SOURCE_PACKAGES

__all__ = ["run_in_server", "serve", "ensure", "stop", "refresh_prefect", "exit_after", "close_quietly", "socket_path", "enabled"]

_COMMANDS = ("batch", "solve")
_RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_HEADER = struct.Struct("!I")
HANDSHAKE_S = 30.0
"""Seconds a request may take to arrive whole (server) or to be accepted (caller)."""
MAX_REQUEST = 16 << 20


def enabled(argv: list[str]) -> bool:
    if os.environ.get("NESYFLOW_FORKSERVER", "1").strip().lower() in ("0", "off", "false", "no"):
        return False
    return bool(argv) and argv[0] in _COMMANDS and not {"-h", "--help"} & set(argv)


def fingerprint() -> str:
    """Interpreter, installed packages (a site directory's mtime changes when a package is added
    or removed) and every source file's mtime and size: ~1 ms of stat calls."""
    h = hashlib.sha256(f"{sys.prefix}\0{sys.version}\0{ROOT}".encode())
    for entry in sys.path:
        if entry.endswith("-packages") and os.path.isdir(entry):
            h.update(f"{entry}:{os.stat(entry).st_mtime_ns}".encode())
    for pkg in SOURCE_PACKAGES:
        for dirpath, dirnames, files in os.walk(ROOT / pkg):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".py", ".jinja", ".lark", ".txt", ".md", ".json", ".jsonl")):
                    st = os.stat(os.path.join(dirpath, name))
                    h.update(f"{dirpath}/{name}:{st.st_mtime_ns}:{st.st_size}".encode())
    return h.hexdigest()[:24]


def _private_dir() -> Path | None:
    """``$XDG_RUNTIME_DIR/nesyflow`` or ``/tmp/nesyflow-<uid>``: ours, a directory, mode 0700."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = Path(base) / "nesyflow" if base and os.path.isdir(base) else Path(os.environ.get("TMPDIR") or "/tmp") / f"nesyflow-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return path


def _checkout_tag() -> str:
    return hashlib.sha256(f"{sys.prefix}\0{ROOT}".encode()).hexdigest()[:8]


def socket_path() -> Path | None:
    """``fs-<checkout>-<fingerprint>.sock`` in the private directory."""
    d = _private_dir()
    path = d / f"fs-{_checkout_tag()}-{fingerprint()}.sock" if d else None
    return path if path and len(os.fsencode(path)) < 100 else None  # AF_UNIX paths end at 108 bytes


def _retire_older(path: Path) -> None:
    """This checkout's servers for older code: their sockets and lock files go (each server then
    ends once its running children have, see ``loop``; no new server will want those names)."""
    prefix = path.name.rsplit("-", 1)[0] + "-"
    for old in [*path.parent.glob(prefix + "*.sock"), *path.parent.glob(prefix + "*.lock")]:
        if old.stem != path.stem:
            old.unlink(missing_ok=True)


# --- the caller -------------------------------------------------------------------------------

def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except OSError:
        sock.close()
        return None


# What the server process itself keeps of its starter's environment: enough to import. A caller's
# secrets (API keys) reach only that caller's child, in its request, never the long-lived server.
_SERVER_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "XDG_RUNTIME_DIR", "VIRTUAL_ENV", "PYTHONPATH",
               "NESYFLOW_FORKSERVER_IDLE_S")


def _start_server(path: Path, wait_s: float = 30.0) -> socket.socket | None:
    """Start a server for ``path`` (a no-op if another caller just did) and wait until it listens."""
    env = {k: os.environ[k] for k in _SERVER_ENV if k in os.environ}
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli.forkserver", str(path)], cwd=str(ROOT), env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        sock = _connect(path)
        if sock is not None:
            return sock
        if proc.poll() not in (None, 0):  # it failed (0: another server holds the lock and is starting)
            return None
        time.sleep(0.02)
    return None


def ensure() -> Path | None:
    """Start this checkout's fork server unless it runs (``nesyflow server start``, the
    benchmarks' set-up); its socket, or None where there can be none."""
    path = socket_path()
    sock = (_connect(path) or _start_server(path)) if path else None
    if sock is None:
        return None
    sock.close()
    return path


def stop() -> bool:
    """Retire this checkout's fork server: its socket goes now (the next run starts a fresh one),
    the process within seconds, once its running children have ended."""
    path = socket_path()
    if path is None or not path.exists():
        return False
    path.unlink(missing_ok=True)
    return True


def _std_fds() -> list[int]:
    fds = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:  # a closed stdin/stdout: the child gets /dev/null there
            fds.append(os.open(os.devnull, os.O_RDWR))
    return fds


def run_in_server(argv: list[str]) -> int | None:
    """Run ``nesyflow argv`` in a child of the fork server; its exit code, or None when the
    command did not reach a server (the caller then runs it in-process).

    The hand-over is two steps, so a request runs once or not at all: the server reads the whole
    request and says ``ready``; only then does the caller say ``go``, and only on ``go`` does the
    server fork. A caller that gives up before ``go`` just closes (the server then forks nothing)
    and runs in-process; once it has said ``go`` it never falls back."""
    if not enabled(argv):
        return None
    try:
        path = socket_path()
        if path is None:
            return None
        sock = _connect(path) or _start_server(path)
        if sock is None:
            return None
    except OSError:
        return None
    try:
        umask = os.umask(0)
        os.umask(umask)
        payload = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask}).encode()
        sock.settimeout(HANDSHAKE_S)  # a server that does not answer (stopped, wedged) is not waited on forever
        socket.send_fds(sock, [_HEADER.pack(len(payload))], _std_fds())
        sock.sendall(payload)
        reader = sock.makefile("r", encoding="utf-8")
        if json.loads(reader.readline() or "{}").get("ready") is not True:
            raise OSError("refused before forking")  # another user, a stale server
    except (OSError, ValueError, AttributeError):
        sock.close()  # before ``go``: the server forks nothing for this request
        return None
    try:
        sock.settimeout(None)
        sock.sendall(b'{"go": true}\n')
        child = json.loads(reader.readline() or "{}")["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        # Said ``go``: the command may be running, so it must not run here as well.
        print("nesyflow: error: the fork server went away while starting the command (rerun it; "
              "NESYFLOW_FORKSERVER=0 runs in-process)", file=sys.stderr)
        return 1
    if "--verbose" in argv:
        print(f"nesyflow: running in the fork server ({path.name}, child pid {child}; NESYFLOW_FORKSERVER=0 runs "
              "in-process)", file=sys.stderr, flush=True)
    return _relay(sock, reader)


def _relay(sock: socket.socket, reader) -> int:
    """Pass signals on; return the child's exit code."""
    def forward(signum, _frame):
        try:
            sock.sendall(json.dumps({"signal": signum}).encode() + b"\n")
        except OSError:
            pass

    for sig in _RELAYED:
        signal.signal(sig, forward)
    for line in reader:
        msg = json.loads(line)
        if "exit" in msg:
            return int(msg["exit"])
    print("nesyflow: error: the fork server went away during the run (rerun it; NESYFLOW_FORKSERVER=0 runs "
          "in-process)", file=sys.stderr)
    return 1


# --- the child --------------------------------------------------------------------------------

_IMPORT_LOGGING: tuple | None = None  # what logging was configured from in the server, if this is its child
# Defaults our modules put into os.environ when they are imported — flows.llm.clients sets
# LITELLM_OFFLINE_MODE so that importing litellm never fetches its price list over the network.
# In a child those imports ran in the server, before its environment became the caller's: put
# them back (unless the caller set them), or an LLM batch's workers reach for the network.
_IMPORT_ENV = {"LITELLM_OFFLINE_MODE": "true"}


def _logging_inputs() -> tuple:
    """What Prefect's logging set-up reads: PREFECT_LOGGING_* and a logging.yml in PREFECT_HOME."""
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("PREFECT_LOGGING_")))
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    return env, (home / "logging.yml").exists()


def refresh_prefect() -> None:
    """Prefect read its settings and configured logging at import; in a fork server's child that
    import happened under the server's environment. Re-read the settings from this one, and set
    logging up again unless it would come out the same (a quiet CLI run: ~45 ms saved)."""
    if "prefect.context" not in sys.modules:
        return
    from prefect.context import refresh_global_settings_context
    from prefect.logging.configuration import setup_logging

    refresh_global_settings_context()
    if _IMPORT_LOGGING is None or _logging_inputs() != _IMPORT_LOGGING:
        setup_logging(incremental=False)


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


def close_quietly(fds) -> None:
    """Close what a forked child inherited and must not hold (None and closed fds are skipped)."""
    for fd in fds:
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


def exit_after(body) -> None:
    """In a forked child: run ``body`` and leave with its exit code (None: 0), reporting whatever
    escapes it — never return into the parent's code that forked us."""
    code = 1
    try:
        code = body() or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - reported here; the child ends either way
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


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
                if len(pending.data) < _HEADER.size:
                    return
                (size,) = _HEADER.unpack(pending.data[:_HEADER.size])
                if size > MAX_REQUEST or len(pending.fds) != 3:
                    raise ValueError("expected stdin, stdout and stderr, and a request of sensible size")
                if len(pending.data) < _HEADER.size + size:
                    return
                if len(pending.data) > _HEADER.size + size:
                    raise ValueError("bytes after the request before ready")
                pending.request = json.loads(pending.data[_HEADER.size:])
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
            if pid is not None and signum in _RELAYED:
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
    global _IMPORT_LOGGING
    _IMPORT_LOGGING = _logging_inputs()
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
    _retire_older(path)
    server.loop(lock)


if __name__ == "__main__":
    # Serve from the imported module, not ``__main__``: the CLI in a child imports
    # ``flows.cli.forkserver`` and must see the globals the server set (``_IMPORT_LOGGING``).
    from flows.cli import forkserver

    forkserver.serve(Path(sys.argv[1]))
