"""Prover9 on first-order problems: LADR text printed from the AST, run as a subprocess.

LADR reads any name starting with u–z as a variable, so constants are printed ``c_…``,
predicates ``P_…``, functions ``f_…`` and bound variables ``v_…``. Prover9's exit code says
how a search ended (its manual's table below); "search failed" means the clause set saturated,
so the goal does not follow — only because the input clears Prover9's ``auto_limits``
(``max_weight`` 100, ``sos_limit`` 20000): under them it deletes heavy clauses and then reports
"sos empty" for theorems too (``P(a)``, ``∀x (P(x) → P(g(x,x)))`` ⊢ ``P(g⁷(a))`` was Unknown).
"""

from __future__ import annotations

import re

from parsers.fol.nodes import And, Atom, Const, Eq, Exists, Forall, Iff, Implies, Not, Or, Var, Xor

from .base import FolProblem, GoalProver, Limits, Run, RunKind
from .binaries import prover9_binary
from .process import run_limited
from .symbols import SymbolTable, ascii_ident

__all__ = ["Prover9", "to_ladr", "EXIT_CODES"]

EXIT_CODES = {
    0: (RunKind.PROVED, "proved"),
    1: (RunKind.FAILED, "fatal error"),
    2: (RunKind.NOT_ENTAILED, "search failed (sos empty)"),
    3: (RunKind.UNDECIDED, "max_megs"),
    4: (RunKind.UNDECIDED, "max_seconds"),
    5: (RunKind.UNDECIDED, "max_given"),
    6: (RunKind.UNDECIDED, "max_kept"),
    7: (RunKind.UNDECIDED, "action"),
    101: (RunKind.UNDECIDED, "interrupted"),
    102: (RunKind.UNDECIDED, "crashed"),
}
_PROOFS = re.compile(r"Exiting with [1-9][0-9]* proofs?")
_PREFIX = {"pred": "P_", "func": "f_", "const": "c_", "var": "v_"}


def _table() -> SymbolTable:
    return SymbolTable(lambda kind, name: _PREFIX[kind] + ascii_ident(name))


def _term(t, sym) -> str:
    if isinstance(t, Var):
        return sym("var", t.name)
    if isinstance(t, Const):
        return sym("const", t.name)
    return f"{sym('func', t.name)}({','.join(_term(a, sym) for a in t.args)})"


def _formula(f, sym) -> str:
    if isinstance(f, Atom):
        name = sym("pred", f.pred)
        return name if not f.args else f"{name}({','.join(_term(a, sym) for a in f.args)})"
    if isinstance(f, Eq):
        return f"({_term(f.left, sym)} = {_term(f.right, sym)})"
    if isinstance(f, Not):
        return f"-({_formula(f.body, sym)})"
    if isinstance(f, (And, Or)):
        op = " & " if isinstance(f, And) else " | "
        return "(" + op.join(_formula(a, sym) for a in f.args) + ")"
    if isinstance(f, Xor):
        return f"-({_formula(f.left, sym)} <-> {_formula(f.right, sym)})"
    if isinstance(f, (Implies, Iff)):
        op = "->" if isinstance(f, Implies) else "<->"
        return f"({_formula(f.left, sym)} {op} {_formula(f.right, sym)})"
    if isinstance(f, (Forall, Exists)):
        q = "all" if isinstance(f, Forall) else "exists"
        return f"({q} {sym('var', f.var)} {_formula(f.body, sym)})"
    raise TypeError(f"not a formula: {f!r}")


def to_ladr(problem: FolProblem, limits: Limits, negate_goal: bool = False) -> str:
    sym = _table()
    goal = _formula(problem.conclusion, sym)
    seconds = max(1, int(min(limits.timeout_s, limits.cpu_s)))
    lines = [
        "set(quiet).",
        "clear(auto_denials). assign(max_proofs, 1).",  # auto_denials may raise max_proofs to 2
        # no clause is ever deleted for its weight or a full sos: "sos empty" then means saturated
        "clear(auto_limits). assign(max_weight, 1000000000). assign(sos_limit, -1).",
        "clear(print_initial_clauses). clear(print_kept). clear(print_given). clear(print_proofs).",
        f"assign(max_seconds, {seconds}).",
        f"assign(max_megs, {max(16, limits.memory_mb - 64)}).",
        "formulas(assumptions).",
        *(f"{_formula(p, sym)}." for p in problem.premises),
        "end_of_list.",
        "formulas(goals).",
        f"{'-' + goal if negate_goal else goal}.",
        "end_of_list.",
    ]
    return "\n".join(lines) + "\n"


class Prover9(GoalProver):
    name = "prover9"
    binary = staticmethod(prover9_binary)

    def _run_goal(self, problem: FolProblem, limits: Limits, negate: bool) -> Run:
        return self._run(to_ladr(problem, limits, negate_goal=negate), limits)

    def _run(self, text: str, limits: Limits) -> Run:
        proc = run_limited([prover9_binary()], text, wall_s=limits.timeout_s + 1, cpu_s=limits.cpu_s + 1, memory_mb=limits.memory_mb + 256)
        if proc.timed_out or proc.returncode < 0:
            return Run(RunKind.UNDECIDED, proc.limit_reason() or f"signal {proc.signal_name}")
        kind, detail = EXIT_CODES.get(proc.returncode, (RunKind.UNDECIDED, f"exit {proc.returncode}"))
        if kind is not RunKind.PROVED and _PROOFS.search(proc.stdout):  # found, then kept searching
            kind, detail = RunKind.PROVED, "proved"
        if kind is RunKind.FAILED:
            detail = f"{detail}: {_error_block(proc.stdout + proc.stderr)}"
        return Run(kind, detail)


def _error_block(text: str) -> str:
    """The first ``%%ERROR`` line Prover9 printed (it names the offending input)."""
    for line in text.splitlines():
        if "%%ERROR" in line or "Fatal error" in line:
            return line.strip()[:200]
    return text.strip().splitlines()[-1][:200] if text.strip() else "no output"
