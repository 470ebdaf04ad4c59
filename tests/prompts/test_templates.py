"""The prompt templates: few-shot formulas are parsed once per process, and rendering is unchanged by it."""

from __future__ import annotations

import prompts
from parsers.fol.nodes import And, signature_of
from parsers.fol.printer import to_nltk, to_unicode
from parsers.fol.reader import parse_formula


def _expected_predicate_lines(formulas: list[str]) -> list[str]:
    sig = signature_of(And(tuple(parse_formula(f) for f in formulas)))
    lines = []
    for name, arities in sorted(sig.predicates.items()):
        args = ", ".join("xyzwuv"[i] for i in range(min(arities)))
        lines.append(f"{name}({args}) ::: {name}" if args else f"{name} ::: {name}")
    return lines


def test_logiclm_prompt_lists_each_examples_predicates_and_formulas():
    text = prompts.render("logiclm_fol", premises=["Tom is a cat."], conclusion="Tom is an animal.")
    for ex in prompts.fewshot_examples():
        formulas = list(ex["premises_fol"]) + [ex["conclusion_fol"]]
        assert "\n".join(_expected_predicate_lines(formulas)) in text
        for f in formulas:
            assert to_unicode(parse_formula(f)) in text
    assert text.index("Tom is a cat.") > text.rindex("------")  # the problem comes after the last example


def test_rendering_twice_gives_the_same_text_and_parses_examples_once(monkeypatch):
    first = prompts.render("linc_fol", premises=["Tom is a cat."], conclusion="Tom is an animal.")
    calls = []
    import parsers.fol.reader as reader

    real = reader.parse_formula
    monkeypatch.setattr(reader, "parse_formula", lambda *a, **k: calls.append(a) or real(*a, **k))
    again = prompts.render("linc_fol", premises=["Tom is a cat."], conclusion="Tom is an animal.")
    assert again == first
    assert calls == []  # every few-shot formula was parsed by the first render
    for ex in prompts.fewshot_examples():
        assert to_nltk(parse_formula(ex["conclusion_fol"])) in first


def test_compile_all_covers_every_prompt():
    prompts.compile_all()
    env = prompts._env()
    for file in prompts.PROMPTS.values():
        assert env.get_template(file) is env.get_template(file)
