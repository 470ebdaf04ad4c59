"""Names from untrusted text stay inside their token in every input we print for a binary (issue 18):
TPTP for E, LADR for Prover9, SMT-LIB for z3 (FOL, and the CSP / Z3-DSL elaborator)."""

from __future__ import annotations

import subprocess

import pytest

from parsers import parse_formula
from parsers.fol.nodes import Atom, Const, Forall, Implies, Var
from parsers.programs.smt_build import const_symbol, function_symbol, member_symbol, sort_symbol
from parsers.programs.smtlib_lexer import tokenize
from solvers.base import FolProblem, Limits, Status
from solvers.binaries import z3_binary
from solvers.eprover import EProver
from solvers.prover9 import Prover9
from solvers.z3 import Z3Solver

PROVERS = [Z3Solver(), EProver(), Prover9()]
HOSTILE = ["'Ailton Silva'", '"Stranger Things"', "a|b", "a'b", 'a"b', "a\\b", "a\nb", "50%", "x.y", "q)).",
           "end_of_list.", "p1", "goal", "$false", "$true", "$distinct", "U", "(assert false)", "fof(e, axiom, $false)"]


@pytest.mark.parametrize("solver", PROVERS, ids=lambda s: s.name)
def test_a_predicate_named_like_the_logical_constants_is_just_a_predicate(solver):
    """E read '$false' as falsum: a premise `$false` proved anything, a conclusion `$true` was proved."""
    limits = Limits(timeout_s=5)
    assert solver.solve(FolProblem((parse_formula("$false"),), parse_formula("Q(a)")), limits).status is Status.UNKNOWN
    assert solver.solve(FolProblem((parse_formula("P(a)"),), parse_formula("$true")), limits).status is Status.UNKNOWN


@pytest.mark.parametrize("solver", PROVERS, ids=lambda s: s.name)
def test_hostile_names_stay_names(solver):
    """Each name as a constant, a predicate and a function's name: nothing follows (Unknown), and the
    one thing that does follow is proved — a name that left its token would change either."""
    x = Var("x")
    premises = tuple(Atom("P", (Const(n),)) for n in HOSTILE) + tuple(Atom(n, (Const("c"),)) for n in HOSTILE)
    problem = FolProblem(premises, Atom("Q", (Const("c"),)))
    assert solver.solve(problem, Limits(timeout_s=5)).status is Status.UNKNOWN
    rule = Forall("x", Implies(Atom("P", (x,)), Atom("R", (x,))))
    proved = FolProblem(premises + (rule,), Atom("R", (Const(HOSTILE[5]),)))
    assert solver.solve(proved, Limits(timeout_s=5)).status is Status.TRUE


def test_elaborated_symbols_are_one_token_each_and_distinct():
    names = ["ann", "a|b", "a\\b", "a\nb", "50%", "a%7c;b", "Ω", "|", ""]
    symbols = [f(n) for n in names for f in (member_symbol, const_symbol, function_symbol, lambda n: sort_symbol("enum:" + n))]
    for s in symbols:
        toks = tokenize(s)
        assert [t.kind for t in toks] == ["symbol"], s
    assert len(set(symbols)) == len(symbols)
    decls = "".join(f"(declare-sort {sort_symbol('enum:' + n)} 0)\n(declare-const {const_symbol(n)} Int)\n" for n in names)
    script = decls + f"(assert (distinct {' '.join(const_symbol(n) for n in names)}))\n(check-sat)\n"
    out = subprocess.run([z3_binary(), "-in", "-smt2"], input=script, capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "sat", out.stdout
