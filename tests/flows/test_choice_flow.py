"""Multiple-choice problems through the LLM path: repair on located DSL and Z3 errors, and votes."""

import json

import pytest

from sample_programs import DSL as SLOTS_DSL

pytestmark = pytest.mark.prefect

PROBLEM = {"id": "slots", "kind": "choice", "answer": "A",
           "context": "Ann, Bo and Cy each take one of the slots 1, 2 and 3, one person per slot. Ann is earlier than Bo. Cy is not in slot 1.",
           "question": "Which one of the following must be true?", "options": ["A) Ann is in slot 1.", "B) Bo is in slot 1."]}

DSL = SLOTS_DSL.replace("is_valid(slot(Cy) == 1) ::: (C)\n", "")  # the two options of PROBLEM

SMT_BAD = """(declare-datatype Person ((Ann) (Bo) (Cy)))
(declare-fun slot (Person) Int)
(assert (< (slot Ann) (slot Bo) (slot Cy Bo)))
(define-fun option_A () Bool (= (slot Ann) 1))
(define-fun option_B () Bool (= (slot Bo) 1))
"""
SMT_GOOD = """(declare-datatype Person ((Ann) (Bo) (Cy)))
(declare-fun slot (Person) Int)
(assert (distinct (slot Ann) (slot Bo) (slot Cy)))
(assert (and (<= 1 (slot Ann) 3) (<= 1 (slot Bo) 3) (<= 1 (slot Cy) 3)))
(assert (< (slot Ann) (slot Bo)))
(assert (not (= (slot Cy) 1)))
(define-fun option_A () Bool (= (slot Ann) 1))
(define-fun option_B () Bool (= (slot Bo) 1))
"""


def _file(tmp_path):
    path = tmp_path / "choice.jsonl"
    path.write_text(json.dumps(PROBLEM) + "\n")
    return str(path)


def test_dsl_repair_carries_the_located_error(prefect_api, tmp_path):
    from flows.llm.scripted import ScriptedModel
    from flows.orchestration.batch import run_batch

    model = ScriptedModel(lambda m, meta: DSL.replace("slot(Cy) != 1", "slot(Cy) != one") if len(m) == 1 else DSL)
    model.install("scripted-dsl")
    report = run_batch(path=_file(tmp_path), parser="llm", model="scripted-dsl/m", repair_rounds=1, concurrency=2)
    (r,) = report.results
    assert (r.predicted, r.correct, r.repair_rounds, r.language) == ("A", True, 1, "z3dsl")
    repair = model.calls[1][0][2]["content"]
    assert "output line 9, col 13: unknown name 'one'" in repair and "slot(Cy) != one" in repair and "^" in repair
    assert "# Declarations" in model.calls[0][0][0]["content"]  # the z3dsl prompt, picked for a choice problem


def test_smtlib_repair_gets_z3s_line_and_column(prefect_api, tmp_path):
    from flows.llm.scripted import ScriptedModel
    from flows.orchestration.batch import run_batch

    model = ScriptedModel(lambda m, meta: SMT_BAD if len(m) == 1 else f"```smt2\n{SMT_GOOD}```")
    model.install("scripted-smt")
    report = run_batch(path=_file(tmp_path), parser="llm", model="scripted-smt/m", language="smtlib", repair_rounds=1,
                       concurrency=2)
    (r,) = report.results
    assert (r.predicted, r.correct, r.repair_rounds, r.solver) == ("A", True, 1, "z3")
    repair = model.calls[1][0][2]["content"]
    assert "SMT-LIB, line 3, col" in repair and "(slot Cy Bo)" in repair, repair
    assert "option_A" in model.calls[0][0][0]["content"]


def test_choice_samples_vote_on_letters(prefect_api, tmp_path):
    from flows.llm.scripted import ScriptedModel
    from flows.orchestration.batch import run_batch

    wrong = DSL.replace("slot(Ann) < slot(Bo)", "slot(Ann) > slot(Bo)")  # decides B
    model = ScriptedModel(lambda m, meta: wrong if meta.get("seed") == 1 else DSL)
    model.install("scripted-vote")
    report = run_batch(path=_file(tmp_path), parser="llm", model="scripted-vote/m", samples=3, concurrency=2)
    (r,) = report.results
    assert r.votes == {"A": 2, "B": 1} and r.predicted == "A" and r.correct
