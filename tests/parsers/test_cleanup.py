"""What models wrap programs in: removed, lines kept in place, every cut noted."""

from parsers.cleanup import clean
from parsers.llm_output import detect_style, extract

PROGRAM = """Predicates:
Cold($x, bool) ::: x is cold.
Facts:
Cold(bob, True) ::: Bob is cold.
Rules:
Cold($x, True) >>> Nice($x, True) ::: Cold people are nice.
Query:
Nice(bob, True) ::: Bob is nice."""


def test_clean_keeps_line_numbers_and_notes_every_cut():
    out = "Sure! Here is the program.\n" + PROGRAM + "\n------\nProblem:\nAnne is red.\nPredicates:\nRed($x, bool)"
    c = clean(out, "program")
    assert len(c.text.split("\n")) == len(out.split("\n"))
    assert c.text.split("\n")[1] == "Predicates:" and c.text.split("\n")[0] == ""
    assert "Red($x, bool)" not in c.text and "Anne" not in c.text
    assert any("before the first heading" in n for n in c.notes)
    assert any("output cut at line 10, a separator" in n for n in c.notes)


def test_clean_removes_think_blocks_tokens_and_picks_the_fenced_program():
    out = "<think>\nThe facts are...\nPredicates: nonsense\n</think>\nHere:\n```\n" + PROGRAM + "\n```\nAnswer: A<|eot_id|>"
    c = clean(out, "program")
    assert "nonsense" not in c.text and "<|eot_id|>" not in c.text and "Answer" not in c.text
    assert "Nice(bob, True)" in c.text
    assert any("<think>" in n for n in c.notes) and any("code block" in n for n in c.notes)


def test_clean_stops_at_a_restarted_program_and_an_appended_answer():
    again = PROGRAM + "\n" + PROGRAM
    c = clean(again, "program")
    assert c.text.count("Predicates:") == 1 and any("starts the program again" in n for n in c.notes)
    c = clean(PROGRAM + "\nThe answer is A.", "program")
    assert "answer" not in c.text and any("appended answer" in n for n in c.notes)


def test_clean_of_null_output():
    assert clean(None, "program").notes == ["the generation is empty (null)"]


def test_extract_carries_cleanup_notes_and_reads_the_program():
    ex = extract("<s>[INST] translate [/INST] " + "\n" + PROGRAM + "\n------\nProblem: next", "program")
    assert ex.errors == [] and ex.conclusion
    assert any("separator" in n for n in ex.notes)


def test_extract_empty_and_null_outputs_are_located_errors():
    for out in (None, "", "   \n"):
        ex = extract(out, "auto", expected="program")
        assert [e.where for e in ex.errors] == ["output"] and "empty" in ex.errors[0].message


def test_detect_style_falls_back_to_the_expected_format():
    assert detect_style("no markers here at all") is None
    assert detect_style(PROGRAM) == "program"
    ex = extract("All men are mortal.", "auto", expected="logiclm")
    assert ex.errors and "Logic-LM" in ex.errors[0].message


def test_logiclm_markdown_headings_prose_and_word_connectives():
    out = """**Predicates:**
Man(x) ::: x is a man.
Mortal(x) ::: x is mortal.
**Premises:**
Let me write the premises now.
FORALL x (Man(x) IMPLIES Mortal(x)) ::: All men are mortal.
Man(socrates) ::: Socrates is a man.
**Conclusion:**
Mortal(socrates) ::: Socrates is mortal.
Mortal(socrates)"""
    ex = extract(out, "auto")
    assert ex.errors == []
    assert ex.premises == ["∀ x (Man(x) → Mortal(x))", "Man(socrates)"]
    assert ex.conclusion == "Mortal(socrates)"
    assert any("prose" in n for n in ex.notes) and any("word connectives" in n for n in ex.notes)


def test_logiclm_premises_heading_implied_after_predicates():
    out = "Predicates:\nMan(x) ::: man\n∀x (Man(x) → Mortal(x))\nMan(socrates)\nConclusion:\nMortal(socrates)"
    ex = extract(out, "logiclm")
    assert ex.errors == [] and len(ex.premises) == 2
    assert any("no 'Premises:' heading" in n for n in ex.notes)
