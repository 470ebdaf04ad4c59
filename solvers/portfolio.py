"""Several back ends on one problem: the first definitive answer (in priority order) wins, and
every disagreement between definitive answers is recorded, so a wrong translation or a prover
bug is visible instead of silently voted away.

Once one back end has answered, the others only *confirm*: they run with a short budget
(``confirm_s``), because a cross-check that times out costs the full limit on the problems
where one prover is weak. ``cross_check=False`` stops at the first definitive answer.
"""

from __future__ import annotations

from .base import DEFINITIVE, FolProblem, Limits, Solver, SolverResult, Status

__all__ = ["Portfolio"]


class Portfolio(Solver):
    name = "portfolio"

    def __init__(self, backends: list[Solver], cross_check: bool = True, confirm_s: float = 1.0):
        if not backends:
            raise ValueError("a portfolio needs at least one back end")
        self.backends = backends
        self.cross_check = cross_check
        self.confirm_s = confirm_s

    def available(self) -> bool:
        return all(b.available() for b in self.backends)

    def _solve(self, problem: FolProblem, limits: Limits) -> SolverResult:
        results: list[SolverResult] = []
        confirm = limits.model_copy(update={"timeout_s": min(limits.timeout_s, self.confirm_s),
                                            "cpu_s": max(1, min(limits.cpu_s, int(self.confirm_s + 0.999)))})
        for backend in self.backends:
            answered = any(r.status in DEFINITIVE for r in results)
            if answered and not self.cross_check:
                break
            results.append(backend.solve(problem, confirm if answered else limits))
        definitive = [r for r in results if r.status in DEFINITIVE]
        chosen = definitive[0] if definitive else _least_bad(results)
        disagreement = ""
        if len({r.status for r in definitive}) > 1:
            disagreement = "; ".join(f"{r.backend}={r.status.value}" for r in definitive)
        return SolverResult(
            status=chosen.status,
            backend=f"portfolio:{chosen.backend}",
            reason=" | ".join(r.reason for r in results if r.reason),
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
