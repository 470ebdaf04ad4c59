"""Lean's lexical rules in Python: what is code and what is a comment, a string or an identifier,
checked case by case and against the real Lean 4.35 kernel (a marker command inside or outside
each construct: Lean runs it exactly when our tokens see it as code)."""

from __future__ import annotations

import pytest

from parsers.programs.lean_lexer import LexError, code_tokens, tokenize


def spans(text: str) -> list[tuple[str, str]]:
    return [(t.kind, text[t.start:t.end]) for t in tokenize(text)]


@pytest.mark.parametrize("text,expected", [
    ('def «"» : P', [("ident", "def"), ("ident", '«"»'), ("symbol", ":"), ("ident", "P")]),
    ("def «/-» : P", [("ident", "def"), ("ident", "«/-»"), ("symbol", ":"), ("ident", "P")]),
    ("Lean.«Elab».x", [("ident", "Lean.«Elab».x")]),
    ("/-/- -/ x", [("comment", "/-/- -/"), ("ident", "x")]),  # Lean skips the character after `/-`
    ("/- /- -/ x -/ y", [("comment", "/- /- -/ x -/"), ("ident", "y")]),  # nested
    ("/-- doc -/ x", [("doc", "/-- doc -/"), ("ident", "x")]),
    ("-- a -/\nx", [("comment", "-- a -/"), ("ident", "x")]),
    ('"a\\"b" x', [("string", '"a\\"b"'), ("ident", "x")]),
    ("'a' '\\n' '\\x41'", [("char", "'a'"), ("char", "'\\n'"), ("char", "'\\x41'")]),
    ("f '' s", [("ident", "f"), ("symbol", "'"), ("symbol", "'"), ("ident", "s")]),
    ("f ⁻¹' s", [("ident", "f"), ("symbol", "⁻"), ("symbol", "¹"), ("symbol", "'"), ("ident", "s")]),
    ("h' x₁ aⱼ é", [("ident", "h'"), ("ident", "x₁"), ("ident", "aⱼ"), ("ident", "é")]),
    ("h.1.elim", [("ident", "h"), ("symbol", "."), ("number", "1"), ("symbol", "."), ("ident", "elim")]),
    ("0x1F 2.5e-3 1_000 2.", [("number", "0x1F"), ("number", "2.5e-3"), ("number", "1_000"), ("number", "2.")]),
    ("#eval x", [("hash", "#eval"), ("ident", "x")]),
])
def test_tokens(text, expected):
    assert spans(text) == expected


def test_identifier_names_drop_the_escapes():
    (tok,) = tokenize("_root_.«Lean».Elab")
    assert tok.name == ("_root_", "Lean", "Elab") and tok.escaped and tok.word == "_root_.Lean.Elab"


@pytest.mark.parametrize("text,offset,what", [
    ("/- open", 0, "unterminated comment"),
    ('x "open', 2, "unterminated string"),
    ("def «open", 4, "unterminated «identifier»"),
    ('"\\q #eval x"', 1, "invalid escape"),
    ('s!"{x}"', 2, "interpolation"),
    ('r#"a"#', 0, "raw string"),
    ("a+--c", 2, "put a space"),
    ("∑'\"'", 1, "put a space"),
    ("{x //-c -/}", 4, "put a space"),
    ("2e", 1, "exponent"),
])
def test_what_lean_would_read_otherwise_is_refused_at_its_place(text, offset, what):
    with pytest.raises(LexError) as info:
        tokenize(text)
    assert info.value.offset == offset and what in info.value.message


def test_code_tokens_drop_comments_only():
    assert [t.kind for t in code_tokens(tokenize('-- c\n/- d -/ "s" x'))] == ["string", "ident"]


MARK = "#print axioms Eq"
# Each snippet holds MARK once; `runs` is whether Lean executes it. Lean may report errors around
# it (unknown String, stray `-/`): what matters is whether the command inside ran.
AGAINST_LEAN = [
    (f'def «"» : Prop := True\n{MARK}\ndef «z"» : Prop := True', True),
    (f"def «/-» : Prop := True\n{MARK}\n-- -/", True),
    (f"/-/- -/ {MARK} -- -/", True),
    (f"/-/-/ {MARK} -- -/", True),
    (f"/- /- -/ {MARK} -/", False),
    (f"/-- {MARK} -/\ntheorem x : True := True.intro", False),
    (f"/-! {MARK} -/", False),
    (f"--/- \n{MARK}", True),
    (f"-- {MARK}", False),
    (f'def s := "\\" {MARK}"', False),
    (f"/--/ {MARK} -/", False),
    (f"theorem x : True := /-- {MARK} -/ True.intro", False),
    (f"def x := 1-/\n{MARK}", True),
    (f"#check '\"'\n{MARK}", True),
    (f"#check \"'\" {MARK}", True),
    (f"#check «'» {MARK}", True),
]


@pytest.mark.lean
@pytest.mark.parametrize("snippet,runs", AGAINST_LEAN)
def test_code_is_what_lean_runs(snippet, runs):
    from conftest import unavailable
    from solvers.base import Limits
    from solvers.lean import PRELUDE, LeanSolver, parse_messages, toolchain

    chain = toolchain()
    if chain is None or not chain.core_less:
        unavailable("no core-less Lean kernel (make install builds it)", "needs the core-less kernel")
    ours = any(t.kind == "hash" and t.word == "#print" for t in code_tokens(tokenize(snippet)))
    proc = LeanSolver()._run(chain, PRELUDE + snippet + "\n", Limits(timeout_s=20))
    ran = any("'Eq' does not depend on any axioms" in m.text for m in parse_messages(proc.stdout))
    assert (ours, ran) == (runs, runs), proc.stdout[-600:]
