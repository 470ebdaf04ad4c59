"""Constraint programs (``parsers.programs.smt_program.SmtProgram``) decided by the ``z3`` binary.

One limited process per problem: the script's declarations and assertions, one ``check-sat`` for
their consistency, then for every query the checks it needs inside ``push``/``pop``. Z3 reports a
bad script as ``(error "line L column C: …")``; those lines become located errors against the
script, which for SMT-LIB written by a model is the model's own text, line for line.

The output is read through ``solvers.smt_output``: each answer must sit in its own check's
nonce-marked section, so no text the script makes z3 print can pass for an answer. A script a
model or a dataset wrote runs on a z3 in the sandbox (``solvers.warm``, ``confined``); where the
sandbox cannot be built it is not run (``SandboxUnavailable``). Only our own elaborator's output
(``printed_by_us``: CSP, Z3-DSL) runs on an unconfined z3 there.
"""

from __future__ import annotations

import re
import time

from parsers.errors import LocatedError, caret_snippet, locate
from parsers.programs.smt_program import Query, SmtProgram

from .base import Limits, ProgramOutcome, Status
from .binaries import z3_binary
from .process import run_limited
from .sandbox import run_sandboxed, sandbox_status
from .smt_output import ERROR_BLOCK, Framing, read_sections
from .warm import WarmOutcome, WarmZ3, z3_sandbox

__all__ = ["SmtSolver", "build_script"]

ANSWERED = Status.ANSWERED.value


def _checks(q: Query) -> list[tuple[str, str]]:
    """(kind, term) pairs: ``neg`` asks whether the assertions allow the term to fail."""
    if q.check == "accurate_list":
        disj = q.terms[0] if len(q.terms) == 1 else f"(or {' '.join(q.terms)})"
        return [("neg", disj)] + [("pos", t) for t in q.terms]
    return [("neg", q.terms[0]), ("pos", q.terms[0])]


def build_script(program: SmtProgram, framing: Framing) -> tuple[str, list[tuple[int, str]]]:
    """The full SMT-LIB input and, per check-sat after the first, (query index, kind)."""
    lines = [program.script.rstrip("\n"), framing.after_script(), "(check-sat)", framing.after_check(0)]
    plan = []
    for i, q in enumerate(program.queries):
        for kind, term in _checks(q):
            asserted = f"(not {term})" if kind == "neg" else term
            lines.append(f"(push 1)\n(assert {asserted})\n(check-sat)\n(pop 1)\n{framing.after_check(len(plan) + 1)}")
            plan.append((i, kind))
    return "\n".join(lines) + "\n", plan


def _holds(q: Query, results: list[str]) -> bool | None:
    """Whether the query's check passes given its check-sat answers (None: a check was unknown)."""
    if q.check == "accurate_list":
        neg, pos = results[0], results[1:]
        if neg == "unknown" or "unknown" in pos:
            return None
        value = neg == "unsat" and all(r == "sat" for r in pos)
    else:
        neg, pos = results
        needed = {"valid": neg, "sat": pos, "unsat": pos, "entail": neg}[q.check]
        if needed == "unknown":
            return None
        value = {"valid": neg == "unsat", "sat": pos == "sat", "unsat": pos == "unsat", "entail": neg == "unsat"}[q.check]
    return value != q.negate


_WARM: dict[tuple[str, bool], WarmZ3] = {}


def _confined(program: SmtProgram) -> bool:
    """Whether this script runs in the sandbox: always where one can be built; text we did not
    write never outside one (``SandboxUnavailable`` is raised by the runner)."""
    return not program.printed_by_us or sandbox_status() is None


class SmtSolver:
    """The back end for constraint programs (one interface: ``solve(program, limits)``).

    ``warm=True`` (default) reuses one z3 process per thread (``solvers.warm``): a z3 start costs
    more than most of these problems."""

    name = "z3-smt"

    def __init__(self, warm: bool = True):
        self.warm = warm

    def available(self) -> bool:
        try:
            z3_binary()
            return True
        except Exception:
            return False

    def solve(self, program: SmtProgram, limits: Limits) -> ProgramOutcome:
        """Raises ``SandboxUnavailable`` for a script we did not write when no sandbox can be built."""
        t0 = time.perf_counter()
        framing = Framing()
        script, plan = build_script(program, framing)
        per_check_ms = max(100, int(limits.timeout_s * 1000))
        total_s = max(1, int(limits.timeout_s * (1 + len(plan))))
        confined = _confined(program)
        pool = None
        if self.warm:
            pool = _WARM.setdefault((z3_binary(), confined), WarmZ3(z3_binary(), confined=confined))
            proc = pool.run(script, wall_s=total_s + 2, memory_mb=limits.memory_mb, prelude=f"(set-option :timeout {per_check_ms})")
        else:
            args = ["-in", "-smt2", f"-t:{per_check_ms}", f"-T:{total_s}", f"-memory:{limits.memory_mb}"]
            if confined:
                box, binary = z3_sandbox(z3_binary())
                proc = run_sandboxed([binary, *args], script, box, wall_s=total_s + 2, cpu_s=total_s + 1,
                                     memory_mb=limits.memory_mb + 256)
            else:
                proc = run_limited([z3_binary(), *args], script, wall_s=total_s + 2, cpu_s=total_s + 1, memory_mb=limits.memory_mb + 256)
        wall = time.perf_counter() - t0
        sections = read_sections(proc.stdout, framing, 1 + len(plan))
        forged = proc.integrity if isinstance(proc, WarmOutcome) and proc.integrity else sections.forged
        if forged:
            if pool is not None:
                pool.discard()  # a worker whose output is not what our commands print is not reused
            err = locate("solve", f"z3's output does not match the commands sent ({forged})", where="SMT-LIB",
                         hint="declare, define and assert only; nothing in the script may print")
            return ProgramOutcome(status=Status.ERROR.value, errors=[err], wall_s=wall, reason=err.message)
        complaints = sections.script_errors or sections.check_errors or \
            ("\n".join(m.group() for m in ERROR_BLOCK.finditer(sections.unclosed)))
        errors = [self._error(m, program, script, proc.line_offset) for m in ERROR_BLOCK.finditer(complaints)]
        answers = sections.answers
        if errors:
            own = [e for e in errors if e.line is None or not program.user_lines or e.line <= program.user_lines]
            return ProgramOutcome(status=Status.ERROR.value, errors=(own or errors)[:5], wall_s=wall,
                                  reason=f"z3 rejected the script: {(own or errors)[0].message}")
        if len(answers) < 1 + len(plan):
            why = proc.limit_reason() or f"z3 stopped early ({(proc.stderr or sections.unclosed).strip()[:120] or proc.returncode})"
            return ProgramOutcome(status=Status.UNDETERMINED.value, reason=why, wall_s=wall)
        if answers[0] == "unsat":
            return ProgramOutcome(status=Status.CONTRADICTORY.value, wall_s=wall,
                              reason="the constraints contradict each other, so every option follows from them",
                              errors=[locate("solve", "the constraints are unsatisfiable together", where="constraints",
                                             hint="one constraint is mistranslated: check directions (<, >) and numbers")])
        return self._judge(program, plan, answers[1:], wall)

    def _error(self, m: re.Match, program: SmtProgram, script: str, offset: int = 0) -> LocatedError:
        line, col, msg = m.group(1), m.group(2), " ".join(m.group(3).replace('\\"', '"').split())
        if line is None:
            return locate("parse", f"z3: {msg}", where="script")
        line_i, col_i = int(line) - offset, int(col)
        if program.user_lines and line_i <= program.user_lines:
            return locate("parse", msg, text=script, line=line_i, column=col_i, where="SMT-LIB")
        return LocatedError(stage="parse", where=f"generated SMT-LIB line {line_i}", message=msg,
                            snippet=caret_snippet(script, line_i, col_i), line=line_i, column=col_i)

    def _judge(self, program: SmtProgram, plan, results: list[str], wall: float) -> ProgramOutcome:
        by_query: dict[int, list[str]] = {}
        for (i, _), r in zip(plan, results):
            by_query.setdefault(i, []).append(r)
        queries = program.queries
        if len(queries) == 1 and queries[0].check == "entail":
            neg, pos = by_query[0]
            if neg == "unsat":
                status = Status.TRUE
            elif pos == "unsat":
                status = Status.FALSE
            elif neg == "sat" and pos == "sat":
                status = Status.UNKNOWN
            else:
                status = Status.UNDETERMINED
            return ProgramOutcome(status=status.value, reason=f"z3: P∧¬C {neg}, P∧C {pos}", wall_s=wall,
                              per_option={"conclusion": f"P∧¬C {neg}, P∧C {pos}"})
        per, holding, unknown = {}, [], []
        for i, q in enumerate(queries):
            h = _holds(q, by_query[i])
            per[q.label] = ("holds" if h else "fails" if h is False else "unknown") + f" ({q.check}{', negated' if q.negate else ''}: {' '.join(by_query[i])})"
            if h:
                holding.append(q.label)
            elif h is None:
                unknown.append(q.label)
        check = queries[0].check + (" (negated)" if queries[0].negate else "")
        if len(holding) == 1 and not unknown:
            return ProgramOutcome(status=ANSWERED, answer=holding[0], per_option=per, wall_s=wall,
                              reason=f"only option {holding[0]} passes the check ({check})")
        if unknown:
            return ProgramOutcome(status=Status.UNDETERMINED.value, per_option=per, wall_s=wall,
                              reason=f"z3 could not decide option(s) {', '.join(unknown)} within the limits")
        if not holding and queries[0].check == "valid" and not queries[0].negate:
            possible = [q.label for i, q in enumerate(queries) if len(by_query[i]) == 2 and by_query[i][1] == "sat"]
            if len(possible) == 1:  # the question presupposes one true option: the only possible one is it
                return ProgramOutcome(status=ANSWERED, answer=possible[0], per_option=per, wall_s=wall,
                                  reason=f"no option is entailed, but only {possible[0]} is consistent with the constraints "
                                         "(and the question presupposes one true option)")
        # No option, or several, pass: the program ran but cannot be the puzzle, which has one
        # answer. The sample is rejected (no vote; never the first passing option), and the
        # repair loop gets the reason.
        if not holding:
            err = locate("check", f"no option passes the check ({check}) under the constraints", where="options",
                         hint="a constraint or an option is mistranslated; compare each with its sentence")
            return ProgramOutcome(status=Status.REJECTED.value, per_option=per, wall_s=wall, errors=[err], reason=err.message,
                                  rejected_by="no option passes")
        err = locate("check", f"options {', '.join(holding)} all pass the check ({check}): the constraints leave the answer open",
                     where="options", hint="a constraint from the problem is likely missing or too weak")
        return ProgramOutcome(status=Status.REJECTED.value, per_option=per, wall_s=wall, errors=[err], reason=err.message,
                              rejected_by="several options pass")
