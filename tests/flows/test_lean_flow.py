"""A theorem problem through the LLM path: a scripted model's first proof fails in Lean, the
repair prompt carries Lean's located message, the repaired proof is checked and proved."""

import json

import pytest

pytestmark = [pytest.mark.prefect, pytest.mark.lean]


def test_lean_repair_dialogue(prefect_api, tmp_path):
    from flows.llm.scripted import ScriptedModel
    from flows.orchestration.batch import run_batch
    from solvers.lean import toolchain

    if toolchain() is None:
        pytest.skip("no Lean here (make install builds one)")
    bad, good = "```lean\nfun h =>\n  h\n```", "```lean\nfun h => And.rec (fun hp hq => And.intro hq hp) h\n```"
    model = ScriptedModel(lambda messages, meta: bad if len(messages) == 1 else good)
    model.install("scripted-lean")
    data = tmp_path / "t.jsonl"
    data.write_text(json.dumps({"id": "swap", "kind": "theorem", "question": "Conjunction commutes.", "answer": "proved",
                                "formal": {"language": "lean", "conclusion": "(p q : Prop) : And p q → And q p",
                                           "premises": []}}) + "\n")
    report = run_batch(path=str(data), parser="llm", model="scripted-lean/m", repair_rounds=2, concurrency=2)
    (r,) = report.results
    assert (r.predicted, r.correct, r.repair_rounds, r.language) == ("proved", True, 1, "lean")
    assert r.round_errors and "output line 2, col 3: Lean: Type mismatch" in r.round_errors[0]
    first_prompt = model.calls[0][0][0]["content"]
    assert "theorem goal (p q : Prop) : And p q → And q p" in first_prompt
    repair = model.calls[1][0][-1]["content"]
    assert "output line 2, col 3" in repair and "And q p" in repair
