"""Typed values that cross stage boundaries (and Prefect's result store)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from parsers.errors import LocatedError
from parsers.programs.lean import LeanProgram
from parsers.programs.math_program import MathProgram
from parsers.programs.smt_program import SmtProgram
from solvers.base import Limits

from flows.settings import DEFAULT_MAX_TOKENS
from flows.text import MAX_MESSAGE_CHARS, cap, without_surrogates

__all__ = ["Message", "Plan", "RunConfig", "Formal", "Problem", "Formalization", "Checked", "Verdict", "ProblemResult", "Usage",
           "ProblemRecord", "ErrorGroup", "Summary", "BatchReport"]

Message = Annotated[str, BeforeValidator(cap)]
"""A message field (an error, a reason, a note): cut at ``flows.text.MAX_MESSAGE_CHARS`` with its length
said, wherever a model is built — a 20 MB error from a sandbox stays out of results and the store."""


def _capped_error(e: LocatedError) -> LocatedError:
    if max(len(e.message), len(e.where), len(e.hint), len(e.snippet)) <= MAX_MESSAGE_CHARS:
        return e
    return e.model_copy(update={"message": cap(e.message), "where": cap(e.where), "hint": cap(e.hint),
                                "snippet": cap(e.snippet)})


class _Bounded(BaseModel):
    """Caps its located errors, and re-applies every cap on ``model_copy(update=…)`` (which pydantic
    does not validate)."""

    @field_validator("errors", mode="after", check_fields=False)
    @classmethod
    def _cap_errors(cls, errors: list[LocatedError]) -> list[LocatedError]:
        return [_capped_error(e) for e in errors]

    def model_copy(self, *, update=None, deep: bool = False):
        if not update:
            return super().model_copy(deep=deep)
        return type(self).model_validate({**dict(super().model_copy(deep=deep)), **update})


class Plan(BaseModel):
    """How one kind of problem is translated: the prompt, and how its outputs are read (``flows.engine.languages``)."""

    model_config = ConfigDict(frozen=True)

    style: str
    """How outputs are read (``parsers.llm_output.STYLES``)."""
    prompt: str
    """Template in ``prompts/``."""
    expected: str = ""
    """With ``style="auto"``: the format to read an output in when it carries no markers of its own."""


class RunConfig(BaseModel):
    """Everything that decides a batch's answers (and so its cache keys), shared by the engine,
    the Prefect tasks that record it and the worker processes of a Dask cluster."""

    model_config = ConfigDict(frozen=True)

    parser: str = "gold"
    solver: str = "portfolio"
    limits: Limits = Limits()
    problem_timeout_s: float = 30.0
    """Wall-clock seconds one problem may spend reading and in back ends, across all of them (portfolio
    members, samples, repair rounds: each attempt has what the earlier ones left, ``dialogue.Budget``;
    samples in flight at once each start with what is left); each prover run still has
    ``limits.timeout_s`` at most. Waiting for a model is ``llm_timeout_s``'s, not this."""
    model: str = ""
    api_base: str | None = None
    plans: dict[str, Plan] = {}
    """LLM parsers: per problem kind, the prompt to ask with and how to read the output."""
    samples: int = 1
    repair_rounds: int = 0
    temperature: float = 0.0
    fallback: str = "none"
    llm_timeout_s: float = 120.0
    """Not part of any key: a timeout changes no answer that is kept."""
    max_tokens: int | None = DEFAULT_MAX_TOKENS
    """Completion tokens asked for at most, on every LLM call (None: the provider's default)."""
    contradictory: Literal["auto", "reject", "answer"] = "auto"
    """LLM parsers, entailment problems whose formalization's premises contradict each other: ``reject``
    the sample (a mistranslation: it is repaired and does not vote), or take ``contradictory`` as its
    ``answer``; ``auto``: reject where the problem is known consistent (``Problem.consistent``)."""

    def key(self) -> dict:
        """The fields (and prompt versions) that change an answer."""
        import prompts

        data = self.model_dump(mode="json", exclude={"llm_timeout_s"})
        data["prompt_versions"] = {k: prompts.version(p.prompt) for k, p in sorted(self.plans.items())}
        return data


class Formal(BaseModel):
    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data):
        return without_surrogates(data)[0]

    language: Literal["fol", "smtlib", "lean", "sympy", "python", "csp", "z3dsl"] = "fol"
    premises: list[str]
    conclusion: str
    """For ``lean``: the theorem's signature after its name, ``(a b : ℕ) (h : a = b) : b = a``; its
    gold proof (if any) is ``premises[0]``."""
    header: str = ""
    """Lean: what the file starts with (imports, opens, declarations the statement uses)."""
    lenient: bool = True
    """FOL: read with the lenient gold reader (annotation slips edited, each edit noted), as a dataset's
    formalization is; False for text a person typed (``solve``, the ``reason`` flow), which is read as
    written: a slip is a located error, not a silent edit."""


class Problem(BaseModel):
    """One problem in the project's own format (DESIGN.md §3); loaders map other formats here."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data):
        """Unpaired surrogates (JSON's ``"\\ud800"``, a non-UTF-8 argv) become U+FFFD, noted: such
        text cannot be stored or written, and one record must not take its batch down."""
        data, n = without_surrogates(data)
        if n and isinstance(data, dict):
            data = {**data, "notes": [*(data.get("notes") or []), f"{n} unpaired UTF-16 surrogate(s) (\\ud800–\\udfff) "
                                                                     "in the record's text replaced with U+FFFD"]}
        return data

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
    notes: list[str] = []
    """How the record was read where that is worth knowing (a file decoded as GB18030, say); shown in the result."""
    consistent: bool | None = None
    """Whether the problem's text is known to be consistent (a benchmark built that way: FOLIO, ProofWriter,
    ProntoQA, LogicalDeduction, AR-LSAT — their loaders set it; a nesyflow record may). Then a model's
    formalization whose premises contradict each other is a mistranslation (``flows.engine.checks``);
    otherwise ``contradictory`` may be the answer."""


class Formalization(_Bounded):
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
    header: str = ""
    """Theorem problems (Lean): the problem's header."""
    statement: str = ""
    """Theorem problems (Lean): the statement to prove (the problem's, never the model's)."""
    claim: str = ""
    """Entailment problems: the statement in English, which the checks compare the conclusion with."""
    lenient: bool = True
    """Gold FOL: read leniently (``Formal.lenient``)."""
    consistent: bool | None = None
    """The problem's ``consistent``: whether contradictory premises must be a mistranslation."""
    errors: list[LocatedError] = []
    notes: list[Message] = []
    """How the output was read where it departed from its format (variants accepted, text cut)."""


class Checked(_Bounded):
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
    lean: LeanProgram | None = None
    """Theorem problems: the proof attempt to assemble into a Lean file."""
    errors: list[LocatedError] = []
    notes: list[Message] = []
    """Edits the lenient gold reader made (each one located), shown in the results."""


class Verdict(_Bounded):
    """Output of the solve stage for one problem (one sample)."""

    model_config = ConfigDict(frozen=True)

    problem_id: str
    status: str
    solver: str
    answer: str | None = None
    """Choice and math problems: the option letter or number decided (status ``answered``)."""
    reason: Message = ""
    errors: list[LocatedError] = []
    used_premises: list[int] = []
    per_backend: dict[str, Message] = {}
    disagreement: Message = ""
    explanation: Message = ""
    per_option: dict[str, Message] = {}
    wall_s: float = 0.0
    rejected_by: Message = ""
    """Status ``rejected``: which check (``flows.engine.checks``), e.g. "contradictory premises"."""
    doubts: list[Message] = []
    """Soft findings of the checks: the sample is left out of a vote that has a sample without any."""
    pending: bool = False
    """Decided by the portfolio's first prover only; cross-checked if it wins the vote (``pipeline.confirm``)."""
    limit: str = ""
    """A program stopped by a limit (wall clock, CPU, memory): its ``error`` may not recur, so it is never stored."""


class ProblemResult(_Bounded):
    """One line of ``--results`` (DESIGN.md §4), plus the evidence behind it."""

    id: str
    gold: str | None
    predicted: str | None
    status: str
    solver: str
    samples: int = 1
    repair_rounds: int = 0
    error: Message | None = None
    correct: bool = False
    reason: Message = ""
    notes: list[Message] = []
    disagreement: Message = ""
    used_premises: list[int] = []
    explanation: Message = ""
    per_backend: dict[str, Message] = {}
    per_option: dict[str, Message] = {}
    """Choice problems: how each option fared (holds / fails, with the raw checks)."""
    language: str = "fol"
    mismatch: Message = ""
    """Why the prediction differs from the gold label (empty when it matches or there is no label)."""
    round_errors: list[Message] = []
    """LLM parsers: each failed attempt's first located error, per sample and repair round."""
    votes: dict[str, int] = {}
    """LLM parsers: how many samples decided each answer."""
    pruned: dict[str, int] = {}
    """LLM parsers: samples kept out of the vote, by the check that caught them (``flows.engine.checks``)."""
    stages: dict[str, Message] = {}
    """One line per stage (formalize, check, solve, vote): what happened to this problem there."""
    formal_premises: list[str] = []
    formal_conclusion: str = ""
    """FOL: the formulas as read (the English parser's translation, gold text after its noted edits),
    in premise order: what the back ends were given, so a surprising answer can be traced to its reading."""


class Usage(BaseModel):
    """LLM calls behind one problem (or a whole batch)."""

    calls: int = 0
    """Completions requested from the model in this run."""
    cached: int = 0
    """Completions read back from the store instead of asked for."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    failed: int = 0
    """Calls that failed after their retries (a transport error, not a bad formalization)."""

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(**{k: getattr(self, k) + getattr(other, k) for k in Usage.model_fields})

    def as_cached(self) -> "Usage":
        """The same work read back from the store: every call is a cached one, nothing was paid."""
        return Usage(cached=self.calls + self.cached)


class ProblemRecord(BaseModel):
    """What the engine produces per problem and the store keeps: the result, the LLM usage behind
    it, and its wall time. ``cached`` is set on a record read back instead of computed."""

    result: ProblemResult
    usage: Usage = Usage()
    seconds: float = 0.0
    cached: bool = False
    final: bool = True
    """False when the result may change on a rerun (a transport failure, a limit hit): not stored."""


class ErrorGroup(BaseModel):
    """Problems without an answer for one reason (``flows.orchestration.report.common_errors``)."""

    status: str
    count: int
    message: str
    """The first such problem's message (its first line, control characters escaped)."""
    ids: list[str]
    """The first few problems with it."""


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
    rejected: int = 0
    """Problems whose every sample failed a check (ran, but cannot mean the problem); counted as executed."""
    pruned_samples: int = 0
    """Samples kept out of votes by the checks, over the batch."""
    disagreements: int = 0
    llm_calls: int = 0
    llm_cached: int = 0
    llm_failed: int = 0
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
    cached_problems: int = 0
    """Problems whose result was read back from the store (a rerun, or a resumed batch)."""
    interrupted: str = ""
    """Set when the batch stopped before every problem finished (why, and how to resume)."""
    common_errors: list[ErrorGroup] = []
    """Why problems got no answer, commonest first (error, undetermined, rejected): what a batch that
    failed as a whole (an endpoint down, the wrong --format) says on the console."""


class BatchReport(BaseModel):
    """What the batch flow returns: the summary and the problems' results — every one, up to
    ``flows.engine.outputs.KEEP_RESULTS``; beyond, the first ones (all are in the results file)."""

    summary: Summary
    results: list[ProblemResult]
    results_omitted: int = 0
