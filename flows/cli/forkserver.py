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
going wrong before the hand-over falls back to the in-process CLI, never to running twice.

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
    command did not reach a server (the caller then runs it in-process)."""
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
        sock.settimeout(30)  # a server that does not answer (stopped, wedged) is not waited on forever
        socket.send_fds(sock, [_HEADER.pack(len(payload))], _std_fds())
        sock.sendall(payload)
        reader = sock.makefile("r", encoding="utf-8")
        first = reader.readline()
        if not first:
            raise OSError("refused before forking")  # another user, a stale server
        child = json.loads(first)["pid"]
        sock.settimeout(None)
    except (OSError, ValueError, KeyError, TypeError):
        sock.close()  # if a child was forked after all, the server kills it on this close
        return None
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

# What a batch's flow run imports on its way (measured: 139 modules, ~0.2 s), beyond ``_preload``'s
# own imports. A module missing from another Prefect version is skipped.
_LAZY = ("prefect.engine", "prefect.flow_engine", "prefect.task_engine", "prefect.utilities.visualization",
         "prefect.telemetry.run_telemetry", "prefect._internal.control_listener", "prefect._internal.attempt_control",
         "prefect._internal.metrics", "prefect.concurrency.v1.context", "prefect.concurrency.context",
         "prefect.artifacts", "prefect.events.worker", "prefect.logging.handlers", "fastapi.encoders",
         "anyio._backends._asyncio", "encodings.idna", "flows.llm.replay")


def _preload() -> None:
    """Import what a batch or a solve imports. Code only: nothing here reads settings or data."""
    import importlib

    from flows.cli import commands  # noqa: F401
    from flows.engine import core, pipeline, pool, worker  # noqa: F401
    from flows.orchestration import batch, recovery, report, server, supervise  # noqa: F401

    for name in _LAZY:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    _complete_models()
    # Built on first use otherwise, in the child and again in each engine worker (~60 ms before a
    # worker's first answer): the FOL grammar's parse tables, the prompt templates, the code hash.
    import prompts
    from parsers.fol.reader import parse_formula

    from flows.store import code_version

    parse_formula("P(a)")
    prompts.compile_all()
    code_version()
    # Prefect's settings models cost ~0.1 s the first time they are built, ~0.02 s after: build
    # them once here (from this process's environment, then dropped; a child builds its own).
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()
    with batch.quiet_heartbeat():
        pass
    batch.batch_flow("threads", 1)  # the CLI's flow object, built once for every child


def _complete_models() -> None:
    """Build the validators pydantic defers to a model's first use (Prefect's client schemas:
    ~0.1 s of every flow run otherwise), so each child does not build them again."""
    import pydantic

    seen: set[type] = set()
    todo = [pydantic.BaseModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    for cls in seen:
        if not getattr(cls, "__pydantic_complete__", True) or type(getattr(cls, "__pydantic_validator__", None)).__name__ == "MockValSer":
            try:
                cls.model_rebuild(raise_errors=False)
            except Exception:  # noqa: BLE001 - a model that cannot be built now is built on first use, as before
                pass


class _Server:
    def __init__(self, path: Path, idle_s: float):
        self.path, self.idle_s = path, idle_s
        self.sel = selectors.DefaultSelector()
        self.children: dict[int, socket.socket] = {}
        self.conns: dict[socket.socket, int] = {}
        self.last = time.monotonic()

    def listen(self) -> None:
        self.path.unlink(missing_ok=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self.listener.listen(128)
        self.sel.register(self.listener, selectors.EVENT_READ)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel.register(self.wake_r, selectors.EVENT_READ)

    def _own_fds(self) -> list[int]:
        return [self.listener.fileno(), self.wake_r, self.wake_w, self.sel.fileno(), *(c.fileno() for c in self.conns)]

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            conn.settimeout(10)
            pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            if uid != os.getuid():
                conn.close()
                return
            head, fds, _flags, _addr = socket.recv_fds(conn, _HEADER.size, 3)
            (size,) = _HEADER.unpack(head)
            payload = b""
            while len(payload) < size:
                chunk = conn.recv(min(1 << 20, size - len(payload)))
                if not chunk:
                    raise OSError("caller left mid-request")
                payload += chunk
            request = json.loads(payload)
            if len(fds) != 3:
                raise OSError("expected stdin, stdout and stderr")
        except (OSError, ValueError, struct.error):
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        close = [*self._own_fds(), conn.fileno()]
        child = os.fork()
        if child == 0:
            _run_child(request, fds, close)
        for fd in fds:
            os.close(fd)
        conn.settimeout(None)
        try:
            conn.sendall(json.dumps({"pid": child}).encode() + b"\n")
        except OSError:
            pass
        self.children[child] = conn
        self.conns[conn] = child
        self.sel.register(conn, selectors.EVENT_READ)

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
            for key, _ in self.sel.select(timeout=min(5.0, self.idle_s)):
                if key.fileobj is self.listener:
                    self.accept()
                    self.last = time.monotonic()
                elif key.fileobj == self.wake_r:
                    try:
                        os.read(self.wake_r, 512)
                    except BlockingIOError:
                        pass
                else:
                    self.from_caller(key.fileobj)
            self.reap()
            if accepting and not self.path.exists():
                self.sel.unregister(self.listener)
                self.listener.close()
                lock.close()
                accepting = False
            if not self.children and (not accepting or time.monotonic() - self.last > self.idle_s):
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
    _preload()
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
