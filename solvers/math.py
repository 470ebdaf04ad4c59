"""Math back ends: SymPy on whitelisted equations, and Program-of-Thought in a sandbox.

Both run in a separate Python process under CPU, memory and wall-clock limits; the whole
process group is killed on the wall clock. One interface: ``solve(program, limits) -> MathOutcome``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from parsers.errors import LocatedError, locate
from parsers.math_program import MathProgram

from .base import Limits, Status
from .sandbox import ProcOutcome, apply_limits, kill_group, note_spawn, run_limited

__all__ = ["MathOutcome", "SympySolver", "PythonSandbox", "run_sandboxed", "network_isolation"]

_WORKER = Path(__file__).with_name("math_worker.py")


class MathOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: str
    """``answered`` with ``answer`` set, or error / undetermined."""
    answer: str | None = None
    reason: str = ""
    errors: list[LocatedError] = []
    wall_s: float = 0.0


def _last_json(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


class SympySolver:
    name = "sympy"

    def solve(self, program: MathProgram, limits: Limits) -> MathOutcome:
        t0 = time.perf_counter()
        proc = run_limited([sys.executable, "-I", str(_WORKER)], program.model_dump_json(),
                           wall_s=limits.timeout_s + 5, cpu_s=limits.cpu_s + 2, memory_mb=max(limits.memory_mb, 512))
        wall = time.perf_counter() - t0
        out = _last_json(proc.stdout)
        if out is None:
            why = proc.limit_reason() or f"the SymPy process ended without an answer ({proc.stderr.strip()[-160:]})"
            return MathOutcome(status=Status.UNDETERMINED.value, reason=why, wall_s=wall)
        if out["status"] != "ok":
            err = locate("solve", out["message"], where="equations", hint="check each equation against its sentence")
            return MathOutcome(status=Status.ERROR.value, reason=out["message"], errors=[err], wall_s=wall)
        return MathOutcome(status="answered", answer=out["value"], reason=f"sympy: answer = {out['value']}", wall_s=wall)


# ---- Program-of-Thought ----------------------------------------------------------------------

_RUNNER = r"""
import json, sys
code = sys.stdin.read()
scope = {"__name__": "__pot__"}
try:
    exec(compile(code, "<program>", "exec"), scope)
    value = scope["solution"]() if callable(scope.get("solution")) else scope.get("answer", scope.get("result"))
    if value is None:
        out = {"status": "error", "message": "the program defines neither solution() nor answer"}
    else:
        out = {"status": "ok", "value": repr(value)}
except MemoryError:
    out = {"status": "error", "message": "MemoryError: the program exceeded its memory limit"}
except BaseException as exc:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<program>":
            line = tb.tb_lineno
        tb = tb.tb_next
    out = {"status": "error", "message": f"{type(exc).__name__}: {str(exc)[:200]}", "line": line}
sys.stdout.write("\n" + json.dumps(out) + "\n")
"""


@lru_cache(maxsize=1)
def network_isolation() -> list[str]:
    """``unshare --net`` when this machine allows it (root, or user namespaces), else nothing."""
    unshare = shutil.which("unshare")
    if not unshare:
        return []
    for argv in ([unshare, "--net", "--"], [unshare, "--user", "--map-root-user", "--net", "--"]):
        try:
            if subprocess.run([*argv, "true"], capture_output=True, timeout=5).returncode == 0:
                return argv
        except (OSError, subprocess.SubprocessError):
            continue
    return []


def run_sandboxed(code: str, limits: Limits, memory_mb: int = 512) -> ProcOutcome:
    """Generated Python in a fresh interpreter: isolated mode, empty environment, a private empty
    working directory, rlimits (CPU, address space, file size, open files), no network when the
    machine allows it, and the process group killed on the wall clock."""
    note_spawn()
    with tempfile.TemporaryDirectory(prefix="nesyflow-pot-") as cwd:
        argv = [*network_isolation(), sys.executable, "-I", "-S", "-c", _RUNNER]
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                                env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"}, start_new_session=True, text=True,
                                encoding="utf-8", errors="replace")
        apply_limits(proc.pid, memory_mb, limits.cpu_s)
        _extra_limits(proc.pid)
        timed_out = False
        try:
            out, err = proc.communicate(code, timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc)
            out, err = proc.communicate()
        except BaseException:
            kill_group(proc)
            proc.wait()
            raise
        return ProcOutcome(out or "", err or "", proc.returncode, time.perf_counter() - t0, timed_out)


def _extra_limits(pid: int) -> None:
    import resource

    for res, value in ((resource.RLIMIT_FSIZE, 1 << 20), (resource.RLIMIT_NOFILE, 64), (resource.RLIMIT_NPROC, 256)):
        try:
            resource.prlimit(pid, res, (value, value))
        except (ProcessLookupError, PermissionError, ValueError, OSError):
            pass


def _number(text: str) -> str | None:
    try:
        value = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        return None
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


class PythonSandbox:
    """Program-of-Thought: the model's program defines ``solution()`` (PAL style) or ``answer``."""

    name = "python"

    def solve(self, code: str, limits: Limits) -> MathOutcome:
        t0 = time.perf_counter()
        proc = run_sandboxed(code, limits)
        wall = time.perf_counter() - t0
        out = _last_json(proc.stdout)
        if out is None:
            why = proc.limit_reason() or f"the program ended without an answer (exit {proc.returncode}: {proc.stderr.strip()[-160:]})"
            return MathOutcome(status=Status.ERROR.value, reason=why, wall_s=wall,
                               errors=[locate("solve", f"the program was stopped: {why}", where="program",
                                              hint="avoid unbounded loops and huge data")])
        if out["status"] != "ok":
            where = f"program line {out['line']}" if out.get("line") else "program"
            return MathOutcome(status=Status.ERROR.value, reason=out["message"], wall_s=wall,
                               errors=[locate("solve", out["message"], where=where)])
        value = _number(out["value"].strip("'\""))
        if value is None:
            msg = f"the program's answer {out['value'][:60]} is not a number"
            return MathOutcome(status=Status.ERROR.value, reason=msg, wall_s=wall, errors=[locate("solve", msg, where="program")])
        return MathOutcome(status="answered", answer=value, reason=f"python: answer = {value}", wall_s=wall)
