"""First-order logic with equality and function terms: one frozen AST for every syntax.

Nodes are immutable and hashable so formulas can be cache keys and set members. Every query
(free variables, symbols) is built on one generic ``walk``; printers live in ``fol_print``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Union

__all__ = [
    "Term", "Var", "Const", "Func",
    "Formula", "Atom", "Eq", "Not", "And", "Or", "Xor", "Implies", "Iff", "Forall", "Exists",
    "walk", "free_vars", "bind_variable", "Signature", "signature_of",
]


# ---- terms -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Var:
    name: str


@dataclass(frozen=True, slots=True)
class Const:
    name: str


@dataclass(frozen=True, slots=True)
class Func:
    name: str
    args: tuple["Term", ...]


Term = Union[Var, Const, Func]


# ---- formulas --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Atom:
    """A predicate applied to terms; ``args == ()`` is a propositional atom."""

    pred: str
    args: tuple[Term, ...] = ()


@dataclass(frozen=True, slots=True)
class Eq:
    left: Term
    right: Term


@dataclass(frozen=True, slots=True)
class Not:
    body: "Formula"


@dataclass(frozen=True, slots=True)
class And:
    args: tuple["Formula", ...]


@dataclass(frozen=True, slots=True)
class Or:
    args: tuple["Formula", ...]


@dataclass(frozen=True, slots=True)
class Xor:
    left: "Formula"
    right: "Formula"


@dataclass(frozen=True, slots=True)
class Implies:
    left: "Formula"
    right: "Formula"


@dataclass(frozen=True, slots=True)
class Iff:
    left: "Formula"
    right: "Formula"


@dataclass(frozen=True, slots=True)
class Forall:
    var: str
    body: "Formula"


@dataclass(frozen=True, slots=True)
class Exists:
    var: str
    body: "Formula"


Formula = Union[Atom, Eq, Not, And, Or, Xor, Implies, Iff, Forall, Exists]


def children(node) -> tuple:
    """Direct sub-nodes (formulas and terms) of a node."""
    if isinstance(node, (Atom, Func)):
        return node.args
    if isinstance(node, Eq):
        return (node.left, node.right)
    if isinstance(node, Not):
        return (node.body,)
    if isinstance(node, (And, Or)):
        return node.args
    if isinstance(node, (Xor, Implies, Iff)):
        return (node.left, node.right)
    if isinstance(node, (Forall, Exists)):
        return (node.body,)
    return ()


def bind_variable(node, var: str):
    """Turn free occurrences of constant ``var`` into ``Var(var)`` (respecting shadowing)."""
    if isinstance(node, Const):
        return Var(var) if node.name == var else node
    if isinstance(node, Var):
        return node
    if isinstance(node, (Forall, Exists)):
        if node.var == var:
            return node
        return type(node)(node.var, bind_variable(node.body, var))
    if isinstance(node, (Atom,)):
        return Atom(node.pred, tuple(bind_variable(a, var) for a in node.args))
    if isinstance(node, Func):
        return Func(node.name, tuple(bind_variable(a, var) for a in node.args))
    if isinstance(node, Eq):
        return Eq(bind_variable(node.left, var), bind_variable(node.right, var))
    if isinstance(node, Not):
        return Not(bind_variable(node.body, var))
    if isinstance(node, (And, Or)):
        return type(node)(tuple(bind_variable(a, var) for a in node.args))
    return type(node)(bind_variable(node.left, var), bind_variable(node.right, var))


def walk(node) -> Iterator:
    """Every node below and including ``node``, pre-order, iteratively (deep formulas are fine)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(children(n)))


def free_vars(node, bound: frozenset[str] = frozenset()) -> set[str]:
    """Variables occurring free in ``node``."""
    out: set[str] = set()
    stack = [(node, bound)]
    while stack:
        n, b = stack.pop()
        if isinstance(n, Var):
            if n.name not in b:
                out.add(n.name)
        elif isinstance(n, (Forall, Exists)):
            stack.append((n.body, b | {n.var}))
        else:
            stack.extend((c, b) for c in children(n))
    return out


@dataclass
class Signature:
    """Symbols of one or more formulas: name → set of arities seen."""

    predicates: dict[str, set[int]]
    functions: dict[str, set[int]]
    constants: set[str]

    def merge(self, other: "Signature") -> "Signature":
        preds = {k: set(v) for k, v in self.predicates.items()}
        for k, v in other.predicates.items():
            preds.setdefault(k, set()).update(v)
        funcs = {k: set(v) for k, v in self.functions.items()}
        for k, v in other.functions.items():
            funcs.setdefault(k, set()).update(v)
        return Signature(preds, funcs, self.constants | other.constants)


def signature_of(node) -> Signature:
    preds: dict[str, set[int]] = {}
    funcs: dict[str, set[int]] = {}
    consts: set[str] = set()
    for n in walk(node):
        if isinstance(n, Atom):
            preds.setdefault(n.pred, set()).add(len(n.args))
        elif isinstance(n, Func):
            funcs.setdefault(n.name, set()).add(len(n.args))
        elif isinstance(n, Const):
            consts.add(n.name)
    return Signature(preds, funcs, consts)
