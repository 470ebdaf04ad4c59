"""Prompt templates as files, one loader. A template's version is the hash of its text and its
few-shot data, and goes into every LLM cache key: edit a prompt and its calls are new.

    linc_fol      LINC-style NL→FOL few-shot prompt (TEXT/FOL lines, NLTK syntax)
    logiclm_fol   Logic-LM-style prompt (Predicates / Premises / Conclusion, Unicode FOL)
    logic_program Logic-LM logic programs (Predicates / Facts / Rules / Query), ProntoQA and ProofWriter
    csp           Logic-LM constraint problems (Domain / Variables / Constraints / Query), LogicalDeduction
    z3dsl         Logic-LM's Z3-flavoured DSL (# Declarations / # Constraints / # Options), AR-LSAT
    smtlib        SMT-LIB 2 (declarations, asserts, and a define-fun per conclusion or option)
    sympy         equations for math word problems (``Answer:`` line), solved by SymPy
    pot           Program-of-Thought: a Python ``solution()`` run in the sandbox
    lean          a Lean 4 proof of a given theorem statement (checked by a Lean kernel in the sandbox)
    repair        the repair message: the located errors and a one-line instruction
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

__all__ = ["PROMPTS", "render", "compile_all", "version", "prompt_names", "fewshot_examples", "PROMPT_DIR"]

PROMPT_DIR = Path(__file__).resolve().parent
FEWSHOT = PROMPT_DIR / "fewshot_folio_train.jsonl"
PROMPTS = {"linc_fol": "linc_fol.jinja", "logiclm_fol": "logiclm_fol.jinja", "logic_program": "logic_program.jinja",
           "csp": "csp.jinja", "z3dsl": "z3dsl.jinja", "smtlib": "smtlib.jinja", "sympy": "sympy.jinja", "pot": "pot.jinja", "lean": "lean.jinja",
           "repair": "repair.jinja"}


def prompt_names() -> list[str]:
    return [n for n in PROMPTS if n != "repair"]


# The filters and ``predicates`` see only the few-shot examples' formulas, the same in every
# render: parsed once per process, not once per problem (~0.4 ms a render, most of rendering).
@lru_cache(maxsize=1024)
def _nltk(text: str) -> str:
    from parsers.fol.reader import parse_formula
    from parsers.fol.printer import to_nltk

    return to_nltk(parse_formula(text))


@lru_cache(maxsize=1024)
def _unicode(text: str) -> str:
    from parsers.fol.reader import parse_formula
    from parsers.fol.printer import to_unicode

    return to_unicode(parse_formula(text))


def _predicates(formulas: list[str]) -> list[str]:
    """``Name(x, y) ::: Name`` lines for a Logic-LM few-shot example, from its formulas."""
    return list(_predicate_lines(tuple(formulas)))


@lru_cache(maxsize=256)
def _predicate_lines(formulas: tuple[str, ...]) -> tuple[str, ...]:
    from parsers.fol.nodes import And, signature_of
    from parsers.fol.reader import parse_formula

    sig = signature_of(And(tuple(parse_formula(f) for f in formulas)))
    out = []
    for name, arities in sorted(sig.predicates.items()):
        n = min(arities)
        args = ", ".join("xyzwuv"[i] for i in range(n))
        out.append(f"{name}({args}) ::: {name}" if n else f"{name} ::: {name}")
    return tuple(out)


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(PROMPT_DIR)), undefined=StrictUndefined, keep_trailing_newline=True,
                      autoescape=False)
    env.filters["nltk"] = _nltk
    env.filters["unicode"] = _unicode
    env.globals["zip"] = zip
    env.globals["predicates"] = _predicates
    return env


@lru_cache(maxsize=1)
def fewshot_examples() -> tuple[dict, ...]:
    """Few-shot examples from FOLIO *train* (never the problems being evaluated)."""
    return tuple(json.loads(line) for line in FEWSHOT.read_text(encoding="utf-8").splitlines() if line.strip())


@lru_cache(maxsize=None)
def version(name: str) -> str:
    if name not in PROMPTS:
        raise KeyError(f"unknown prompt {name!r}; choose one of {', '.join(prompt_names())}")
    h = hashlib.sha256((PROMPT_DIR / PROMPTS[name]).read_bytes())
    h.update(FEWSHOT.read_bytes())
    return h.hexdigest()[:16]


def compile_all() -> None:
    """Compile every template and read the few-shot data now: a fork server does this once, so
    that its children (and their engine workers) do not each compile on their first render."""
    env = _env()
    for name, file in PROMPTS.items():
        env.get_template(file)
        version(name)
    fewshot_examples()


def render(name: str, **variables) -> str:
    """Render a template; a missing variable is an error (StrictUndefined), not an empty string."""
    if name not in PROMPTS:
        raise KeyError(f"unknown prompt {name!r}; choose one of {', '.join(prompt_names())}")
    variables.setdefault("examples", fewshot_examples())
    return _env().get_template(PROMPTS[name]).render(**variables)
