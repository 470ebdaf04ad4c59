"""A model's formalization whose premises contradict each other (issue 20): a mistranslation
where the problem is known consistent, an answer where it is not — a setting with the dataset's
default. It used to be rejected always, so a contradictory problem could never be answered right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.datasets import load_problems
from flows.engine.runs import BatchParams, prepare

PINGU = ("TEXT:\tAll birds fly.\nFOL:\tall x. (Bird(x) -> Fly(x))\nTEXT:\tPingu is a bird.\nFOL:\tBird(pingu)\n"
         "TEXT:\tPingu does not fly.\nFOL:\t-Fly(pingu)\nTEXT:\tPingu swims.\nFOL:\tSwims(pingu)")


@pytest.fixture(scope="module")
def model():
    from flows.llm.scripted import ScriptedModel

    m = ScriptedModel(lambda messages, meta: PINGU)
    m.install("scripted-pingu")
    return m


def decide(tmp_path, contradictory: str = "auto", **extra):
    data = tmp_path / "pingu.jsonl"
    data.write_text(json.dumps({"id": "pingu", "premises": ["All birds fly.", "Pingu is a bird.", "Pingu does not fly."],
                                "conclusion": "Pingu swims.", "answer": "contradictory", **extra}) + "\n")
    run = prepare(BatchParams(path=str(data), parser="llm", model="scripted-pingu/m", solver="z3",
                              contradictory=contradictory), processes=0)
    try:
        (rec,) = run.engine.records(["pingu"], timeout=120)
    finally:
        run.engine.close()
    return rec.result


def test_rejected_only_where_the_problem_is_known_consistent(model, tmp_path):
    r = decide(tmp_path)
    assert (r.status, r.predicted, r.correct) == ("contradictory", "contradictory", True), r.error
    r = decide(tmp_path, consistent=True)
    assert r.status == "rejected" and "the problem's text is consistent, so one of these is mistranslated" in r.error


def test_the_run_can_reject_it_everywhere(model, tmp_path):
    r = decide(tmp_path, contradictory="reject")
    assert r.status == "rejected" and "--contradictory reject" in r.error


def test_benchmarks_built_consistent_say_so(shared_data):
    for path, fmt in ((shared_data / "logic_lm" / "FOLIO" / "dev.json", "logic-lm"),
                      (shared_data / "folio" / "folio-validation.jsonl", "folio")):
        assert load_problems(path, fmt, limit=2)[0].consistent is True, path
    linc = next((shared_data / "recorded" / "linc").glob("*_generations_raw.json"))
    assert load_problems(linc, "linc", limit=1)[0].consistent is True
    demo = load_problems(Path(__file__).resolve().parents[3] / "examples" / "demo.jsonl")
    assert {p.consistent for p in demo} == {None}
