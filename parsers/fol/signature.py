"""Signature pass over a whole problem: the clashes E and Prover9 accept silently.

A predicate used with two arities, a name used as both predicate and constant (or function),
a free variable: each is reported with the premise that introduced the clash and the one that
first used the symbol the other way, so a model can fix the right line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from parsers.errors import LocatedError, locate
from parsers.fol.nodes import Atom, Const, Formula, Func, free_vars, walk

__all__ = ["check_signature", "close_free_variables", "LOOKS_LIKE_VARIABLE", "label_of"]

# A name in term position that is not bound and looks like a variable (x, y1, z'): NLTK's own
# convention for individual variables. Longer names (y2003, xavier) are constants.
LOOKS_LIKE_VARIABLE = re.compile(r"^[u-z][0-9]?'*$")


def label_of(index: int, n_premises: int) -> str:
    """``premise i`` (1-based) for premises, ``conclusion`` for the last formula."""
    return "conclusion" if index >= n_premises else f"premise {index + 1}"


@dataclass
class _Use:
    kind: str  # "predicate", "function", "constant"
    arity: int
    where: str


def check_signature(premises: list[Formula], conclusion: Formula | None) -> list[LocatedError]:
    """All signature errors of the problem, in premise order (empty list: well-formed)."""
    formulas = list(premises) + ([conclusion] if conclusion is not None else [])
    n = len(premises)
    errors: list[LocatedError] = []
    first: dict[str, _Use] = {}

    def seen(name: str, kind: str, arity: int, where: str):
        prev = first.get(name)
        if prev is None:
            first[name] = _Use(kind, arity, where)
            return
        if prev.kind == kind and prev.arity == arity:
            return
        if prev.kind == kind:
            msg = (f"{kind} {name} used with {arity} argument{'s' * (arity != 1)}; "
                   f"{prev.where} uses it with {prev.arity}")
            hint = f"use one arity for {name} everywhere, or give the two meanings different names"
        else:
            msg = f"{name} is used as a {kind} here but as a {prev.kind} in {prev.where}"
            hint = f"rename one of the two uses of {name}"
        key = (msg, where)
        if key not in reported:
            reported.add(key)
            errors.append(locate("signature", msg, where=where, hint=hint))

    reported: set = set()
    for i, f in enumerate(formulas):
        where = label_of(i, n)
        for node in walk(f):
            if isinstance(node, Atom):
                seen(node.pred, "predicate", len(node.args), where)
            elif isinstance(node, Func):
                seen(node.name, "function", len(node.args), where)
            elif isinstance(node, Const):
                if LOOKS_LIKE_VARIABLE.match(node.name):
                    key = ("free", node.name, where)
                    if key not in reported:
                        reported.add(key)
                        errors.append(locate(
                            "signature", f"free variable {node.name}: no quantifier binds it", where=where,
                            hint=f"add ∀{node.name} or ∃{node.name} around the formula, or use a constant name"))
                    continue
                seen(node.name, "constant", 0, where)
        for v in sorted(free_vars(f)):  # Var nodes are always bound by construction; kept as a guard
            errors.append(locate("signature", f"free variable {v}", where=where))
    return errors


def close_free_variables(formula: Formula) -> tuple[Formula, list[str]]:
    """Universally close the names that look like stray variables (Prover9's and clausal logic's
    convention for free variables). Returns the closed formula and the names it bound."""
    from parsers.fol.nodes import Forall, bind_variable

    names = sorted({n.name for n in walk(formula) if isinstance(n, Const) and LOOKS_LIKE_VARIABLE.match(n.name)})
    for name in reversed(names):
        formula = Forall(name, bind_variable(formula, name))
    return formula, names
