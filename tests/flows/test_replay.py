"""Replay of real recorded completions through the LLM path (Prefect server, no model)."""

import pytest

pytestmark = pytest.mark.prefect


def test_linc_replay_slice_votes_over_recorded_samples(prefect_api, shared_data):
    from flows.batch import run_batch

    path = shared_data / "recorded" / "linc" / "gpt-4-0613_proofwriter-neurosymbolic-8shot_generations_raw.json"
    report = run_batch(path=str(path), format="linc", parser="replay", samples=5, limit=6, concurrency=2)
    s = report.summary
    assert s.n == 6 and s.samples_total == 30 and s.llm_calls == 30 and s.cost_usd == 0.0
    assert s.model.startswith("replay/gpt-4-0613_proofwriter-neurosymbolic-8shot_generations_raw-")
    assert all(sum(r.votes.values()) + 0 <= 5 for r in report.results)
    assert s.correct >= 5  # LINC's own stack got 98.3 % of this file right; these six are easy
    again = run_batch(path=str(path), format="linc", parser="replay", samples=5, limit=6, concurrency=2)
    assert again.summary.llm_calls == 0 and again.summary.llm_cached == 30


def test_logic_lm_replay_reads_programs(prefect_api, shared_data):
    from flows.batch import run_batch

    path = shared_data / "recorded" / "logic_lm" / "FOLIO_dev_gpt-4.json"
    report = run_batch(path=str(path), format="logic-lm", parser="replay", limit=8, concurrency=2)
    assert report.summary.n == 8 and report.summary.samples_total == 8
    assert report.summary.exe_rate >= 0.75
    assert all(r.repair_rounds == 0 for r in report.results)


def test_logic_lm_logic_programs_replay_with_rules(prefect_api, shared_data):
    from flows.batch import run_batch

    path = shared_data / "recorded" / "logic_lm" / "ProntoQA_dev_gpt-4.json"
    report = run_batch(path=str(path), format="logic-lm", parser="replay", solver="rules", limit=12, concurrency=2)
    assert report.summary.n == 12 and report.summary.exe_rate == 1.0
    assert all(r.predicted in ("True", "False") for r in report.results)  # two options: closed world

    # the same programs through the plain-Python stages, without Prefect or litellm
    from flows import pipeline
    from flows.datasets import load_problems
    from flows.models import Formalization
    from parsers.llm_output import extract
    from solvers import Limits

    expected = []
    for p in load_problems(path, "logic-lm", limit=12):
        ex = extract(p.recorded[0])
        checked = pipeline.check(Formalization(problem_id=p.id, source="replay", premises=ex.premises,
                                               conclusion=ex.conclusion, errors=ex.errors), close_free=True)
        expected.append(pipeline.to_result(p, checked, [pipeline.solve(checked, "rules", Limits())]).predicted)
    assert [r.predicted for r in report.results] == expected
