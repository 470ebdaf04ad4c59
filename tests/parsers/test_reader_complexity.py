"""Every reader of model and dataset text is linear in its input (issue 18, item 3).

Backtracking regexes (``^\\s*[#*\\s]*heading`` with ``re.M`` over blank lines, ``\\s*…\\s*`` side by
side, a lazy ``(.+?)\\s*$``) made one 1 KB completion cost 38 s and a 2 KB one 289 s. Each reader
here is timed on hostile shapes of 10 KB and 20 KB, bare and behind each format's headings: a
call over ``BOUND_S`` at 10 KB fails, and so does one whose time grows more than ``GROWTH``× when
its input doubles (a linear reader's doubles, a quadratic one's quadruples; a shape that looks
superlinear is measured again, best of three, and one doubling below, before it counts: the
machine is shared). A call that runs away is stopped by an alarm, so the test fails instead of
hanging.
"""

from __future__ import annotations

import gc
import json
import signal
import time
from pathlib import Path

import pytest

from flows.datasets import load_problems
from flows.engine import pipeline
from flows.models import Formalization
from parsers.cleanup import HEADINGS, clean
from parsers.english import parse_problem_english
from parsers.errors import FormalizationError
from parsers.fol.lenient import parse_lenient
from parsers.fol.reader import parse_formula
from parsers.llm_output import STYLES, clean_formula, detect_style, extract, unfence
from parsers.programs.csp import looks_like_csp, parse_csp_program
from parsers.programs.expr import parse_expression
from parsers.programs.logic_program import looks_like_logic_program, parse_logic_program
from parsers.programs.math_program import parse_math_program
from parsers.programs.smtlib import looks_like_smtlib
from parsers.programs.z3dsl import looks_like_z3_dsl, parse_z3_dsl

BOUND_S = 1.0
GROWTH = 3.5
CONFIRM = 2.8
"""A shape that grew more than ``GROWTH``× from 10 to 20 KB counts only if it also grows more than
this from 5 to 10 KB: a quadratic reader does both, a linear one hit by a busy moment does not."""
ALARM_S = 3.0
"""A call still running after this is reported as too slow (today's cubic readers would take hours)."""
SIZES = (10_000, 20_000)
FORMULA_SIZES = (8_000, 16_000)
"""One formula is at most ``parsers.fol.reader.MAX_FORMULA_CHARS`` (20,000) long: measured below it."""
QUESTION = "Which one of the following must be true?"


def _quiet(fn):
    def run(text: str):
        try:
            fn(text)
        except FormalizationError:
            pass  # a located error is a fine answer; only time matters here
    return run


READERS = {
    "detect_style": detect_style,
    "unfence": unfence,
    "clean_formula": clean_formula,
    **{f"extract[{s}]": (lambda s: lambda t: extract(t, s, "logiclm", "Socrates is mortal."))(s) for s in STYLES},
    **{f"clean[{s}]": (lambda s: lambda t: clean(t, s))(s) for s in (*HEADINGS, "none")},
    "looks_like_logic_program": looks_like_logic_program,
    "looks_like_csp": looks_like_csp,
    "looks_like_z3_dsl": looks_like_z3_dsl,
    "looks_like_smtlib": looks_like_smtlib,
    "parse_logic_program": parse_logic_program,
    "parse_csp_program": _quiet(lambda t: parse_csp_program(t, QUESTION)),
    "parse_z3_dsl": _quiet(lambda t: parse_z3_dsl(t, QUESTION)),
    "parse_math_program": _quiet(parse_math_program),
    "parse_expression": _quiet(lambda t: parse_expression(t.replace("\n", " "))),
    "parse_formula": _quiet(lambda t: parse_formula(t)),
    "parse_lenient": _quiet(lambda t: parse_lenient(t)),
    "english": lambda t: parse_problem_english([t], t),
    "check[fol]": lambda t: pipeline.check(Formalization(problem_id="p", source="llm", premises=[t, "P(a)"], conclusion=t)),
}

# Shapes that make backtracking readers blow up: runs of what optional prefixes and separators
# accept, repeated headings, long lines, deep nesting, unbalanced quotes.
_UNITS = {
    "newlines": "\n", "spaces": " ", "tabs": "\t", "space-newline": " \n", "crlf": "\r\n", "hashes": "#", "stars": "*",
    "hash-space": "# ", "star-newline": "*\n", "marks-mix": " #*\t>-\n", "letters": "a", "word-space": "ab ",
    "digits": "1", "thousands": "1,", "open-parens": "(", "close-parens": ")", "minus": "-", "not": "¬",
    "bang": "!", "quotes": "\"'", "dquote": '"', "backticks": "`", "fences": "```\n", "dots": "1.", "percent": "1%",
    "comma-space": ", ", "think": "<think>", "amp": "&& ", "arrows": "->", "not-call": "Not(", "all": "All ",
    "all-x": "All x ", "all-bare": "all ", "quant": "all x. ", "implies": "P(a) -> ", "iff": "P(a) <-> ", "heading-premises": "Premises:\n", "heading-facts": "Facts:\nRules:\n",
    "heading-bold": "**Conclusion:** ", "heading-decl": "# Declarations\n", "heading-vars": "Variables:\n",
    "fol-line": "FOL:\t", "text-line": "TEXT: a\n", "answer-line": "Answer: ", "equals": "x = ", "in": "x in ",
    "dollar": "$x, ", "brackets": "[", "colon": ": ", "gloss": "::: ", "option": "A) ", "question": "Question ::: ",
}
_TAILS = ("", "Premises", "x::")
_PREFIXES = ("", "Predicates:\n", "Premises:\n", "FOL: ", "Facts:\n", "# Declarations\n", "Variables:\n", "Equations:\n",
             "Premises:\nP(a) ::: ", "x in ")


def shape(unit: str, size: int, tail: str = "", prefix: str = "") -> str:
    return prefix + unit * (size // len(unit)) + tail


class _TooSlow(Exception):
    pass


def _alarm(*_):
    raise _TooSlow()


def _time(fn, text: str, runs: int = 3) -> float:
    """Seconds for one call (the best of ``runs`` when it is quick: the machine is shared), or
    ``ALARM_S`` when it runs away."""
    old = signal.signal(signal.SIGALRM, _alarm)
    best = ALARM_S
    gc.disable()  # the reader's own time: a collection of the whole test process's objects is not its cost
    try:
        for _ in range(runs):
            signal.setitimer(signal.ITIMER_REAL, ALARM_S)
            t0 = time.perf_counter()
            try:
                fn(text)
            except _TooSlow:
                return ALARM_S
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            best = min(best, time.perf_counter() - t0)
            if best > 0.3:
                break
    finally:
        signal.signal(signal.SIGALRM, old)
        gc.enable()
    return best


_BEHIND_HEADINGS = ("newlines", "spaces", "marks-mix", "letters", "open-parens", "minus", "quotes")
"""Units also tried behind each prefix: the shapes that reach a format's inner readers."""
MAX_REPORTED = 5


def _cases():
    for unit_name, unit in _UNITS.items():
        for tail in _TAILS:
            yield f"{unit_name}+{tail or '-'}", unit, tail, ""
    for unit_name in _BEHIND_HEADINGS:
        for prefix in _PREFIXES[1:]:
            yield f"{prefix.strip()[:14]}+{unit_name}+x", _UNITS[unit_name], "x", prefix


QUICK_S = 0.005
"""Below this at 10 KB a reader is not measured at 20 KB: even quadratic, it would stay under a
second up to the 100 KB the readers accept (``parsers.llm_output.MAX_OUTPUT_CHARS``)."""


def _grows(fn, small_text: str, big_text: str, runs: int) -> tuple[float, float, bool]:
    small = big = ALARM_S
    for _ in range(runs):  # interleaved: a busy moment hits both sizes alike
        small, big = min(small, _time(fn, small_text, runs=1)), min(big, _time(fn, big_text, runs=1))
    # under 0.1 s at 20 KB even a quadratic reader stays under ~2.5 s at the 100 KB cap, and memory
    # caches alone make such short times grow unevenly
    return small, big, big >= ALARM_S or (big > 0.1 and big > GROWTH * small)


def _check(name: str, fn, sizes: tuple[int, int] = SIZES) -> list[str]:
    slow = []
    for case, unit, tail, prefix in _cases():
        if len(slow) >= MAX_REPORTED:
            break  # enough to show the reader is not linear (and to keep a failing run short)
        small_text, big_text = shape(unit, sizes[0], tail, prefix), shape(unit, sizes[1], tail, prefix)
        small = _time(fn, small_text, runs=1)
        if small > BOUND_S:
            small = _time(fn, small_text)  # measured again: one busy moment is not a slow reader
        if small > BOUND_S:
            slow.append(f"{name} on {case}: {small:.2f} s at {sizes[0]} chars")
            continue
        if small < QUICK_S:
            continue
        small, big, grows = _grows(fn, small_text, big_text, runs=1)
        if grows:  # measured again, best of three: one busy moment of a shared machine is not a quadratic reader
            small, big, grows = _grows(fn, small_text, big_text, runs=3)
        if grows and big < ALARM_S:  # and it must grow faster than linear one doubling below as well
            half, small_again = _time(fn, shape(unit, sizes[0] // 2, tail, prefix)), _time(fn, small_text)
            grows = min(small, small_again) > CONFIRM * half
        if grows:
            slow.append(f"{name} on {case}: {small * 1000:.0f} ms at {sizes[0]} chars, {big * 1000:.0f} ms at {sizes[1]}")
    return slow


@pytest.mark.parametrize("name", sorted(READERS))
def test_reader_is_linear_on_hostile_shapes(name):
    slow = _check(name, READERS[name], FORMULA_SIZES if name in ("parse_formula", "parse_lenient", "check[fol]") else SIZES)
    assert not slow, f"{len(slow)} slow case(s):\n" + "\n".join(slow[:15])


def _dataset_readers(tmp: Path):
    """The dataset loaders' own patterns: GSM8K's '#### <number>', LINC's TEXT: lines."""
    def gsm8k(text: str):
        path = tmp / "g.jsonl"
        path.write_text(json.dumps({"question": "q", "answer": "#### " + text}) + "\n")
        load_problems(path, "gsm8k")

    def linc(text: str):
        path = tmp / "x_generations_raw.json"
        path.write_text(json.dumps([[text, text]]))
        (tmp / "x_references.json").write_text(json.dumps(["True"]))
        load_problems(path, "linc")

    return {"gsm8k": gsm8k, "linc": linc}


def test_dataset_readers_are_linear(tmp_path):
    slow = []
    for name, fn in _dataset_readers(tmp_path).items():
        slow += _check(name, fn)
    assert not slow, f"{len(slow)} slow case(s):\n" + "\n".join(slow[:15])
