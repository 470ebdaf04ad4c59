"""SMT-LIB 2 written by a model (or given as gold), checked before Z3 sees it.

The script declares and asserts the premises and names what is asked as Boolean definitions:

    (declare-const x Int)
    (assert (> x 2))
    (define-fun conclusion () Bool (> x 1))          ; entailment problems
    (define-fun option_A () Bool (= x 3))           ; choice problems, one per option

The text is read with z3's own lexical rules (``parsers.programs.smtlib_lexer``: what z3 would
scan differently, or reject and then recover from, is refused), so both agree on where every
command starts and ends. Only declaration, definition and ``assert`` commands are accepted: Z3
also reads commands that touch the machine (``set-option :regular-output-channel``, ``include``)
or print (``echo``), so the script's commands are whitelisted here with located errors, and a
list *inside* a command may not be headed by a command name (``(assert (echo "…"))``) — if z3
ever lost count of the nesting it would run it. ``check-sat``, ``get-model``, ``exit``,
``set-logic`` and ``set-info`` are blanked out (the solver asks its own questions); line and
column numbers stay the model's own, so Z3's ``line L column C`` errors point into the model's text.
"""

from __future__ import annotations

import re

from parsers.errors import FormalizationError, LocatedError, locate
from parsers.programs.smt_program import Query, SmtProgram, question_check
from parsers.programs.smtlib_lexer import Token, position, tokenize

__all__ = ["parse_smtlib_program", "looks_like_smtlib", "ALLOWED_COMMANDS", "is_command_name"]

ALLOWED_COMMANDS = {"declare-sort", "define-sort", "declare-const", "declare-fun", "define-fun", "define-fun-rec",
                    "define-funs-rec", "declare-datatype", "declare-datatypes", "assert"}
_IGNORED = {"check-sat", "get-model", "exit", "set-logic", "set-info", "get-info", "get-unsat-core", "get-proof"}
# z3's commands (its ``(help)`` and the ones its parser dispatches itself), and the families new ones join
_COMMANDS = frozenset("""
apply assert assert-not assert-soft assume check-sat check-sat-assuming check-sat-using declare-codatatype declare-codatatypes
declare-const declare-datatype declare-datatypes declare-fun declare-map declare-rel declare-sort declare-tactic
declare-type-var declare-var define-const define-fun define-fun-rec define-funs-rec define-sort del display
display-dimacs echo euf-project eufi eval exit get-assertions get-assignment get-consequences get-info get-interpolant
get-model get-objectives get-option get-proof get-proof-graph get-unsat-assumptions get-unsat-core get-user-tactics
get-value help help-simplifier help-tactic include infer labels maximize mbi mbp mbp-qel minimize model-add model-del
pop prefer push qe-lite qel query reset reset-assertions reset-preferences rule set-info set-initial-value set-logic
set-option set-simplifier simplify""".split())
_COMMAND_FAMILIES = ("set-", "get-", "declare-", "define-", "check-", "reset-", "dbg-", "help-", "ff-", "display-", "assert-")
MAX_CHARS = 200_000
MAX_DEPTH = 1000


def is_command_name(symbol: str) -> bool:
    """Whether z3 (this version or a later one) may read ``(symbol …)`` as a command."""
    return symbol in _COMMANDS or symbol.startswith(_COMMAND_FAMILIES)


def looks_like_smtlib(text: str) -> bool:
    return bool(_LOOKS.search(text))


_LOOKS = re.compile(r"^[ \t]*\((assert|declare-(const|fun|sort|datatypes?))\b", re.M)
"""Linear: ``^\\s*`` under ``re.M`` retried its run of blank lines from every line start (40 K newlines: 19 s)."""


_LABEL = re.compile(r"\s*\(?([A-Za-z0-9]{1,3})\s*[).:]")


def option_letters(options: list[str]) -> list[str]:
    """``A`` of ``A) …``, ``(A) …``, ``A. …``; else the option's position (A, B, …). The letter names
    ``option_A``, which our own commands print, so it is never more than a few letters or digits."""
    out = []
    for i, o in enumerate(options):
        m = _LABEL.match(o)
        out.append(m.group(1) if m else (chr(ord("A") + i) if i < 26 else f"O{i + 1}"))
    return out


def _error(text: str, offset: int, message: str, hint: str = "") -> LocatedError:
    line, col = position(text, offset)
    return locate("parse", message, text=text, line=line, column=col, where="SMT-LIB", hint=hint)


def _commands(text: str, tokens: list[Token]) -> list[tuple[int, int, list[Token]]]:
    """Top-level commands as (start, end, their depth-1 tokens); refuses atoms outside a command,
    unbalanced parentheses and nested lists headed by a command name."""
    out: list[tuple[int, int, list[Token]]] = []
    depth, start, head = 0, 0, []
    after_open = False
    for tok in tokens:
        if after_open and depth > 1 and tok.kind == "symbol" and is_command_name(tok.value):
            raise FormalizationError(_error(text, tok.start, f"({tok.value} …) inside a command: a command cannot be nested",
                                            hint="commands are only written at top level; rename a function that shares a command's name"))
        after_open = tok.kind == "("
        if tok.kind == "(":
            if depth == 0:
                start, head = tok.start, []
            depth += 1
            if depth > MAX_DEPTH:
                raise FormalizationError(_error(text, tok.start, f"nested deeper than {MAX_DEPTH} parentheses"))
        elif tok.kind == ")":
            depth -= 1
            if depth < 0:
                raise FormalizationError(_error(text, tok.start, "unbalanced ')'"))
            if depth == 0:
                out.append((start, tok.end, head))
        elif depth == 0:
            raise FormalizationError(_error(text, tok.start, f"{tok.text!r} outside a command; every command is wrapped in ( )"))
        elif depth == 1:
            head.append(tok)
    if depth > 0:
        raise FormalizationError(_error(text, start, f"{depth} unclosed '(' (the command starting here)",
                                        hint="check that parentheses balance"))
    return out


def parse_smtlib_program(text: str, *, kind: str = "entailment", question: str = "", options: list[str] | None = None) -> SmtProgram:
    if len(text) > MAX_CHARS:
        raise FormalizationError(locate("parse", f"script longer than {MAX_CHARS} characters", where="SMT-LIB"))
    text = text.replace("\r\n", "\n")
    errors: list[LocatedError] = []
    kept = list(text)
    defined: set[str] = set()
    asserts = 0
    for start, end, head in _commands(text, tokenize(text)):
        name = head[0].value if head and head[0].kind == "symbol" else ""
        if name in _IGNORED:
            for i in range(start, end):  # blank it out, keeping the line structure
                if kept[i] != "\n":
                    kept[i] = " "
            continue
        if name not in ALLOWED_COMMANDS:
            what = f"command {name!r} is not allowed" if name else "a command starts with its name" if head else "empty command"
            errors.append(_error(text, start, what, hint="use only declare-*, define-* and assert; the solver adds check-sat itself"))
            continue
        if name == "assert":
            asserts += 1
        if name.startswith("define-fun") and len(head) > 1 and head[1].kind == "symbol":
            defined.add(head[1].value)
    if kind == "choice":
        letters = option_letters(options or []) or list("ABCDE")
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
    if not script.endswith("\n"):
        script += "\n"  # what follows (our check-sat) never joins a last comment or token
    return SmtProgram(script=script, queries=queries, assertions=asserts, user_lines=script.count("\n"))
