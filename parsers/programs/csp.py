"""Logic-LM's constraint-satisfaction format (LogicalDeduction), read as data into SMT-LIB.

    Domain:
    1: leftmost
    5: rightmost
    Variables:
    green_book [IN] [1, 2, 3, 4, 5]
    Constraints:
    blue_book > yellow_book ::: The blue book is to the right of the yellow book.
    AllDifferentConstraint([green_book, blue_book]) ::: ...
    Query:
    A) green_book == 2 ::: The green book is the second from the left.

Logic-LM pastes these lines into Python and ``exec``s them; here each line goes through the
whitelisted expression grammar (``parsers.programs.expr``) and becomes typed SMT-LIB, or a located error.
Variants whose meaning the program itself fixes are read and noted: a declared ``blue_jay``
written ``blue jay``; an English sentence among the constraints or options (no operator, no
declared name) is skipped; option labels ``A)``, ``(A)``, ``A.`` and ``A:``.
"""

from __future__ import annotations

import re

from parsers.errors import MAX_ERRORS, FormalizationError, LocatedError, locate, stopped_reading
from parsers.programs.expr import ListLit, Num, parse_expression
from parsers.programs.smt_build import INT, Domain, ElabError, Env, const_symbol, elaborate_bool
from parsers.programs.smt_program import Query, SmtProgram, question_check

__all__ = ["parse_csp_program", "looks_like_csp"]

# One line each, possessive runs (``*+``) where what follows cannot start with them: nothing
# here backtracks (a lazy ``(.+?)\s*$`` was quadratic in a line's inner spaces).
_SECTION = re.compile(r"^\s*+(domain|variables|constraints|query|queries)\s*+:\s*+$", re.I)
_VARIABLE = re.compile(r"^\s*+([A-Za-z_]\w*+)\s*+(?:\[IN\]|\bin\b|:)\s*+(.+)$", re.I)
_RANGE = re.compile(r"^range\(\s*+(-?\d++)\s*+,\s*+(-?\d++)\s*+\)$")
_OPTION = re.compile(r"^\s*+(?:option\s*+)?\(?([A-Z])(?:\)|\.\s|:\s)\s*+(.*)$", re.I)
_LOOKS = {s: re.compile(rf"^\s*+{s}\s*+:\s*+$", re.I) for s in ("variables", "constraints", "quer(?:y|ies)")}
_OPERATOR = re.compile(r"==|!=|<=|>=|[<>]|\bAllDifferent|\(")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_DOMAIN = 1000


def looks_like_csp(text: str) -> bool:
    lines = [line for line in text.splitlines() if line and not line.isspace()]
    return all(any(p.match(line) for line in lines) for p in _LOOKS.values())


def _domain(spec: str, lineno: int, raw: str, col: int) -> list[str]:
    m = _RANGE.match(spec)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if not 0 < hi - lo <= MAX_DOMAIN:
            raise FormalizationError(locate("parse", f"range({lo}, {hi}) is empty or larger than {MAX_DOMAIN}",
                                            text=raw, line=1, column=col, where=f"output line {lineno}"))
        return [str(v) for v in range(lo, hi)]
    node = parse_expression(spec, col=col, where=f"output line {lineno}", text=raw)
    if not isinstance(node, ListLit) or not node.items:
        raise FormalizationError(locate("parse", "a variable's domain is a list of integers such as [1, 2, 3]",
                                        text=raw, line=1, column=col, where=f"output line {lineno}"))
    values = []
    for item in node.items:
        if not isinstance(item, Num) or "." in item.text:
            raise FormalizationError(locate("parse", "a domain value must be an integer", text=raw, line=1,
                                            column=item.col, where=f"output line {lineno}"))
        values.append(item.text)
    if len(values) > MAX_DOMAIN:
        raise FormalizationError(locate("parse", f"domain larger than {MAX_DOMAIN} values", text=raw, line=1,
                                        column=col, where=f"output line {lineno}"))
    return values


def parse_csp_program(text: str, question: str = "") -> SmtProgram:
    """Raises FormalizationError with every located error found."""
    env = Env()
    errors: list[LocatedError] = []
    decls: list[str] = []
    asserts: list[str] = []
    queries: list[Query] = []
    check, negate = question_check(question)
    section = None
    seen: set[str] = set()
    letters = iter(LETTERS)
    notes: list[str] = []
    joined: set[str] = set()
    prose = 0
    stopped = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        if len(errors) >= MAX_ERRORS:
            errors.append(stopped_reading(f"output line {lineno}"))
            stopped = True  # what follows was not read: no "missing section" errors either
            break
        line = raw.split(":::", 1)[0].rstrip()
        if not line.strip() or line.strip().startswith("```"):
            continue
        m = _SECTION.match(line)
        if m:
            section = "query" if m.group(1).lower().startswith("quer") else m.group(1).lower()
            seen.add(section)
            continue
        if section in (None, "domain"):
            continue  # the domain section only glosses the numbers ("1: leftmost")
        col = len(line) - len(line.lstrip()) + 1
        body = line.strip()
        where = f"output line {lineno}"
        if section in ("constraints", "query"):
            if _is_prose(body):
                prose += 1
                continue
            body, names = join_declared_names(body, env.consts)
            joined.update(names)
        env.text, env.where = raw, where
        try:
            if section == "variables":
                vm = _VARIABLE.match(body)
                if not vm:
                    raise FormalizationError(locate("parse", "expected 'name [IN] [values]'", text=raw, line=1, column=col, where=where))
                name = vm.group(1)
                if name in env.consts:
                    raise FormalizationError(locate("parse", f"variable {name!r} is declared twice", text=raw, line=1, column=col, where=where))
                values = _domain(vm.group(2), lineno, raw, col + vm.start(2))
                env.consts[name] = INT
                env.domains.setdefault(f"domain_of_{name}", Domain(f"domain_of_{name}", "int", values))
                decls.append(f"(declare-const {const_symbol(name)} Int)")
                asserts.append(f"(or {' '.join(f'(= {const_symbol(name)} {v})' for v in values)})" if len(values) > 1
                               else f"(= {const_symbol(name)} {values[0]})")
            elif section == "constraints":
                node = parse_expression(body, col=col, where=where, text=raw, notes=notes)
                asserts.append(elaborate_bool(node, env))
            elif section == "query":
                om = _OPTION.match(body)
                label = om.group(1).upper() if om else next(letters, None)
                if label is None:
                    raise FormalizationError(locate("parse", f"more than {len(LETTERS)} unlabelled options", text=raw,
                                                    line=1, column=col, where=where, hint="label each option: A) …"))
                expr = om.group(2) if om else body
                node = parse_expression(expr, col=col + (len(body) - len(expr)), where=where, text=raw, notes=notes)
                queries.append(Query(label=label, check=check, negate=negate, terms=[elaborate_bool(node, env)], source=raw.strip()))
        except FormalizationError as exc:
            errors += exc.errors
        except ElabError as exc:
            errors.append(exc.error)
    for needed in ("variables", "constraints", "query"):
        if needed not in seen and not stopped:
            errors.append(locate("parse", f"no '{needed.capitalize()}:' section in the program", where="output",
                                 hint="answer with Domain:, Variables:, Constraints: and Query: sections"))
    if "query" in seen and not queries and not errors:
        errors.append(locate("parse", "the 'Query:' section has no options", where="output"))
    if errors:
        raise FormalizationError(errors)
    if joined:
        notes.append(f"multi-word names read as the declared {', '.join(sorted(joined))}")
    if prose:
        notes.append(f"{prose} English line{'s' * (prose > 1)} among the constraints/options skipped")
    notes.extend(sorted(env.notes))
    script = "\n".join(decls + [f"(assert {a})" for a in asserts])
    return SmtProgram(script=script, queries=queries, assertions=len(asserts), notes=notes, printed_by_us=True)


def _is_prose(body: str) -> bool:
    """A sentence, not a constraint: no comparison, no call, several words."""
    return not _OPERATOR.search(body) and len(re.findall(r"[A-Za-z]+", body)) >= 3


def join_declared_names(body: str, names) -> tuple[str, list[str]]:
    """``blue jay`` where only ``blue_jay`` is declared (and ``blue`` is not): the declared name."""
    used = []
    for name in names:
        if "_" not in name:
            continue
        spaced = re.compile(r"\b" + r"\s+".join(map(re.escape, name.split("_"))) + r"\b")
        if spaced.search(body):
            body = spaced.sub(name, body)
            used.append(name)
    return body, used
