"""Run a solver binary in a subprocess with CPU, memory and wall-clock limits (trusted binaries;
programs a model or a dataset supplies run in ``solvers.sandbox`` instead).

Limits are applied with ``resource.prlimit`` on the child right after it starts instead of a
``preexec_fn``: a preexec hook can deadlock when the parent has threads (our batches do). The
window between exec and prlimit is microseconds; solvers read their whole input before they
allocate. The wall clock kills the whole process group.

Output is read incrementally against a byte budget per stream (``capture``): ``RLIMIT_FSIZE`` does
not cover pipes, and ``communicate()`` would hold whatever a program writes — a Program-of-Thought
program writing 2 GiB to stdout took the engine to 6.2 GB. A process that writes more is killed
and its outcome says so (``output_exceeded``); its partial output is dropped, never parsed.
"""

from __future__ import annotations

import os
import resource
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass

__all__ = ["ProcOutcome", "Captured", "run_limited", "communicate", "capture", "spawn_count", "note_spawn", "apply_limits",
           "kill_group", "MAX_OUTPUT"]

MAX_OUTPUT = 64 * 1024 * 1024
"""Bytes a trusted solver binary may write to stdout and to stderr, each, before it is killed."""

_SPAWNS = 0


def spawn_count() -> int:
    """How many solver processes this process has started (tests assert a cached rerun starts none)."""
    return _SPAWNS


def note_spawn() -> None:
    global _SPAWNS
    _SPAWNS += 1


@dataclass(frozen=True)
class ProcOutcome:
    stdout: str
    stderr: str
    returncode: int
    wall_s: float
    timed_out: bool = False
    line_offset: int = 0
    """Warm workers: input lines before this problem's first line (z3 numbers lines across its whole stdin)."""
    output_exceeded: str = ""
    """``stdout`` or ``stderr`` when that stream went over its byte budget (the process was killed)."""
    output_limit: int = 0
    """That budget, in bytes."""

    @property
    def signal_name(self) -> str:
        if self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return ""

    def limit_reason(self) -> str:
        """Which limit ended the process, or ''."""
        if self.output_exceeded:
            return f"output limit: more than {self.output_limit:,} bytes written to {self.output_exceeded}"
        if self.timed_out:
            return "wall-clock limit"
        sig = self.signal_name
        if sig in ("SIGXCPU",):
            return "CPU limit"
        if sig in ("SIGKILL", "SIGSEGV", "SIGABRT") or "bad_alloc" in self.stderr or "out of memory" in (self.stdout + self.stderr).lower():
            return f"killed ({sig or 'out of memory'}; memory limit?)"
        return ""


def run_limited(argv: list[str], stdin: str, *, wall_s: float, cpu_s: int, memory_mb: int,
                max_output: int = MAX_OUTPUT) -> ProcOutcome:
    note_spawn()
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    apply_limits(proc.pid, memory_mb, cpu_s)
    got = capture(proc, stdin, wall_s, max_output)
    return got.outcome(proc.returncode, time.perf_counter() - t0)


@dataclass(frozen=True)
class Captured:
    """What ``capture`` read from a finished (or killed) process."""

    stdout: str
    stderr: str
    timed_out: bool
    exceeded: str = ""
    """``stdout``/``stderr``: that stream went over the budget; the process was killed, both streams dropped."""
    limit: int = 0

    def outcome(self, returncode: int, wall_s: float) -> ProcOutcome:
        return ProcOutcome(self.stdout, self.stderr, returncode, wall_s, self.timed_out, output_exceeded=self.exceeded,
                           output_limit=self.limit if self.exceeded else 0)


_CHUNK = 1 << 16


def capture(proc: subprocess.Popen, stdin: str | bytes, wall_s: float, max_bytes: int) -> Captured:
    """Feed ``stdin`` to a process started in its own session with piped stdin/stdout/stderr and
    read both outputs as they come, each up to ``max_bytes``. The wall clock, a stream over its
    budget, or anything raised while waiting (Ctrl-C) kills the whole process group. Text is
    decoded as UTF-8 (``replace``) with universal newlines, as ``text=True`` would."""
    deadline = time.monotonic() + wall_s
    data = memoryview(stdin.encode("utf-8", "replace") if isinstance(stdin, str) else stdin)
    streams = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr"}
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    sizes = {"stdout": 0, "stderr": 0}
    timed_out, exceeded, sent = False, "", 0
    sel = selectors.DefaultSelector()
    try:
        for fd in streams:
            sel.register(fd, selectors.EVENT_READ)
        if data:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE)
        else:
            _close(proc.stdin)
        while sel.get_map() and not exceeded:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(left):
                if key.fd not in streams:  # stdin has room
                    try:
                        sent += os.write(key.fd, data[sent:sent + _CHUNK])
                    except BlockingIOError:
                        continue
                    except OSError:  # the process stopped reading (EPIPE): the rest is not ours to force
                        sent = len(data)
                    if sent >= len(data):
                        sel.unregister(key.fd)
                        _close(proc.stdin)
                    continue
                name = streams[key.fd]
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                if sizes[name] + len(chunk) > max_bytes:
                    exceeded = name
                    break
                chunks[name].append(chunk)
                sizes[name] += len(chunk)
        if timed_out or exceeded:
            kill_group(proc)
        else:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:  # outputs closed, the process still running
                timed_out = True
                kill_group(proc)
        proc.wait()
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise
    finally:
        sel.close()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            _close(f)
    if exceeded:
        return Captured("", "", False, exceeded, max_bytes)
    return Captured(_text(chunks["stdout"]), _text(chunks["stderr"]), timed_out)


def _text(chunks: list[bytes]) -> str:
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")


def _close(f) -> None:
    try:
        if f is not None:
            f.close()
    except OSError:
        pass


def communicate(proc: subprocess.Popen, stdin: str, wall_s: float, max_bytes: int = MAX_OUTPUT) -> tuple[str, str, bool]:
    """(stdout, stderr, timed out) of a process started in its own session (``capture``; a stream
    over ``max_bytes`` kills the process and comes back empty)."""
    got = capture(proc, stdin, wall_s, max_bytes)
    return got.stdout, got.stderr, got.timed_out


def apply_limits(pid: int, memory_mb: int, cpu_s: int | None = None) -> None:
    """Address space, no core files, and (for one-shot processes) CPU seconds, on a started child."""
    try:
        if cpu_s is not None:
            cpu = max(1, int(cpu_s))
            resource.prlimit(pid, resource.RLIMIT_CPU, (cpu, cpu + 1))
        mem = int(memory_mb) * 1024 * 1024
        resource.prlimit(pid, resource.RLIMIT_AS, (mem, mem))
        resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
    except (ProcessLookupError, PermissionError, ValueError, OSError):
        pass  # already exited (fast solvers do) or not permitted: the wall clock still applies


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass
