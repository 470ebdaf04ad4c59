"""Logic-LM's logic-program format (ProntoQA, ProofWriter), read as data into the FOL AST.

    Predicates:
    Cold($x, bool) ::: Is x cold?
    Facts:
    Cold(Bob, True) ::: Bob is cold.
    Rules:
    Quiet($x, True) && Cold($x, True) >>> Smart($x, True) ::: ...
    Query:
    Kind(Charlie, True) ::: Charlie is kind.

A literal's last argument is its truth value: ``P(a, True)`` is ``P(a)``, ``P(a, False)`` is
``¬P(a)``. ``$x`` is a variable; a rule is universally closed over its variables. Nothing is
executed: every line is matched against this grammar, and a line that does not fit is a located
error (output line, column) for the repair loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from parsers.errors import LocatedError, locate
from parsers.fol.nodes import And, Atom, Const, Forall, Formula, Implies, Not, Var, free_vars

__all__ = ["LogicProgram", "parse_logic_program", "looks_like_logic_program"]

_SECTION = re.compile(r"^\s*(predicates|facts|rules|query|queries)\s*:\s*$", re.I)
_LITERAL = re.compile(r"\s*([A-Za-z_][\w’']*)\s*\(([^()]*)\)\s*")
_TERM = re.compile(r"^(\$[A-Za-z_]\w*|[A-Za-z0-9_][\w’'.-]*)$")


@dataclass
class LogicProgram:
    premises: list[Formula] = field(default_factory=list)
    conclusion: Formula | None = None
    errors: list[LocatedError] = field(default_factory=list)


def looks_like_logic_program(text: str) -> bool:
    return bool(re.search(r"^\s*facts\s*:\s*$", text, re.I | re.M)) and bool(re.search(r"^\s*(rules|query)\s*:\s*$", text, re.I | re.M))


def _literal(src: str, lineno: int, offset: int, line: str) -> Formula:
    """One ``Pred(args..., True|False)``; raises ValueError(message, column)."""
    m = _LITERAL.fullmatch(src)
    if not m:
        raise ValueError("expected a literal such as Red($x, True)", offset + 1)
    pred, inner = m.group(1), m.group(2)
    args = [a.strip() for a in inner.split(",")]
    if len(args) < 2 or args[-1] not in ("True", "False"):
        col = offset + src.find("(") + 2 + (len(inner) - len(inner.lstrip())) if "(" in src else offset + 1
        raise ValueError(f"{pred}(…) must end with its truth value, True or False", col)
    terms = []
    for a in args[:-1]:
        if not _TERM.match(a):
            raise ValueError(f"{a!r} is not a constant or a $variable", offset + src.find(a) + 1)
        terms.append(Var(a[1:]) if a.startswith("$") else Const(a))
    atom = Atom(pred, tuple(terms))
    return atom if args[-1] == "True" else Not(atom)


def _conjunction(src: str, lineno: int, offset: int, line: str) -> Formula:
    parts, pos = [], 0
    for piece in src.split("&&"):
        parts.append(_literal(piece, lineno, offset + pos, line))
        pos += len(piece) + 2
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _close(f: Formula) -> Formula:
    for v in sorted(free_vars(f), reverse=True):
        f = Forall(v, f)
    return f


def parse_logic_program(text: str) -> LogicProgram:
    prog = LogicProgram()
    section = None
    seen = set()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split(":::", 1)[0].rstrip()
        if not line.strip() or line.strip().startswith(("```", "#")):
            continue
        m = _SECTION.match(line)
        if m:
            section = m.group(1).lower().rstrip("s") if m.group(1).lower().startswith("quer") else m.group(1).lower()
            section = "query" if section.startswith("quer") else section
            seen.add(section)
            continue
        if section in (None, "predicates"):
            continue  # declarations carry no formula
        body = line.strip()
        offset = len(line) - len(line.lstrip())
        try:
            if section == "rules":
                if ">>>" not in body:
                    raise ValueError("a rule is 'body >>> head'", offset + 1)
                left, right = body.split(">>>", 1)
                f = Implies(_conjunction(left, lineno, offset, raw), _conjunction(right, lineno, offset + len(left) + 3, raw))
                prog.premises.append(_close(f))
            elif section == "facts":
                f = _conjunction(body, lineno, offset, raw)
                if free_vars(f):
                    raise ValueError("a fact names constants, not $variables", offset + 1)
                prog.premises.append(f)
            elif section == "query":
                if prog.conclusion is not None:
                    raise ValueError("one query is expected", offset + 1)
                prog.conclusion = _conjunction(body, lineno, offset, raw)
        except ValueError as exc:
            message, column = exc.args
            prog.errors.append(locate("parse", message, text=raw, line=1, column=column,
                                      where=f"output line {lineno} ({section})"))
    for needed in ("facts", "query"):
        if needed not in seen:
            prog.errors.append(locate("parse", f"no '{needed.capitalize()}:' section in the program", where="output",
                                      hint="answer with Predicates:, Facts:, Rules: and Query: sections"))
    if "query" in seen and prog.conclusion is None and not any("(query)" in e.where for e in prog.errors):
        prog.errors.append(locate("parse", "the 'Query:' section is empty", where="output"))
    return prog
