"""Typed values that cross stage boundaries (and Prefect's result store)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from parsers.errors import LocatedError
from parsers.math_program import MathProgram
from parsers.smt_program import SmtProgram

__all__ = ["Formal", "Problem", "Formalization", "Checked", "Verdict", "ProblemResult", "Summary", "BatchReport"]

class Formal(BaseModel):
    model_config = ConfigDict(frozen=True)

    language: Literal["fol", "smtlib", "lean", "sympy", "python", "csp", "z3dsl"] = "fol"
    premises: list[str]
    conclusion: str


class Problem(BaseModel):
    """One problem in the project's own format (DESIGN.md §3); loaders map other formats here."""

    model_config = ConfigDict(frozen=True)

    id: str
    premises: list[str] = []
    context: str | None = None
    conclusion: str | None = None
    question: str | None = None
    options: list[str] | None = None
    answer: str | None = None
    """Gold label, normalised: True / False / Unknown for entailment problems, an option letter for
    choice problems, a number for math problems."""
    kind: Literal["entailment", "choice", "math", "theorem"] = "entailment"
    formal: Formal | None = None
    load_error: str | None = None
    """Set by a loader when the record itself is unusable; the problem is reported, the batch goes on."""
    recorded: list[str] | None = None
    """Completions a real model produced for this problem (replay serves them through the LLM path)."""


class Formalization(BaseModel):
    model_config = ConfigDict(frozen=True)

    problem_id: str
    source: str
    language: str = "fol"
    premises: list[str] = []
    conclusion: str = ""
    program: str = ""
    """Languages other than FOL: the whole formal text (a constraint program, SMT-LIB, equations, Python)."""
    question: str = ""
    """Choice problems: the question, whose wording says how options are judged ("must" / "could" / "EXCEPT")."""
    options: list[str] = []
    """Choice problems: the options ("A) …"), so a script can be checked for one definition per option."""
    errors: list[LocatedError] = []


class Checked(BaseModel):
    """Output of the check stage: canonical formula text (re-parsed cheaply by the solver)."""

    model_config = ConfigDict(frozen=True)

    problem_id: str
    ok: bool
    language: str = "fol"
    premises: list[str] = []
    conclusion: str = ""
    smt: SmtProgram | None = None
    """Constraint languages (smtlib, csp, z3dsl): the compiled script and its queries."""
    math: MathProgram | None = None
    program: str = ""
    """Program-of-Thought: the program text (checked for syntax only; it runs in the sandbox)."""
    errors: list[LocatedError] = []
    notes: list[str] = []
    """Edits the lenient gold reader made (each one located), shown in the results."""


class Verdict(BaseModel):
    """Output of the solve stage for one problem (one sample)."""

    model_config = ConfigDict(frozen=True)

    problem_id: str
    status: str
    solver: str
    answer: str | None = None
    """Choice and math problems: the option letter or number decided (status ``answered``)."""
    reason: str = ""
    errors: list[LocatedError] = []
    used_premises: list[int] = []
    per_backend: dict[str, str] = {}
    disagreement: str = ""
    explanation: str = ""
    per_option: dict[str, str] = {}
    wall_s: float = 0.0


class ProblemResult(BaseModel):
    """One line of ``--results`` (DESIGN.md §4), plus the evidence behind it."""

    id: str
    gold: str | None
    predicted: str | None
    status: str
    solver: str
    samples: int = 1
    repair_rounds: int = 0
    error: str | None = None
    correct: bool = False
    reason: str = ""
    notes: list[str] = []
    disagreement: str = ""
    used_premises: list[int] = []
    explanation: str = ""
    per_backend: dict[str, str] = {}
    per_option: dict[str, str] = {}
    """Choice problems: how each option fared (holds / fails, with the raw checks)."""
    language: str = "fol"
    mismatch: str = ""
    """Why the prediction differs from the gold label (empty when it matches or there is no label)."""
    round_errors: list[str] = []
    """LLM parsers: each failed attempt's first located error, per sample and repair round."""
    votes: dict[str, int] = {}
    """LLM parsers: how many samples decided each answer."""


class Summary(BaseModel):
    """The ``--summary-json`` object (DESIGN.md §4)."""

    n: int = 0
    correct: int = 0
    accuracy: float = 0.0
    decided: int = 0
    exe_rate: float = 0.0
    exe_acc: float = 0.0
    errors: int = 0
    undetermined: int = 0
    contradictory: int = 0
    disagreements: int = 0
    llm_calls: int = 0
    llm_cached: int = 0
    samples_total: int = 0
    samples_failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    wall_s: float = 0.0
    by_status: dict[str, int] = Field(default_factory=dict)
    dataset: str = ""
    parser: str = ""
    solver: str = ""
    model: str = ""
    flow_run_id: str | None = None
    ui_url: str | None = None


class BatchReport(BaseModel):
    """What the batch flow returns: the summary and every problem's result."""

    summary: Summary
    results: list[ProblemResult]
