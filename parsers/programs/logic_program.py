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
executed: every line is matched against this grammar.

Models write this format loosely; a variant is accepted when the program itself fixes its
meaning, and every such reading is recorded in ``notes``:

* **declared arity decides the truth value**: with ``Needs($x, $y, bool)`` declared, ``Needs(a, b)``
  is ``Needs(a, b, True)``; with ``Needs($x, $y)`` declared (no truth slot), ``Needs(a, b)`` is
  positive. Undeclared predicates must be used with one arity throughout;
* negation written ``Not(P(a, True))``, ``!P(a, True)``, ``¬P(…)``, ``~P(…)`` or ``not P(…)``;
* a ``>>>`` line is a rule wherever it stands (rules listed under ``Facts:``), a ground literal
  under ``Rules:`` is a fact, and a missing ``Rules:``/``Facts:`` heading is implied by the
  lines' shape; ``All($x)``/``ForAll($x)``/``∀x`` before a rule (rules are universal anyway);
* a fact with ``$variables`` holds for everything (``Rompus($x, True)`` is ``∀x Rompus(x)``);
* constants of several words (``bald eagle``) joined by ``_``; ``x``/``y``/``z`` without ``$`` in a
  rule, when no fact or query names them, read as the variables they stand for;
* an undeclared predicate that is the plural or singular of exactly one declared predicate
  (``Tumpuses`` with ``Tumpus($x, bool)`` declared) read as that predicate;
* ``If(body, head)`` read as ``body >>> head``, and ``->``/``=>``/``→`` between literals as ``>>>``;
  ``and``/``∧``/``&`` between literals as ``&&``;
* prose lines (no parenthesis) skipped.

Where two readings remain — a predicate used with two arities that its declaration cannot
reconcile, two different queries — the result is a located error (output line, column), which
is a repair prompt for a live model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from parsers.errors import MAX_ERRORS, LocatedError, locate, stopped_reading
from parsers.fol.nodes import And, Atom, Const, Forall, Formula, Implies, Not, Var, free_vars

__all__ = ["LogicProgram", "parse_logic_program", "looks_like_logic_program"]

# One line each, possessive runs (``*+``) where what follows cannot start with them: no pattern
# here backtracks, so a program is read in time linear in its length.
_HEADING = re.compile(r"^[#*>\s-]*+(predicates|facts|rules|query|queries)\s*+\**+\s*+[:：]\s*+\**+\s*+(.*)$", re.I)
_NAME = re.compile(r"[A-Za-z_][\w’'.-]*")
_TRUTH = {"true": True, "false": False}
_QUANT_PREFIX = re.compile(r"^\s*+(?:(?:All|ForAll|Forall|forall|all|Every|each)\s*+\(\s*+\$?\w++\s*+\)|∀\s*+\$?\w++|"
                           r"(?:forall|all)\s++\$\w++)\s*+[:.,]?\s*+")
_LOOKS = (re.compile(r"^[#*\s]*+facts\s*+\**+\s*+[:：]", re.I), re.compile(r"^[#*\s]*+(?:rules|query)\s*+\**+\s*+[:：]", re.I))
_WRAPPER_OPEN = re.compile(r"(?:Not|NOT|not|Neg|neg)\s*+\(")
_PRED_OPEN = re.compile(r"^([A-Za-z_][\w’']*+)\s*+\(")
_ITEM_NUMBER = re.compile(r"^(?:\d++[.)]|[-*•])\s+")
_IF_CALL = re.compile(r"^If\s*+\((.*)\)\s*+$")
_ARROW = re.compile(r"\)\s*+(->|=>|→|⇒)\s*+[A-Za-z!¬~]")
_VARIABLE = re.compile(r"[A-Za-z_]\w*+")
_CONSTANT = re.compile(r"[\w’'.-]++(?:\s++[\w’'.-]++)*+")
_NEGATIONS = ("!", "¬", "~", "\\+", "not ", "NOT ", "Not ")
_BOOL_SLOT = {"bool", "boolean", "true", "false", "truth", "$truth", "$value", "$bool", "value"}


@dataclass
class LogicProgram:
    premises: list[Formula] = field(default_factory=list)
    conclusion: Formula | None = None
    errors: list[LocatedError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def looks_like_logic_program(text: str) -> bool:
    lines = [line for line in text.splitlines() if line and not line.isspace()]
    facts, rest = _LOOKS
    return any(facts.match(line) for line in lines) and (">>>" in text or any(rest.match(line) for line in lines))


class _Bad(Exception):
    def __init__(self, message: str, column: int, hint: str = "", text: str = ""):
        self.message, self.column, self.hint = message, column, hint
        self.text = text
        """The offending argument, when the column is not known where it is found (``_term``)."""


@dataclass
class _Use:
    pred: str
    args: list[str]
    truth: bool | None
    """The explicit truth value, or None when the literal has none."""
    negated: bool
    line: int
    column: int
    raw: str


@dataclass
class _Line:
    kind: str  # rule | fact | query
    lineno: int
    raw: str
    body: list[list[_Use]] = field(default_factory=list)
    """rule: [body uses, head uses]; fact/query: [uses] (a conjunction)."""
    universal_prefix: bool = False


def _split_args(inner: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in inner:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [a.strip() for a in out]


def _skip_space(s: str, i: int, end: int) -> tuple[int, int]:
    """``s[i:end]`` without its surrounding white space, as indices."""
    while i < end and s[i].isspace():
        i += 1
    while end > i and s[end - 1].isspace():
        end -= 1
    return i, end


def _literal(src: str, col: int, lineno: int, raw: str) -> _Use:
    """One literal, possibly negated; ``col`` is the 1-based column of ``src`` in the line."""
    s = src.strip()
    col += len(src) - len(src.lstrip())
    negated = False
    i, end = 0, len(s)  # what is left is s[i:end]: peeled by index, so n negations cost O(n), not O(n²)
    while True:
        wrapper = _WRAPPER_OPEN.match(s, i, end)
        close = end - 1
        if wrapper and s[close] == ")" and s.find("(", wrapper.end(), close) >= 0:
            negated, col = not negated, col + wrapper.end() - i
            i, end = _skip_space(s, wrapper.end(), close)
            continue
        prefix = next((p for p in _NEGATIONS if s.startswith(p, i, end) and end - i > len(p)), None)
        if prefix:
            j, end = _skip_space(s, i + len(prefix), end)
            negated, col, i = not negated, col + j - i, j
            continue
        break
    s = s[i:end]
    m = _PRED_OPEN.match(s)
    if not m:
        raise _Bad("expected a literal such as Red($x, True)", col,
                   "write each literal as Name(arguments, True) or Name(arguments, False)")
    depth, close = 0, None
    for i in range(m.end() - 1, len(s)):
        depth += (s[i] == "(") - (s[i] == ")")
        if depth == 0:
            close = i
            break
    if close is None:
        raise _Bad(f"{m.group(1)}( is not closed", col + m.end() - 1, "close the literal with ')'")
    rest = s[close + 1:].strip()
    if rest not in ("", "?", "."):
        raise _Bad(f"unexpected {rest[:20]!r} after the literal {m.group(1)}(…)", col + s.index(rest, close + 1),
                   "join literals with && and write rules as body >>> head")
    pred, inner = m.group(1), s[m.end():close]
    args = _split_args(inner)
    if not args or any(a == "" for a in args):
        raise _Bad(f"{pred}(…) has an empty argument", col + len(pred) + 1)
    truth = _TRUTH.get(args[-1].lower()) if len(args) >= 1 else None
    if truth is not None:
        args = args[:-1]
    return _Use(pred, args, truth, negated, lineno, col, raw)


def _conjunction(src: str, col: int, lineno: int, raw: str, sep: str = "&&") -> list[_Use]:
    uses, pos = [], 0
    parts = re.split(r"(&&|\band\b|∧|&)", src) if sep == "&&" else src.split(sep)
    for piece in parts:
        if piece in ("&&", "and", "∧", "&"):
            pos += len(piece)
            continue
        if piece.strip():
            uses.append(_literal(piece, col + pos, lineno, raw))
        pos += len(piece)
    if not uses:
        raise _Bad("expected a literal such as Red($x, True)", col)
    return uses


def _is_declaration(uses: list[_Use]) -> bool:
    u = uses[0]
    return len(uses) == 1 and not u.negated and all(a.startswith("$") or a.lower() in _BOOL_SLOT for a in u.args) and (
        u.truth is None or u.truth is True)


def parse_logic_program(text: str) -> LogicProgram:
    prog = LogicProgram()
    section: str | None = None
    seen: set[str] = set()
    decls: dict[str, tuple[int, bool, int]] = {}  # pred → (arity without truth slot, has truth slot, line)
    lines: list[_Line] = []
    prose = 0
    moved_rules = moved_facts = 0
    stopped = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        if len(prog.errors) >= MAX_ERRORS:
            prog.errors.append(stopped_reading(f"output line {lineno}"))
            stopped = True  # what follows was not read: no "missing section" error either
            break
        code = raw.split(":::", 1)[0].rstrip()
        if not code.strip() or code.strip().startswith(("```", "#", "//", "%")) and not _HEADING.match(code):
            continue
        m = _HEADING.match(code)
        if m:
            name = m.group(1).lower()
            section = "query" if name.startswith("quer") else name
            seen.add(section)
            rest = m.group(2)
            if not rest.strip():
                continue
            code = " " * (len(code) - len(rest)) + rest
        body = code.strip()
        offset = len(code) - len(code.lstrip())
        body = _ITEM_NUMBER.sub(lambda mm: " " * len(mm.group(0)), body, count=1)
        if "(" not in body:
            prose += 1  # prose: a heading's chatter, "Here is the program", …
            continue
        try:
            wrapped = _IF_CALL.match(body)
            if wrapped and ">>>" not in body:
                args = _split_args(wrapped.group(1))
                if len(args) == 2:
                    body = f"{args[0]} >>> {args[1]}"
                    prog.notes.append(f"output line {lineno}: If(body, head) read as body >>> head")
            arrow = _ARROW.search(body)
            if arrow and ">>>" not in body:
                body = body[: arrow.start(1)] + ">>>" + body[arrow.end(1):]
                prog.notes.append(f"output line {lineno}: '{arrow.group(1)}' between literals read as >>>")
            if ">>>" in body and section == "query":
                raise _Bad("the query is a literal, not a rule", offset + body.index(">>>") + 1,
                           "write the statement to decide, e.g. Green(Cat, False)")
            if body.count(">>>") > 1:
                second = body.index(">>>", body.index(">>>") + 3)
                raise _Bad("a rule has one '>>>' (body >>> head)", offset + second + 1,
                           "join the conditions with && and write one conclusion")
            if ">>>" in body:
                line = _rule(body, offset + 1, lineno, raw)
                if section not in ("rules", None):
                    moved_rules += section == "facts"
                lines.append(line)
                continue
            uses = _conjunction(body, offset + 1, lineno, raw)
            if section == "predicates" or (section is None and _is_declaration(uses)):
                for u in uses:
                    has_slot = u.truth is not None or any(a.lower() in _BOOL_SLOT for a in u.args[-1:])
                    arity = len([a for a in u.args if a.lower() not in _BOOL_SLOT])
                    decls.setdefault(u.pred, (arity, has_slot, lineno))
                continue
            if section == "query":
                lines.append(_Line("query", lineno, raw, [uses]))
            else:
                if section == "rules":
                    moved_facts += 1
                lines.append(_Line("fact", lineno, raw, [uses]))
        except _Bad as exc:
            prog.errors.append(locate("parse", exc.message, text=raw, line=1, column=exc.column,
                                      where=f"output line {lineno} ({section or 'no section'})", hint=exc.hint))
    if moved_rules:
        prog.notes.append(f"{moved_rules} rule line{'s' * (moved_rules > 1)} (with >>>) listed under Facts: read as rules")
    if moved_facts:
        prog.notes.append(f"{moved_facts} ground literal line{'s' * (moved_facts > 1)} under Rules: read as facts")
    if prose:
        prog.notes.append(f"{prose} line{'s' * (prose > 1)} without a literal skipped (prose)")
    if "query" not in seen and not any(ln.kind == "query" for ln in lines) and not stopped:
        prog.errors.append(locate("parse", "no 'Query:' section in the program", where="output",
                                  hint="end with a 'Query:' section holding the statement, e.g. Kind(Charlie, True)"))
    if prog.errors:
        return prog
    _resolve(lines, decls, prog)
    return prog


def _rule(body: str, col: int, lineno: int, raw: str) -> _Line:
    prefix = _QUANT_PREFIX.match(body)
    universal = bool(prefix)
    if prefix:
        col += prefix.end()
        body = body[prefix.end():]
    left, right = body.split(">>>", 1)
    if not left.strip() or not right.strip():
        raise _Bad("a rule is 'body >>> head'", col)
    head_col = col + len(left) + 3
    return _Line("rule", lineno, raw, [_conjunction(left, col, lineno, raw), _conjunction(right, head_col, lineno, raw)],
                 universal_prefix=universal)


def _term(arg: str, rule_vars: bool, constants: set[str], notes: set[str]) -> Var | Const:
    if arg.startswith("$"):
        name = arg[1:].strip()
        if not _VARIABLE.fullmatch(name):
            raise _Bad(f"{arg!r} is not a $variable", 1, text=arg)
        return Var(name)
    text = arg.strip().strip("'\"")
    if rule_vars and re.fullmatch(r"[xyzw]\d?", text) and text not in constants:
        notes.add(f"'{text}' in a rule read as the variable ${text}")
        return Var(text)
    if not _CONSTANT.fullmatch(text):
        raise _Bad(f"{arg!r} is not a constant or a $variable", 1, text=arg)
    if " " in text:
        joined = re.sub(r"\s+", "_", text)
        notes.add(f"constant '{text}' read as {joined}")
        return Const(joined)
    return Const(text)


def _resolve(lines: list[_Line], decls: dict[str, tuple[int, bool, int]], prog: LogicProgram) -> None:
    """Decide each literal's truth value and arity, then build the formulas."""
    notes: set[str] = set()
    uses = [u for ln in lines for part in ln.body for u in part]
    if decls:  # inflected names of declared predicates: the declarations fix the vocabulary
        for u in uses:
            if u.pred not in decls:
                forms = [d for d in decls if _inflection_of(u.pred, d)]
                if len(forms) == 1:
                    notes.add(f"{u.pred} (not declared) read as the declared {forms[0]}")
                    u.pred = forms[0]
    constants = {a.strip().strip("'\"") for ln in lines if ln.kind != "rule" for part in ln.body for u in part for a in u.args}
    arity: dict[str, tuple[int, _Use]] = {}
    omitted: dict[str, int] = {}
    for u in uses:
        decl = decls.get(u.pred)
        n = len(u.args)
        if decl is not None:
            want, has_slot, _ = decl
            if n != want:
                prog.errors.append(locate("parse", f"{u.pred} is declared with {want} argument{'s' * (want != 1)}, used here "
                                                   f"with {n}{' (and a truth value)' if u.truth is not None else ''}",
                                          text=u.raw, line=1, column=u.column, where=f"output line {u.line}",
                                          hint=f"use {u.pred} as declared"))
                continue
            if u.truth is None and has_slot:
                omitted[u.pred] = omitted.get(u.pred, 0) + 1
        else:
            seen = arity.get(u.pred)
            if seen is None:
                arity[u.pred] = (n, u)
            elif seen[0] != n:
                prog.errors.append(locate("parse", f"{u.pred} is used with {n} argument{'s' * (n != 1)} here and with "
                                                   f"{seen[0]} on output line {seen[1].line}, and no declaration says "
                                                   "which is meant",
                                          text=u.raw, line=1, column=u.column, where=f"output line {u.line}",
                                          hint=f"declare {u.pred} under Predicates: and use it with one arity"))
    if prog.errors:
        return
    for pred, count in sorted(omitted.items()):
        notes.add(f"{pred} written without its truth value {count} time{'s' * (count > 1)}: read as True (declared with a "
                  "truth-value slot)")
    negation_forms = sum(u.negated for u in uses)
    if negation_forms:
        notes.add(f"{negation_forms} literal{'s' * (negation_forms > 1)} negated with Not(…)/!/¬: read as truth value False")
    for ln in lines:
        try:
            if ln.kind == "rule":
                body = _formula(ln.body[0], True, constants, notes)
                head = _formula(ln.body[1], True, constants, notes)
                f: Formula = Implies(body, head)
                if ln.universal_prefix:
                    notes.add("a quantifier prefix (All($x) …) before a rule dropped: rules hold for every $x")
                prog.premises.append(_close(f))
            elif ln.kind == "fact":
                f = _formula(ln.body[0], False, constants, notes)
                if free_vars(f):
                    notes.add("a fact with $variables read as holding for everything (∀)")
                    f = _close(f)
                prog.premises.append(f)
            else:
                f = _formula(ln.body[0], False, constants, notes)
                if prog.conclusion is not None and f != prog.conclusion:
                    prog.errors.append(locate("parse", "a second, different query; one is expected", text=ln.raw, line=1,
                                              column=1, where=f"output line {ln.lineno} (query)",
                                              hint="keep only the query for the question's statement"))
                prog.conclusion = f
        except _Bad as exc:  # located on the line it came from (the column of the offending text, if found)
            column = _argument_column(ln.raw, exc.text) if exc.text else 1
            prog.errors.append(locate("parse", exc.message, text=ln.raw, line=1, column=column,
                                      where=f"output line {ln.lineno} ({ln.kind})", hint=exc.hint))
    if prog.conclusion is None and not prog.errors:
        prog.errors.append(locate("parse", "the 'Query:' section is empty", where="output"))
    prog.notes += sorted(notes)


def _argument_column(raw: str, arg: str, tries: int = 20) -> int:
    """1-based column of ``arg`` as an argument in ``raw`` (after '(' or ','), else 1. A few
    occurrences are looked at, not all: a column is worth less than a linear reader."""
    start = 0
    for _ in range(tries):
        at = raw.find(arg, start)
        if at < 0:
            break
        before = raw[:at].rstrip()[-1:]
        if before in ("(", ","):
            return at + 1
        start = at + 1
    return 1


def _inflection_of(name: str, declared: str) -> bool:
    """``Tumpuses``/``Tumpus``, ``Cats``/``Cat``: one is the other's English plural."""
    a, b = name.lower(), declared.lower()
    return a != b and (a in (b + "s", b + "es") or b in (a + "s", a + "es") or
                       (a.endswith("ies") and b == a[:-3] + "y") or (b.endswith("ies") and a == b[:-3] + "y"))


def _formula(uses: list[_Use], rule: bool, constants: set[str], notes: set[str]) -> Formula:
    lits = []
    for u in uses:
        atom = Atom(u.pred, tuple(_term(a, rule, constants, notes) for a in u.args))
        positive = (u.truth is not False) != u.negated
        lits.append(atom if positive else Not(atom))
    return lits[0] if len(lits) == 1 else And(tuple(lits))


def _close(f: Formula) -> Formula:
    for v in sorted(free_vars(f), reverse=True):
        f = Forall(v, f)
    return f

