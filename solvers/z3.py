"""Z3 on first-order problems, through the ``z3`` binary the z3-solver wheel ships.

One process per problem decides both checks of DESIGN.md §3 — P ∧ ¬C and P ∧ C — with push/pop,
and names every premise so an unsat core says which premises a proof used. Importing the Python
API would cost 0.2 s per process; the binary reads SMT-LIB from stdin.
"""

from __future__ import annotations

import math
import re
import time

from parsers.fol.nodes import And, Atom, Const, Eq, Exists, Forall, Iff, Implies, Not, Or, Var, Xor, signature_of, walk
from parsers.fol.printer import to_unicode

from .base import BUDGET_USED, FolProblem, Limits, Run, RunKind, Solver, SolverResult, Status, combine
from .binaries import z3_binary
from .process import run_limited
from .warm import WarmZ3
from .symbols import SymbolTable, ascii_ident

__all__ = ["Z3Solver", "to_smtlib"]

_PREFIX = {"pred": "P_", "func": "f_", "const": "c_", "var": "v_"}


def _table() -> SymbolTable:
    return SymbolTable(lambda kind, name: _PREFIX[kind] + ascii_ident(name))


def _term(t, sym) -> str:
    if isinstance(t, Var):
        return sym("var", t.name)
    if isinstance(t, Const):
        return sym("const", t.name)
    return f"({sym('func', t.name)} {' '.join(_term(a, sym) for a in t.args)})"


def _formula(f, sym) -> str:
    if isinstance(f, Atom):
        name = sym("pred", f.pred)
        return name if not f.args else f"({name} {' '.join(_term(a, sym) for a in f.args)})"
    if isinstance(f, Eq):
        return f"(= {_term(f.left, sym)} {_term(f.right, sym)})"
    if isinstance(f, Not):
        return f"(not {_formula(f.body, sym)})"
    if isinstance(f, (And, Or)):
        op = "and" if isinstance(f, And) else "or"
        return f"({op} {' '.join(_formula(a, sym) for a in f.args)})"
    if isinstance(f, Xor):
        return f"(xor {_formula(f.left, sym)} {_formula(f.right, sym)})"
    if isinstance(f, Implies):
        return f"(=> {_formula(f.left, sym)} {_formula(f.right, sym)})"
    if isinstance(f, Iff):
        return f"(= {_formula(f.left, sym)} {_formula(f.right, sym)})"
    if isinstance(f, (Forall, Exists)):
        q = "forall" if isinstance(f, Forall) else "exists"
        return f"({q} (({sym('var', f.var)} U)) {_formula(f.body, sym)})"
    raise TypeError(f"not a formula: {f!r}")


MAX_SHOWN_ATOMS = 24


def ground_atoms(problem: FolProblem) -> list[Atom]:
    """Variable-free atoms, conclusion first: what a countermodel is shown over."""
    seen: dict[Atom, None] = {}
    for f in (problem.conclusion,) + problem.premises:
        for node in walk(f):
            if isinstance(node, Atom) and not any(isinstance(n, Var) for a in node.args for n in walk(a)):
                seen.setdefault(node)
    return list(seen)[:MAX_SHOWN_ATOMS]


CORES = "(set-option :produce-unsat-cores true)"


def timeout_option(timeout_ms: int) -> str:
    return f"(set-option :timeout {int(timeout_ms)})" if timeout_ms else ""


def to_smtlib(problem: FolProblem, timeout_ms: int = 0, options: bool = True) -> str:
    """The SMT-LIB script of both checks (pure: testable without the binary). After each check
    it asks for the unsat core (used premises) and the values of the ground atoms (a model).
    ``options=False`` leaves out the ``set-option`` lines (a scoped warm worker sets them)."""
    sym = _table()
    sig = signature_of(And(problem.premises + (problem.conclusion,)))
    lines = [line for line in (CORES, timeout_option(timeout_ms)) if line] if options else []
    lines.append("(declare-sort U 0)")
    for name in sorted(sig.constants):
        lines.append(f"(declare-const {sym('const', name)} U)")
    for name, arities in sorted(sig.functions.items()):
        (n,) = sorted(arities)[:1]
        lines.append(f"(declare-fun {sym('func', name)} ({' '.join(['U'] * n)}) U)")
    for name, arities in sorted(sig.predicates.items()):
        (n,) = sorted(arities)[:1]
        lines.append(f"(declare-fun {sym('pred', name)} ({' '.join(['U'] * n)}) Bool)")
    for i, p in enumerate(problem.premises):
        lines.append(f"(assert (! {_formula(p, sym)} :named p{i + 1}))")
    goal = _formula(problem.conclusion, sym)
    atoms = ground_atoms(problem)
    values = f"(get-value ({' '.join(_formula(a, sym) for a in atoms)}))" if atoms else ""
    for label, body in (("neg", f"(not {goal})"), ("pos", goal)):
        lines += [
            "(push 1)",
            f"(assert (! {body} :named goal))",
            f'(echo "@check {label}")',
            "(check-sat)",
            "(get-unsat-core)",
            f'(echo "@model {label}")',
            values,
            "(pop 1)",
        ]
    return "\n".join(lines) + "\n"


_CORE = re.compile(r"^\((?:[A-Za-z0-9_]+(?:\s+|(?=\))))*\)$")  # no nested repetition: linear on any line


def parse_models(out: str, atoms: list[Atom]) -> dict[str, str]:
    """``{"neg": "Manager(james)=false, …"}`` for each check that printed a model."""
    models = {}
    for label, block in re.findall(r"@model (\w+)\n(.*?)(?=@check|@model|\Z)", out, re.S):
        values = re.findall(r"\b(true|false)\b", block)
        if "(error" not in block and len(values) == len(atoms) and atoms:
            models[label] = ", ".join(f"{to_unicode(a)}={v}" for a, v in zip(atoms, values))
    return models


def parse_z3_output(out: str) -> dict[str, tuple[str, list[int]]]:
    """``{"neg": (answer, core premises), "pos": ...}`` from the binary's output."""
    result: dict[str, tuple[str, list[int]]] = {}
    current = None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("@model "):
            current = None
        elif line.startswith("@check "):
            current = line.split()[1]
            result[current] = ("missing", [])
        elif current and line in ("sat", "unsat", "unknown") and result[current][0] == "missing":
            result[current] = (line, [])
        elif current and result[current][0] == "unsat" and _CORE.match(line):
            used = [int(t[1:]) - 1 for t in line.strip("()").split() if re.fullmatch(r"p\d+", t)]
            result[current] = ("unsat", sorted(used))
    return result


_WARM: dict[str, WarmZ3] = {}


class Z3Solver(Solver):
    """``warm=True`` (default) reuses one Z3 process per thread; ``False`` starts one per problem."""

    name = "z3"
    binary = staticmethod(z3_binary)

    def __init__(self, warm: bool = True):
        self.warm = warm

    def _solve(self, problem: FolProblem, limits: Limits, deadline: float | None = None) -> SolverResult:
        if deadline is not None:  # two checks in one process: each gets half of what is left
            half = (deadline - time.monotonic() - 0.5) / 2
            if half < 0.05:
                return SolverResult(status=Status.UNDETERMINED, backend=self.name, reason=f"z3: {BUDGET_USED}")
            if half < limits.timeout_s:
                limits = limits.model_copy(update={"timeout_s": half, "cpu_s": max(1, math.ceil(half))})
        per_check_ms = int(limits.timeout_s * 1000)
        wall = 2 * limits.timeout_s + 2  # two checks, each with Z3's own soft timeout
        if self.warm:  # our own script: scoped (push/pop) rather than (reset), see solvers.warm
            pool = _WARM.setdefault(z3_binary(), WarmZ3(z3_binary(), scoped=True, setup=CORES))
            script = to_smtlib(problem, options=False)
            proc = pool.run(script, wall_s=wall, memory_mb=limits.memory_mb, prelude=timeout_option(per_check_ms))
        else:
            script = to_smtlib(problem, timeout_ms=per_check_ms)
            argv = [z3_binary(), "-smt2", "-in", f"-memory:{limits.memory_mb}", f"-T:{int(2 * limits.timeout_s) + 1}"]
            proc = run_limited(argv, script, wall_s=wall, cpu_s=2 * limits.cpu_s, memory_mb=limits.memory_mb + 256)
        if getattr(proc, "integrity", ""):  # the worker printed what our script did not ask for: not read
            return SolverResult(status=Status.UNDETERMINED, backend=self.name, reason=f"z3: {proc.integrity}")
        rejected = _unexpected_error(proc.stdout)
        if rejected:  # z3 skipped a command of ours (a premise not asserted would make "Unknown" a lie)
            return SolverResult(status=Status.UNDETERMINED, backend=self.name, reason=f"z3 rejected the script: {rejected}")
        answers = parse_z3_output(proc.stdout)
        if "neg" not in answers or "pos" not in answers or any(a == "missing" for a, _ in answers.values()):
            why = proc.limit_reason() or _first_error(proc.stdout + proc.stderr) or f"exit {proc.returncode}"
            return SolverResult(status=Status.UNDETERMINED, backend=self.name, reason=f"z3: {why}")
        runs = {k: _run(answers[k][0]) for k in ("neg", "pos")}
        # check(P ∧ ¬C) unsat ⇔ C proved; check(P ∧ C) unsat ⇔ ¬C proved.
        status, reason = combine(runs["neg"], runs["pos"])
        used = answers["neg"][1] if status in (Status.TRUE, Status.CONTRADICTORY) else answers["pos"][1] if status is Status.FALSE else []
        return SolverResult(status=status, backend=self.name, reason=f"z3 {reason}", used_premises=used,
                            explanation=_explain(status, used, parse_models(proc.stdout, ground_atoms(problem))))


def _run(answer: str) -> Run:
    if answer == "unsat":
        return Run(RunKind.PROVED, "unsat")
    if answer == "sat":
        return Run(RunKind.NOT_ENTAILED, "sat")
    return Run(RunKind.UNDECIDED, answer)


_EXPECTED = ("model is not available", "unsat core is not available")  # asked for after every check, either answer


_ERROR = re.compile(r'\(error "([^"]*)"\)')


def _unexpected_error(text: str) -> str:
    return next((m.group(1)[:200] for m in _ERROR.finditer(text) if not m.group(1).endswith(_EXPECTED)), "")


def _first_error(text: str) -> str:
    m = _ERROR.search(text)
    return m.group(1)[:200] if m else ""


def _explain(status: Status, used: list[int], models: dict[str, str]) -> str:
    """Evidence in words: the premises a proof used, or the models that show a goal does not follow."""
    parts = []
    if used:
        parts.append("proof uses premises " + ", ".join(str(i + 1) for i in used))
    if "neg" in models:
        parts.append(f"model of the premises where the conclusion is false: {models['neg']}")
    if "pos" in models:
        parts.append(f"model of the premises where the conclusion is true: {models['pos']}")
    return "; ".join(parts)
