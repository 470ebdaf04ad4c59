"""Child process of ``solvers.math``: solve a ``MathProgram`` with SymPy, answer one JSON line.

Run as ``python -I -S math_worker.py`` inside the sandbox (``solvers.sandbox``), where this file
sits beside the read-only packages it imports; a pathological system (huge powers, hard nonlinear
solves) costs at most its limits. The equations arrive as
canonical text and are re-read with the project's own whitelisted grammar; SymPy objects are built
from the tree with constructors (``Symbol``, ``Integer``, ``Rational``, ``Add``, ...), never from strings.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the script's directory out


def _build(node, sp, symbols):
    from parsers.programs.expr import BinOp, Call, Name, Num, Unary

    if isinstance(node, Num):
        return sp.Rational(node.text) if "." in node.text else sp.Integer(int(node.text))
    if isinstance(node, Name):
        if node.id not in symbols:
            symbols[node.id] = sp.Symbol(node.id)
        return symbols[node.id]
    if isinstance(node, Unary):
        inner = _build(node.operand, sp, symbols)
        return -inner if node.op == "-" else inner
    if isinstance(node, BinOp):
        a, b = _build(node.left, sp, symbols), _build(node.right, sp, symbols)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        if node.op == "/":
            return a / b
        if node.op == "//":
            return sp.floor(a / b)
        if node.op == "%":
            return sp.Mod(a, b)
        if node.op == "**":
            return a ** b
    if isinstance(node, Call):
        args = [_build(a, sp, symbols) for a in node.args]
        f = node.func
        if f == "sqrt":
            return sp.sqrt(args[0])
        if f in ("Abs", "abs"):
            return sp.Abs(args[0])
        if f == "floor":
            return sp.floor(args[0])
        if f in ("ceiling", "ceil"):
            return sp.ceiling(args[0])
        if f == "round":
            digits = args[1] if len(args) > 1 else sp.Integer(0)
            scale = sp.Integer(10) ** digits
            return sp.floor(args[0] * scale + sp.Rational(1, 2)) / scale
        if f in ("Min", "min"):
            return sp.Min(*args)
        if f in ("Max", "max"):
            return sp.Max(*args)
        if f == "Rational":
            return args[0] / args[1]
    raise ValueError(f"unsupported node {type(node).__name__}")


def _number(value, sp) -> str:
    value = sp.nsimplify(value) if value.is_Float else value
    if value.is_Integer:
        return str(int(value))
    if value.is_Rational:
        return repr(float(value))
    f = complex(value.evalf(30))
    if abs(f.imag) > 1e-9:
        raise ValueError("the answer is not a real number")
    return repr(f.real)


def solve(program: dict) -> dict:
    import sympy as sp

    from parsers.programs.expr import parse_expression
    from parsers.programs.math_program import check_math_node

    symbols: dict = {}

    def read(text: str):
        node = parse_expression(text)
        check_math_node(node, text, "canonical text")  # the parent checked; the child trusts nothing
        return _build(node, sp, symbols)

    equations = [(read(lhs), read(rhs), lhs) for lhs, rhs in program["equations"]]
    answer = read(program["answer"])
    known: dict = {}
    pending = []
    for lhs, rhs, lhs_text in equations:  # assignments first, in order: most word problems are only these
        rhs_v = rhs.subs(known) if known else rhs
        if isinstance(lhs, sp.Symbol) and lhs not in known and not rhs_v.free_symbols:
            known[lhs] = rhs_v
        else:
            pending.append(sp.Eq(lhs.subs(known) if known else lhs, rhs_v))
    pending = [e for e in pending if e is not sp.true]
    if any(e is sp.false for e in pending):
        return {"status": "error", "message": "the equations contradict each other (an equation reduces to False)"}
    if pending:
        unknowns = sorted(set().union(*(e.free_symbols for e in pending)), key=str)
        solutions = sp.solve(pending, unknowns, dict=True)
        if not solutions:
            return {"status": "error", "message": f"SymPy found no closed-form solution for {', '.join(map(str, unknowns)) or 'their unknowns'}"}
        values, open_symbols = set(), set()
        for sol in solutions:
            v = answer.subs({**known, **sol})
            if v.free_symbols:
                open_symbols |= v.free_symbols
            else:
                values.add(v)
        real = {v for v in values if v.is_real is not False}
        nonneg = {v for v in real if not (v.is_negative)}
        chosen = nonneg if len(nonneg) == 1 else real
        if len(chosen) != 1:
            if not values:
                names = ", ".join(sorted(map(str, open_symbols)))
                return {"status": "error", "message": f"the answer depends on {names}, which the equations do not determine"}
            return {"status": "error", "message": f"the equations allow several answers: {', '.join(sorted(map(str, values)))[:200]}"}
        value = chosen.pop()
    else:
        value = answer.subs(known)
    if value.free_symbols:
        return {"status": "error",
                "message": f"the answer depends on {', '.join(sorted(map(str, value.free_symbols)))}, which no equation determines"}
    if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        return {"status": "error", "message": "the answer is undefined (a division by zero?)"}
    return {"status": "ok", "value": _number(value, sp)}


def main() -> None:
    program = json.loads(sys.stdin.read())
    try:
        out = solve(program)
    except Exception as exc:  # a bad system is reported, not a crash
        out = {"status": "error", "message": f"{type(exc).__name__}: {str(exc)[:200]}"}
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
