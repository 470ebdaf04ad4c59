import sys
import time

import pytest

from parsers import parse_formula
from solvers import EProver, FolProblem, Limits, Portfolio, Prover9, Solver, SolverResult, Status, Z3Solver
from solvers.eprover import to_tptp
from solvers.prover9 import to_ladr
from solvers.process import run_limited
from solvers.z3 import to_smtlib


def problem(premises, conclusion):
    return FolProblem(tuple(parse_formula(p) for p in premises), parse_formula(conclusion))


CASES = {
    Status.TRUE: problem(["all x. (Student(x) -> Human(x))", "Student(Rina)"], "Human(Rina)"),
    Status.FALSE: problem(["∀x (Student(x) → ¬Lazy(x))", "Student(rina)"], "Lazy(rina)"),
    Status.UNKNOWN: problem(["all x. (Student(x) -> Human(x))", "Human(rina)"], "Student(rina)"),
    Status.CONTRADICTORY: problem(["Bird(pingu)", "∀x (Bird(x) → Fly(x))", "¬Fly(pingu)"], "Swims(pingu)"),
}
# Commutativity does not follow from the group axioms, and no prover shows it within a second.
HARD = problem(["all x. all y. all z. (m(m(x,y),z) = m(x,m(y,z)))", "all x. (m(e,x) = x)", "all x. (m(i(x),x) = e)"],
               "all x. all y. (m(x,y) = m(y,x))")
BACKENDS = [Z3Solver(), Z3Solver(warm=False), EProver(), Prover9()]
IDS = ["z3-warm", "z3-cold", "eprover", "prover9"]


@pytest.mark.parametrize("solver", BACKENDS, ids=IDS)
@pytest.mark.parametrize("expected", list(CASES), ids=[s.value for s in CASES])
def test_backend_decides(solver: Solver, expected: Status):
    result = solver.solve(CASES[expected], Limits(timeout_s=10))
    assert result.status is expected, result.reason
    assert result.backend == solver.name
    assert result.wall_s > 0


@pytest.mark.parametrize("solver", BACKENDS, ids=IDS)
def test_backend_timeout_is_undetermined_not_unknown(solver: Solver):
    t0 = time.perf_counter()
    result = solver.solve(HARD, Limits(timeout_s=1, cpu_s=1))
    elapsed = time.perf_counter() - t0
    assert result.status is Status.UNDETERMINED, result.reason
    assert elapsed < 8, "each of the two runs must stop at its limit"
    assert result.reason


def test_case_of_constants_is_kept():
    p = problem(["P(Rina)", "-P(rina)"], "P(rina)")
    for solver in BACKENDS:
        assert solver.solve(p).status is Status.FALSE, solver.name


def test_z3_unsat_core_names_the_premises_used():
    p = problem(["Irrelevant(a)", "all x. (Student(x) -> Human(x))", "Student(rina)"], "Human(rina)")
    result = Z3Solver().solve(p)
    assert result.status is Status.TRUE
    assert result.used_premises == [1, 2]
    assert result.explanation.startswith("proof uses premises 2, 3")


def test_z3_shows_a_countermodel_for_unknown():
    result = Z3Solver().solve(CASES[Status.UNKNOWN])
    assert "model of the premises where the conclusion is false: Student(rina)=false" in result.explanation
    assert "model of the premises where the conclusion is true: Student(rina)=true" in result.explanation


def test_translations_are_pure_text():
    p = problem(["∀x (P(x) ⊕ Q(x))", "R(f(Ann), ann)", "a = b"], "∃y ¬P(y)")
    tptp = to_tptp(p)
    assert "fof(p1, axiom, (![Xx] : ('P'(Xx) <~> 'Q'(Xx))))." in tptp
    assert "'R'('f'('Ann'),'ann')" in tptp
    assert "fof(goal, conjecture, (?[Xy] : ~('P'(Xy))))." in tptp
    assert "fof(goal, conjecture, ~(?[Xy]" in to_tptp(p, negate_goal=True)
    ladr = to_ladr(p, Limits())
    assert "(all v_x -(P_P(v_x) <-> P_Q(v_x)))." in ladr
    assert "P_R(f_f(c_Ann),c_ann)." in ladr  # constants never start with u-z (LADR variables)
    smt = to_smtlib(p)
    assert "(declare-const c_Ann U)" in smt and "(declare-const c_ann U)" in smt
    assert "(assert (! (forall ((v_x U)) (xor (P_P v_x) (P_Q v_x))) :named p1))" in smt


def test_names_that_sanitise_alike_stay_distinct():
    p = problem(["P(a’b)", "-P(a_27_b)"], "P(a’b)")  # ’ escapes to _2019_, never merging with a_27_b
    for solver in BACKENDS:
        assert solver.solve(p).status is Status.TRUE, solver.name


class Fixed(Solver):
    def __init__(self, name, status, delay=0.0):
        self.name, self.status, self.delay = name, status, delay
        self.limits_seen = []

    def _solve(self, problem, limits):
        self.limits_seen.append(limits)
        return SolverResult(status=self.status, backend=self.name, reason=f"{self.name} says {self.status.value}")


def test_portfolio_first_definitive_answer_and_disagreement():
    a = Fixed("a", Status.UNDETERMINED)
    b = Fixed("b", Status.TRUE)
    c = Fixed("c", Status.UNKNOWN)
    result = Portfolio([a, b, c], confirm_s=0.5).solve(CASES[Status.TRUE], Limits(timeout_s=10))
    assert result.status is Status.TRUE
    assert result.backend == "portfolio:b"
    assert result.disagreement == "b=True; c=Unknown"
    assert result.per_backend == {"a": "undetermined", "b": "True", "c": "Unknown"}
    assert a.limits_seen[0].timeout_s == 10 and b.limits_seen[0].timeout_s == 10
    assert c.limits_seen[0].timeout_s == 0.5  # confirmation runs get the short budget


def test_portfolio_without_cross_check_stops_early():
    c = Fixed("c", Status.UNKNOWN)
    result = Portfolio([Fixed("b", Status.FALSE), c], cross_check=False).solve(CASES[Status.TRUE])
    assert result.status is Status.FALSE and c.limits_seen == [] and result.disagreement == ""


def test_real_portfolio_agrees_on_all_cases():
    from solvers import make_solver

    for expected, p in CASES.items():
        result = make_solver("portfolio").solve(p)
        assert result.status is expected
        assert set(result.per_backend) == {"eprover", "z3", "prover9"}
        assert result.disagreement == ""


def test_sandbox_memory_bomb_is_contained():
    bomb = "x = bytearray(4 * 1024 ** 3)\nprint('allocated')"
    out = run_limited([sys.executable, "-I", "-c", bomb], "", wall_s=20, cpu_s=5, memory_mb=200)
    assert out.returncode != 0 and "allocated" not in out.stdout
    assert "MemoryError" in out.stderr


def test_sandbox_wall_clock_kills_the_process_group():
    t0 = time.perf_counter()
    out = run_limited(["/bin/sh", "-c", "sleep 30 & sleep 30"], "", wall_s=0.5, cpu_s=5, memory_mb=200)
    assert out.timed_out and out.limit_reason() == "wall-clock limit"
    assert time.perf_counter() - t0 < 5


def test_sandbox_cpu_limit():
    out = run_limited([sys.executable, "-I", "-c", "while True: pass"], "", wall_s=20, cpu_s=1, memory_mb=200)
    assert out.limit_reason() == "CPU limit"
    assert out.wall_s < 10


def test_tiny_memory_limit_never_crashes_the_caller():
    for solver in BACKENDS:
        result = solver.solve(HARD, Limits(timeout_s=2, cpu_s=2, memory_mb=24))
        assert result.status in (Status.UNDETERMINED, Status.ERROR, Status.UNKNOWN), solver.name
