"""Math back ends: SymPy on whitelisted equations, and Program-of-Thought in the sandbox.

Both run in a fresh Python process inside ``solvers.sandbox`` (bubblewrap: no network, no view
of the project or its state, a uid of its own, seccomp, rlimits, killed whole on the wall clock
or when it writes more than its output budget). The SymPy worker only ever receives equations
our own grammar accepted, but it runs confined all the same: a grammar bug must not become an
escape. Their answer line is checked (``read_reply``) and its text clipped before it reaches a
result. One interface: ``solve(program, limits) -> ProgramOutcome`` (``solvers.base``).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from parsers.errors import MAX_MESSAGE_CHARS, cap, locate
from parsers.programs.math_program import MathProgram

from .base import Limits, ProgramOutcome, Status
from .process import ProcOutcome
from .sandbox import SITE, Sandbox, python_sandbox, run_sandboxed

__all__ = ["SympySolver", "PythonSandbox", "run_python", "sympy_sandbox", "pot_sandbox", "Reply", "read_reply", "clip",
           "MAX_REPLY_TEXT"]

_WORKER = Path(__file__).with_name("math_worker.py")


def _last_json(stdout: str) -> dict | None:
    """The last line of ``stdout`` that is a JSON object (the runner's and the worker's answer)."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, cut short, or nested beyond the parser's depth
            continue
        if isinstance(value, dict):
            return value
    return None


MAX_REPLY_TEXT = MAX_MESSAGE_CHARS
"""Characters of a sandbox's message or value kept in reasons, results and the store."""
clip = cap


@dataclass(frozen=True)
class Reply:
    """The answer line of a sandboxed runner or worker, checked: ``ok`` with a ``value``, or an error
    ``message`` with the program ``line`` it points at (both text clipped to ``MAX_REPLY_TEXT``)."""

    ok: bool
    value: str = ""
    message: str = ""
    line: int | None = None


def read_reply(raw: dict) -> Reply | str:
    """``raw`` as a ``Reply``, or what is wrong with it (a program controls its own stdout, so
    ``{}``, a dict message or a numeric value are inputs like any other)."""
    status = raw.get("status")
    if status == "ok":
        value = raw.get("value")
        if not isinstance(value, str):
            return f"its answer line has status ok but no text value ({_shape(value)})"
        return Reply(ok=True, value=clip(value))
    if status == "error":
        message, line = raw.get("message"), raw.get("line")
        if not isinstance(message, str):
            return f"its answer line has status error but no text message ({_shape(message)})"
        if line is not None and (type(line) is not int or line < 1):
            line = None
        return Reply(ok=False, message=clip(message) or "an error without a message", line=line)
    keys = ", ".join(map(str, raw))
    return f"its answer line has no status ok/error (keys: {keys[:80] + '…' if len(keys) > 80 else keys or 'none'})"


def _shape(value) -> str:
    if value is None:
        return "missing"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


MAX_MAGNITUDE = Fraction(10) ** 60


class _NotExact(Exception):
    """The program needs SymPy (an unknown, an irrational value, a huge number)."""


def _exact_value(node, known: dict[str, Fraction]) -> Fraction:
    from parsers.programs.expr import BinOp, Call, Name, Num, Unary

    if isinstance(node, Num):
        v = Fraction(node.text)
    elif isinstance(node, Name):
        if node.id not in known:
            raise _NotExact(node.id)
        v = known[node.id]
    elif isinstance(node, Unary):
        v = _exact_value(node.operand, known)
        v = -v if node.op == "-" else v
    elif isinstance(node, BinOp):
        a, b = _exact_value(node.left, known), _exact_value(node.right, known)
        if node.op in ("/", "//", "%") and b == 0:
            raise _NotExact("division by zero")
        if node.op == "**":
            if b.denominator != 1 or (a == 0 and b < 0):
                raise _NotExact("root")
            v = a ** int(b)
        else:
            v = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
                 "//": lambda: Fraction(math.floor(a / b)), "%": lambda: a - b * math.floor(a / b)}[node.op]()
    elif isinstance(node, Call):
        args = [_exact_value(x, known) for x in node.args]
        f = node.func
        if f in ("Abs", "abs"):
            v = abs(args[0])
        elif f == "floor":
            v = Fraction(math.floor(args[0]))
        elif f in ("ceiling", "ceil"):
            v = Fraction(math.ceil(args[0]))
        elif f in ("Min", "min"):
            v = min(args)
        elif f in ("Max", "max"):
            v = max(args)
        elif f == "Rational" and args[1] != 0:
            v = args[0] / args[1]
        else:
            raise _NotExact(f)  # sqrt, round: left to SymPy (same semantics in one place)
    else:
        raise _NotExact(type(node).__name__)
    if abs(v) > MAX_MAGNITUDE or v.denominator > MAX_MAGNITUDE:
        raise _NotExact("magnitude")
    return v


def exact_answer(program: MathProgram) -> str | None:
    """Programs that only assign known values in order (most word problems) are evaluated here with
    exact fractions over the parsed tree — bounded in magnitude, no process, no SymPy import. Anything
    else (unknowns, reassignments, roots) returns None and goes to the SymPy process."""
    from parsers.programs.expr import parse_expression

    known: dict[str, Fraction] = {}
    try:
        for lhs, rhs in program.equations:
            if not re.fullmatch(r"[A-Za-z_]\w*", lhs) or lhs in known:
                return None
            known[lhs] = _exact_value(parse_expression(rhs), known)
        value = _exact_value(parse_expression(program.answer), known)
    except _NotExact:
        return None
    return str(value.numerator) if value.denominator == 1 else repr(float(value))


class SympySolver:
    name = "sympy"

    def solve(self, program: MathProgram, limits: Limits) -> ProgramOutcome:
        t0 = time.perf_counter()
        fast = exact_answer(program)
        if fast is not None:
            return ProgramOutcome(status=Status.ANSWERED.value, answer=fast, reason=f"exact arithmetic: answer = {fast}",
                               wall_s=time.perf_counter() - t0)
        box, python = sympy_sandbox()
        proc = run_sandboxed([python, "-I", "-S", "-B", f"{SITE}/{_WORKER.name}"], program.model_dump_json(), box,
                             wall_s=limits.timeout_s + 5, cpu_s=limits.cpu_s + 2, memory_mb=max(limits.memory_mb, 512))
        wall = time.perf_counter() - t0
        raw = None if proc.output_exceeded else _last_json(proc.stdout)
        if raw is None:  # our worker said nothing readable: a limit, or a crash — not the equations' fault
            why = proc.limit_reason() or f"the SymPy process ended without an answer ({clip(proc.stderr.strip()[-160:])})"
            return ProgramOutcome(status=Status.UNDETERMINED.value, reason=why, wall_s=wall,
                                  errors=[locate("solve", f"the SymPy worker was stopped: {why}", where="sympy worker")])
        reply = read_reply(raw)
        if isinstance(reply, str):
            why = f"the SymPy worker's reply is malformed: {reply}"
            return ProgramOutcome(status=Status.UNDETERMINED.value, reason=why, wall_s=wall,
                                  errors=[locate("solve", why, where="sympy worker")])
        if not reply.ok:
            err = locate("solve", reply.message, where="equations", hint="check each equation against its sentence")
            return ProgramOutcome(status=Status.ERROR.value, reason=reply.message, errors=[err], wall_s=wall)
        value = reply.value
        if _number(value) is None:  # kept as the worker wrote it: an integer beyond 1e15 stays exact
            why = f"the SymPy worker's answer {value[:60]!r} is not a finite number"
            return ProgramOutcome(status=Status.UNDETERMINED.value, reason=why, wall_s=wall,
                                  errors=[locate("solve", why, where="sympy worker")])
        return ProgramOutcome(status=Status.ANSWERED.value, answer=value, reason=f"sympy: answer = {value}", wall_s=wall)


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
def pot_sandbox() -> tuple[Sandbox, str]:
    """Program-of-Thought: the interpreter and its standard library, nothing else."""
    return python_sandbox()


_WORKER_PACKAGES = ("sympy", "mpmath", "lark", "parsers", "pydantic", "pydantic_core", "typing_extensions",
                    "annotated_types", "typing_inspection")


@lru_cache(maxsize=1)
def sympy_sandbox() -> tuple[Sandbox, str]:
    """The SymPy worker: the interpreter, SymPy and mpmath, our expression grammar (``parsers``, which
    needs lark and pydantic) and the worker script, all read-only."""
    return python_sandbox(packages=_WORKER_PACKAGES, files=((str(_WORKER), _WORKER.name),))


def run_python(code: str, limits: Limits, memory_mb: int = 512) -> ProcOutcome:
    """Generated Python in a fresh interpreter (isolated mode, no site-packages) inside the sandbox;
    the program text arrives on stdin and its answer leaves as the last JSON line of stdout."""
    box, python = pot_sandbox()
    return run_sandboxed([python, "-I", "-S", "-B", "-c", _RUNNER], code, box, wall_s=limits.timeout_s,
                         cpu_s=limits.cpu_s, memory_mb=memory_mb)


def _number(text: str) -> str | None:
    """A decimal answer as text, or None (not a number, or nan/inf)."""
    try:
        value = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


class PythonSandbox:
    """Program-of-Thought: the model's program defines ``solution()`` (PAL style) or ``answer``."""

    name = "python"

    def solve(self, code: str, limits: Limits) -> ProgramOutcome:
        t0 = time.perf_counter()
        proc = run_python(code, limits)
        wall = time.perf_counter() - t0
        raw = None if proc.output_exceeded else _last_json(proc.stdout)
        if raw is None:
            why = proc.limit_reason() or (f"the program ended without an answer (exit {proc.returncode}: "
                                          f"{clip(proc.stderr.strip()[-160:])})")
            hint = ("print less: the answer is the value of answer or solution(), not the output"
                    if proc.output_exceeded else "avoid unbounded loops and huge data")
            return ProgramOutcome(status=Status.ERROR.value, reason=why, wall_s=wall, limit=proc.limit_reason(),
                                  errors=[locate("solve", f"the program was stopped: {why}", where="program", hint=hint)])
        reply = read_reply(raw)
        if isinstance(reply, str):
            msg = f"the program's result is malformed: {reply}"
            return ProgramOutcome(status=Status.ERROR.value, reason=msg, wall_s=wall,
                                  errors=[locate("solve", msg, where="program", hint="end with answer = <number> or def solution()")])
        if not reply.ok:
            where = f"program line {reply.line}" if reply.line else "program"
            return ProgramOutcome(status=Status.ERROR.value, reason=reply.message, wall_s=wall,
                                  errors=[locate("solve", reply.message, where=where)])
        value = _number(reply.value.strip("'\""))
        if value is None:
            msg = f"the program's answer {reply.value[:60]} is not a finite number"
            return ProgramOutcome(status=Status.ERROR.value, reason=msg, wall_s=wall, errors=[locate("solve", msg, where="program")])
        return ProgramOutcome(status=Status.ANSWERED.value, answer=value, reason=f"python: answer = {value}", wall_s=wall)
