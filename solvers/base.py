"""One interface for every first-order back end, and the values that cross it.

``Solver.solve(problem, limits, deadline)`` is public and does the timing and the catch-all; each
back end implements ``_solve``. A bad formalization is a value (``status="error"`` with located
errors); only infrastructure problems (binary missing) raise ``BackendUnavailable``.

``deadline`` (a ``time.monotonic()`` instant) is a problem's time budget across back ends: every
prover run gets ``limits.timeout_s`` or what is left of the budget, whichever is less (``trim``),
so five runs on a huge problem cost the budget, not five full timeouts.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from parsers.errors import BackendUnavailable, LocatedError
from parsers.fol.nodes import Formula

__all__ = ["Status", "Limits", "SolverResult", "ProgramOutcome", "FolProblem", "Solver", "GoalProver", "Run", "RunKind",
           "combine", "trim", "DEFINITIVE", "BUDGET_USED"]


class Status(str, Enum):
    """Outcome of a problem. ``undetermined`` means the solver could not decide — never ``Unknown``,
    which is a proven answer: the premises entail neither the conclusion nor its negation."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"
    CONTRADICTORY = "contradictory"
    ANSWERED = "answered"
    """Choice and math problems: an option letter or a number was decided (carried beside the status)."""
    UNDETERMINED = "undetermined"
    REJECTED = "rejected"
    """The formalization was read and ran, but a check shows it cannot mean the problem (no option
    or several pass; contradictory premises from a model; the opposite of the question's
    statement). It does not vote; its located reason is a repair prompt."""
    ERROR = "error"


DEFINITIVE = frozenset({Status.TRUE, Status.FALSE, Status.UNKNOWN, Status.CONTRADICTORY})


class Limits(BaseModel):
    """Resource limits of one solver call (each check of a problem gets them in full)."""

    model_config = ConfigDict(frozen=True)

    timeout_s: float = Field(10.0, gt=0, description="wall-clock seconds per prover run")
    cpu_s: int = Field(10, gt=0, description="CPU seconds per prover process (RLIMIT_CPU)")
    memory_mb: int = Field(2048, gt=16, description="address-space cap per prover process, MB")


class SolverResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: Status
    backend: str
    wall_s: float = 0.0
    reason: str = ""
    """Why the status is what it is, in one line (the raw outcomes, or the limit that was hit)."""
    errors: list[LocatedError] = []
    used_premises: list[int] = []
    """0-based indices of the premises a proof used (Z3 unsat core), when known."""
    explanation: str = ""
    """Evidence for the status: premises a proof used, or a (counter)model over the ground atoms."""
    per_backend: dict[str, str] = {}
    """Portfolio only: each back end's status."""
    disagreement: str = ""
    """Portfolio only: set when two back ends gave different definitive answers."""


class ProgramOutcome(BaseModel):
    """What a back end for a whole program (constraint program, equations, Python) decides."""

    model_config = ConfigDict(frozen=True)

    status: str
    """True / False / Unknown for an entailment query; ``answered`` with ``answer`` set for a choice
    or math problem; contradictory, rejected, undetermined or error otherwise."""
    answer: str | None = None
    reason: str = ""
    errors: list[LocatedError] = []
    per_option: dict[str, str] = {}
    """Choice problems: each option's judgement (holds / fails / unknown, with the raw check results)."""
    wall_s: float = 0.0
    rejected_by: str = ""
    """Status ``rejected``: the check that failed ("no option passes", "several options pass")."""
    limit: str = ""
    """The limit that stopped the program ("wall-clock limit", …), if one did: a rerun may end otherwise."""


BUDGET_USED = "the problem's time budget is used up"


def trim(limits: Limits, deadline: float | None) -> Limits | None:
    """Limits for one more run before ``deadline`` (None: no time left)."""
    if deadline is None:
        return limits
    left = deadline - time.monotonic()
    if left < 0.05:
        return None
    if left >= limits.timeout_s:
        return limits
    return limits.model_copy(update={"timeout_s": left, "cpu_s": max(1, math.ceil(min(left, limits.cpu_s)))})


@dataclass(frozen=True)
class FolProblem:
    premises: tuple[Formula, ...]
    conclusion: Formula


class RunKind(str, Enum):
    """What one prover run established about one goal."""

    PROVED = "proved"
    NOT_ENTAILED = "not-entailed"  # saturated / countermodel found: the goal does not follow
    AXIOMS_CONTRADICTORY = "contradictory-axioms"
    UNDECIDED = "undecided"  # timeout, memory, gave up, incomplete
    FAILED = "failed"  # the back end rejected the input


@dataclass(frozen=True)
class Run:
    kind: RunKind
    detail: str = ""


def combine(pos: Run, neg: Run) -> tuple[Status, str]:
    """Two runs — goal C and goal ¬C — to one status (DESIGN.md §3), with the reason."""
    reason = f"C: {pos.detail or pos.kind.value}; ¬C: {neg.detail or neg.kind.value}"
    P, N = pos.kind, neg.kind
    if RunKind.FAILED in (P, N):
        return Status.ERROR, reason
    if RunKind.AXIOMS_CONTRADICTORY in (P, N) or (P is RunKind.PROVED and N is RunKind.PROVED):
        return Status.CONTRADICTORY, reason
    if P is RunKind.PROVED:
        return Status.TRUE, reason
    if N is RunKind.PROVED:
        return Status.FALSE, reason
    if P is RunKind.NOT_ENTAILED and N is RunKind.NOT_ENTAILED:
        return Status.UNKNOWN, reason
    return Status.UNDETERMINED, reason


class Solver(ABC):
    """Base of the first-order back ends."""

    name: str = "solver"
    binary = None
    """The back end's binary finder (raises BackendUnavailable); None for in-process back ends."""

    def solve(self, problem: FolProblem, limits: Limits | None = None, deadline: float | None = None) -> SolverResult:
        limits = limits or Limits()
        t0 = time.perf_counter()
        try:
            result = self._solve(problem, limits, deadline)
        except BackendUnavailable:
            raise
        except OSError as exc:  # could not spawn: treat as undecided, keep the batch alive
            result = SolverResult(status=Status.UNDETERMINED, backend=self.name, reason=f"could not run: {exc}")
        return result.model_copy(update={"wall_s": round(time.perf_counter() - t0, 6)})

    @abstractmethod
    def _solve(self, problem: FolProblem, limits: Limits, deadline: float | None = None) -> SolverResult: ...

    def available(self) -> bool:
        """True when the back end's binary can be found (no process started)."""
        if self.binary is None:
            return True
        try:
            self.binary()
            return True
        except BackendUnavailable:
            return False


class GoalProver(Solver):
    """A back end that proves one goal per run (E, Prover9): ``run_goal`` proves C or ¬C, and the
    portfolio asks only for the runs a cross-check needs."""

    def run_goal(self, problem: FolProblem, limits: Limits, negate: bool, deadline: float | None = None) -> Run:
        run_limits = trim(limits, deadline)
        if run_limits is None:
            return Run(RunKind.UNDECIDED, BUDGET_USED)
        return self._run_goal(problem, run_limits, negate)

    @abstractmethod
    def _run_goal(self, problem: FolProblem, limits: Limits, negate: bool) -> Run: ...

    def _solve(self, problem: FolProblem, limits: Limits, deadline: float | None = None) -> SolverResult:
        pos = self.run_goal(problem, limits, False, deadline)
        neg = self.run_goal(problem, limits, True, deadline)
        status, reason = combine(pos, neg)
        return SolverResult(status=status, backend=self.name, reason=f"{self.name} {reason}")
