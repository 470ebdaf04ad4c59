"""What a rerun may read back from the store: only outcomes a rerun would give again (issue 20).

A failed LLM call (whatever failed it: the endpoint, the network, a key) and a program stopped by
a limit are reported, never stored, so the rerun after the fix computes them again. No Prefect.
"""

from __future__ import annotations

import json

from flows.engine.runs import BatchParams, prepare

GOOD = "TEXT:\tAll men are mortal.\nFOL:\tall x. (Man(x) -> Mortal(x))\nTEXT:\tSocrates is a man.\nFOL:\tMan(Socrates)\nTEXT:\tSocrates is mortal.\nFOL:\tMortal(Socrates)"


def records(params: BatchParams):
    run = prepare(params, processes=0)
    try:
        return run.engine.records(run.feed.ready_ids(), timeout=120)
    finally:
        run.engine.close()


def test_a_refused_key_is_not_the_answer_once_the_key_is_set(tmp_path):
    """An authentication error is not transient (a retry with the same key fails again), but
    the key is in no cache key: the user sets it and reruns, and the model must be asked."""
    import litellm

    from flows.llm.scripted import ScriptedModel

    key = {"set": False}

    def script(messages, meta):
        if not key["set"]:
            raise litellm.exceptions.AuthenticationError("invalid api key", llm_provider="scripted", model="m")
        return GOOD

    model = ScriptedModel(script)
    model.install("scripted-key")
    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps({"id": "p0", "premises": ["All men are mortal.", "Socrates is a man."],
                                "conclusion": "Socrates is mortal.", "answer": "True"}) + "\n")
    params = BatchParams(path=str(data), parser="llm", model="scripted-key/m", solver="z3")
    (refused,) = records(params)
    assert refused.result.status == "error" and "credentials" in refused.result.error and not refused.final
    key["set"] = True
    (answered,) = records(params)
    assert (answered.cached, answered.result.predicted) == (False, "True"), answered.result.error
    assert len(model.calls) == 2


def test_a_program_stopped_by_its_limit_is_computed_again(tmp_path):
    """A Program-of-Thought program stopped by the CPU or wall-clock limit is an error (the repair
    prompt says so), but one that a rerun with other limits or on an idle machine may not hit."""
    data = tmp_path / "loop.jsonl"
    data.write_text(json.dumps({"id": "loop", "kind": "math", "question": "q", "answer": "1",
                                "formal": {"language": "python", "premises": ["while True:\n    pass\n"], "conclusion": ""}}) + "\n")
    params = BatchParams(path=str(data), parser="gold", timeout_s=1.0)
    for attempt in ("first", "second"):
        (rec,) = records(params)
        assert rec.result.status == "error" and "limit" in rec.result.reason, (attempt, rec.result.reason)
        assert not rec.final and not rec.cached, attempt
