import sys
import time

import pytest

from parsers import parse_formula
from solvers import EProver, FolProblem, Limits, Portfolio, Prover9, Solver, SolverResult, Status, Z3Solver
from solvers.base import GoalProver, Run, RunKind
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
    assert elapsed < 15, "each of the two runs must stop at its limit"  # ~2 s idle, ~4 s on a loaded machine
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
    def __init__(self, name, status):
        self.name, self.status = name, status
        self.limits_seen = []

    def _solve(self, problem, limits, deadline=None):
        self.limits_seen.append(limits)
        return SolverResult(status=self.status, backend=self.name, reason=f"{self.name} says {self.status.value}")


class FixedGoals(GoalProver):
    """Proves the goals it is told to: ``pos``/``neg`` are the RunKinds of its runs on C and ¬C."""

    def __init__(self, name, pos, neg):
        self.name, self.kinds = name, {False: pos, True: neg}
        self.runs = []

    def _run_goal(self, problem, limits, negate):
        self.runs.append(("¬C" if negate else "C", limits.timeout_s))
        return Run(self.kinds[negate])


P, N, U = RunKind.PROVED, RunKind.NOT_ENTAILED, RunKind.UNDECIDED


def test_portfolio_confirms_a_claim_with_only_the_runs_it_needs():
    e, p9 = FixedGoals("e", P, N), FixedGoals("p9", P, N)
    result = Portfolio(Fixed("z", Status.TRUE), [e, p9], confirm_s=0.5).solve(CASES[Status.TRUE], Limits(timeout_s=10))
    assert result.status is Status.TRUE and result.disagreement == ""
    assert e.runs == [("C", 0.5)]  # True needs C proved; the confirming run gets the short budget
    assert p9.runs == []  # two provers agree: the third does not run
    assert result.per_backend == {"z": "True", "e": "True"}


def test_portfolio_unknown_needs_both_goals_open():
    e = FixedGoals("e", N, N)
    result = Portfolio(Fixed("z", Status.UNKNOWN), [e, FixedGoals("p9", N, N)]).solve(CASES[Status.UNKNOWN])
    assert result.status is Status.UNKNOWN and [g for g, _ in e.runs] == ["C", "¬C"]


def test_portfolio_disagreement_is_broken_by_the_third_prover_and_recorded():
    e, p9 = FixedGoals("e", N, N), FixedGoals("p9", P, N)
    result = Portfolio(Fixed("z", Status.TRUE), [e, p9]).solve(CASES[Status.TRUE])
    assert result.status is Status.TRUE and result.backend == "portfolio:z"
    assert result.disagreement.startswith("z=True; e=")
    assert [g for g, _ in p9.runs] == ["C", "¬C"]
    assert result.disagreement == "z=True; e=Unknown; p9=True"


def test_portfolio_when_z3_cannot_decide_e_decides_and_prover9_confirms():
    e, p9 = FixedGoals("e", N, P), FixedGoals("p9", N, P)
    result = Portfolio(Fixed("z", Status.UNDETERMINED), [e, p9], confirm_s=0.5).solve(CASES[Status.FALSE], Limits(timeout_s=10))
    assert result.status is Status.FALSE and result.backend == "portfolio:e"
    assert e.runs == [("C", 10), ("¬C", 10)] and p9.runs == [("¬C", 0.5)]
    assert "unconfirmed" not in result.reason


def test_portfolio_answer_is_marked_unconfirmed_when_no_second_prover_decides():
    result = Portfolio(Fixed("z", Status.TRUE), [FixedGoals("e", U, U), FixedGoals("p9", U, U)]).solve(CASES[Status.TRUE])
    assert result.status is Status.TRUE and "unconfirmed" in result.reason


def test_problem_budget_caps_every_run():
    import time as _t

    e = FixedGoals("e", U, U)
    deadline = _t.monotonic() + 0.3
    result = Portfolio(Fixed("z", Status.UNDETERMINED), [e]).solve(CASES[Status.TRUE], Limits(timeout_s=10), deadline)
    assert result.status is Status.UNDETERMINED
    assert all(t <= 0.3 for _, t in e.runs)
    later = FixedGoals("e2", P, N).run_goal(CASES[Status.TRUE], Limits(timeout_s=10), False, _t.monotonic() - 1)
    assert later.kind is U and "budget" in later.detail


def test_real_portfolio_agrees_on_all_cases():
    from solvers import make_solver

    for expected, p in CASES.items():
        result = make_solver("portfolio").solve(p)
        assert result.status is expected
        assert result.backend == "portfolio:z3" and "eprover" in result.per_backend
        assert result.disagreement == "" and "unconfirmed" not in result.reason


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
    # a wall clock far off: on a loaded machine one CPU second can take many seconds of wall time
    out = run_limited([sys.executable, "-I", "-c", "while True: pass"], "", wall_s=120, cpu_s=1, memory_mb=200)
    assert out.limit_reason() == "CPU limit"


def test_tiny_memory_limit_never_crashes_the_caller():
    for solver in BACKENDS:
        result = solver.solve(HARD, Limits(timeout_s=2, cpu_s=2, memory_mb=24))
        assert result.status in (Status.UNDETERMINED, Status.ERROR, Status.UNKNOWN), solver.name


def _doubled(depth: int) -> str:
    term = "a"
    for _ in range(depth):
        term = f"g({term},{term})"
    return term


@pytest.mark.parametrize("solver", [Prover9(), EProver(), Z3Solver()], ids=["prover9", "eprover", "z3"])
def test_a_search_that_deleted_clauses_is_no_countermodel(solver: Solver):
    """Prover9's auto_limits drop clauses heavier than 100 symbols, after which "sos empty" is no
    saturation: P(g⁷(a)) (255 symbols) follows in seven steps, and was reported Unknown."""
    deep = problem(["P(a)", "all x. (P(x) -> P(g(x,x)))"], f"P({_doubled(7)})")
    result = solver.solve(deep, Limits(timeout_s=10))
    assert result.status is Status.TRUE, result.reason
