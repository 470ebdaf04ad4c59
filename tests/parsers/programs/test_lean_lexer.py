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


@pytest.fixture()
def lean_kernel():
    from conftest import unavailable
    from solvers.lean import toolchain

    chain = toolchain()
    if chain is None or not chain.core_less:
        unavailable("no core-less Lean kernel (make install builds it)", "needs the core-less kernel")
    return chain


@pytest.mark.lean
@pytest.mark.parametrize("snippet,runs", AGAINST_LEAN)
def test_code_is_what_lean_runs(snippet, runs, lean_kernel):
    from solvers.base import Limits
    from solvers.lean import PRELUDE, LeanSolver, parse_messages

    chain = lean_kernel
    ours = any(t.kind == "hash" and t.word == "#print" for t in code_tokens(tokenize(snippet)))
    proc = LeanSolver()._run(chain, PRELUDE + snippet + "\n", Limits(timeout_s=20))
    ran = any("'Eq' does not depend on any axioms" in m.text for m in parse_messages(proc.stdout))
    assert (ours, ran) == (runs, runs), proc.stdout[-600:]


FRAGMENTS = ['"', "'", "«", "»", "/-", "-/", "--", "\\", "\n", 'r#"', '"#', MARK, MARK + "\n", "x", " ", "+", "⁻¹", "'a'",
             "/", "-", "!", "{", "}", "def", ":=", "(", ")", ".", "1", "e", "«a»", "`", "r", "#", "/--", "/-!"]


@pytest.mark.lean
def test_random_fragments_never_hide_from_us_what_lean_runs_on_a_clean_parse(lean_kernel):
    """Fuzz with a fixed seed: snippets of comment, string, identifier and literal fragments around
    MARK; of those we accept, one file: every MARK Lean runs is a command in our tokens, unless
    Lean met a parse error before it (its recovery resumes from the error, even inside a token)."""
    import random

    from parsers.programs.lean_lexer import position
    from solvers.base import Limits
    from solvers.lean import PRELUDE, LeanSolver, parse_messages

    chain = lean_kernel
    rng, kept = random.Random(4), []
    while len(kept) < 300:
        snippet = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(3, 14)))
        try:
            tokenize(snippet)
        except LexError:
            continue
        kept.append(snippet)
    text = "\n".join(kept)
    ours = {position(text, t.start) for t in code_tokens(tokenize(text)) if t.kind == "hash" and t.word == "#print"}
    proc = LeanSolver()._run(chain, PRELUDE + text + "\n", Limits(timeout_s=60, cpu_s=60))
    shift = PRELUDE.count("\n")
    messages = [(m.line - shift, m.column, m) for m in parse_messages(proc.stdout)]
    ran = {(line, col) for line, col, m in messages if "'Eq' does not depend" in m.text}
    errors = sorted((line, col) for line, col, m in messages if m.severity == "error")
    assert ran & ours
    for place in ran - ours:  # only ever after Lean's own parse error: such a file is never proved
        assert errors and errors[0] < place, place


@pytest.mark.lean
def test_after_a_parse_error_lean_may_run_what_sits_in_a_name_so_code_words_are_refused_there_too(lean_kernel):
    from solvers.base import Limits
    from solvers.lean import PRELUDE, LeanSolver, parse_messages

    from parsers.errors import FormalizationError
    from parsers.programs.lean import read_lean_output

    text = f"def/-{MARK}\n.]-/'«'.∑'«/{MARK}\n]{MARK}\n«'»"  # found by the fuzzer above
    hidden = [t for t in tokenize(text) if t.kind == "ident" and t.escaped and MARK in text[t.start:t.end]]
    assert hidden and not any(t.kind == "hash" for t in code_tokens(tokenize(text)))
    proc = LeanSolver()._run(lean_kernel, PRELUDE + text + "\n", Limits(timeout_s=20))
    assert any("'Eq' does not depend" in m.text for m in parse_messages(proc.stdout))  # Lean ran it …
    assert any(m.severity == "error" for m in parse_messages(proc.stdout))  # … after its own parse error
    with pytest.raises(FormalizationError, match="not even in a comment, string or «name»"):
        read_lean_output(text.replace(MARK, "#eval (1 : Nat)") + "\nfun h => h", "(p : Prop) : p → p")
