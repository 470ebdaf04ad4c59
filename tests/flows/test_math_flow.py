"""Math word problems end to end: a GSM8K slice through the scripted provider, SymPy and PoT."""

import pytest

pytestmark = pytest.mark.prefect

# Hand-written translations of the first five GSM8K test questions, keyed by a phrase of each.
EQUATIONS = {
    "Janet": "eggs = 16 - 3 - 4\nrevenue = eggs * 2\nAnswer: revenue",
    "robe": "blue = 2\nwhite = blue / 2\nAnswer: blue + white",
    "flipping a house": "cost = 80000 + 50000\nvalue = 80000 * (1 + 150 / 100)\nAnswer: value - cost",
    "sprints": "per_week = 3 * 3\nAnswer: per_week * 60",
    "Wendi": "total = 20 * 3\nAnswer: total - 15 - 25",
}
PROGRAMS = {
    "Janet": "```python\ndef solution():\n    return (16 - 3 - 4) * 2\n```",
    "robe": "```python\ndef solution():\n    return 2 + 2 / 2\n```",
    "flipping a house": "```python\ndef solution():\n    return 80000 * 2.5 - 130000\n```",
    "sprints": "```python\ndef solution():\n    return 3 * 3 * 60\n```",
    "Wendi": "```python\ndef solution():\n    while True:\n        pass\n```",
}


def _answer_for(table, messages):
    question = messages[0]["content"].rsplit("Question:", 1)[-1]
    return next(v for k, v in table.items() if k in question)


def test_gsm8k_slice_with_sympy_and_a_repair(prefect_api, shared_data):
    from flows.llm.scripted import ScriptedModel
    from flows.orchestration.batch import run_batch

    def script(messages, meta):
        if "Janet" in messages[0]["content"] and len(messages) == 1:
            return "eggs = 16 - 3 - 4\nrevenue = eggs * 2 dollars\nAnswer: revenue"  # not an equation: located error
        return _answer_for(EQUATIONS, messages)

    model = ScriptedModel(script)
    model.install("scripted-math")
    report = run_batch(path=str(shared_data / "gsm8k" / "test.jsonl"), parser="llm", model="scripted-math/m",
                       limit=5, repair_rounds=1, concurrency=2)
    by_id = {r.id: r for r in report.results}
    assert [r.predicted for r in report.results] == ["18", "3", "70000", "540", "20"]
    assert all(r.correct and r.language == "sympy" and r.solver == "sympy" for r in report.results)
    assert report.summary.correct == 5 and report.summary.llm_calls == 6
    janet = by_id["test_0"]
    assert janet.repair_rounds == 1
    assert "output line 2" in janet.round_errors[0] and "unexpected 'dollars'" in janet.round_errors[0]
    repair = next(m for m, _ in model.calls if len(m) == 3)
    assert "unexpected 'dollars'" in repair[2]["content"] and "^" in repair[2]["content"]
    first_prompt = model.calls[0][0][0]["content"]
    assert "Answer:" in first_prompt and "Question:" in first_prompt


def test_gsm8k_slice_as_program_of_thought(prefect_api, shared_data, monkeypatch):
    from flows.llm.scripted import ScriptedModel
    from flows.orchestration.batch import run_batch

    model = ScriptedModel(lambda messages, meta: _answer_for(PROGRAMS, messages))
    model.install("scripted-pot")
    # the loop ends on its 2 CPU seconds; the wall clock is far off, so that a loaded machine's slow
    # sandbox start never fails one of the four good programs (--timeout 2 bounded both)
    monkeypatch.setenv("NESYFLOW_TIMEOUT_S", "60")
    monkeypatch.setenv("NESYFLOW_CPU_S", "2")
    report = run_batch(path=str(shared_data / "gsm8k" / "test.jsonl"), parser="llm", model="scripted-pot/m",
                       limit=5, language="python", concurrency=2)
    preds = [r.predicted for r in report.results]
    assert preds[:4] == ["18", "3", "70000", "540"]
    looping = report.results[4]
    assert looping.predicted is None and looping.status == "error" and "limit" in (looping.error or "")
    assert report.summary.correct == 4 and report.summary.errors == 1
