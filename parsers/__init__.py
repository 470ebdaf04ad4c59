"""Text → formal AST: the FOL grammar, the signature pass, located errors. No Prefect here."""

from .errors import BackendUnavailable, FormalizationError, LocatedError, NesyflowError, locate
from .fol_ast import And, Atom, Const, Eq, Exists, Forall, Formula, Func, Iff, Implies, Not, Or, Var, Xor
from .fol_parser import parse_formula
from .fol_print import to_nltk, to_unicode
from .signature import check_signature

__all__ = [
    "BackendUnavailable", "FormalizationError", "LocatedError", "NesyflowError", "locate",
    "And", "Atom", "Const", "Eq", "Exists", "Forall", "Formula", "Func", "Iff", "Implies", "Not", "Or", "Var", "Xor",
    "parse_formula", "to_nltk", "to_unicode", "check_signature",
]
