"""Text → formal AST: the FOL grammar, the signature pass, located errors. No Prefect here."""

from parsers.errors import BackendUnavailable, FormalizationError, LocatedError, NesyflowError, locate
from parsers.fol.nodes import And, Atom, Const, Eq, Exists, Forall, Formula, Func, Iff, Implies, Not, Or, Var, Xor
from parsers.fol.reader import parse_formula
from parsers.fol.printer import to_nltk, to_unicode
from parsers.fol.signature import check_signature

__all__ = [
    "BackendUnavailable", "FormalizationError", "LocatedError", "NesyflowError", "locate",
    "And", "Atom", "Const", "Eq", "Exists", "Forall", "Formula", "Func", "Iff", "Implies", "Not", "Or", "Var", "Xor",
    "parse_formula", "to_nltk", "to_unicode", "check_signature",
]
