"""Several provers on one problem, cross-checked: an answer stands only when a second prover
confirms it, and every disagreement between definitive answers is recorded, so a wrong
translation or a prover bug is visible instead of silently voted away.

The default portfolio (``make_solver("portfolio")``) asks, in order:

1. **Z3** (a warm worker: no process start, unsat cores and countermodels) decides both checks.
2. **E** confirms Z3's claim with only the runs that claim needs: True → prove C; False → prove
   ¬C; contradictory → the axioms are contradictory; Unknown → neither C nor ¬C (two runs).
   When Z3 could not decide, E decides both goals itself.
3. **Prover9** runs only when the first two disagree, when one of them could not decide, or when
   Z3 failed: it breaks the tie (the majority of definitive answers wins; on a three-way split
   the first prover's answer is kept) or confirms E.

Confirming runs get a short budget (``confirm_s``): a cross-check that times out on the
problems where one prover is weak must not cost the full limit. On FOLIO's gold FOL this is
Z3 + one E run for most problems; Prover9 ran the full search on every problem before, and one
problem it cannot saturate cost 10 s of the 13 s a Prover9 loop spends on FOLIO.
"""

from __future__ import annotations

from .base import DEFINITIVE, FolProblem, GoalProver, Limits, Run, RunKind, Solver, SolverResult, Status, combine

__all__ = ["Portfolio"]

# The runs that confirm a claim: (negate?, what the run must establish).
_CONFIRM = {
    Status.TRUE: [(False, {RunKind.PROVED})],
    Status.FALSE: [(True, {RunKind.PROVED})],
    Status.CONTRADICTORY: [(False, {RunKind.AXIOMS_CONTRADICTORY, RunKind.PROVED})],
    Status.UNKNOWN: [(False, {RunKind.NOT_ENTAILED}), (True, {RunKind.NOT_ENTAILED})],
}


class Portfolio(Solver):
    name = "portfolio"

    def __init__(self, decider: Solver, confirmers: list[GoalProver], confirm_s: float = 1.0):
        self.decider = decider
        self.confirmers = confirmers
        self.confirm_s = confirm_s

    @property
    def backends(self) -> list[Solver]:
        return [self.decider, *self.confirmers]

    def available(self) -> bool:
        return all(b.available() for b in self.backends)

    def _confirm_limits(self, limits: Limits) -> Limits:
        return limits.model_copy(update={"timeout_s": min(limits.timeout_s, self.confirm_s),
                                         "cpu_s": max(1, min(limits.cpu_s, int(self.confirm_s + 0.999)))})

    def _solve(self, problem: FolProblem, limits: Limits, deadline: float | None = None) -> SolverResult:
        return self.confirm(problem, self.decider.solve(problem, limits, deadline), limits, deadline)

    def confirm(self, problem: FolProblem, first: SolverResult, limits: Limits, deadline: float | None = None) -> SolverResult:
        """The cross-check of ``first``, the decider's result on ``problem``. Separate so that a
        vote over K samples decides each with the decider alone and cross-checks only the
        formalization that won (``flows.engine.dialogue``): the answer is confirmed, not every draft."""
        results: list[SolverResult] = [first]
        confirm = self._confirm_limits(limits)
        for prover in self.confirmers:
            definitive = [r for r in results if r.status in DEFINITIVE]
            if len(definitive) >= 2 and len({r.status for r in definitive}) == 1:
                break  # two provers agree
            if not definitive:  # nobody decided yet: this prover decides on its own, with the full limit
                results.append(prover.solve(problem, limits, deadline))
                continue
            claim = definitive[0].status
            if len(definitive) >= 2:  # a disagreement: this prover decides both goals and breaks the tie
                results.append(prover.solve(problem, confirm, deadline))
                continue
            results.append(_check_claim(prover, problem, claim, confirm, deadline))
        return _verdict(results)


def _check_claim(prover: GoalProver, problem: FolProblem, claim: Status, limits: Limits,
                 deadline: float | None) -> SolverResult:
    """Only the runs that confirm ``claim``. A run that contradicts it (a definitive other outcome)
    is completed to a full decision, so the disagreement names what this prover found."""
    runs: dict[bool, Run] = {}
    for negate, wanted in _CONFIRM[claim]:
        runs[negate] = prover.run_goal(problem, limits, negate, deadline)
        if runs[negate].kind not in wanted:
            break
    confirmed = len(runs) == len(_CONFIRM[claim]) and all(runs[n].kind in w for n, w in _CONFIRM[claim])
    if not confirmed and not any(r.kind in (RunKind.UNDECIDED, RunKind.FAILED) for r in runs.values()):
        for negate in (False, True):
            if negate not in runs:
                runs[negate] = prover.run_goal(problem, limits, negate, deadline)
    detail = "; ".join(f"{'¬C' if n else 'C'}: {r.detail or r.kind.value}" for n, r in sorted(runs.items()))
    if confirmed:
        return SolverResult(status=claim, backend=prover.name, reason=f"{prover.name} confirms {claim.value}: {detail}")
    return SolverResult(status=_status_of(runs.get(False), runs.get(True)), backend=prover.name,
                        reason=f"{prover.name} {detail}")


def _status_of(pos: Run | None, neg: Run | None) -> Status:
    if pos is not None and neg is not None:
        return combine(pos, neg)[0]
    one = pos or neg
    if one is None or one.kind is RunKind.UNDECIDED:
        return Status.UNDETERMINED
    if one.kind is RunKind.FAILED:
        return Status.ERROR
    if one.kind is RunKind.AXIOMS_CONTRADICTORY:
        return Status.CONTRADICTORY
    return Status.UNDETERMINED  # a single goal, decided, is not a status of the problem


def _verdict(results: list[SolverResult]) -> SolverResult:
    definitive = [r for r in results if r.status in DEFINITIVE]
    if definitive:
        counts = {s: sum(r.status is s for r in definitive) for s in {r.status for r in definitive}}
        best = max(counts.values())
        chosen = next(r for r in definitive if counts[r.status] == best)  # ties: the earliest prover
    else:
        chosen = _least_bad(results)
    disagreement = ""
    if len({r.status for r in definitive}) > 1:
        disagreement = "; ".join(f"{r.backend}={r.status.value}" for r in definitive)
    confirmed = [r.backend for r in definitive if r.status is chosen.status]
    note = "" if len(confirmed) >= 2 or chosen.status not in DEFINITIVE else " (unconfirmed: no second prover decided)"
    return SolverResult(
        status=chosen.status,
        backend=f"portfolio:{chosen.backend}",
        reason=" | ".join(r.reason for r in results if r.reason) + note,
        errors=chosen.errors,
        used_premises=next((r.used_premises for r in results if r.used_premises and r.status == chosen.status), []),
        explanation=next((r.explanation for r in results if r.explanation and r.status == chosen.status), ""),
        per_backend={r.backend: r.status.value for r in results},
        disagreement=disagreement,
    )


def _least_bad(results: list[SolverResult]) -> SolverResult:
    for status in (Status.UNDETERMINED, Status.ERROR):
        for r in results:
            if r.status is status:
                return r
    return results[0]

