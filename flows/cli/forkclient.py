"""The caller's side of the fork server (``flows.cli.forkserver``): find or start this checkout's
server, hand it a command (``run_in_server``), relay signals and return the child's exit code.

Standard library only (and ``flows/__init__``): ``flows.cli.launch`` calls this before anything
heavy is imported, and ``nesyflow server start|stop`` and ``doctor`` use it to manage the server.
The server itself (``flows.cli.forkserver``) imports this module for the names it shares: the
socket's path, the request header, the limits of the hand-over.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

from flows import ROOT, SOURCE_PACKAGES

__all__ = ["run_in_server", "ensure", "stop", "socket_path", "enabled", "fingerprint", "retire_older", "HEADER", "RELAYED",
           "HANDSHAKE_S", "MAX_REQUEST"]


_COMMANDS = ("batch", "solve")
RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
HEADER = struct.Struct("!I")
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


def retire_older(path: Path) -> None:
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
        socket.send_fds(sock, [HEADER.pack(len(payload))], _std_fds())
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

    for sig in RELAYED:
        signal.signal(sig, forward)
    for line in reader:
        msg = json.loads(line)
        if "exit" in msg:
            return int(msg["exit"])
    print("nesyflow: error: the fork server went away during the run (rerun it; NESYFLOW_FORKSERVER=0 runs "
          "in-process)", file=sys.stderr)
    return 1
