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


def make_solver(name: str, cross_check: bool = True) -> Solver:
    """The back end named on the command line. The portfolio runs E first (cheapest per call),
    then Z3 (unsat cores, models), then Prover9."""
    if name == "z3":
        return Z3Solver()
    if name == "eprover":
        return EProver()
    if name == "prover9":
        return Prover9()
    if name == "rules":
        return RuleSolver()
    if name == "portfolio":
        return Portfolio([EProver(), Z3Solver(), Prover9()], cross_check=cross_check)
    raise ValueError(f"unknown solver {name!r}; choose one of {', '.join(SOLVER_NAMES)}")
