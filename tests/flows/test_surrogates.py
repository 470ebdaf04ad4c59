"""Unpaired UTF-16 surrogates: JSON may spell one (``"\\ud800"``) in a dataset's record or a
model's reply, and such a string cannot be written as UTF-8. Before, one in a record's id took the
whole batch down when its result was stored, and one in a reply failed its problem as an internal
error (the call not counted, so a rerun paid for it again)."""

from __future__ import annotations

import json

from flows.datasets import stream_problems
from flows.llm.clients import LLMRequest, reply_text
from flows.models import Problem, ProblemResult
from flows.text import without_surrogates


def test_a_records_unpaired_surrogates_are_replaced_and_noted(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "s\\ud800id", "premises": ["a \\udc00"], "conclusion": "b", "answer": "True", '
                    '"formal": {"language": "fol", "premises": ["P(a) \\udbff"], "conclusion": "P(a)"}}\n'
                    '{"id": "pair", "premises": ["\\ud83d\\ude00"], "conclusion": "b"}\n')
    bad, pair = stream_problems(path)
    assert bad.id == "s\ufffdid" and bad.premises == ["a \ufffd"] and bad.formal.premises == ["P(a) \ufffd"]
    assert bad.notes == ["3 unpaired UTF-16 surrogate(s) (\\ud800–\\udfff) in the record's text replaced with U+FFFD"]
    assert pair.premises == ["\U0001F600"] and pair.notes == []  # a proper pair is one character, kept
    for p in (bad, pair):
        p.model_dump_json().encode("utf-8")  # storable: this raised UnicodeEncodeError
        ProblemResult(id=p.id, gold=None, predicted=None, status="error", solver="z3").model_dump_json()


def test_a_json_array_and_a_problem_built_in_code_are_cleaned_too(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps([{"id": "x\ud800", "context": "c", "question": "q \udfff", "options": ["A) a"], "answer": "A"}]))
    (p,) = stream_problems(path)
    assert "\ud800" not in p.id and "\udfff" not in (p.question or "") and p.notes
    assert Problem(id="\udcff", premises=[]).id == "\ufffd"  # the REST ``reason`` flow and ``solve`` build these


def test_a_replys_unpaired_surrogates_are_replaced():
    req = LLMRequest(problem_id="p", model="openai/m", api_base="http://127.0.0.1:1/v1", messages=[], temperature=0,
                     seed=0, sample=0, max_tokens=10)
    data = json.loads('{"choices": [{"message": {"content": "FOL:\\tP(a) \\ud800"}, "finish_reason": "st\\udc00op"}]}')
    text, finish, _ = reply_text(data, req)
    assert text == "FOL:\tP(a) \ufffd" and finish == "st\ufffdop"
    text.encode("utf-8")


def test_without_surrogates_leaves_clean_values_untouched():
    clean = {"a": ["x", "ü", 3, None], "b": {"c": "d"}}
    assert without_surrogates(clean) == (clean, 0) and without_surrogates(clean)[0] is clean
    assert without_surrogates({"k\udc80": ["\ud800\ud800"]}) == ({"k\ufffd": ["\ufffd\ufffd"]}, 3)
