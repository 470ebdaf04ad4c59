"""Read FOL text in either syntax into the AST; every failure is one located FormalizationError.

Names bound by an enclosing quantifier become ``Var``; every other name in term position is a
``Const`` (the signature pass flags names that look like stray variables).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from pathlib import Path

from lark import Lark, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from parsers.errors import FormalizationError, locate
from parsers.fol.nodes import And, Atom, Const, Eq, Exists, Forall, Formula, Func, Iff, Implies, Not, Or, Xor, bind_variable, children

__all__ = ["parse_formula", "remember", "grammar_text", "MAX_FORMULA_CHARS"]

GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")
MAX_FORMULA_CHARS = 20_000
MAX_NESTING = 200
MAX_DEPTH = 100
"""Operators, quantifiers and terms inside one another (``--…-P``, ``P -> (P -> …)``). FOLIO's deepest
gold formula is far below; past this, every recursive consumer (printers, hashing, the back ends'
translations) would need more stack than a thread has."""

# Human-readable names of grammar terminals, for "expected …" in error messages.
_READABLE = {
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','",
    "NAME": "a name", "VARLIST": "a variable", "QUANT": "a quantifier (∀, ∃, all, exists)",
    "NOT": "negation (¬, -)", "AND": "∧ / &", "OR": "∨ / |", "XOR": "⊕", "IMP": "→ / ->",
    "IFF": "↔ / <->", "EQ": "'='", "NEQ": "'≠'", "$END": "end of formula",
}
_ORDER = list(_READABLE)


def grammar_text() -> str:
    return GRAMMAR_PATH.read_text(encoding="utf-8")


_PARSER: Lark | None = None
_PARSER_LOCK = threading.Lock()


def _parser() -> Lark:
    """LALR with the AST built during parsing (``transformer=``): no parse tree, no second pass.
    Built once, under a lock: an engine's threads reach it together on their first problems, and
    lark does not promise that loading a grammar may run in two threads at once."""
    global _PARSER
    if _PARSER is None:
        with _PARSER_LOCK:
            if _PARSER is None:
                _PARSER = Lark(grammar_text(), parser="lalr", maybe_placeholders=False, propagate_positions=False,
                               transformer=_ToAst())
    return _PARSER


def _mentions(node, name: str) -> bool:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Const) and n.name == name:
            return True
        stack.extend(children(n))
    return False


class _TooDeep(Exception):
    pass


def _at(node, *parts) -> tuple:
    """``node`` with its depth: one more than its deepest part's. Every node is built with its
    depth, so a formula nested past ``MAX_DEPTH`` stops the parse where it passes the bound, before
    anything recursive (binding, printing, hashing, the solvers' translations) sees it."""
    depth = 1 + max((d for _, d in parts), default=0)
    if depth > MAX_DEPTH:
        raise _TooDeep()
    return node, depth


@v_args(inline=True)
class _ToAst(Transformer):
    """Builds ``(node, depth)`` pairs; ``parse_formula`` keeps the node."""

    def neg(self, _tok, body):
        return _at(Not(body[0]), body)

    def quantified(self, tok, names, body):
        kind = Forall if str(tok) in ("all", "forall", "∀") else Exists
        node, depth = body
        for name in reversed(names):
            if _mentions(node, name):
                node = bind_variable(node, name)
            node, depth = _at(kind(name, node), (node, depth))
        return node, depth

    def qvars(self, *toks):
        if len(toks) == 1 and toks[0].type == "VARLIST":
            return toks[0].rstrip(".").split()
        return [str(t) for t in toks]

    def _flat(self, cls, a, b):
        """``a ∧ b`` with conjunctions inside it flattened: its depth is one more than its deepest conjunct's."""
        (left, ld), (right, rd) = a, b
        parts = (left.args if isinstance(left, cls) else (left,)) + (right.args if isinstance(right, cls) else (right,))
        return _at(cls(parts), (None, ld - isinstance(left, cls)), (None, rd - isinstance(right, cls)))

    def and_(self, a, _op, b):
        return self._flat(And, a, b)

    def or_(self, a, _op, b):
        return self._flat(Or, a, b)

    def xor(self, a, _op, b):
        return _at(Xor(a[0], b[0]), a, b)

    def imp(self, a, _op, b):
        return _at(Implies(a[0], b[0]), a, b)

    def iff(self, a, _op, b):
        return _at(Iff(a[0], b[0]), a, b)

    def pred(self, name, args):
        return _at(Atom(str(name), tuple(t for t, _ in args)), *args)

    def prop(self, name):
        return Atom(str(name), ()), 1

    def eq(self, a, _op, b):
        return _at(Eq(a[0], b[0]), a, b)

    def neq(self, a, _op, b):
        return _at(Not(Eq(a[0], b[0])), _at(None, a, b))

    def func(self, name, args):
        return _at(Func(str(name), tuple(t for t, _ in args)), *args)

    def name(self, tok):
        return Const(str(tok)), 1

    def args(self, *terms):
        return list(terms)


_OPEN = re.compile(r"[(\[]")
_CACHE: "OrderedDict[str, Formula]" = OrderedDict()
_CACHE_SIZE = 20_000
_CACHE_LOCK = threading.Lock()


def _expected(names) -> str:
    names = sorted(set(names), key=lambda n: (_ORDER.index(n) if n in _ORDER else 99, n))
    shown = [_READABLE.get(n, n) for n in names][:5]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" (or {more} more)" if more > 0 else "")


def parse_formula(text: str, where: str = "") -> Formula:
    """Parse one formula; raise FormalizationError (stage ``parse``) located in ``text``."""
    if not isinstance(text, str):
        raise FormalizationError(locate("parse", f"expected formula text, got {type(text).__name__}", where=where))
    if not text.strip():
        raise FormalizationError(locate("parse", "empty formula", where=where, hint="write a formula, e.g. ∀x (P(x) → Q(x))"))
    if len(text) > MAX_FORMULA_CHARS:
        raise FormalizationError(locate("parse", f"formula longer than {MAX_FORMULA_CHARS} characters", where=where))
    depth = 0
    for ch in text:  # cheap guard: the LALR parser is iterative but the transformer recurses
        depth += (ch in "([") - (ch in ")]")
        if depth > MAX_NESTING:
            raise FormalizationError(locate("parse", f"nesting deeper than {MAX_NESTING} parentheses", where=where))
    hit = _CACHE.get(text)
    if hit is not None:
        return hit
    parser = _parser()  # outside the try: a grammar that does not load is our error, not the formula's
    try:
        return remember(text, parser.parse(text)[0])
    except _TooDeep:
        raise FormalizationError(locate("parse", f"formula nested deeper than {MAX_DEPTH} (operators, quantifiers and "
                                                 "terms inside one another)", where=where,
                                        hint="write it as several premises, or drop repeated negations")) from None
    except UnexpectedInput as exc:
        raise FormalizationError(_located(exc, text, where)) from None
    except (LarkError, RecursionError, ValueError) as exc:
        raise FormalizationError(locate("parse", f"cannot read formula: {type(exc).__name__}", where=where)) from None


def remember(text: str, formula: Formula) -> Formula:
    """Share a successful parse: ASTs are immutable, samples repeat formulas, and the solve stage
    re-reads the canonical text the check stage printed (which the check stage remembers). Bounded;
    failures are never remembered."""
    with _CACHE_LOCK:
        _CACHE[text] = formula
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return formula


def _located(exc: UnexpectedInput, text: str, where: str):
    line = getattr(exc, "line", None)
    col = getattr(exc, "column", None)
    if isinstance(exc, UnexpectedEOF) or line in (None, -1):
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
        exp = _expected(getattr(exc, "expected", []) or [])
        opened = text.count("(") - text.count(")")
        hint = f"{opened} unclosed '('" if opened > 0 else ""
        return locate("parse", f"formula ends too early; expected {exp}", text=text, line=line, column=col, where=where, hint=hint)
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            lines = text.splitlines() or [""]
            line, col = len(lines), len(lines[-1].rstrip()) + 1
        got = "end of formula" if tok.type == "$END" else repr(str(tok))
        exp = _expected(exc.expected)
        hint = ""
        if str(tok) == ",":
            hint = "join conditions with ∧ (and), not a comma"
        elif str(tok) == ")" and text[: exc.pos_in_stream].count("(") < text[: exc.pos_in_stream + 1].count(")"):
            hint = "unbalanced ')'"
        elif tok.type in ("$END",):
            hint = "the formula is incomplete"
        return locate("parse", f"unexpected {got}; expected {exp}", text=text, line=line, column=col, where=where, hint=hint)
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        allowed = _expected(exc.allowed or [])
        hint = ""
        if ch in "{}∈∉⊆":
            hint = "sets are not first-order syntax: use a predicate, e.g. Symptom(fever, monkeypox)"
        elif ch in ".":
            hint = "NLTK syntax writes a dot only after a quantifier's variables: all x. P(x)"
        return locate("parse", f"unexpected character {ch!r}; expected {allowed}", text=text, line=line, column=col, where=where, hint=hint)
    return locate("parse", str(exc).splitlines()[0], where=where)
