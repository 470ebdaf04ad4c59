"""SMT-LIB 2 written by a model (or given as gold), checked before Z3 sees it.

The script declares and asserts the premises and names what is asked as Boolean definitions:

    (declare-const x Int)
    (assert (> x 2))
    (define-fun conclusion () Bool (> x 1))          ; entailment problems
    (define-fun option_A () Bool (= x 3))           ; choice problems, one per option

Only declaration, definition and ``assert`` commands are accepted: Z3 also reads commands that
touch the machine (``set-option :regular-output-channel``, ``include``), so the script's commands
are whitelisted here with located errors. ``check-sat``, ``get-model``, ``exit``, ``set-logic``
and ``set-info`` are blanked out (the solver asks its own questions); line and column numbers stay
the model's own, so Z3's ``line L column C`` errors point into the model's text.
"""

from __future__ import annotations

import re

from parsers.errors import FormalizationError, LocatedError, locate
from parsers.programs.smt_program import Query, SmtProgram, question_check

__all__ = ["parse_smtlib_program", "looks_like_smtlib", "ALLOWED_COMMANDS"]

ALLOWED_COMMANDS = {"declare-sort", "define-sort", "declare-const", "declare-fun", "define-fun", "define-fun-rec",
                    "define-funs-rec", "declare-datatype", "declare-datatypes", "assert"}
_IGNORED = {"check-sat", "get-model", "exit", "set-logic", "set-info", "get-info", "get-unsat-core", "get-proof"}
_TOKEN = re.compile(r'\s+|;[^\n]*|\(|\)|\|[^|\\]*\||"(?:[^"]|"")*"|[^\s()|";]+')
MAX_CHARS = 200_000


def looks_like_smtlib(text: str) -> bool:
    return bool(re.search(r"^[^\S\n]*+\((assert|declare-(const|fun|sort|datatypes?))\b", text, re.M))  # linear: no \s across lines


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _commands(text: str) -> list[tuple[int, int, list]]:
    """Top-level commands as (start, end, tokens of depth 1) — enough to whitelist and find names."""
    out, depth, start, head = [], 0, 0, []
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok.isspace() or tok.startswith(";"):
            continue
        if tok == "(":
            if depth == 0:
                start, head = m.start(), []
            depth += 1
        elif tok == ")":
            depth -= 1
            if depth < 0:
                line, col = _position(text, m.start())
                raise FormalizationError(locate("parse", "unbalanced ')'", text=text, line=line, column=col, where="SMT-LIB"))
            if depth == 0:
                out.append((start, m.end(), head))
        elif depth == 0:
            line, col = _position(text, m.start())
            raise FormalizationError(locate("parse", f"{tok!r} outside a command; every command is wrapped in ( )",
                                            text=text, line=line, column=col, where="SMT-LIB"))
        elif depth == 1:
            head.append(tok)
    if depth > 0:
        line, col = _position(text, start)
        raise FormalizationError(locate("parse", f"{depth} unclosed '(' (the command starting here)", text=text, line=line,
                                        column=col, where="SMT-LIB", hint="check that parentheses balance"))
    return out


def parse_smtlib_program(text: str, *, kind: str = "entailment", question: str = "", options: list[str] | None = None) -> SmtProgram:
    if len(text) > MAX_CHARS:
        raise FormalizationError(locate("parse", f"script longer than {MAX_CHARS} characters", where="SMT-LIB"))
    text = text.replace("\r\n", "\n")
    errors: list[LocatedError] = []
    kept = list(text)
    defined: set[str] = set()
    asserts = 0
    for start, end, head in _commands(text):
        name = head[0] if head else ""
        line, col = _position(text, start)
        if name in _IGNORED:
            for i in range(start, end):  # blank it out, keeping the line structure
                if kept[i] != "\n":
                    kept[i] = " "
            continue
        if name not in ALLOWED_COMMANDS:
            errors.append(locate("parse", f"command {name!r} is not allowed" if name else "empty command",
                                 text=text, line=line, column=col, where="SMT-LIB",
                                 hint="use only declare-*, define-* and assert; the solver adds check-sat itself"))
            continue
        if name == "assert":
            asserts += 1
        if name.startswith("define-fun") and len(head) > 1:
            defined.add(head[1].strip("|"))
    if kind == "choice":
        letters = [o.split(")", 1)[0].strip().lstrip("(") for o in (options or [])] or list("ABCDE")
        wanted = [f"option_{x}" for x in letters]
        check, negate = question_check(question)
        queries = [Query(label=x, check=check, negate=negate, terms=[f"option_{x}"], source=f"option_{x}")
                   for x in letters if f"option_{x}" in defined]
        missing = [w for w in wanted if w not in defined]
    else:
        wanted = ["conclusion"]
        queries = [Query(label="conclusion", check="entail", terms=["conclusion"], source="conclusion")] if "conclusion" in defined else []
        missing = [] if queries else ["conclusion"]
    if missing:
        errors.append(locate("parse", f"no definition of {', '.join(missing)}", where="SMT-LIB",
                             hint=f"define what is asked as (define-fun {missing[0]} () Bool <formula>)"))
    if errors:
        raise FormalizationError(errors)
    script = "".join(kept)
    return SmtProgram(script=script, queries=queries, assertions=asserts, user_lines=script.count("\n") + 1)
