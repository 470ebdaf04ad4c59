"""Print the AST back to text: NLTK syntax (LINC's) and Unicode (FOLIO's). Both re-parse to the
same AST (tested), so printing is safe to feed to a model or back into the parser."""

from __future__ import annotations

from parsers.fol.nodes import And, Atom, Const, Eq, Exists, Forall, Iff, Implies, Not, Or, Var, Xor

__all__ = ["to_nltk", "to_unicode"]

_NLTK = {"not": "-", "and": " & ", "or": " | ", "xor": None, "imp": " -> ", "iff": " <-> ", "all": "all ", "ex": "exists ", "dot": ". "}
_UNI = {"not": "¬", "and": " ∧ ", "or": " ∨ ", "xor": " ⊕ ", "imp": " → ", "iff": " ↔ ", "all": "∀", "ex": "∃", "dot": " "}


def _term(t) -> str:
    if isinstance(t, (Var, Const)):
        return t.name
    return f"{t.name}({', '.join(_term(a) for a in t.args)})"


def _print(f, tok: dict) -> str:
    """Fully parenthesised binary operands: unambiguous in both syntaxes, whatever the precedence."""
    if isinstance(f, Atom):
        return f.pred if not f.args else f"{f.pred}({', '.join(_term(a) for a in f.args)})"
    if isinstance(f, Eq):
        return f"{_term(f.left)} = {_term(f.right)}"
    if isinstance(f, Not):
        inner = _print(f.body, tok)
        return tok["not"] + (inner if isinstance(f.body, (Atom, Not)) else f"({inner})")
    if isinstance(f, (And, Or)):
        op = tok["and"] if isinstance(f, And) else tok["or"]
        return op.join(_wrap(a, tok) for a in f.args)
    if isinstance(f, Xor):
        if tok["xor"] is None:  # NLTK has no xor: -(A <-> B)
            return f"-({_wrap(f.left, tok)} <-> {_wrap(f.right, tok)})"
        return f"{_wrap(f.left, tok)}{tok['xor']}{_wrap(f.right, tok)}"
    if isinstance(f, (Implies, Iff)):
        op = tok["imp"] if isinstance(f, Implies) else tok["iff"]
        return f"{_wrap(f.left, tok)}{op}{_wrap(f.right, tok)}"
    if isinstance(f, (Forall, Exists)):
        q = tok["all"] if isinstance(f, Forall) else tok["ex"]
        return f"{q}{f.var}{tok['dot']}{_wrap(f.body, tok, quant_body=True)}"
    raise TypeError(f"not a formula: {f!r}")


def _wrap(f, tok, quant_body: bool = False) -> str:
    s = _print(f, tok)
    if isinstance(f, (Atom, Not)) or (quant_body and isinstance(f, (Forall, Exists))):
        return s
    return f"({s})"


def to_nltk(f) -> str:
    return _print(f, _NLTK)


def to_unicode(f) -> str:
    return _print(f, _UNI)
