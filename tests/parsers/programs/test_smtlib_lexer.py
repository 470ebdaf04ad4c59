"""The SMT-LIB reader agrees with z3's scanner or refuses, with the place (issue 18)."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from parsers.errors import FormalizationError
from parsers.programs.smtlib import is_command_name, looks_like_smtlib, option_letters, parse_smtlib_program
from parsers.programs.smtlib_lexer import tokenize
from solvers.binaries import z3_binary

HEAD = "(declare-const x Int)\n"
TAIL = "\n(define-fun conclusion () Bool (> x 1))\n"


def _refusal(body: str):
    with pytest.raises(FormalizationError) as exc:
        parse_smtlib_program(HEAD + body + TAIL)
    return exc.value.errors[0]


@pytest.mark.parametrize("body,column,words", [
    ('(assert (foo) \\ (echo "x") "")', 15, "unexpected character '\\\\'"),  # the reported bypass
    ("(assert (= x 'a'))", 14, "unexpected character \"'\""),
    ("(assert (= x {1}))", 14, "unexpected character '{'"),
    ("(assert (= x é))", 14, "unexpected character 'é'"),
    ("(assert (> x 1) #| (echo \"x\") |#)", 17, "block comments"),
    ("(assert (= x #q))", 14, "bit-vector literal"),
    ("(assert (= x |a\\|b|))", 16, "backslash inside a |quoted symbol|"),
    ("(assert (= x |a\nb|))", 14, "unterminated |quoted symbol|"),
    ('(assert (= "a\\" "b"))', 14, "backslash inside a string"),
    ("(assert (= x |abc))", 14, "unterminated |quoted symbol|"),
    ("(assert (> x 2x))", 14, "not one token to z3"),
    ("(assert (> x 1.2.3))", 14, "not one token to z3"),
    ('(assert (= x"a"))', 13, "runs into '\"'"),
    ("(assert (> x 1)\x0c)", 16, "control character U+000C"),
    ("(assert (> x 1)\ud800)", 16, "control character U+D800"),
])
def test_what_z3_scans_otherwise_is_refused_at_its_place(body, column, words):
    err = _refusal(body)
    assert err.line == 2 and err.column == column, err.render()
    assert words in err.message, err.message
    assert err.snippet.splitlines()[-1] == " " * (column - 1) + "^"


def test_an_unterminated_string_is_refused_where_it_starts():
    err = _refusal('(assert (= "abc x))')
    assert (err.line, err.column) == (2, 12) and "unterminated string" in err.message


@pytest.mark.parametrize("nested", ['(echo "x")', '(set-option :regular-output-channel "/tmp/f")', '(include "/etc/passwd")',
                                    "(eval x)", "(push 1)", "(pop 1)", "(reset)", "(exit)", "(check-sat)", '(|echo| "x")',
                                    "(declare-const z Int)", "(get-info :name)", "(set-future-option 1)"])
def test_a_command_nested_in_a_command_is_refused(nested):
    err = _refusal(f"(assert (and (> x 1) {nested}))")
    assert err.line == 2 and "cannot be nested" in err.message, err.render()
    assert err.column == len("(assert (and (> x 1) (") + 1  # at the command's name


def test_a_quoted_command_name_at_top_level_is_that_command():
    err = _refusal('(|set-option| :regular-output-channel "/tmp/f")')
    assert "'set-option' is not allowed" in err.message and (err.line, err.column) == (2, 1)


def test_what_z3_reads_the_same_is_accepted():
    text = (HEAD + '; a comment with | and " and \\ and é\n(declare-const |a b| Int)\n(declare-const s String)\n'
            '(assert (= s "say ""hi"" é"))\n(assert (! (> |a b| -1) :named n1)) ; trailing\n'
            "(assert (> x 1.5))\n(declare-const v (_ BitVec 4))\n(assert (= v #xA))\n(assert (= v #b1010))\n"
            "(check-sat)\n(assert (=> (> x 0) (>= x 0)))\n(declare-fun helpful (Int) Bool)\n(assert (helpful x))" + TAIL)
    prog = parse_smtlib_program(text)
    assert prog.script.count("\n") == text.count("\n") and "check-sat" not in prog.script
    kinds = [t.kind for t in tokenize('(= s "a""b") |q r| :named -1 1.5 #xA ; c\n)')]
    assert kinds == ["(", "symbol", "symbol", "string", ")", "symbol", "keyword", "number", "number", "bv", ")"]


def test_a_script_ending_in_a_comment_cannot_swallow_what_follows():
    prog = parse_smtlib_program(HEAD + "(define-fun conclusion () Bool (> x 1)) ; no newline")
    assert prog.script.endswith("\n")


def test_option_letters_never_carry_text_into_our_commands():
    assert option_letters(["A) one", "(B) two", "C. three", 'D"|) (echo "x"', "E: five"]) == ["A", "B", "C", "D", "E"]
    prog = "(declare-const x Int)\n(define-fun option_A () Bool true)\n(define-fun |option_B \"| () Bool true)\n"
    with pytest.raises(FormalizationError) as exc:
        parse_smtlib_program(prog, kind="choice", options=["A) a", 'B ") b'])
    assert "option_B" in exc.value.errors[0].message  # position B, not the text 'B "'


@pytest.mark.parametrize("text", ["\n" * 40_000, " \n" * 20_000, "(" * 40_000, '"' * 40_000, "|" * 40_000, "(assert " * 5_000,
                                  ";\n" * 20_000, "a" * 40_000])
def test_reading_hostile_shapes_is_linear(text):
    """40 K characters each (the reader's limit is 200 K); ``looks_like_smtlib`` took 19 s on the newlines."""
    t0 = time.perf_counter()
    looks_like_smtlib(text)
    try:
        parse_smtlib_program(text)
    except FormalizationError:
        pass
    assert time.perf_counter() - t0 < 1.5


def test_every_command_z3_lists_counts_as_a_command_name():
    """The nested-command refusal knows z3's whole (help): ``apply`` (which prints goals) was missing."""
    listing = subprocess.run([z3_binary(), "-in", "-smt2"], input="(help)\n", capture_output=True, text=True, timeout=60,
                             check=False).stdout
    names = set(re.findall(r'^"? \(([a-z][a-z0-9-]*)', listing, re.MULTILINE))
    assert len(names) > 60, listing[:300]  # the listing was read
    assert sorted(n for n in names if not is_command_name(n)) == []
    with pytest.raises(FormalizationError, match="cannot be nested"):
        parse_smtlib_program(HEAD + "(assert (apply x))" + TAIL)
