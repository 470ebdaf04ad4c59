"""Engine worker processes started before the batch is read (``flows.cli.launch``), adopted by
``flows.engine.pool.EnginePool``. Kept apart so that starting them imports nothing heavy.

A worker is ``python -m flows.engine.worker`` (~0.3 s of imports before it can solve), or, in a process
that has already imported the engine and has no other thread yet (a fork server's child,
``flows.cli.forkserver``), a fork of it: no imports at all. Both talk JSON lines over stdin/stdout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from flows import ROOT
from flows.engine.forks import close_quietly, exit_after

__all__ = ["spawn", "prespawn", "adopt", "ForkedWorker"]

_READY: list[tuple[object, bool]] = []
_PARENT_ENDS: list[int] = []  # our ends of forked workers' pipes: a later fork must not inherit them


def spawn(verbose: bool) -> subprocess.Popen:
    """``python -m flows.engine.worker``: it imports the engine, then waits for its header on stdin."""
    return subprocess.Popen([sys.executable, "-m", "flows.engine.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=None if verbose else subprocess.PIPE, text=True, encoding="utf-8", bufsize=1,
                            cwd=str(ROOT))


class ForkedWorker:
    """A worker forked from this process, with the parts of ``Popen`` the pool uses."""

    def __init__(self, verbose: bool):
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = (None, None) if verbose else os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            def body() -> None:
                os.dup2(in_r, 0)
                os.dup2(out_w, 1)
                if err_w is not None:
                    os.dup2(err_w, 2)
                close_quietly((in_r, in_w, out_r, out_w, err_r, err_w, *_PARENT_ENDS))
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the CLI stops its workers itself
                from flows.engine.worker import main

                main()

            exit_after(body)
        for fd in (in_r, out_w, err_w):
            if fd is not None:
                os.close(fd)
        _PARENT_ENDS.extend(fd for fd in (in_w, out_r, err_r) if fd is not None)
        self.pid = pid
        self.returncode: int | None = None
        self._lock = threading.Lock()
        self.stdin = open(in_w, "w", encoding="utf-8", buffering=1)
        self.stdout = open(out_r, encoding="utf-8")
        self.stderr = open(err_r, encoding="utf-8", errors="replace") if err_r is not None else None

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None:
                try:
                    pid, status = os.waitpid(self.pid, os.WNOHANG)
                except ChildProcessError:
                    pid, status = self.pid, 255 << 8
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout)
            time.sleep(0.01)
        return self.returncode  # type: ignore[return-value]

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _can_fork() -> bool:
    return "flows.engine.core" in sys.modules and threading.active_count() == 1


def prespawn(processes: int, verbose: bool = False) -> None:
    fork = _can_fork()
    if fork:
        import gc

        gc.freeze()  # the workers' collectors leave the inherited heap alone (no copy-on-write of it)
    for _ in range(max(0, processes)):
        _READY.append((ForkedWorker(verbose) if fork else spawn(verbose), verbose))


def adopt(verbose: bool):
    """A prestarted worker that is still alive, or None."""
    while _READY:
        proc, v = _READY.pop(0)
        if proc.poll() is None and v == verbose:
            return proc
        if proc.poll() is None:
            proc.kill()
    return None
