"""What the constraint formats compile to: one SMT-LIB script plus the questions to ask of it.

The CSP and Z3-DSL readers, and SMT-LIB written by a model, all end here, so one solver
(``solvers.smt``) decides them: each query is checked against the script's assertions as
valid, satisfiable or unsatisfiable, the way the problem's question asks.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Query", "SmtProgram", "question_check", "CHECKS"]

Check = Literal["valid", "sat", "unsat", "accurate_list", "entail"]
CHECKS = ("valid", "sat", "unsat", "accurate_list")


class Query(BaseModel):
    """One option (or the conclusion) and how to judge it.

    ``valid``: the assertions entail it; ``sat``: it is consistent with them; ``unsat``: it is
    not; ``accurate_list``: the terms are each possible and one of them always holds (Logic-LM's
    definition); ``entail``: an entailment conclusion (True / False / Unknown). ``negate`` flips
    the judgement ("… EXCEPT", "could be false")."""

    model_config = ConfigDict(frozen=True)

    label: str
    check: Check
    terms: list[str]
    negate: bool = False
    source: str = ""
    """The line the query came from (shown in results)."""


class SmtProgram(BaseModel):
    model_config = ConfigDict(frozen=True)

    script: str
    """Declarations and assertions, SMT-LIB 2 (no check-sat: the solver adds its own)."""
    queries: list[Query]
    assertions: int = 0
    notes: list[str] = []
    """How the program was read where it departed from its format (each variant accepted)."""
    user_lines: int = 0
    """SMT-LIB written by a model: how many lines of ``script`` are the model's own (errors beyond
    them are consequences, not causes)."""
    printed_by_us: bool = False
    """The script is our own elaborator's output (CSP, Z3-DSL), not text a model or dataset wrote:
    only such a script may run on an unconfined z3 where the sandbox is missing."""


_EXCEPT = re.compile(r"\bexcept\b", re.I)


def question_check(question: str) -> tuple[str, bool]:
    """How a multiple-choice question wants its options judged: (check, negate).

    "must be true" → valid; "could be true" → sat; "cannot be true" / "must be false" → unsat;
    "could be false" → not valid; "… EXCEPT" flips the judgement (the odd one out is the answer)."""
    q = " ".join(question.lower().split())
    negate = bool(_EXCEPT.search(q))
    if re.search(r"\b(cannot|can ?not|could not|couldn't|can't|must not) be (true|the case)\b|\bmust be false\b", q):
        check = "unsat"
    elif re.search(r"\b(could|can|may|might) be false\b", q):
        check, negate = "valid", not negate
    elif re.search(r"\b(could|can|may|might) be (true|the case)\b|\bpossible\b|\bcould\b", q):
        check = "sat"
    else:
        check = "valid"
    return check, negate
