from parsers.llm_output import clean_formula, extract, extract_linc, extract_logiclm


def test_linc_lines_with_chatter_fences_numbering_and_periods():
    out = """Sure! Here is the translation:
```
1. TEXT:\tAll men are mortal.
FOL:\tall x. (Man(x) -> Mortal(x)).
2. TEXT: Socrates is a man.
   FOL:  Man(Socrates)
TEXT:\tSocrates is mortal.
FOL:\tMortal(Socrates)
```
Let me know if you need anything else."""
    ex = extract_linc(out)
    assert ex.errors == []
    assert ex.premises == ["all x. (Man(x) -> Mortal(x))", "Man(Socrates)"]
    assert ex.conclusion == "Mortal(Socrates)"
    assert ex.texts[0] == "All men are mortal."


def test_linc_missing_or_empty_lines_are_located():
    assert extract_linc("I cannot do that.").errors[0].message == "no 'FOL:' lines in the output"
    ex = extract_linc("TEXT: a\nFOL:\nTEXT: b\nFOL: P(a)\nFOL: Q(a)")
    assert ex.errors[0].where == "output line 2" and ex.errors[0].message == "FOL line is empty"


def test_logiclm_sections_with_glosses():
    out = """Predicates:
Man(x) ::: x is a man.
Premises:
∀x (Man(x) → Mortal(x)) ::: All men are mortal.
Man(socrates) ::: Socrates is a man.
Conclusion:
Mortal(socrates) ::: Socrates is mortal."""
    ex = extract_logiclm(out)
    assert ex.errors == [] and ex.premises == ["∀x (Man(x) → Mortal(x))", "Man(socrates)"]
    assert ex.conclusion == "Mortal(socrates)"
    assert extract(out).conclusion == "Mortal(socrates)"  # auto-detects the style


def test_logiclm_missing_sections():
    ex = extract_logiclm("Predicates:\nP(x) ::: p\nPremises:\nP(a) ::: a")
    assert [e.message.split(" (")[0] for e in ex.errors] == ["no 'Conclusion:' section in the output"]
    ex = extract_logiclm("Premises:\nConclusion:\nP(a)\nQ(a)")
    assert "the 'Premises:' section is empty" in [e.message for e in ex.errors]
    assert "2 different formulas under 'Conclusion:'; one is expected" in [e.message for e in ex.errors]


def test_clean_formula():
    assert clean_formula("`P(a) ∧ Q(b)`.") == "P(a) ∧ Q(b)"
    assert clean_formula("Value(yale, 42.3) ::: gloss") == "Value(yale, 42.3)"
    assert clean_formula("P(x.)") == "P(x.)"  # only a trailing period is dropped
