"""A warm solver process per thread: one ``z3 -smt2 -in`` that takes problem after problem.

Starting Z3 costs ~15 ms, more than deciding a FOLIO problem. A worker is limited like any
solver process (address space via prlimit, Z3's own ``-memory``), answers each problem behind
``(reset)``, and is killed and replaced when a problem overruns its wall clock, when it dies,
or after ``MAX_USES`` problems (so CPU time and fragmentation cannot accumulate).

One problem must not be able to answer for the next. Each run ends with an ``echo`` of a fresh
random nonce the script cannot know (``@nesyflow-end <nonce>``): output counts as this problem's
only up to that exact line, and a worker that prints anything after it, has output waiting
before a problem is sent, or prints more than ``MAX_OUTPUT`` bytes is killed and replaced
(``WarmOutcome.integrity`` says why; the caller reports an error, never a verdict).

``confined=True`` runs the worker in the bubblewrap sandbox (``solvers.sandbox``) — read-only
file system, no network, a leased uid and the seccomp filter as in every sandbox, file size limit 0 — for scripts whose text we did not write;
the sandbox starts once per worker, so a problem pays nothing for it.

``scoped=True`` is for scripts we printed ourselves (``solvers.z3``'s FOL checks): a problem runs
inside ``(push 1)``…``(pop 1)`` instead of after ``(reset)``, because Z3 rebuilds its solver on the
first ``check-sat`` after a reset (~6 ms, five times what deciding a FOLIO-sized problem costs)
but not after a pop. Declarations and assertions are scoped, so nothing of one problem outlives
its pop, provided the problem stayed inside its scope: the scope opens by declaring a sentinel
named with the nonce, and before the closing pop the worker must report depth 1 with the
sentinel still declared — a script that popped out of its scope (and so could assert at depth
0) or left pushes open fails that, and the worker is killed. Options are not scoped: they are
the caller's (``prelude``, sent at depth 0 only when it differs from the last one; an option it
leaves out keeps its last value), and a scoped script sets none.
Text a model or a dataset wrote never runs scoped (``set-option``, ``reset`` are its to write).
Verdicts and unsat cores matched a fresh process on all 204 FOLIO problems; a countermodel may
be another model of the same premises, since Z3's choice depends on what the worker decided before.
"""

from __future__ import annotations

import atexit
import os
import secrets
import select
import subprocess
import threading
import time
import weakref
from contextlib import ExitStack
from dataclasses import dataclass

from .process import ProcOutcome, apply_limits, kill_group, note_spawn
from .sandbox import Sandbox, popen_sandboxed

__all__ = ["WarmZ3", "WarmOutcome", "z3_sandbox", "MAX_USES", "MAX_OUTPUT", "END"]

MAX_USES = 500
MAX_OUTPUT = 4 * 1024 * 1024
END = "@nesyflow-end"
WORKER_CPU_S = 86_400
"""RLIMIT_CPU of a confined worker's whole life: a backstop only (each problem has its wall clock)."""
_DEPTH_1 = "(:assertion-stack-levels 1)"
_ALL: "weakref.WeakSet[_Worker]" = weakref.WeakSet()


@dataclass(frozen=True)
class WarmOutcome(ProcOutcome):
    integrity: str = ""
    """Why the output cannot be this problem's (the worker was killed), or ''."""


def z3_sandbox(binary: str) -> tuple[Sandbox, str]:
    """A sandbox holding just the z3 binary (the wheel's is static but for libc and libstdc++,
    which ``/usr`` provides): a 1 MB /tmp, files of at most 0 bytes. Returns it and z3's path inside.
    A ``NESYFLOW_Z3`` whose shared libraries live outside ``/usr`` cannot start in it (its problems
    end undetermined, "z3 stopped early")."""
    real = os.path.realpath(binary)
    return Sandbox(ro_binds=((real, real),), tmp_mb=1, fsize_mb=0, nofile=32), real


class _Worker:
    def __init__(self, binary: str, memory_mb: int, confined: bool, scoped: bool = False, setup: str = ""):
        z3_args = ["-smt2", "-in", f"-memory:{memory_mb}"]
        self._lease: ExitStack | None = None
        if confined:  # a uid of its own and the seccomp filter, like any sandbox; limits set inside
            box, inside = z3_sandbox(binary)
            self.proc, self._lease = popen_sandboxed([inside, *z3_args], box, cpu_s=WORKER_CPU_S, memory_mb=memory_mb + 256)
        else:
            note_spawn()
            self.proc = subprocess.Popen([binary, *z3_args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, start_new_session=True, bufsize=0)
            apply_limits(self.proc.pid, memory_mb + 256)  # no CPU rlimit: it would accumulate over problems
        os.set_blocking(self.proc.stdin.fileno(), False)  # written only when select says it has room
        self.confined = confined
        self.scoped = scoped
        self.setup = setup
        self.options: str | None = None
        """The options set at depth 0 of a scoped worker (they persist from problem to problem)."""
        self.uses = 0
        self.lines_sent = 0
        self.memory_mb = memory_mb
        _ALL.add(self)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def quiet(self) -> bool:
        """No output waiting between problems (anything there was not asked for)."""
        ready, _, _ = select.select([self.proc.stdout.fileno()], [], [], 0)
        return not ready

    def kill(self) -> None:
        kill_group(self.proc)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self._lease is not None and self.proc.returncode is not None:
            self._lease.close()  # the uid is free again only once the sandbox is gone
            self._lease = None

    def run(self, script: str, wall_s: float, prelude: str = "") -> WarmOutcome:
        """``prelude``: commands on the reset line (options), so the script's own lines keep their numbers."""
        self.uses += 1
        t0 = time.perf_counter()
        offset = self.lines_sent + 1
        nonce = secrets.token_hex(16)
        marker = f"\n{END} {nonce}\n".encode()
        sentinel = ""  # a scoped problem's: it must still be declared when the problem ends
        if self.scoped:
            opts = ("" if prelude == self.options else prelude) if self.uses > 1 else self.setup + prelude
            self.options = prelude
            sentinel = f"nesyflow_scope_{nonce}"
            text = (f"{opts}(push 1)(declare-const {sentinel} Bool)\n{script}(get-info :assertion-stack-levels)\n"
                    f"(simplify {sentinel})\n(pop 1)\n(echo \"{END} {nonce}\")\n")
        else:
            text = f"(reset){prelude}\n{script}(echo \"{END} {nonce}\")\n"
        self.lines_sent += text.count("\n")
        try:
            return self._exchange(text.encode("utf-8"), marker, t0, wall_s, offset, sentinel)
        except BaseException:  # interrupted mid-problem: z3 may still be working on it, so it cannot take the next
            self.kill()
            raise

    def _exchange(self, data: bytes, marker: bytes, t0: float, wall_s: float, offset: int, sentinel: str) -> WarmOutcome:
        """Send the problem while reading its output, under one deadline: z3 answers a check while
        the rest of a long script is unsent, and with both pipes full a blocking write would wait forever."""
        out_fd, in_fd = self.proc.stdout.fileno(), self.proc.stdin.fileno()
        view, sent = memoryview(data), 0
        buf = bytearray(b"\n")  # the marker is a whole line, also when it is the first one
        deadline = t0 + wall_s
        seen = 0  # where the marker may start in buf: earlier bytes were searched
        while True:
            if buf.find(marker, seen) >= 0:
                break
            seen = max(0, len(buf) - len(marker))
            left = deadline - time.perf_counter()
            if left <= 0:
                self.kill()
                return WarmOutcome(buf[1:].decode("utf-8", "replace"), "", -9, time.perf_counter() - t0, timed_out=True)
            if len(buf) > MAX_OUTPUT:
                self.kill()
                return self._broken(buf, t0, f"z3 printed more than {MAX_OUTPUT} bytes")
            readable, writable, _ = select.select([out_fd], [in_fd] if sent < len(view) else [], [], left)
            if writable:
                try:
                    sent += os.write(in_fd, view[sent:sent + 65536])
                except BlockingIOError:
                    pass
                except (BrokenPipeError, OSError):
                    self.kill()
                    return WarmOutcome(buf[1:].decode("utf-8", "replace"), "worker died before reading the problem",
                                       self.proc.returncode or -9, time.perf_counter() - t0)
            if not readable:
                continue
            chunk = os.read(out_fd, 65536)
            if not chunk:  # died (memory limit, crash, a file written in the sandbox)
                code = self.proc.wait()
                if self.confined and 128 < code < 128 + 65:  # bwrap reports a child killed by signal N as 128+N
                    code = -(code - 128)
                return WarmOutcome(buf[1:].decode("utf-8", "replace"), "", code, time.perf_counter() - t0)
            buf += chunk
        end = buf.index(marker)
        if end + len(marker) != len(buf):
            self.kill()
            return self._broken(buf, t0, "z3 printed more after this problem's end marker")
        if sentinel:  # the problem must end inside the scope it began in (module docstring)
            tail = f"\n{_DEPTH_1}\n{sentinel}".encode()
            if not buf[:end].endswith(tail):
                self.kill()
                return self._broken(buf, t0, "the problem left the push/pop scope it ran in")
            end -= len(tail)
        return WarmOutcome(buf[1:end + 1].decode("utf-8", "replace"), "", 0, time.perf_counter() - t0, line_offset=offset)

    def _broken(self, buf: bytearray, t0: float, why: str) -> WarmOutcome:
        return WarmOutcome(buf[1:4097].decode("utf-8", "replace"), why, -9, time.perf_counter() - t0, integrity=why)


class WarmZ3:
    """Thread-local warm workers for one binary and memory cap (``confined``: in the sandbox;
    ``scoped``: problems behind push/pop, for scripts we printed)."""

    def __init__(self, binary: str, confined: bool = False, scoped: bool = False, setup: str = ""):
        """``setup``: options a scoped worker sets once, before its first problem (those Z3 refuses
        to change once anything was asserted, such as ``:produce-unsat-cores``)."""
        if scoped and confined:
            raise ValueError("a scoped worker is for scripts we printed; confined text runs behind (reset)")
        self.binary = binary
        self.confined = confined
        self.scoped = scoped
        self.setup = setup
        self._local = threading.local()

    def run(self, script: str, *, wall_s: float, memory_mb: int, prelude: str = "") -> WarmOutcome:
        """Raises ``SandboxUnavailable`` when a confined worker cannot be started."""
        w: _Worker | None = getattr(self._local, "worker", None)
        if w is not None and (not w.alive() or w.uses >= MAX_USES or w.memory_mb != memory_mb or not w.quiet()):
            w.kill()
            w = None
        if w is None:
            w = _Worker(self.binary, memory_mb, self.confined, self.scoped, self.setup)
            self._local.worker = w
        out = w.run(script, wall_s, prelude)
        if out.timed_out or out.returncode != 0:
            self.discard()
        return out

    def discard(self) -> None:
        """Kill this thread's worker (its output was not what the caller expected); the next run starts a new one."""
        w: _Worker | None = getattr(self._local, "worker", None)
        if w is not None:
            w.kill()
            self._local.worker = None


@atexit.register
def _shutdown() -> None:
    for w in list(_ALL):
        w.kill()
