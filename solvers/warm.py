"""A warm solver process per thread: one ``z3 -smt2 -in`` that takes problem after problem.

Starting Z3 costs ~15 ms, more than deciding a FOLIO problem. A worker is limited like any
solver process (address space via prlimit, Z3's own ``-memory``), answers each problem behind
``(reset)``, and is killed and replaced when a problem overruns its wall clock, when it dies,
or after ``MAX_USES`` problems (so CPU time and fragmentation cannot accumulate).
"""

from __future__ import annotations

import atexit
import os
import select
import subprocess
import threading
import time
import weakref

from .process import ProcOutcome, apply_limits, kill_group, note_spawn

__all__ = ["WarmZ3", "MAX_USES"]

MAX_USES = 500
END = "@nesyflow-end"
_ALL: "weakref.WeakSet[_Worker]" = weakref.WeakSet()


class _Worker:
    def __init__(self, argv: list[str], memory_mb: int):
        note_spawn()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True, bufsize=0)
        apply_limits(self.proc.pid, memory_mb)  # no CPU rlimit: it would accumulate over problems
        self.uses = 0
        self.lines_sent = 0
        self.memory_mb = memory_mb
        _ALL.add(self)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        kill_group(self.proc)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def run(self, script: str, wall_s: float, prelude: str = "") -> ProcOutcome:
        """``prelude``: commands on the reset line (options), so the script's own lines keep their numbers."""
        self.uses += 1
        t0 = time.perf_counter()
        offset = self.lines_sent + 1
        text = f"(reset){prelude}\n{script}(echo \"{END}\")\n"
        self.lines_sent += text.count("\n")
        data = text.encode("utf-8")
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            return ProcOutcome("", "worker died before reading the problem", self.proc.returncode or -9, time.perf_counter() - t0)
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        deadline = t0 + wall_s
        marker = END.encode()
        while marker not in buf:
            left = deadline - time.perf_counter()
            if left <= 0:
                self.kill()
                return ProcOutcome(buf.decode("utf-8", "replace"), "", -9, time.perf_counter() - t0, timed_out=True)
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:  # died (memory limit, crash)
                self.proc.wait()
                return ProcOutcome(buf.decode("utf-8", "replace"), "", self.proc.returncode, time.perf_counter() - t0)
            buf += chunk
        out = buf[: buf.index(marker)].decode("utf-8", "replace")
        return ProcOutcome(out, "", 0, time.perf_counter() - t0, line_offset=offset)


class WarmZ3:
    """Thread-local warm workers for one binary and memory cap."""

    def __init__(self, binary: str):
        self.binary = binary
        self._local = threading.local()

    def run(self, script: str, *, wall_s: float, memory_mb: int, prelude: str = "") -> ProcOutcome:
        w: _Worker | None = getattr(self._local, "worker", None)
        if w is None or not w.alive() or w.uses >= MAX_USES or w.memory_mb != memory_mb:
            if w is not None:
                w.kill()
            w = _Worker([self.binary, "-smt2", "-in", f"-memory:{memory_mb}"], memory_mb + 256)
            w.memory_mb = memory_mb
            self._local.worker = w
        out = w.run(script, wall_s, prelude)
        if out.timed_out or out.returncode != 0:
            w.kill()
            self._local.worker = None
        return out


@atexit.register
def _shutdown() -> None:
    for w in list(_ALL):
        w.kill()
