from parsers import parse_formula
from parsers.llm_output import extract
from parsers.programs.logic_program import looks_like_logic_program, parse_logic_program

PROGRAM = """Predicates:
Cold($x, bool) ::: Is x cold?
Chases($x, $y, bool) ::: Does x chase y?

Facts:
Cold(Bob, True) ::: Bob is cold.
Chases(Cat, Dog, False) ::: The cat does not chase the dog.

Rules:
Quiet($x, True) && Cold($x, True) >>> Smart($x, True) ::: If something is quiet and cold then it is smart.
Chases($x, $y, True) >>> Sees($y, $x, True) && Red($x, False)

Query:
Smart(Bob, False) ::: Bob is not smart."""


def test_program_reads_into_fol():
    prog = parse_logic_program(PROGRAM)
    assert prog.errors == []
    assert prog.premises == [
        parse_formula("Cold(Bob)"),
        parse_formula("¬Chases(Cat, Dog)"),
        parse_formula("∀x ((Quiet(x) ∧ Cold(x)) → Smart(x))"),
        parse_formula("∀x ∀y (Chases(x, y) → (Sees(y, x) ∧ ¬Red(x)))"),
    ]
    assert prog.conclusion == parse_formula("¬Smart(Bob)")
    assert looks_like_logic_program(PROGRAM)
    ex = extract(PROGRAM)  # auto-detected; printed as Unicode FOL for the check stage
    assert ex.errors == [] and ex.conclusion == "¬Smart(Bob)"


def test_program_errors_are_located():
    bad = PROGRAM.replace("Cold(Bob, True) ::: Bob is cold.", "Cold(Bob) ::: Bob is cold.").replace(
        "Quiet($x, True) && Cold($x, True) >>> Smart($x, True)", "Quiet($x, True) and Cold($x, True) -> Smart($x, True)")
    errors = parse_logic_program(bad).errors
    assert errors[0].message == "Cold(…) must end with its truth value, True or False"
    assert errors[0].where.startswith("output line 6 (facts)")
    assert errors[1].message == "a rule is 'body >>> head'" and errors[1].where.startswith("output line 10 (rules)")
    assert [e.message for e in parse_logic_program("Predicates:\nP($x, bool)\nRules:\nP($x, True) >>> Q($x, True)").errors] == [
        "no 'Facts:' section in the program", "no 'Query:' section in the program"]
    assert "a fact names constants, not $variables" in [e.message for e in parse_logic_program(
        "Facts:\nP($x, True)\nQuery:\nP(a, True)").errors]
