"""The LLM path end to end on the real Prefect server, with a scripted provider and real HTTP."""

import json
import re

import pytest

from flows.engine.dialogue import repair_messages
from parsers.errors import locate

pytestmark = pytest.mark.prefect

GOOD = "TEXT:\tAll men are mortal.\nFOL:\tall x. (Man(x) -> Mortal(x))\nTEXT:\tSocrates is a man.\nFOL:\tMan(Socrates)\nTEXT:\tSocrates is mortal.\nFOL:\tMortal(Socrates)"
CLASH = "TEXT:\tAll men are mortal.\nFOL:\tall x. (Man(x) -> Mortal(x))\nTEXT:\tSocrates is a man.\nFOL:\tMan(Socrates, Athens)\nTEXT:\tSocrates is mortal.\nFOL:\tMortal(Socrates)"
WRONG = "TEXT:\tAll men are mortal.\nFOL:\tall x. (Man(x) -> Mortal(x))\nTEXT:\tSocrates is a man.\nFOL:\tMan(Socrates)\nTEXT:\tSocrates is mortal.\nFOL:\t-Mortal(Socrates)"
UNSURE = "TEXT:\tAll men are mortal.\nFOL:\tall x. (Man(x) -> Mortal(x))\nTEXT:\tSocrates is a man.\nFOL:\tHuman(Socrates)\nTEXT:\tSocrates is mortal.\nFOL:\tMortal(Socrates)"
ABSENT = "TEXT:\tAll men are mortal.\nFOL:\tall x. (Man(x) -> Mortal(x))\nTEXT:\tSocrates is a man.\nFOL:\tMan(Socrates)\nTEXT:\tSocrates is mortal.\nFOL:\tMortal(socrates)"


def write_problems(path, n=1, answer="True"):
    rows = [{"id": f"p{i}", "premises": ["All men are mortal.", "Socrates is a man."], "conclusion": "Socrates is mortal.",
             "answer": answer} for i in range(n)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


def run(path, model, **kw):
    from flows.orchestration.batch import run_batch

    return run_batch(path=path, parser="llm", model=model, concurrency=4, solver="z3", **kw)


def test_repair_dialogue_carries_the_located_error(prefect_api, tmp_path):
    from flows.llm.scripted import ScriptedModel

    def script(messages, meta):
        return CLASH if len(messages) == 1 else GOOD  # first translation clashes; the repair fixes it

    model = ScriptedModel(script)
    model.install("scripted-repair")
    report = run(write_problems(tmp_path / "p.jsonl"), "scripted-repair/m1", repair_rounds=2)
    (r,) = report.results
    assert (r.predicted, r.correct, r.repair_rounds) == ("True", True, 1)
    assert r.round_errors == ["sample 0 round 0: signature error at premise 2: predicate Man used with 2 arguments; "
                              "premise 1 uses it with 1"]
    assert len(model.calls) == 2
    repair_conv = model.calls[1][0]
    assert [m["role"] for m in repair_conv] == ["user", "assistant", "user"]
    assert repair_conv[1]["content"] == CLASH
    assert "predicate Man used with 2 arguments; premise 1 uses it with 1" in repair_conv[2]["content"]
    assert "hint: use one arity for Man everywhere" in repair_conv[2]["content"]
    s = report.summary
    assert (s.llm_calls, s.prompt_tokens, s.completion_tokens) == (2, 200, 100)

    # the finished batch again: every result (and so every LLM call) comes from the store
    before = len(model.calls)
    again = run(write_problems(tmp_path / "p.jsonl"), "scripted-repair/m1", repair_rounds=2)
    assert len(model.calls) == before and again.summary.llm_calls == 0 and again.summary.llm_cached == 2
    assert again.results[0].predicted == "True"


def test_k_samples_vote_and_errors_do_not_vote(prefect_api, tmp_path):
    from flows.llm.scripted import ScriptedModel

    answers = {0: GOOD, 1: UNSURE, 2: GOOD, 3: "I am not sure.", 4: UNSURE}
    model = ScriptedModel(lambda messages, meta: answers[meta["sample"]])
    model.install("scripted-vote")
    report = run(write_problems(tmp_path / "p.jsonl"), "scripted-vote/m", samples=5)
    (r,) = report.results
    assert r.votes == {"True": 2, "Unknown": 2}
    assert r.predicted == "True"  # tie: the answer of the first sample
    assert r.samples == 5 and report.summary.samples_failed == 1
    seeds = sorted(meta["seed"] for _, meta in model.calls)
    assert seeds == [0, 1, 2, 3, 4]  # K calls with distinct seeds
    assert {meta["temperature"] for _, meta in model.calls} == {0.8}


def test_checks_prune_samples_before_the_vote(prefect_api, tmp_path):
    """Draft-and-prune: a sample that negates the statement is rejected and does not vote; one whose
    conclusion names a constant no premise has is left out while a sample without doubt exists."""
    from flows.llm.scripted import ScriptedModel

    answers = {0: WRONG, 1: ABSENT, 2: WRONG, 3: GOOD, 4: ABSENT}
    model = ScriptedModel(lambda messages, meta: answers[meta["sample"]])
    model.install("scripted-prune")
    report = run(write_problems(tmp_path / "p.jsonl"), "scripted-prune/m", samples=5)
    (r,) = report.results
    assert (r.predicted, r.correct) == ("True", True)  # without the checks: False×2, Unknown×2, True×1
    assert r.pruned == {"opposite polarity": 2, "conclusion symbol absent from the premises": 2}
    assert report.summary.pruned_samples == 4
    assert any("kept out of the vote" in n for n in r.notes)

    # alone, a rejected sample is the problem's status, with its located reason as the error
    only = run(write_problems(tmp_path / "q.jsonl"), "scripted-prune/m", samples=1)
    (q,) = only.results
    assert q.status == "rejected" and q.predicted is None
    assert "check error at conclusion: the conclusion ¬Mortal(Socrates) negates the question's statement" in q.error
    assert only.summary.exe_rate == 1.0 and only.summary.rejected == 1


def test_a_rejected_sample_gets_a_repair_prompt_with_the_reason(prefect_api, tmp_path):
    from flows.llm.scripted import ScriptedModel

    model = ScriptedModel(lambda messages, meta: WRONG if len(messages) == 1 else GOOD)
    model.install("scripted-check-repair")
    report = run(write_problems(tmp_path / "p.jsonl"), "scripted-check-repair/m", repair_rounds=1)
    (r,) = report.results
    assert (r.predicted, r.repair_rounds) == ("True", 1)
    assert "negates the question's statement" in model.calls[1][0][2]["content"]


def test_every_sample_failing_uses_the_fallback(prefect_api, tmp_path):
    from flows.llm.scripted import ScriptedModel

    ScriptedModel(lambda messages, meta: "no formulas here").install("scripted-fail")
    path = write_problems(tmp_path / "p.jsonl", answer="Unknown")
    none = run(path, "scripted-fail/m", samples=2)
    assert none.results[0].predicted is None and not none.results[0].correct
    unknown = run(path, "scripted-fail/m", samples=2, fallback="unknown")
    assert unknown.results[0].predicted == "Unknown" and unknown.results[0].status == "error"


def test_transient_error_is_retried_bad_request_is_not(prefect_api, tmp_path):
    import litellm

    from flows.llm.scripted import ScriptedModel

    seen = {"p0": 0, "p1": 0}

    def script(messages, meta):
        pid = meta["problem_id"]
        seen[pid] += 1
        if pid == "p0" and seen[pid] == 1:
            raise litellm.exceptions.RateLimitError(message="slow down", llm_provider="scripted", model="m")
        if pid == "p1":
            raise litellm.exceptions.BadRequestError(message="bad prompt", llm_provider="scripted", model="m")
        return GOOD

    ScriptedModel(script).install("scripted-retry")
    report = run(write_problems(tmp_path / "p.jsonl", n=2), "scripted-retry/m")
    by_id = {r.id: r for r in report.results}
    assert seen == {"p0": 2, "p1": 1}
    assert by_id["p0"].predicted == "True"
    assert by_id["p1"].status == "error" and "rejected the request (HTTP 400)" in by_id["p1"].error
    assert report.summary.llm_failed == 1


def test_real_http_to_a_local_openai_compatible_server(prefect_api, tmp_path):
    from flows.llm.fake_openai import FakeOpenAI

    with FakeOpenAI(lambda messages: GOOD) as server:
        report = run(write_problems(tmp_path / "p.jsonl", n=3), "openai/local-model", api_base=server.api_base)
        assert [r.predicted for r in report.results] == ["True"] * 3
        assert len(server.requests) == 3
        body = server.requests[0]
        assert body["model"] == "local-model" and body["messages"][0]["role"] == "user"
        assert "<PREMISES>\nAll men are mortal.\nSocrates is a man.\n</PREMISES>" in body["messages"][0]["content"]
    assert report.summary.prompt_tokens == 360 and report.summary.cost_usd == 0.0


def test_repair_messages_is_pure():
    msgs = [{"role": "user", "content": "translate"}]
    err = locate("parse", "unexpected ','", text="A(x), B(x)", line=1, column=5, where="premise 2")
    out = repair_messages(msgs, "FOL: A(x), B(x)", [err])
    assert msgs == [{"role": "user", "content": "translate"}]  # the input list is not changed
    assert out[1] == {"role": "assistant", "content": "FOL: A(x), B(x)"}
    assert re.search(r"1\. parse error at premise 2, col 5: unexpected ','\nA\(x\), B\(x\)\n    \^", out[2]["content"])
