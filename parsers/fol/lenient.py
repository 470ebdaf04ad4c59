"""Lenient reading of human-written gold FOL: a few minimal, recorded edits for common slips.

Annotators (FOLIO's among them) leave a stray closing parenthesis or write a comma where they
mean "and". Strict parsing reports these; ``parse_lenient`` tries one minimal edit at the
reported position, keeps it only if the whole formula then parses, and returns a note for each
edit so results show exactly what was read. Never used on LLM output: a model gets the located
error as a repair prompt instead.
"""

from __future__ import annotations

from parsers.errors import FormalizationError
from parsers.fol.nodes import Formula
from parsers.fol.reader import parse_formula

__all__ = ["parse_lenient", "MAX_EDITS"]

MAX_EDITS = 2


def _offset(text: str, line: int | None, column: int | None) -> int | None:
    if line is None or column is None:
        return None
    lines = text.split("\n")
    if line - 1 >= len(lines):
        return None
    return sum(len(s) + 1 for s in lines[: line - 1]) + column - 1


def _candidates(text: str, err) -> list[tuple[str, str]]:
    """Edits to try for one located parse error: (new text, note)."""
    pos = _offset(text, err.line, err.column)
    out: list[tuple[str, str]] = []
    if pos is not None and 0 <= pos < len(text):
        ch = text[pos]
        if ch == ")" and text.count(")") > text.count("("):
            out.append((text[:pos] + text[pos + 1 :], f"dropped unmatched ')' at col {err.column}"))
        if ch == ",":
            out.append((text[:pos] + " ∧" + text[pos + 1 :], f"read ',' at col {err.column} as ∧"))
    if ("ends too early" in err.message or "end of formula" in err.message) and text.count("(") > text.count(")"):
        missing = text.count("(") - text.count(")")
        out.append((text + ")" * missing, f"closed {missing} unclosed '('"))
    return out


def parse_lenient(text: str, where: str = "") -> tuple[Formula, list[str]]:
    """Parse ``text``; on failure try up to MAX_EDITS minimal edits. Raises the original error."""
    try:
        return parse_formula(text, where), []
    except FormalizationError as first:
        original = first
    current, notes = text, []
    for _ in range(MAX_EDITS):
        try:
            parse_formula(current, where)
        except FormalizationError as exc:
            for new, note in _candidates(current, exc.errors[0]):
                try:
                    return parse_formula(new, where), notes + [note]
                except FormalizationError as again:
                    if again.errors[0].column != exc.errors[0].column:  # progressed: continue from here
                        current, notes = new, notes + [note]
                        break
            else:
                raise original from None
    raise original from None
