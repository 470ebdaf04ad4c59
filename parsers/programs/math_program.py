"""Equations for math word problems (GSM8K style), read by a whitelist — never ``sympify``.

    Equations:
    eggs = 16 - 3 - 4
    revenue = eggs * 2
    2 * x + 3 = 11
    Answer: revenue

One equation per line (``lhs = rhs``); ``Answer:`` names the expression asked for (default: the
last name assigned). ``$80,000`` reads as 80000 and ``15%`` as 15/100. Allowed: numbers, names, ``+ - * / // % **`` (``**`` with a literal exponent
of at most ``MAX_EXPONENT``), and the functions in ``FUNCTIONS``. ``sympify``/``parse_expr`` would
``eval`` the text (DESIGN.md §6); here the text goes through ``parsers.programs.expr``'s grammar, and the
solver builds SymPy objects from the tree with constructors only.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from parsers.errors import MAX_ERRORS, FormalizationError, LocatedError, locate, stopped_reading
from parsers.programs.expr import BinOp, Call, Name, Node, Num, Unary, parse_expression

__all__ = ["MathProgram", "parse_math_program", "to_text", "check_math_node", "FUNCTIONS", "MAX_EXPONENT"]

FUNCTIONS = {"sqrt": 1, "Abs": 1, "abs": 1, "floor": 1, "ceiling": 1, "ceil": 1, "round": (1, 2), "Min": None,
             "min": None, "Max": None, "max": None, "Rational": 2}
MAX_EXPONENT = 100
MAX_EQUATIONS = 200
# Possessive runs (``*+``) and numbers matched from their first digit only: nothing here
# backtracks (``\d+…%`` tried from every digit of a long number was quadratic).
_EQUALS = re.compile(r"(?<![=!<>])=(?!=)")
_ANSWER = re.compile(r"^\s*+(?:answer|final answer|solve for|target)\s*+[:：]\s*+(.*)$", re.I)
_SECTION = re.compile(r"^\s*+(equations|variables|let)\s*+[:：]\s*+$", re.I)
_THOUSANDS = re.compile(r"(?<![\w.])(\d{1,3}+(?:,\d{3})++)(?![\d,])")
_CURRENCY = re.compile(r"[$€£](?=\s*+\d)")
_PERCENT = re.compile(r"(?<!\d)(\d++(?:\.\d++)?)%(?!\s*+[\w(])")


def _normalise(line: str) -> str:
    """What models write in word-problem arithmetic: ``$80,000`` and ``15%`` (a number directly
    followed by % and no operand is a percentage; ``a % b`` stays the remainder). Widths are kept
    where possible so columns still point into the model's text."""
    line = _CURRENCY.sub(" ", line)
    line = _THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), line)
    return _PERCENT.sub(lambda m: f"({m.group(1)}/100)", line)


class MathProgram(BaseModel):
    """Canonical, fully parenthesised text: the solver process re-reads it with the same grammar."""

    model_config = ConfigDict(frozen=True)

    equations: list[tuple[str, str]]
    answer: str


def to_text(node: Node) -> str:
    if isinstance(node, Num):
        return node.text
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Unary):
        return f"(-{to_text(node.operand)})" if node.op == "-" else to_text(node.operand)
    if isinstance(node, BinOp):
        return f"({to_text(node.left)} {node.op} {to_text(node.right)})"
    if isinstance(node, Call):
        return f"{node.func}({', '.join(to_text(a) for a in node.args)})"
    raise TypeError(type(node).__name__)


def _literal_value(node: Node) -> float | None:
    if isinstance(node, Num):
        return float(node.text)
    if isinstance(node, Unary) and isinstance(node.operand, Num):
        v = float(node.operand.text)
        return -v if node.op == "-" else v
    return None


def check_math_node(node: Node, raw: str, where: str) -> None:
    """Raise a located error unless ``node`` is built only from the whitelist."""
    def bad(n: Node, message: str, hint: str = "") -> FormalizationError:
        return FormalizationError(locate("parse", message, text=raw, line=n.line, column=n.col, where=where, hint=hint))

    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (Num, Name)):
            continue
        if isinstance(n, Unary):
            if n.op == "not":
                raise bad(n, "'not' has no meaning in an equation")
            stack.append(n.operand)
        elif isinstance(n, BinOp):
            if n.op == "**":
                e = _literal_value(n.right)
                if e is None or abs(e) > MAX_EXPONENT:
                    raise bad(n.right, f"an exponent must be a number between -{MAX_EXPONENT} and {MAX_EXPONENT}")
            stack += [n.left, n.right]
        elif isinstance(n, Call):
            if n.func not in FUNCTIONS:
                raise bad(n, f"function {n.func!r} is not allowed", hint=f"allowed: {', '.join(sorted(FUNCTIONS))}")
            arity = FUNCTIONS[n.func]
            lo, hi = (arity, arity) if isinstance(arity, int) else (arity or (1, 50))
            if not lo <= len(n.args) <= hi:
                raise bad(n, f"{n.func} takes {lo if lo == hi else f'{lo} to {hi}'} argument(s), got {len(n.args)}")
            stack += list(n.args)
        else:
            what = {"Compare": "a comparison", "BoolOp": "'and'/'or'", "ListLit": "a list", "Binder": "a binder",
                    "Arrow": "'->'"}.get(type(n).__name__, type(n).__name__)
            raise bad(n, f"{what} is not allowed in an equation", hint="write one 'lhs = rhs' per line")


def parse_math_program(text: str) -> MathProgram:
    """Raises FormalizationError with every located error found."""
    errors: list[LocatedError] = []
    equations: list[tuple[str, str]] = []
    answer: str | None = None
    last_assigned: str | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        if len(errors) >= MAX_ERRORS:
            errors.append(stopped_reading(f"output line {lineno}"))
            break
        line = _normalise(raw.split("#", 1)[0]).rstrip()
        stripped = line.strip().rstrip(".").strip("`").strip()
        if not stripped or _SECTION.match(line) or stripped.startswith("```"):
            continue
        where = f"output line {lineno}"
        col0 = line.find(stripped) + 1
        try:
            m = _ANSWER.match(stripped)
            if m:
                body = m.group(1).strip().rstrip(".")
                node = parse_expression(body, col=col0 + stripped.find(body), where=where, text=raw)
                check_math_node(node, raw, where)
                answer = to_text(node)
                continue
            parts = _EQUALS.split(stripped)
            if len(parts) != 2:
                raise FormalizationError(locate("parse", "expected one equation 'lhs = rhs'" if len(parts) == 1
                                                else "only one '=' per line", text=raw, line=1, column=col0, where=where,
                                                hint="one equation per line, and 'Answer: <expression>' at the end"))
            lhs_src, rhs_src = parts
            lhs = parse_expression(lhs_src.strip(), col=col0 + len(lhs_src) - len(lhs_src.lstrip()), where=where, text=raw)
            rhs_col = col0 + len(lhs_src) + 1
            rhs = parse_expression(rhs_src.strip(), col=rhs_col + len(rhs_src) - len(rhs_src.lstrip()), where=where, text=raw)
            check_math_node(lhs, raw, where)
            check_math_node(rhs, raw, where)
            equations.append((to_text(lhs), to_text(rhs)))
            if isinstance(lhs, Name):
                last_assigned = lhs.id
        except FormalizationError as exc:
            errors += exc.errors
        if len(equations) > MAX_EQUATIONS:
            errors.append(locate("parse", f"more than {MAX_EQUATIONS} equations", where="output"))
            break
    if not errors and not equations:
        errors.append(locate("parse", "no equations in the output", where="output",
                             hint="write one 'name = expression' per line and end with 'Answer: <name>'"))
    answer = answer or last_assigned
    if not errors and answer is None:
        errors.append(locate("parse", "no 'Answer:' line and no assigned name to answer with", where="output",
                             hint="end with 'Answer: <expression>'"))
    if errors:
        raise FormalizationError(errors)
    return MathProgram(equations=equations, answer=answer)
