"""E prover on first-order problems: TPTP FOF printed from the AST, SZS status mapped.

Every symbol is single-quoted, so ``'Rina'`` and ``'rina'`` stay distinct and no name can clash
with TPTP's syntax; variables are upper-case. Inside the quotes only printable ASCII other than
``'``, ``\\`` and ``$`` is kept (the rest is ``_<hex>_``): E reads ``'$false'`` and ``'$true'`` as
the logical constants, so a predicate a model named ``$false`` made E "prove" anything. Two runs
per problem: conjecture C, conjecture ¬C.
"""

from __future__ import annotations

import re

from parsers.fol.nodes import And, Atom, Const, Eq, Exists, Forall, Iff, Implies, Not, Or, Var, Xor

from .base import FolProblem, GoalProver, Limits, Run, RunKind
from .binaries import eprover_binary
from .process import run_limited
from .symbols import SymbolTable, ascii_ident

__all__ = ["EProver", "to_tptp", "SZS_TABLE"]

SZS_TABLE = {
    "Theorem": RunKind.PROVED,
    "Unsatisfiable": RunKind.PROVED,
    "ContradictoryAxioms": RunKind.AXIOMS_CONTRADICTORY,
    "CounterSatisfiable": RunKind.NOT_ENTAILED,
    "Satisfiable": RunKind.NOT_ENTAILED,
    "ResourceOut": RunKind.UNDECIDED,
    "GaveUp": RunKind.UNDECIDED,
    "Timeout": RunKind.UNDECIDED,
    "MemoryOut": RunKind.UNDECIDED,
    "Unknown": RunKind.UNDECIDED,
    "InputError": RunKind.FAILED,
    "SyntaxError": RunKind.FAILED,
}


def _quote(name: str) -> str:
    safe = "".join(c if 32 <= ord(c) < 127 and c not in "'\\$" else f"_{ord(c):x}_" for c in name)
    return f"'{safe}'"


def _render(kind: str, name: str) -> str:
    if kind == "var":
        return "X" + ascii_ident(name)
    if kind == "const":  # functions and predicates share TPTP's namespace with constants
        return _quote(name)
    return _quote(name) if kind == "pred" else _quote(name)


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
        return f"~({_formula(f.body, sym)})"
    if isinstance(f, (And, Or)):
        op = " & " if isinstance(f, And) else " | "
        return "(" + op.join(_formula(a, sym) for a in f.args) + ")"
    if isinstance(f, (Xor, Implies, Iff)):
        op = {Xor: "<~>", Implies: "=>", Iff: "<=>"}[type(f)]
        return f"({_formula(f.left, sym)} {op} {_formula(f.right, sym)})"
    if isinstance(f, (Forall, Exists)):
        q = "!" if isinstance(f, Forall) else "?"
        return f"({q}[{sym('var', f.var)}] : {_formula(f.body, sym)})"
    raise TypeError(f"not a formula: {f!r}")


def to_tptp(problem: FolProblem, negate_goal: bool = False) -> str:
    sym = SymbolTable(_render)
    lines = [f"fof(p{i + 1}, axiom, {_formula(p, sym)})." for i, p in enumerate(problem.premises)]
    goal = _formula(problem.conclusion, sym)
    lines.append(f"fof(goal, conjecture, {'~' + goal if negate_goal else goal}).")
    return "\n".join(lines) + "\n"


_SZS = re.compile(r"SZS status (\w+)")


class EProver(GoalProver):
    name = "eprover"
    binary = staticmethod(eprover_binary)

    def _run_goal(self, problem: FolProblem, limits: Limits, negate: bool) -> Run:
        return self._run(to_tptp(problem, negate_goal=negate), limits)

    def _run(self, tptp: str, limits: Limits) -> Run:
        cpu = max(1, int(min(limits.cpu_s, limits.timeout_s)))
        argv = [eprover_binary(), "--auto", "-s", f"--cpu-limit={cpu}", f"--memory-limit={limits.memory_mb}"]
        proc = run_limited(argv, tptp, wall_s=limits.timeout_s + 1, cpu_s=cpu + 1, memory_mb=limits.memory_mb + 256)
        m = _SZS.search(proc.stdout)
        if m:
            kind = SZS_TABLE.get(m.group(1), RunKind.UNDECIDED)
            if kind is RunKind.FAILED:
                return Run(kind, f"{m.group(1)}: {_first_line(proc.stdout + proc.stderr)}")
            return Run(kind, m.group(1))
        why = proc.limit_reason() or _first_line(proc.stderr) or f"exit {proc.returncode}"
        return Run(RunKind.UNDECIDED, why)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            return line.strip()[:200]
    return ""
