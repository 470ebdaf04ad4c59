"""Typed elaboration of ``parsers.programs.expr`` trees into SMT-LIB 2 terms over finite domains.

Both Logic-LM constraint formats (CSP and the Z3-flavoured DSL) describe finite worlds: enum sorts,
integer ranges, functions over them. Quantifiers and ``Count`` over a declared domain are expanded
over its members, so what reaches Z3 is quantifier-free (decidable and fast) and every ill-typed or
unknown name is a located error before any solver runs. All user names are emitted as quoted,
prefixed SMT-LIB symbols, so a model's names can never collide with SMT-LIB's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import product

from parsers.errors import LocatedError, locate
from parsers.programs.expr import Arrow, Binder, BinOp, BoolOp, Call, Compare, ListLit, Name, Node, Num, Unary

__all__ = ["Domain", "Function", "Env", "ElabError", "elaborate", "elaborate_bool", "MAX_EXPANSION"]

BOOL, INT = "Bool", "Int"
MAX_EXPANSION = 200_000


@dataclass
class Domain:
    """A declared finite domain: an enum sort, a subset of one, or a list of integers."""

    name: str
    kind: str  # "enum" | "int"
    members: list[str]
    base: str = ""  # enum subsets: the sort the members belong to

    @property
    def type(self) -> str:
        return INT if self.kind == "int" else f"enum:{self.base or self.name}"

    def terms(self) -> list[tuple[str, str]]:
        if self.kind == "int":
            return [(_int(int(m)), INT) for m in self.members]
        return [(member_symbol(m), self.type) for m in self.members]


@dataclass
class Function:
    name: str
    args: list[str]  # types
    result: str
    result_domain: Domain | None = None


@dataclass
class Env:
    domains: dict[str, Domain] = field(default_factory=dict)
    members: dict[str, str] = field(default_factory=dict)  # member name -> type
    functions: dict[str, Function] = field(default_factory=dict)
    consts: dict[str, str] = field(default_factory=dict)  # constant name -> type
    text: str = ""
    where: str = "program"
    size: int = 0
    scale: int = 1
    """How many times the term being elaborated is expanded by the quantifiers around it."""
    notes: set[str] = field(default_factory=set)
    """Variants read (lower-case built-ins, a two-argument If), once each."""


class ElabError(Exception):
    def __init__(self, error: LocatedError):
        self.error = error
        super().__init__(error.render())


def _quoted(prefix: str, name: str) -> str:
    """``|prefix:name|``; a character that could end the symbol or that z3 reads specially
    (``|``, ``\\``, line breaks, other controls) is written ``%<hex>;`` (and ``%`` itself), so
    distinct names stay distinct and none leaves its token. The readers only give identifiers."""
    if not _PLAIN.fullmatch(name):
        name = "".join(c if c.isprintable() and c not in "|\\%" else f"%{ord(c):x};" for c in name)
    return f"|{prefix}:{name}|"


_PLAIN = re.compile(r"[A-Za-z0-9_]*")


def member_symbol(name: str) -> str:
    return _quoted("m", name)


def function_symbol(name: str) -> str:
    return _quoted("f", name)


def const_symbol(name: str) -> str:
    return _quoted("v", name)


def sort_symbol(type_: str) -> str:
    return type_ if type_ in (BOOL, INT) else _quoted("s", type_[5:])


def _int(v: int) -> str:
    return str(v) if v >= 0 else f"(- {-v})"


def type_name(t: str) -> str:
    if t.startswith("pos:"):
        return f"shifted position in {t[4:]}"
    return t[5:] if t.startswith("enum:") else t


def _err(env: Env, node: Node, message: str, hint: str = "") -> ElabError:
    """``env.text`` is the line being elaborated and ``env.where`` names it ("output line 7")."""
    return ElabError(locate("parse", message, text=env.text, line=node.line, column=node.col, where=env.where, hint=hint))


_BOOL_OPS = {"And": "and", "Or": "or", "Xor": "xor"}
_ARITH = {"+": "+", "-": "-", "*": "*", "/": "div", "//": "div", "%": "mod"}
_CMP = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}


def elaborate_bool(node: Node, env: Env, bound: dict[str, tuple[str, str]] | None = None) -> str:
    term, t = elaborate(node, env, bound or {})
    if t != BOOL:
        raise _err(env, node, f"expected a true/false condition, found a value of type {type_name(t)}")
    return term


def elaborate(node: Node, env: Env, bound: dict[str, tuple[str, str]]) -> tuple[str, str]:
    env.size += 1
    if env.size > MAX_EXPANSION:
        raise _err(env, node, f"the constraint expands to more than {MAX_EXPANSION} terms",
                   hint="quantify over fewer or smaller domains")
    if isinstance(node, Num):
        if "." in node.text:
            raise _err(env, node, f"{node.text} is not an integer; these constraints are over integers")
        return _int(int(node.text)), INT
    if isinstance(node, Name):
        return _name(node, env, bound)
    if isinstance(node, Unary):
        if node.op == "not":
            return f"(not {elaborate_bool(node.operand, env, bound)})", BOOL
        term = _int_term(node.operand, env, bound)
        return (f"(- {term})" if node.op == "-" else term), INT
    if isinstance(node, BoolOp):
        parts = [elaborate_bool(v, env, bound) for v in node.values]
        return f"({node.op} {' '.join(parts)})", BOOL
    if isinstance(node, BinOp):
        if node.op == "**":
            raise _err(env, node, "'**' is not supported in these constraints", hint="write the product out")
        la, lb = elaborate(node.left, env, bound), elaborate(node.right, env, bound)
        offset = _position_offset(env, node, la, lb)
        if offset is not None:
            return offset
        a, b = _int_term(node.left, env, bound, la), _int_term(node.right, env, bound, lb)
        return f"({_ARITH[node.op]} {a} {b})", INT
    if isinstance(node, Compare):
        return _compare(node, env, bound), BOOL
    if isinstance(node, Call):
        return _call(node, env, bound)
    if isinstance(node, Binder):
        raise _err(env, node, f"'{node.var}:{node.sort}' binds a variable; it belongs in the first list of ForAll, Exists or Count")
    if isinstance(node, ListLit):
        raise _err(env, node, "a list is not a value here")
    if isinstance(node, Arrow):
        a, b = elaborate(node.left, env, bound), elaborate(node.right, env, bound)
        if a[1] == BOOL and b[1] == BOOL:  # between two conditions '->' can only be an implication
            env.notes.add("'->' between conditions read as Implies")
            return f"(=> {a[0]} {b[0]})", BOOL
        raise _err(env, node, "'->' belongs in a Function declaration or between two conditions")
    raise _err(env, node, f"unsupported expression {type(node).__name__}")


def _name(node: Name, env: Env, bound) -> tuple[str, str]:
    n = node.id
    if n in bound:
        return bound[n]
    if n in ("True", "true"):
        return "true", BOOL
    if n in ("False", "false"):
        return "false", BOOL
    if n in env.members:
        return member_symbol(n), env.members[n]
    if n in env.consts:
        return const_symbol(n), env.consts[n]
    if n in env.functions:
        f = env.functions[n]
        if not f.args:
            return function_symbol(n), f.result
        raise _err(env, node, f"{n} is a function of {len(f.args)} argument(s); apply it, e.g. {n}(...)")
    if n in env.domains:
        raise _err(env, node, f"{n} is a domain, not a value", hint=f"quantify over it: ForAll([x:{n}], ...)")
    known = sorted(list(env.members)[:8] + list(env.consts)[:8])
    raise _err(env, node, f"unknown name {n!r}", hint=f"declare it first; known values include {', '.join(known)}" if known else "declare it first")


def _position_offset(env: Env, node: BinOp, a: tuple[str, str], b: tuple[str, str]) -> tuple[str, str] | None:
    """``day(x) + 1``: a position in an ordered enum sort, shifted; typed ``pos:<sort>`` so it can
    only be compared with values of that sort (the index base then cancels out)."""
    kinds = [t.split(":", 1)[0] for t in (a[1], b[1])]
    if node.op not in "+-" or not ({"enum", "pos"} & set(kinds)):
        return None
    if node.op == "-" and kinds[0] in ("enum", "pos") and kinds[1] in ("enum", "pos"):
        if a[1].split(":", 1)[1] != b[1].split(":", 1)[1]:
            raise _err(env, node, f"cannot subtract a {type_name(b[1])} from a {type_name(a[1])}")
        return f"(- {_position(env, a)} {_position(env, b)})", INT  # a distance between positions
    if kinds[1] in ("enum", "pos"):
        if node.op == "-" or kinds[0] != "Int":
            raise _err(env, node, f"arithmetic on a {type_name(b[1])} value: write position + number")
        a, b = b, a
    if b[1] != INT:
        raise _err(env, node, f"arithmetic needs integers, found a value of sort {type_name(b[1])}")
    return f"({node.op} {_position(env, a)} {b[0]})", "pos:" + a[1].split(":", 1)[1]


def _position(env: Env, term: tuple[str, str]) -> str:
    return term[0] if term[1].startswith("pos:") else _index(env, term)


def _int_term(node: Node, env: Env, bound, done: tuple[str, str] | None = None) -> str:
    term, t = done or elaborate(node, env, bound)
    if t == BOOL:
        return f"(ite {term} 1 0)"  # Python/Z3 sum booleans as 0/1
    if t != INT:
        raise _err(env, node, f"arithmetic needs integers, found a value of sort {type_name(t)}")
    return term


def _same_type(env: Env, node: Node, ta: str, tb: str) -> None:
    if ta != tb:
        raise _err(env, node, f"cannot compare a {type_name(ta)} with a {type_name(tb)}")


def _compare(node: Compare, env: Env, bound) -> str:
    parts = []
    left = elaborate(node.operands[0], env, bound)
    for op, right_node in zip(node.ops, node.operands[1:]):
        if op in ("in", "not in"):
            choices = _choices(right_node, env, bound)
            eqs = []
            for term, t in choices:
                _same_type(env, right_node, left[1], t)
                eqs.append(f"(= {left[0]} {term})")
            disj = f"(or {' '.join(eqs)})" if len(eqs) > 1 else (eqs[0] if eqs else "false")
            parts.append(disj if op == "in" else f"(not {disj})")
            continue
        right = elaborate(right_node, env, bound)
        positional = "pos:" in left[1] + right[1]
        if op in ("==", "!=") and not positional:
            if {left[1], right[1]} == {INT, BOOL}:  # True == 1 style: compare as 0/1
                a = left[0] if left[1] == INT else f"(ite {left[0]} 1 0)"
                b = right[0] if right[1] == INT else f"(ite {right[0]} 1 0)"
                eq = f"(= {a} {b})"
            else:
                _same_type(env, node, left[1], right[1])
                eq = f"(= {left[0]} {right[0]})"
            parts.append(eq if op == "==" else f"(not {eq})")
        elif left[1].split(":", 1)[-1] == right[1].split(":", 1)[-1] and left[1][:4] in ("enum", "pos:") and right[1][:4] in ("enum", "pos:"):
            # an enum sort is ordered as declared (days, positions): compare the members' indexes
            a, b = _position(env, left), _position(env, right)
            parts.append(f"(not (= {a} {b}))" if op == "!=" else f"({_CMP.get(op, '=')} {a} {b})")
        else:
            for side, n in ((left, node.operands[0]), (right, right_node)):
                if side[1] != INT:
                    raise _err(env, n, f"'{op}' compares integers, found a value of sort {type_name(side[1])}")
            parts.append(f"({_CMP[op]} {left[0]} {right[0]})")
        left = right
    return _nary("and", parts, "true")


def _index(env: Env, term: tuple[str, str]) -> str:
    """Position of an enum value in its sort's declaration order, as an integer term."""
    members = [m for m, t in env.members.items() if t == term[1]]
    out = str(len(members) - 1)
    for i in range(len(members) - 2, -1, -1):
        out = f"(ite (= {term[0]} {member_symbol(members[i])}) {i} {out})"
    return out


def _choices(node: Node, env: Env, bound) -> list[tuple[str, str]]:
    if isinstance(node, ListLit):
        return [elaborate(i, env, bound) for i in node.items]
    if isinstance(node, Name) and node.id in env.domains:
        return env.domains[node.id].terms()
    raise _err(env, node, "'in' needs a list such as [a, b] or a declared domain")


def _binders(node: Node, env: Env, what: str) -> list[tuple[str, Domain]]:
    if not isinstance(node, ListLit) or not node.items:
        raise _err(env, node, f"{what} needs a list of binders first, e.g. {what}([x:sort], ...)")
    out = []
    for b in node.items:
        if not isinstance(b, Binder):
            raise _err(env, b, f"expected a binder such as x:sort in the first list of {what}")
        if b.sort not in env.domains:
            hint = f"declared domains: {', '.join(env.domains)}" if env.domains else "declare the domain first"
            if b.sort in ("int", "bool"):
                raise _err(env, b, f"cannot range over all of {b.sort}; range over a declared finite domain", hint=hint)
            raise _err(env, b, f"unknown domain {b.sort!r}", hint=hint)
        out.append((b.var, env.domains[b.sort]))
    return out


def _expand(binders: list[tuple[str, Domain]], bound: dict, env: Env, node: Node) -> Iterator[dict]:
    """Each assignment of ``binders`` over their domains, one at a time. Refused before any is made
    when the body would be elaborated more than ``MAX_EXPANSION`` times in all (the quantifiers
    around it count: ``env.scale``): building the whole product first took 1.1 GB and minutes
    for one ``ForAll([x:d, y:d, z:d], …)`` over 150 members, only to be refused then."""
    count = env.scale
    for _, dom in binders:
        count *= len(dom.members)
        if count > MAX_EXPANSION:
            raise _err(env, node, f"the constraint expands to more than {MAX_EXPANSION} terms",
                       hint="quantify over fewer or smaller domains")
    outer, env.scale = env.scale, max(1, count)
    try:
        for terms in product(*(dom.terms() for _, dom in binders)):
            yield {**bound, **{var: t for (var, _), t in zip(binders, terms)}}
    finally:
        env.scale = outer


def _args(node: Call, env: Env, n: int | tuple[int, int]) -> None:
    lo, hi = (n, n) if isinstance(n, int) else n
    if not lo <= len(node.args) <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        raise _err(env, node, f"{node.func} takes {want} argument(s), got {len(node.args)}")


def _varargs(node: Call) -> tuple[Node, ...]:
    """``And(a, b)`` and ``And([a, b])`` alike."""
    if len(node.args) == 1 and isinstance(node.args[0], ListLit):
        return node.args[0].items
    return node.args


def _nary(op: str, parts: list[str], empty: str) -> str:
    """``(op a b …)``; one part is itself, none is the operator's unit."""
    if not parts:
        return empty
    return parts[0] if len(parts) == 1 else f"({op} {' '.join(parts)})"


def _over_binders(node: Call) -> bool:
    """``F([x:sort, …], body)``: the call ranges over declared domains."""
    return len(node.args) == 2 and isinstance(node.args[0], ListLit) and bool(node.args[0].items) \
        and all(isinstance(b, Binder) for b in node.args[0].items)


_ALIASES = {"implies": "Implies", "iff": "Iff", "xor": "Xor", "forall": "ForAll", "Forall": "ForAll", "exists": "Exists",
            "count": "Count", "distinct": "Distinct", "sum": "Sum", "ite": "If"}


def _call(node: Call, env: Env, bound) -> tuple[str, str]:
    f = node.func
    if f in _ALIASES and f not in env.functions:
        env.notes.add(f"{f}(…) read as {_ALIASES[f]}(…)")
        f = _ALIASES[f]
        node = Call(f, node.args, line=node.line, col=node.col)
    if f == "If" and len(node.args) == 2 and f not in env.functions:
        then = elaborate(node.args[1], env, bound)
        if then[1] == BOOL:  # "if a then b" as a condition: an implication
            env.notes.add("If(a, b) with two arguments read as Implies(a, b)")
            return f"(=> {elaborate_bool(node.args[0], env, bound)} {then[0]})", BOOL
    if f in _BOOL_OPS:
        parts = [elaborate_bool(a, env, bound) for a in _varargs(node)]
        return _nary(_BOOL_OPS[f], parts, "true" if f == "And" else "false"), BOOL
    if f == "Not":
        _args(node, env, 1)
        return f"(not {elaborate_bool(node.args[0], env, bound)})", BOOL
    if f == "Implies":
        _args(node, env, 2)
        return f"(=> {elaborate_bool(node.args[0], env, bound)} {elaborate_bool(node.args[1], env, bound)})", BOOL
    if f in ("Iff", "Equivalent"):
        _args(node, env, 2)
        return f"(= {elaborate_bool(node.args[0], env, bound)} {elaborate_bool(node.args[1], env, bound)})", BOOL
    if f in ("If", "IfThenElse"):
        _args(node, env, 3)
        c = elaborate_bool(node.args[0], env, bound)
        a, b = elaborate(node.args[1], env, bound), elaborate(node.args[2], env, bound)
        _same_type(env, node, a[1], b[1])
        return f"(ite {c} {a[0]} {b[0]})", a[1]
    if f in ("ForAll", "Exists"):
        _args(node, env, 2)
        binders = _binders(node.args[0], env, f)
        parts = [elaborate_bool(node.args[1], env, b) for b in _expand(binders, bound, env, node)]
        return _nary("and" if f == "ForAll" else "or", parts, "true" if f == "ForAll" else "false"), BOOL
    if f == "Count":
        _args(node, env, 2)
        binders = _binders(node.args[0], env, f)
        parts = [f"(ite {elaborate_bool(node.args[1], env, b)} 1 0)" for b in _expand(binders, bound, env, node)]
        return _nary("+", parts, "0"), INT
    if f == "Sum" and _over_binders(node):
        binders = _binders(node.args[0], env, f)
        return _nary("+", [_int_term(node.args[1], env, b) for b in _expand(binders, bound, env, node)], "0"), INT
    if f == "Sum":
        return _nary("+", [_int_term(a, env, bound) for a in _varargs(node)], "0"), INT
    if f in ("Abs", "abs"):
        _args(node, env, 1)
        t = _int_term(node.args[0], env, bound)
        return f"(abs {t})", INT
    if f in ("Distinct", "AllDifferentConstraint", "AllDifferent"):
        if _over_binders(node):
            binders = _binders(node.args[0], env, f)
            terms = [elaborate(node.args[1], env, b) for b in _expand(binders, bound, env, node)]
        else:
            terms = [elaborate(a, env, bound) for a in _varargs(node)]
        for (_, t), a in zip(terms[1:], node.args[1:] or node.args):
            _same_type(env, a, terms[0][1], t)
        if len(terms) < 2:
            return "true", BOOL
        return f"(distinct {' '.join(t for t, _ in terms)})", BOOL
    if f in env.functions:
        fn = env.functions[f]
        if len(node.args) != len(fn.args):
            raise _err(env, node, f"{f} takes {len(fn.args)} argument(s) ({', '.join(map(type_name, fn.args))}), got {len(node.args)}")
        args = []
        for a, want in zip(node.args, fn.args):
            term, t = elaborate(a, env, bound)
            if t != want:
                raise _err(env, a, f"argument of {f} should be a {type_name(want)}, found a {type_name(t)}")
            args.append(term)
        return (f"({function_symbol(f)} {' '.join(args)})" if args else function_symbol(f)), fn.result
    if f in env.domains or f in env.members or f in env.consts:
        raise _err(env, node, f"{f} is not a function")
    raise _err(env, node, f"unknown function {f!r}",
                hint="available: And, Or, Not, Implies, Xor, If, ForAll, Exists, Count, Sum, Abs, Distinct, and the declared functions")
