from parsers import parse_formula
from solvers import FolProblem, RuleSolver, Status


def solve(premises, conclusion):
    return RuleSolver().solve(FolProblem(tuple(parse_formula(p) for p in premises), parse_formula(conclusion)))


def test_chains_facts_and_rules():
    r = solve(["Cold(bob)", "∀x (Cold(x) → Red(x))", "∀x (Red(x) ∧ Cold(x) → Round(x))"], "Round(bob)")
    assert r.status is Status.TRUE and "conclusion derived" in r.reason


def test_negative_literals_are_facts_and_refute():
    assert solve(["Red(harry)", "∀x (Red(x) → ¬Kind(x))"], "Kind(harry)").status is Status.FALSE
    assert solve(["Red(harry)", "∀x (Red(x) → ¬Kind(x))"], "¬Kind(harry)").status is Status.TRUE


def test_open_world_unknown():
    assert solve(["Big(bob)", "∀x (Big(x) ∧ ¬Round(x) → Kind(x))"], "Kind(bob)").status is Status.UNKNOWN


def test_two_variable_rules_and_relations():
    premises = ["Chases(the_cat, the_dog)", "∀x ∀y (Chases(x, y) → Sees(y, x))", "∀x (Sees(x, the_cat) → Red(x))"]
    assert solve(premises, "Red(the_dog)").status is Status.TRUE


def test_rule_without_body_applies_to_every_entity():
    assert solve(["∀x Red(x)", "Big(ann)"], "Red(ann)").status is Status.TRUE


def test_contradiction_is_reported():
    r = solve(["Bird(pingu)", "∀x (Bird(x) → Fly(x))", "¬Fly(pingu)"], "Swims(pingu)")
    assert r.status is Status.CONTRADICTORY and "Fly(pingu)" in r.reason


def test_formulas_outside_the_fragment_are_errors_not_guesses():
    r = solve(["Red(a) ∨ Blue(a)"], "Red(a)")
    assert r.status is Status.ERROR
    assert r.errors[0].message == "not in the rule fragment: premise 1: a disjunction (∨) where a literal was expected"
    assert solve(["Red(a)"], "∀x Red(x)").errors[0].message.endswith("conclusion: a quantifier (∀) where a literal was expected")
    assert solve(["Red(a)"], "∃x Red(x)").status is Status.ERROR


def _bomb(premises: list[str], timeout_s: float = 1.0, max_facts: int = RuleSolver.max_facts):
    """``RuleSolver`` on ``premises`` ⊢ Q(c0), stopped by an alarm after 20 s if it runs away."""
    import signal

    from solvers import Limits

    def runaway(*_):
        raise TimeoutError("the rule solver ignored its time limit")

    old = signal.signal(signal.SIGALRM, runaway)
    signal.alarm(20)
    try:
        problem = FolProblem(tuple(parse_formula(p) for p in premises), parse_formula("Q(c0)"))
        solver = RuleSolver()
        solver.max_facts = max_facts
        return solver.solve(problem, Limits(timeout_s=timeout_s))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


FACTS = [f"P(c{i})" for i in range(20)]


def test_a_rule_whose_join_explodes_is_stopped_at_the_time_limit():
    """Twenty facts and one rule of six variables: 64 million joins (five took 87 s and 650 MB
    with a 2 s limit, which the solver never looked at)."""
    rule = "all a. all b. all c. all d. all e. all f. (P(a) & P(b) & P(c) & P(d) & P(e) & P(f) -> Q(a))"
    r = _bomb([*FACTS, rule])
    assert r.status is Status.UNDETERMINED and "time limit" in r.reason, r.reason
    assert r.wall_s < 5


def test_too_many_derived_facts_is_undetermined_not_a_crash():
    """``∀a…e R(a, b, c, d, e)`` over twenty constants is 3.2 million facts: the cap was checked
    only after the whole rule, and its NotARule then escaped the solver as an internal error."""
    r = _bomb([*FACTS, "all a. all b. all c. all d. all e. R(a, b, c, d, e)"], timeout_s=60, max_facts=5000)
    assert r.status is Status.UNDETERMINED and "derived facts" in r.reason, r.reason
