import json

import pytest

from flows.datasets import DatasetError, detect_format, load_problems


def test_folio_jsonl(shared_data):
    problems = load_problems(shared_data / "folio" / "folio-validation.jsonl")
    assert len(problems) == 204
    p = problems[0]
    assert p.id == "folio-validation_0"
    assert p.answer == "Unknown"  # "Uncertain" → Unknown
    assert p.formal.premises[0] == "∀x (TalentShows(x) → Engaged(x))"
    assert {q.answer for q in problems} == {"True", "False", "Unknown"}


@pytest.mark.parametrize("ds, n, labels", [("ProofWriter", 600, {"True", "False", "Unknown"}), ("ProntoQA", 500, {"True", "False"}),
                                          ("FOLIO", 204, {"True", "False", "Unknown"})])
def test_logic_lm_entailment_sets(shared_data, ds, n, labels):
    problems = load_problems(shared_data / "logic_lm" / ds / "dev.json")
    assert len(problems) == n
    assert {p.answer for p in problems} == labels
    assert all(p.kind == "entailment" and p.conclusion and p.context for p in problems)


def test_logic_lm_choice_sets_keep_letters(shared_data):
    problems = load_problems(shared_data / "logic_lm" / "LogicalDeduction" / "dev.json")
    assert problems[0].kind == "choice" and problems[0].answer in "ABCDEFG"


def test_prontoqa_conclusion_is_the_statement(shared_data):
    p = load_problems(shared_data / "logic_lm" / "ProntoQA" / "dev.json", limit=1)[0]
    assert p.conclusion == "Max is sour."


def test_own_format_and_bad_records(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "a", "premises": ["x"], "conclusion": "y", "answer": "uncertain",
                    "formal": {"premises": ["P(a)"], "conclusion": "P(a)"}}),
        "{not json",
        json.dumps({"id": "c", "premises": "not a list", "conclusion": "y"}),
        json.dumps({"id": "a", "premises": [], "conclusion": "z"}),
    ]))
    problems = load_problems(path)
    assert [p.id for p in problems] == ["a", "mine_1", "c", "a#2"]
    assert problems[0].answer == "Unknown" and problems[0].formal.conclusion == "P(a)"
    assert problems[1].load_error.startswith("line 2: invalid JSON")
    assert problems[2].load_error == "record 3: field 'premises' must be a list of strings"


@pytest.mark.parametrize("content, message", [
    ("", "file is empty"),
    ("[1, 2", "invalid JSON at line 1"),
    ("hello\nworld", "not JSON or JSONL"),
    ('[{"foo": 1}]', "cannot tell the format"),
])
def test_unreadable_files_raise_one_line(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message) as info:
        load_problems(path)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_problems(tmp_path / "nope.jsonl")


def test_detect_format():
    assert detect_format([{"premises": [], "premises-FOL": [], "conclusion": "", "label": "True"}]) == "folio"
    assert detect_format([{"id": 1, "context": "", "question": "", "options": []}]) == "logic-lm"
    assert detect_format([{"id": 1, "premises": []}]) == "nesyflow"


def test_linc_raw_generations_with_sibling_references(shared_data):
    path = shared_data / "recorded" / "linc" / "gpt-4-0613_folio-neurosymbolic-8shot_generations_raw.json"
    problems = load_problems(path)
    assert len(problems) == 182
    p = problems[0]
    assert p.id == "gpt-4-0613_folio-neurosymbolic-8shot_0" and p.answer == "True" and len(p.recorded) == 10
    assert p.premises[0] == "All students are humans." and p.conclusion == "Rose is a human or Jerry is a manager."
    assert {q.answer for q in problems} == {"True", "False", "Unknown"}  # "Uncertain" → Unknown
    assert load_problems(path, limit=3)[2].id.endswith("_2")


def test_linc_file_without_references(tmp_path):
    path = tmp_path / "m_folio_generations_raw.json"
    path.write_text('[["TEXT: a\\nFOL: P(a)\\nTEXT: b\\nFOL: P(b)"]]')
    with pytest.raises(DatasetError, match="gold labels not found: expected m_folio_references.json beside it"):
        load_problems(path)
    (tmp_path / "m_folio_references.json").write_text('["True", "False"]')
    with pytest.raises(DatasetError, match="1 problems but 2 labels"):
        load_problems(path)


def test_logic_lm_recorded_programs(shared_data):
    p = load_problems(shared_data / "recorded" / "logic_lm" / "FOLIO_dev_gpt-4.json", limit=1)[0]
    assert p.recorded[0].startswith("Predicates:") and p.answer == "Unknown"


def test_a_renamed_duplicate_never_takes_another_records_id(tmp_path):
    path = tmp_path / "ids.jsonl"
    rows = [("a", "P(a)"), ("a", "-P(a)"), ("a#2", "Q(a)"), ("a", "R(a)"), ("a#3", "S(a)")]
    path.write_text("".join(json.dumps({"id": i, "premises": ["x"], "conclusion": "y",
                                        "formal": {"premises": ["P(a)"], "conclusion": c}}) + "\n" for i, c in rows))
    problems = load_problems(path)
    ids = [p.id for p in problems]
    assert len(set(ids)) == len(ids), ids
    assert ids[:2] == ["a", "a#2"]  # read as a stream: the second a takes a#2 before the real a#2 is read …
    assert ids[2] != "a#2" and ids[2].startswith("a#2#")  # … which is renamed in turn, never merged with it
    assert [p.formal.conclusion for p in problems] == [c for _, c in rows]
