"""Run a solver binary in a subprocess with CPU, memory and wall-clock limits (trusted binaries;
programs a model or a dataset supplies run in ``solvers.sandbox`` instead).

Limits are applied with ``resource.prlimit`` on the child right after it starts instead of a
``preexec_fn``: a preexec hook can deadlock when the parent has threads (our batches do). The
window between exec and prlimit is microseconds; solvers read their whole input before they
allocate. The wall clock kills the whole process group.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass

__all__ = ["ProcOutcome", "run_limited", "communicate", "spawn_count", "note_spawn", "apply_limits", "kill_group"]

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
        if self.timed_out:
            return "wall-clock limit"
        sig = self.signal_name
        if sig in ("SIGXCPU",):
            return "CPU limit"
        if sig in ("SIGKILL", "SIGSEGV", "SIGABRT") or "bad_alloc" in self.stderr or "out of memory" in (self.stdout + self.stderr).lower():
            return f"killed ({sig or 'out of memory'}; memory limit?)"
        return ""


def run_limited(argv: list[str], stdin: str, *, wall_s: float, cpu_s: int, memory_mb: int) -> ProcOutcome:
    note_spawn()
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, text=True, encoding="utf-8", errors="replace")
    apply_limits(proc.pid, memory_mb, cpu_s)
    out, err, timed_out = communicate(proc, stdin, wall_s)
    return ProcOutcome(out, err, proc.returncode, time.perf_counter() - t0, timed_out)


def communicate(proc: subprocess.Popen, stdin: str, wall_s: float) -> tuple[str, str, bool]:
    """(stdout, stderr, timed out) of a process started in its own session: the wall clock, or
    anything raised while waiting (Ctrl-C), kills its whole process group."""
    timed_out = False
    try:
        out, err = proc.communicate(stdin, timeout=wall_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc)
        out, err = proc.communicate()
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise
    return out or "", err or "", timed_out


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
