"""Symbolic back ends behind one interface. No Prefect here: usable as a plain library."""

from .base import DEFINITIVE, FolProblem, Limits, Solver, SolverResult, Status
from .eprover import EProver
from .portfolio import Portfolio
from .prover9 import Prover9
from .rules import RuleSolver
from .z3 import Z3Solver

__all__ = [
    "DEFINITIVE", "FolProblem", "Limits", "Solver", "SolverResult", "Status",
    "EProver", "Portfolio", "Prover9", "RuleSolver", "Z3Solver", "make_solver", "SOLVER_NAMES",
]

SOLVER_NAMES = ("z3", "eprover", "prover9", "portfolio", "rules")


def make_solver(name: str) -> Solver:
    """The back end named on the command line. The portfolio: Z3 decides, E confirms, Prover9
    breaks ties and stands in when one of them cannot decide (``solvers.portfolio``)."""
    if name == "z3":
        return Z3Solver()
    if name == "eprover":
        return EProver()
    if name == "prover9":
        return Prover9()
    if name == "rules":
        return RuleSolver()
    if name == "portfolio":
        return Portfolio(Z3Solver(), [EProver(), Prover9()])
    raise ValueError(f"unknown solver {name!r}; choose one of {', '.join(SOLVER_NAMES)}")
