"""A small expression language shared by Logic-LM's CSP and Z3-DSL formats and by math equations.

Python-like infix syntax (calls, lists, ``== != < <= > >=``, ``+ - * / // % **``, ``and or not``,
``x:sort`` binders in lists, ``->`` in function signatures), read by our own tokenizer and Pratt
parser into plain dataclasses. LLM text is untrusted (DESIGN.md §6): the grammar itself is the
whitelist — it has no strings, attributes, subscripts, lambdas or comprehensions, and names with
``__`` are refused — so nothing a model writes can name Python objects, let alone run them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from parsers.errors import FormalizationError, locate

__all__ = [
    "Node", "Num", "Name", "Call", "ListLit", "Binder", "BinOp", "Unary", "Compare", "BoolOp", "Arrow",
    "parse_expression", "parse_statement", "ExprError", "MAX_NODES",
]

MAX_NODES = 5000
MAX_DEPTH = 60
MAX_NUMBER_DIGITS = 30


@dataclass(frozen=True)
class Node:
    line: int = field(default=1, compare=False, kw_only=True)
    col: int = field(default=1, compare=False, kw_only=True)


@dataclass(frozen=True)
class Num(Node):
    text: str


@dataclass(frozen=True)
class Name(Node):
    id: str


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Binder(Node):
    var: str
    sort: str


@dataclass(frozen=True)
class BinOp(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True)
class Compare(Node):
    ops: tuple[str, ...]
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class BoolOp(Node):
    op: str
    values: tuple[Node, ...]


@dataclass(frozen=True)
class Arrow(Node):
    left: Node
    right: Node


class ExprError(FormalizationError):
    pass


_TOKEN = re.compile(
    r"(?P<ws>[ \t]+)|(?P<num>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>->|=>|==|!=|<=|>=|//|\*\*|[-+*/%<>()\[\],:=])"
    r"|(?P<cop>&&|\|\||[&|]|!(?!=))"
)
_CALL_OPEN = re.compile(r"[ \t]*+\(")
# C/Python-bitwise connectives and infix word connectives: one meaning each, read as and/or/not (noted)
_C_OPS = {"&&": "and", "&": "and", "||": "or", "|": "or", "!": "not"}
_INFIX_WORDS = {"And": "and", "AND": "and", "Or": "or", "OR": "or", "Not": "not", "NOT": "not"}
_KEYWORDS = {"and", "or", "not", "in"}
_FORBIDDEN = {
    "'": "strings are not part of this language", '"': "strings are not part of this language",
    ".": "attribute access ('.') is not allowed", "{": "sets and dicts are not part of this language",
    "}": "sets and dicts are not part of this language", "@": "decorators are not allowed", ";": "one statement per line",
    "`": "backticks are not part of this language", "\\": "line continuations are not allowed",
    "~": "use Not(...) or 'not'",
}
_COMPARE = {"==", "!=", "<", "<=", ">", ">=", "in"}
# binding power of infix operators (higher binds tighter), Python's order
_BP = {"or": 1, "and": 2, "->": 0, **{op: 4 for op in _COMPARE}, "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6, "**": 8}


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, name, op, kw, end
    text: str
    line: int
    col: int


def _tokenize(src: str, line: int, col0: int, where: str, full_text: str, notes: list[str] | None = None) -> list[_Tok]:
    toks: list[_Tok] = []
    variants: list[str] = []
    i = 0
    while i < len(src):
        m = _TOKEN.match(src, i)
        col = col0 + i
        if not m:
            ch = src[i]
            why = _FORBIDDEN.get(ch, f"unexpected character {ch!r}")
            raise ExprError(locate("parse", why, text=full_text, line=line, column=col, where=where))
        if m.lastgroup == "num":
            digits = m.group().replace(".", "")
            if len(digits) > MAX_NUMBER_DIGITS:
                raise ExprError(locate("parse", f"number longer than {MAX_NUMBER_DIGITS} digits", text=full_text,
                                       line=line, column=col, where=where))
            if m.end() < len(src) and src[m.end()] == ".":  # "3.x" or "1.2.3"
                raise ExprError(locate("parse", "attribute access ('.') is not allowed", text=full_text, line=line,
                                       column=col0 + m.end(), where=where))
            toks.append(_Tok("num", m.group(), line, col))
        elif m.lastgroup == "name":
            name = m.group()
            if "__" in name:
                raise ExprError(locate("parse", f"names containing '__' are not allowed ({name!r})", text=full_text,
                                       line=line, column=col, where=where))
            if name in _INFIX_WORDS and not _CALL_OPEN.match(src, m.end()):
                variants.append(f"infix {name!r} read as {_INFIX_WORDS[name]!r}")
                toks.append(_Tok("kw", _INFIX_WORDS[name], line, col))
            else:
                toks.append(_Tok("kw" if name in _KEYWORDS else "name", name, line, col))
        elif m.lastgroup == "op":
            op = m.group()
            if op == "=>":
                variants.append("'=>' read as '->'")
            toks.append(_Tok("op", "->" if op == "=>" else op, line, col))
        elif m.lastgroup == "cop":
            variants.append(f"{m.group()!r} read as {_C_OPS[m.group()]!r}")
            toks.append(_Tok("kw", _C_OPS[m.group()], line, col))
        i = m.end()
    toks.append(_Tok("end", "", line, col0 + len(src)))
    if notes is not None:
        notes.extend(v for v in dict.fromkeys(variants) if v not in notes)
    return toks


class _Parser:
    def __init__(self, toks: list[_Tok], where: str, full_text: str):
        self.toks, self.i, self.where, self.text = toks, 0, where, full_text
        self.nodes = 0
        self.depth = 0

    # -- helpers
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: _Tok | None = None, hint: str = "") -> ExprError:
        tok = tok or self.peek()
        return ExprError(locate("parse", message, text=self.text, line=tok.line, column=tok.col, where=self.where, hint=hint))

    def expect(self, text: str) -> _Tok:
        tok = self.peek()
        if tok.text != text or tok.kind not in ("op", "kw"):
            got = "end of line" if tok.kind == "end" else repr(tok.text)
            raise self.error(f"expected {text!r}, found {got}")
        return self.next()

    def node(self, cls, *args, tok: _Tok):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(f"expression larger than {MAX_NODES} nodes", tok)
        return cls(*args, line=tok.line, col=tok.col)

    # -- grammar
    def expression(self, min_bp: int = 0) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nested deeper than {MAX_DEPTH}")
        left = self.prefix()
        while True:
            tok = self.peek()
            op = tok.text if tok.kind in ("op", "kw") else None
            if op == "not" and self.toks[self.i + 1].text == "in":
                op = "not in"
            if op not in _BP and op != "not in":
                break
            bp = _BP.get(op, 4)
            if bp < min_bp:
                break
            self.next()
            if op == "not in":
                self.next()
            if op in _COMPARE or op == "not in":
                ops, operands = [op], [left, self.expression(bp + 1)]
                while (nt := self.peek()).kind in ("op", "kw") and (nt.text in _COMPARE or nt.text == "not"):
                    if nt.text == "not":
                        if self.toks[self.i + 1].text != "in":
                            break
                        self.next()
                        self.next()
                        ops.append("not in")
                    else:
                        ops.append(self.next().text)
                    operands.append(self.expression(bp + 1))
                left = self.node(Compare, tuple(ops), tuple(operands), tok=tok)
            elif op in ("and", "or"):
                values = [left, self.expression(bp + 1)]
                while self.peek().kind == "kw" and self.peek().text == op:
                    self.next()
                    values.append(self.expression(bp + 1))
                left = self.node(BoolOp, op, tuple(values), tok=tok)
            elif op == "->":
                left = self.node(Arrow, left, self.expression(1), tok=tok)
            else:
                right = self.expression(bp if op == "**" else bp + 1)  # ** is right-associative
                left = self.node(BinOp, op, left, right, tok=tok)
        self.depth -= 1
        return left

    def prefix(self) -> Node:
        tok = self.next()
        if tok.kind == "num":
            return self.node(Num, tok.text, tok=tok)
        if tok.kind == "kw" and tok.text == "not":
            return self.node(Unary, "not", self.expression(3), tok=tok)
        if tok.kind == "op" and tok.text in "-+":
            return self.node(Unary, tok.text, self.expression(7), tok=tok)
        if tok.kind == "op" and tok.text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if tok.kind == "op" and tok.text == "[":
            return self.list_items(tok)
        if tok.kind == "name":
            if self.peek().text == "(" and self.peek().kind == "op":
                self.next()
                args = self.arguments(")")
                return self.node(Call, tok.text, tuple(args), tok=tok)
            return self.node(Name, tok.text, tok=tok)
        if tok.kind == "end":
            raise self.error("expression ends too early", tok)
        raise self.error(f"unexpected {tok.text!r}", tok)

    def list_items(self, open_tok: _Tok) -> Node:
        items = []
        while self.peek().text != "]":
            t = self.peek()
            if t.kind == "name" and self.toks[self.i + 1].text == ":":
                self.next()
                self.next()
                sort = self.next()
                if sort.kind != "name":
                    raise self.error("expected a sort name after ':'", sort)
                items.append(self.node(Binder, t.text, sort.text, tok=t))
            else:
                items.append(self.expression())
            if self.peek().text == ",":
                self.next()
            elif self.peek().text != "]":
                raise self.error("expected ',' or ']' in the list")
        self.expect("]")
        return self.node(ListLit, tuple(items), tok=open_tok)

    def arguments(self, close: str) -> list[Node]:
        args = []
        while self.peek().text != close:
            if self.peek().kind == "end":
                raise self.error(f"missing {close!r}", hint="check that parentheses balance")
            if self.peek().kind == "name" and self.toks[self.i + 1].text == "=" and self.toks[self.i + 1].kind == "op":
                raise self.error("keyword arguments are not allowed")
            args.append(self.expression())
            if self.peek().text == ",":
                self.next()
            elif self.peek().text != close:
                raise self.error(f"expected ',' or {close!r}")
        self.expect(close)
        return args


def parse_expression(src: str, *, line: int = 1, col: int = 1, where: str = "", text: str | None = None,
                     notes: list[str] | None = None) -> Node:
    """One expression; ``line``/``col`` place ``src`` inside ``text`` (the whole program) for errors."""
    return parse_statement(src, line=line, col=col, where=where, text=text, allow_assign=False, notes=notes)[1]


def parse_statement(src: str, *, line: int = 1, col: int = 1, where: str = "", text: str | None = None,
                    allow_assign: bool = True, notes: list[str] | None = None) -> tuple[str | None, Node]:
    """``name = expression`` or an expression; returns (target or None, expression). Connective
    variants read (``&&``, infix ``Or``, ``=>``) are added to ``notes`` when it is given."""
    full = text if text is not None else src
    toks = _tokenize(src, line, col, where, full, notes)
    p = _Parser(toks, where, full)
    target = None
    if allow_assign and len(toks) > 2 and toks[0].kind == "name" and toks[1].text == "=" and toks[1].kind == "op":
        target = toks[0].text
        p.i = 2
    expr = p.expression()
    tok = p.peek()
    if tok.kind != "end":
        if tok.text == "=":
            raise p.error("'=' is not a comparison here; use '=='" if target is None else "only one '=' per line", tok)
        raise p.error(f"unexpected {tok.text!r} after a complete expression", tok)
    return target, expr
