"""FOLIO validation, gold FOL → label, through the pipeline's stages (no Prefect)."""

from collections import Counter

from flows.datasets import load_problems
from flows.engine import pipeline
from solvers import Limits


def test_folio_gold_accuracy_and_every_mismatch_explained(shared_data):
    problems = load_problems(shared_data / "folio" / "folio-validation.jsonl")
    results = []
    for p in problems:
        checked = pipeline.check(pipeline.formalize(p))
        results.append(pipeline.to_result(p, checked, [pipeline.solve(checked, "portfolio", Limits(timeout_s=5))]))
    correct = sum(r.correct for r in results)
    assert correct >= 195, Counter(r.status for r in results)
    wrong = [r for r in results if not r.correct]
    assert all(r.mismatch for r in wrong)
    # The label mismatches that remain are annotation errors that every back end agrees on, with evidence.
    for r in wrong:
        assert r.status in {"True", "False", "Unknown", "contradictory"}, r
        decided = [s for s in r.per_backend.values() if s != "undetermined"]
        assert r.disagreement == "" and len(decided) >= 2 and set(decided) == {r.status}
        assert "model of the premises" in r.mismatch or "proof uses premises" in r.mismatch
    edited = [r for r in results if r.notes]
    assert len(edited) == 5  # unbalanced parentheses and a comma for ∧ in the gold FOL, each noted
