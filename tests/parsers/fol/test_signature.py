from parsers import check_signature, parse_formula
from parsers.fol.lenient import parse_lenient


def sig(premises, conclusion):
    return check_signature([parse_formula(p) for p in premises], parse_formula(conclusion))


def test_clean_problem_has_no_errors():
    assert sig(["all x. (Student(x) -> Human(x))", "Student(rina)"], "Human(rina)") == []


def test_arity_clash_names_both_premises():
    (err,) = sig(["Student(ann)", "Student(ann, bob)"], "Student(bob)")
    assert err.stage == "signature"
    assert err.where == "premise 2"
    assert err.message == "predicate Student used with 2 arguments; premise 1 uses it with 1"


def test_predicate_used_as_constant():
    (err,) = sig(["Tall(ann)", "Likes(ann, Tall)"], "Tall(ann)")
    assert err.message == "Tall is used as a constant here but as a predicate in premise 1"
    assert err.where == "premise 2"


def test_function_arity_and_kind_clash():
    errs = sig(["P(f(a))", "P(f(a, b))"], "P(a)")
    assert [e.message for e in errs] == ["function f used with 2 arguments; premise 1 uses it with 1"]


def test_free_variable_in_conclusion():
    (err,) = sig(["all x. P(x)"], "Q(x)")
    assert err.where == "conclusion"
    assert err.message == "free variable x: no quantifier binds it"


def test_long_lowercase_names_are_constants():
    assert sig(["WrittenIn(book, y2003)", "Visited(xavier, y)"], "P(a)")[0].message.startswith("free variable y")
    assert sig(["WrittenIn(book, y2003)"], "WrittenIn(book, y2003)") == []


def test_lenient_reading_records_its_edits():
    f, notes = parse_lenient("(A(p) ∧ B(p)) ∨ ¬A(p) ∧ ¬B(p))")
    assert notes == ["dropped unmatched ')' at col 30"]
    assert f == parse_formula("(A(p) ∧ B(p)) ∨ (¬A(p) ∧ ¬B(p))")
    f, notes = parse_lenient("∀x ∀y (M(x), N(x, y) → G(y))")
    assert notes == ["read ',' at col 12 as ∧"]
    assert f == parse_formula("∀x ∀y (M(x) ∧ N(x, y) → G(y))")
    f, notes = parse_lenient("all x. ((A(x) -> B(x))")
    assert notes == ["closed 1 unclosed '('"]


def test_lenient_reading_gives_up_with_the_original_error():
    import pytest
    from parsers import FormalizationError

    with pytest.raises(FormalizationError, match="unexpected character '{'"):
        parse_lenient("S(m) = {F}")
