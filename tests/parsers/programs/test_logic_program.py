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


def test_variants_whose_meaning_the_program_fixes_are_read_and_noted():
    variant = PROGRAM.replace("Cold(Bob, True) ::: Bob is cold.", "Cold(Bob) ::: Bob is cold.").replace(
        "Quiet($x, True) && Cold($x, True) >>> Smart($x, True)", "Quiet($x, True) and Cold($x, True) -> Smart($x, True)"
    ).replace("Chases(Cat, Dog, False)", "Not(Chases(Cat, Dog, True))").replace("Query:\n", "Query:\n").replace(
        "Facts:\n", "Facts:\nAll($x) Red($x, True) >>> Big($x, True)\n")
    prog = parse_logic_program(variant)
    assert prog.errors == []
    assert prog.premises[:3] == [parse_formula("∀x (Red(x) → Big(x))"), parse_formula("Cold(Bob)"), parse_formula("¬Chases(Cat, Dog)")]
    assert parse_formula("∀x ((Quiet(x) ∧ Cold(x)) → Smart(x))") in prog.premises
    notes = " | ".join(prog.notes)
    for expected in ("Cold written without its truth value 1 time: read as True", "'->' between literals read as >>>",
                     "listed under Facts: read as rules", "negated with Not(", "quantifier prefix"):
        assert expected in notes, (expected, notes)


def test_truth_value_follows_the_declaration():
    undeclared_slot = "Predicates:\nNeeds($x, $y) ::: x needs y\nFacts:\nNeeds(a, b)\nQuery:\nNeeds(b, a, False)"
    prog = parse_logic_program(undeclared_slot)
    assert prog.errors == [] and prog.conclusion == parse_formula("¬Needs(b, a)")
    plural = "Predicates:\nTumpus($x, bool)\nFacts:\nTumpus(Wren, True)\nRules:\nTumpuses($x, True) >>> Red($x, True)\nQuery:\nRed(Wren, True)"
    prog = parse_logic_program(plural)
    assert prog.premises[1] == parse_formula("∀x (Tumpus(x) → Red(x))") and any("read as the declared Tumpus" in n for n in prog.notes)


def test_program_errors_are_located():
    assert [e.message for e in parse_logic_program("Predicates:\nP($x, bool)\nRules:\nP($x, True) >>> Q($x, True)").errors] == [
        "no 'Query:' section in the program"]
    errs = parse_logic_program("Facts:\nP(a, b, True)\nP(a, True)\nQuery:\nP(a, True)").errors
    assert errs and "used with 1 argument here and with 2 on output line 2" in errs[0].message and errs[0].where == "output line 3, col 1"
    nested = parse_logic_program("Predicates:\nEats($x, $y, bool)\nFacts:\nEats(Cat, Cow($x, True), True)\nQuery:\nEats(Cat, Cow, True)")
    assert "is not a constant or a $variable" in nested.errors[0].message
    query_rule = parse_logic_program("Facts:\nP(a, True)\nQuery:\nP(a, True) >>> Q(a, True)")
    assert query_rule.errors[0].message == "the query is a literal, not a rule" and query_rule.errors[0].column == 12
    two = parse_logic_program("Facts:\nP(a, True)\nQuery:\nP(a, True)\nQ(a, True)")
    assert two.errors[0].message == "a second, different query; one is expected"
    junk = parse_logic_program("Facts:\nP(a, True) -> \nQuery:\nP(a, True)")
    assert junk.errors and junk.errors[0].where.startswith("output line 2")


def test_a_fact_with_variables_holds_for_everything():
    prog = parse_logic_program("Facts:\nP($x, True)\nQuery:\nP(a, True)")
    assert prog.premises == [parse_formula("∀x P(x)")] and any("holding for everything" in n for n in prog.notes)


def test_a_literal_where_a_constant_belongs_is_located_on_its_line():
    prog = parse_logic_program("""Predicates:
Eats($x, $y, bool) ::: x eats y
Cow($x, bool) ::: x is a cow
Facts:
Cow(Bob, True)
Rules:
Cow($x, True) >>> Eats($x, Cow($x, True), True) ::: The bald eagle eats the cow.
Query:
Cow(Bob, True)""")
    (err,) = prog.errors
    assert err.where == "output line 7 (rule), col 28"
    assert err.message == "'Cow($x, True)' is not a constant or a $variable"
