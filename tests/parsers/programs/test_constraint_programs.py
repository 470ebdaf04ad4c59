"""Logic-LM's constraint formats (CSP, Z3 DSL) and model-written SMT-LIB: read as data, decided by z3."""

import json
import signal

import pytest

from parsers.programs.csp import parse_csp_program
from parsers.errors import FormalizationError
from parsers.programs.smt_program import question_check
from parsers.programs.smtlib import parse_smtlib_program
from parsers.programs.z3dsl import parse_z3_dsl
from solvers.base import Limits
from solvers.smt import SmtSolver

from sample_programs import DSL  # noqa: E402  (tests/ is on sys.path)

LIMITS = Limits(timeout_s=5, cpu_s=5, memory_mb=1024)

CSP = """Domain:
1: leftmost
3: rightmost
Variables:
crow [IN] [1, 2, 3]
robin [IN] [1, 2, 3]
jay [IN] [1, 2, 3]
Constraints:
robin < jay ::: The robin is to the left of the jay.
crow == 3 ::: The crow is the rightmost.
AllDifferentConstraint([crow, robin, jay]) ::: distinct
Query:
A) robin == 1 ::: The robin is the leftmost.
B) jay == 1 ::: The jay is the leftmost.
C) crow == 1 ::: The crow is the leftmost.
"""



def solve(program):
    return SmtSolver().solve(program, LIMITS)


def test_csp_entailed_option_is_the_answer():
    out = solve(parse_csp_program(CSP, "Which of the following is true?"))
    assert (out.status, out.answer) == ("answered", "A")
    assert out.per_option["B"].startswith("fails") and out.per_option["C"].startswith("fails")


def test_csp_located_errors():
    bad = CSP.replace("robin < jay", "robin < owl").replace("crow == 3", "crow = 3")
    with pytest.raises(FormalizationError) as exc:
        parse_csp_program(bad)
    msgs = [e.render() for e in exc.value.errors]
    assert any("output line 9" in m and "unknown name 'owl'" in m and "col 9" in m for m in msgs), msgs
    assert any("output line 10" in m and "use '=='" in m for m in msgs), msgs


def test_dsl_must_be_true():
    out = solve(parse_z3_dsl(DSL))
    assert (out.status, out.answer) == ("answered", "A")


def test_dsl_could_be_true_and_except():
    could = DSL.replace("is_valid(", "is_sat(").replace("slot(Ann) == 1) ::: (A)", "slot(Ann) == 3) ::: (A)")
    out = solve(parse_z3_dsl(could))  # Ann last, Bo first, Cy first: all impossible
    assert out.status == "rejected" and "no option passes the check (sat)" in out.errors[0].message
    exc = DSL.replace("must be true?", "could be true EXCEPT:") \
             .replace("is_valid(slot(Ann) == 1)", "is_exception(is_sat(slot(Ann) == 1))") \
             .replace("is_valid(slot(Bo) == 1)", "is_exception(is_sat(slot(Bo) == 2))") \
             .replace("is_valid(slot(Cy) == 1)", "is_exception(is_sat(slot(Cy) == 1))")
    out = solve(parse_z3_dsl(exc))  # A and B could be true; C could not: C is the exception
    assert (out.status, out.answer) == ("answered", "C")
    assert "negated" in out.per_option["A"]


def test_dsl_ordered_enum_and_counts():
    prog = """# Declarations
days = EnumSort([Mon, Tue, Wed])
people = EnumSort([Ann, Bo])
works = Function([people] -> [days])
busy = Function([days] -> [bool])
# Constraints
works(Ann) < works(Bo) ::: Ann works before Bo
works(Bo) == works(Ann) + 2 ::: two days later
Count([d:days], busy(d)) == 1 ::: exactly one busy day
ForAll([p:people], Not(busy(works(p)))) ::: nobody works on the busy day
# Options
Question ::: Which one of the following must be true?
is_valid(busy(Tue)) ::: (A)
is_valid(busy(Mon)) ::: (B)
"""
    out = solve(parse_z3_dsl(prog))
    assert (out.status, out.answer) == ("answered", "A")


def test_dsl_unknown_check_and_undeclared_sort_are_located():
    bad = DSL.replace("is_valid(slot(Bo) == 1)", "is_equivalent(slot(Bo) == 1)").replace("[p:people]", "[p:persons]")
    with pytest.raises(FormalizationError) as exc:
        parse_z3_dsl(bad)
    msgs = " | ".join(e.render() for e in exc.value.errors)
    assert "output line 7" in msgs and "unknown domain 'persons'" in msgs
    assert "output line 14" in msgs and "'is_equivalent' is not an option check" in msgs


def test_dsl_contradictory_constraints_are_reported():
    out = solve(parse_z3_dsl(DSL.replace("slot(Cy) != 1", "slot(Cy) == 1 and slot(Ann) == 1")))
    assert out.status == "contradictory"


@pytest.mark.parametrize("question,expected", [
    ("Which one of the following must be true?", ("valid", False)),
    ("Which one of the following could be true?", ("sat", False)),
    ("Which one of the following CANNOT be true?", ("unsat", False)),
    ("Each of the following could be true EXCEPT:", ("sat", True)),
    ("Which one of the following could be false?", ("valid", True)),
    ("Which of the following is true?", ("valid", False)),
])
def test_question_wording(question, expected):
    assert question_check(question) == expected


def test_smtlib_entailment_with_z3_located_error():
    good = "(declare-sort T 0)\n(declare-fun Cat (T) Bool)\n(declare-fun M (T) Bool)\n(declare-const tom T)\n" \
           "(check-sat)\n(assert (forall ((x T)) (=> (Cat x) (M x))))\n(assert (Cat tom))\n(define-fun conclusion () Bool (M tom))\n"
    out = solve(parse_smtlib_program(good))
    assert out.status == "True"
    bad = good.replace("(assert (Cat tom))", "(assert (Cat tom tom))")
    out = solve(parse_smtlib_program(bad))
    assert out.status == "error"
    err = out.errors[0]
    assert err.line == 7 and err.column is not None, err.render()
    assert "(assert (Cat tom tom))" in err.snippet


def test_smtlib_choice_options_and_forbidden_commands():
    prog = "(declare-const x Int)\n(assert (and (> x 1) (< x 3)))\n(define-fun option_A () Bool (= x 2))\n(define-fun option_B () Bool (= x 1))\n"
    out = solve(parse_smtlib_program(prog, kind="choice", question="Which must be true?", options=["A) two", "B) one"]))
    assert (out.status, out.answer) == ("answered", "A")
    for cmd in ['(set-option :regular-output-channel "/tmp/x")', '(include "/etc/passwd")', "(eval x)"]:
        with pytest.raises(FormalizationError) as exc:
            parse_smtlib_program(prog + cmd + "\n", kind="choice", options=["A) a", "B) b"])
        assert "is not allowed" in exc.value.errors[0].message and exc.value.errors[0].line == 5
    with pytest.raises(FormalizationError) as exc:
        parse_smtlib_program("(declare-const x Int)\n(assert (> x 1)\n")
    assert "unclosed" in exc.value.errors[0].message


PAYLOADS = [
    "__import__('os').system('touch {marker}')",
    "().__class__.__base__.__subclasses__()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "getattr(__builtins__, 'eval')('1')",
    "lambda: open('{marker}', 'w')",
    "exec('import os')",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_code_payloads_in_dsl_and_csp_are_rejected_and_nothing_runs(payload, tmp_path):
    marker = tmp_path / "pwned"
    text = payload.format(marker=marker)
    dsl = DSL.replace("slot(Cy) != 1 ::: Cy is not in slot 1", f"{text} ::: payload")
    with pytest.raises(FormalizationError) as exc:
        parse_z3_dsl(dsl)
    err = exc.value.errors[0]
    assert err.stage == "parse" and "output line 9" in err.where, err.render()
    opt = DSL.replace("is_valid(slot(Cy) == 1)", f"is_valid({text})")
    with pytest.raises(FormalizationError):
        parse_z3_dsl(opt)
    csp = CSP.replace("crow == 3 ::: The crow is the rightmost.", text)
    with pytest.raises(FormalizationError):
        parse_csp_program(csp)
    assert not marker.exists()


def test_dsl_sizes_are_capped():
    huge = "(" * 500 + "1" + ")" * 500
    with pytest.raises(FormalizationError) as exc:
        parse_z3_dsl(DSL.replace("slot(Cy) != 1", f"slot(Cy) != {huge}"))
    assert "nested deeper" in exc.value.errors[0].message


def test_recorded_programs_parse_or_fail_with_located_errors(shared_data):
    """Every real program either compiles or fails with an error that names its line."""
    for ds, reader in (("LogicalDeduction", lambda p, q: parse_csp_program(p, q)), ("AR-LSAT", lambda p, q: parse_z3_dsl(p))):
        rows = json.loads((shared_data / "recorded" / "logic_lm" / f"{ds}_dev_gpt-4.json").read_text())
        compiled = 0
        for r in rows[:60]:
            try:
                reader(r["raw_logic_programs"][0], r["question"])
                compiled += 1
            except FormalizationError as exc:
                assert all(e.where for e in exc.errors)
                assert any("output line" in e.where or e.where == "output" for e in exc.errors)
        assert compiled >= (55 if ds == "LogicalDeduction" else 25), (ds, compiled)


def test_dsl_variants_other_models_write():
    variant = DSL.replace("slot = Function([people] -> [slots])", "slot = Function(people, slots)\nfree = Function([people] -> [BoolSort()])") \
                 .replace("::: (A)", "::: A) Ann is in slot 1").replace("::: (B)", "::: (B) Bo is in slot 1").replace("::: (C)", "")
    program = parse_z3_dsl(variant)
    assert [q.label for q in program.queries] == ["A", "B", "C"]
    assert solve(program).answer == "A"


def test_dsl_readings_other_models_need_are_noted():
    """z3py declarations, C-style and infix connectives, invented checks named for their judgement."""
    variant = DSL.replace("people = EnumSort([Ann, Bo, Cy])", "people = EnumSort('people', ['Ann', 'Bo', 'Cy'])") \
                 .replace("slot(Ann) < slot(Bo) ::: Ann", "slot(Ann) < slot(Bo) && slot(Cy) != 1 ::: Ann") \
                 .replace("is_valid(slot(Ann) == 1)", "is_necessary(slot(Ann) == 1)") \
                 .replace("is_valid(slot(Bo) == 1)", "is_true(slot(Bo) == 1 Or slot(Bo) == 1)") \
                 .replace("Distinct([p:people], slot(p)) ::: one person per slot",
                          "Distinct([p:people], slot(p)) ::: one person per slot\nThe slots are numbered from left to right.")
    program = parse_z3_dsl(variant, "Which one of the following must be true?")
    notes = " | ".join(program.notes)
    assert "z3py-style declaration" in notes and "'&&' read as 'and'" in notes and "infix 'Or' read as 'or'" in notes
    assert "'is_necessary' read as valid" in notes and "'is_true' read as the question asks (valid)" in notes
    assert "1 English line" in notes
    assert [(q.label, q.check) for q in program.queries] == [("A", "valid"), ("B", "valid"), ("C", "valid")]
    assert solve(program).answer == "A"
    # the same invented check under a "could be true" question is judged as satisfiable
    could = parse_z3_dsl(variant.replace("must be true", "could be true"), "Which one of the following could be true?")
    assert [q.check for q in could.queries] == ["valid", "sat", "valid"]


def test_dsl_checks_that_stay_errors_and_many_options():
    for name in ("is_false", "is_not_possible", "is_equivalent"):
        with pytest.raises(FormalizationError) as exc:
            parse_z3_dsl(DSL.replace("is_valid(slot(Ann) == 1)", f"{name}(slot(Ann) == 1)"))
        assert f"'{name}' is not an option check" in exc.value.errors[0].message
    many = DSL.split("# Options")[0] + "# Options\n" + "\n".join("is_sat(slot(Ann) == 1)" for _ in range(30))
    with pytest.raises(FormalizationError) as exc:  # more options than letters: located, no IndexError
        parse_z3_dsl(many)
    assert any("more than 26 options" in e.message for e in exc.value.errors)
    eleven = DSL.split("# Options")[0] + "# Options\n" + "\n".join(f"is_sat(slot(Ann) == {i % 3 + 1})" for i in range(11))
    assert [q.label for q in parse_z3_dsl(eleven).queries][-1] == "K"


def test_dsl_two_argument_checks_and_conditions_among_options():
    prog = DSL.replace("is_valid(slot(Bo) == 1) ::: (B)", "is_valid(slot(Cy) == 3, slot(Bo) == 2) ::: (B)") \
              .replace("Question ::: Which", "slot(Cy) != 2 ::: if Cy is not in slot 2\nQuestion ::: Which")
    program = parse_z3_dsl(prog)
    assert program.assertions == 4  # the unlabelled condition joined the constraints
    assert any("condition among the options" in n for n in program.notes)
    assert any("(condition, claim)" in n for n in program.notes)


def test_csp_multiword_names_prose_and_many_unlabelled_options():
    prog = CSP.replace("jay [IN]", "blue_jay [IN]").replace("robin < jay", "robin < blue jay") \
              .replace("[crow, robin, jay]", "[crow, robin, blue_jay]").replace("B) jay == 1", "B) blue jay == 1") \
              .replace("crow == 3 ::: The crow is the rightmost.", "crow == 3 ::: The crow is the rightmost.\nThe crow sits on the right.")
    program = parse_csp_program(prog, "Which of the following is true?")
    assert any("blue_jay" in n for n in program.notes) and any("English line" in n for n in program.notes)
    assert solve(program).answer == "A"
    many = CSP.split("Query:")[0] + "Query:\n" + "\n".join("robin == 1" for _ in range(30))
    with pytest.raises(FormalizationError) as exc:  # was StopIteration
        parse_csp_program(many)
    assert "more than 26 unlabelled options" in exc.value.errors[0].message


@pytest.mark.parametrize("constraint", [
    "ForAll([x:d, y:d, z:d], f(x, y) != z)",  # 3.4 M assignments: 1.1 GB and minutes before the refusal
    "ForAll([x:d], ForAll([y:d], ForAll([z:d], f(f(x, y), z) == f(x, f(y, z)))))",
    "Sum([x:d], Sum([y:d], Count([z:d], f(x, y) == z))) > 3",
])
def test_an_expansion_past_the_cap_is_refused_before_it_is_built(constraint):
    """One line of a model's Z3-DSL over a 150-member domain: refused at once, not after building
    every assignment (the engine process held 1.1 GB for 161 s on the first)."""
    members = ", ".join(f"m{i}" for i in range(150))
    program = (f"# Declarations\nd = EnumSort([{members}])\nf = Function([d, d] -> [d])\n# Constraints\n{constraint} ::: x\n"
               "# Options\nQuestion ::: Which one of the following must be true?\nis_valid(f(m1, m1) == m1) ::: (A)\n"
               "is_valid(f(m1, m1) == m2) ::: (B)\n")

    def too_slow(*_):
        raise TimeoutError("still expanding after 5 s")

    old = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(5)
    try:
        with pytest.raises(FormalizationError, match="expands to more than"):
            parse_z3_dsl(program)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_a_function_whose_range_constraints_pass_the_cap_is_refused():
    """``Function([d, d, d] -> [r])`` over 50 members asks for 125,000 argument tuples × 50 values:
    a 240 MB script and 740 MB in the engine process; over 200 members, more memory than the machine."""
    members, values = ", ".join(f"m{i}" for i in range(50)), ", ".join(str(i) for i in range(50))
    program = (f"# Declarations\nd = EnumSort([{members}])\nr = EnumSort([{values}])\nf = Function([d, d, d] -> [r])\n"
               "# Constraints\nf(m1, m1, m1) > 2 ::: x\n# Options\nQuestion ::: Which one of the following must be true?\n"
               "is_valid(f(m1, m1, m1) > 1) ::: (A)\nis_valid(f(m1, m1, m1) > 5) ::: (B)\n")
    with pytest.raises(FormalizationError, match="range constraints of f expand to more than") as exc:
        parse_z3_dsl(program)
    assert exc.value.errors[0].where.startswith("output line 4")
