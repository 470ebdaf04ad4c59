"""Engine worker processes started before the batch is read (``flows.launch``), adopted by
``flows.pool.EnginePool``. Kept apart so that starting them imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["spawn", "prespawn", "adopt"]

_READY: list[tuple[subprocess.Popen, bool]] = []


def spawn(verbose: bool) -> subprocess.Popen:
    """``python -m flows.worker``: it imports the engine, then waits for its header on stdin."""
    return subprocess.Popen([sys.executable, "-m", "flows.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=None if verbose else subprocess.PIPE, text=True, encoding="utf-8", bufsize=1,
                            cwd=str(Path(__file__).resolve().parent.parent))


def prespawn(processes: int, verbose: bool = False) -> None:
    for _ in range(max(0, processes)):
        _READY.append((spawn(verbose), verbose))


def adopt(verbose: bool) -> subprocess.Popen | None:
    """A prestarted worker that is still alive, or None."""
    while _READY:
        proc, v = _READY.pop(0)
        if proc.poll() is None and v == verbose:
            return proc
        if proc.poll() is None:
            proc.kill()
    return None
