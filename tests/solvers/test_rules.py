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
