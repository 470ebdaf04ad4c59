"""No reader ever raises on model text: arbitrary text and mutated real outputs (every recording
under ../shared/data/recorded, other models' included) give a result or located errors only."""

from __future__ import annotations

import json
import random
from functools import lru_cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.engine import pipeline
from flows.models import Problem
from parsers.errors import FormalizationError, LocatedError
from parsers.llm_output import STYLES, extract
from parsers.programs.csp import parse_csp_program
from parsers.programs.lean import read_lean_output
from parsers.programs.logic_program import parse_logic_program
from parsers.programs.math_program import parse_math_program
from parsers.programs.smtlib import parse_smtlib_program
from parsers.programs.z3dsl import parse_z3_dsl

QUESTION = "Which one of the following must be true?"
DIRECT = {
    "program": lambda t: parse_logic_program(t),
    "csp": lambda t: parse_csp_program(t, QUESTION),
    "z3dsl": lambda t: parse_z3_dsl(t, QUESTION),
    "smtlib": lambda t: parse_smtlib_program(t, kind="choice", question=QUESTION, options=["A) x", "B) y"]),
    "sympy": lambda t: parse_math_program(t),
    "lean": lambda t: read_lean_output(t, "theorem t : 1 + 1 = 2", ""),
}


@lru_cache(maxsize=1)
def real_outputs(shared_data) -> tuple[str, ...]:
    """A fixed sample of real completions, every recorded file contributing."""
    rng = random.Random(7)
    out: list[str] = []
    for path in sorted((shared_data / "recorded").rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except ValueError:
            continue
        texts = []
        for rec in data if isinstance(data, list) else []:
            if isinstance(rec, dict):
                for prog in rec.get("raw_logic_programs") or []:
                    if isinstance(prog, str):
                        texts.append(prog)
            elif isinstance(rec, list):  # LINC generations: one list of samples per problem
                texts += [t for t in rec if isinstance(t, str)]
        out += rng.sample(texts, min(25, len(texts)))
    assert out, f"no recordings under {shared_data / 'recorded'}"
    return tuple(out)


def mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(7)
        i = rng.randrange(len(lines))
        if kind == 0:
            lines.insert(i, lines[rng.randrange(len(lines))])  # a repeated line
        elif kind == 1 and len(lines) > 1:
            del lines[i]
        elif kind == 2:
            k = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:k] + rng.choice("()[],:>$¬∧&|!=#'\"`\\{}\x00\u202e") + lines[i][k:]
        elif kind == 3:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]  # cut short
        elif kind == 4:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == 5:
            lines.insert(i, rng.choice(["------", "Problem:", "```", "<think>", "Answer: A", "# Options", "Query:",
                                        "Premises:", "Conclusion:", "is_true(x) ::: (A)", "A) x == 1", "FOL: P(a)"]))
        else:
            lines[i] = lines[i] * rng.randint(2, 5)
    return "\n".join(lines)


def assert_reads_or_locates(text: str) -> None:
    for style in STYLES:
        ex = extract(text, style)
        assert all(isinstance(e, LocatedError) and e.where and e.message for e in ex.errors)
    for name, reader in DIRECT.items():
        try:
            reader(text)
        except FormalizationError as exc:
            assert exc.errors and all(e.where and e.message for e in exc.errors), name
    for kind, options in (("entailment", None), ("choice", ["A) x", "B) y"])):
        problem = Problem(id="p", premises=["All men are mortal."], conclusion="Socrates is mortal.", kind=kind,
                          question=QUESTION if options else None, options=options)
        for style in ("auto", "program", "csp", "z3dsl", "logiclm"):
            form = pipeline.formalize_output(problem, text, style, "p", "replay", "program")
            checked = pipeline.check(form, close_free=True)
            assert checked.ok or all(e.where and e.message for e in checked.errors)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300) | st.text(alphabet="()[],:>$¬∧∨→&|!=#-_ \nPQxyTrueFalse>>>:::", max_size=300))
def test_arbitrary_text(text):
    assert_reads_or_locates(text)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_real_outputs(shared_data, data):
    original = data.draw(st.sampled_from(real_outputs(shared_data)))
    seed = data.draw(st.integers(0, 2**32 - 1))
    assert_reads_or_locates(mutate(original, random.Random(seed)))


def test_every_real_output_as_is(shared_data):
    for text in real_outputs(shared_data):
        assert_reads_or_locates(text)
