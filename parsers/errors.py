"""Located errors: the one shape every stage and back end reports a bad formalization in.

A located error becomes a repair prompt for an LLM (DESIGN.md §5), so it says *where* (premise,
line, column), *what* was expected, and shows the offending text with a caret.

Exception tree::

    NesyflowError                 base of everything the project raises on purpose
    ├── FormalizationError        bad formal text; carries one or more LocatedError values
    └── BackendUnavailable        a solver binary or toolchain is missing (infrastructure)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "LocatedError",
    "NesyflowError",
    "FormalizationError",
    "BackendUnavailable",
    "caret_snippet",
    "locate",
    "MAX_ERRORS",
    "stopped_reading",
    "MAX_MESSAGE_CHARS",
    "cap",
]

Stage = Literal["parse", "signature", "solve", "check", "formalize"]
MAX_MESSAGE = 300
MAX_ERRORS = 20
"""A reader stops after this many located errors: a repair prompt shows five, and reading on
through a long output of junk lines would only cost time (a parse failure is ~0.1 ms)."""
MAX_MESSAGE_CHARS = 2_000
"""A message kept in a result, a verdict or the store (an error, a reason, a sandbox's message)."""


def cap(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, the last of which say how long it was (so a capped
    text capped again stays as it is). Here, below solvers/ and flows/, so both cut the same way."""
    if not isinstance(text, str) or len(text) <= limit:
        return text
    tail = f"… ({len(text):,} chars)"
    return text[: limit - len(tail)] + tail


class LocatedError(BaseModel):
    """One failure of a formalization, located in the problem's own text."""

    model_config = ConfigDict(frozen=True)

    stage: Stage
    where: str = ""
    """Human-readable place, e.g. ``premise 3, col 17`` or ``conclusion``."""
    message: str
    snippet: str = ""
    """The offending line followed by a caret line under the column."""
    hint: str = ""
    line: int | None = None
    """1-based line inside the formula or program text."""
    column: int | None = None
    """1-based column inside that line."""

    def render(self) -> str:
        """One self-contained text, the form a repair prompt and the results file use."""
        head = f"{self.stage} error"
        if self.where:
            head += f" at {self.where}"
        parts = [f"{head}: {self.message}"]
        if self.snippet:
            parts.append(self.snippet)
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.render()


class NesyflowError(Exception):
    """Base of the project's own exceptions."""


class FormalizationError(NesyflowError):
    """A formal text could not be read or is ill-formed; ``errors`` says where and why."""

    def __init__(self, errors: list[LocatedError] | LocatedError):
        self.errors = [errors] if isinstance(errors, LocatedError) else list(errors)
        super().__init__("\n".join(e.render() for e in self.errors))


class BackendUnavailable(NesyflowError):
    """A back end cannot run on this machine (binary or toolchain missing)."""


def caret_snippet(text: str, line: int, column: int, width: int = 100) -> str:
    """The ``line``-th line of ``text`` (1-based) with a caret under ``column``, trimmed to ``width``."""
    lines = text.splitlines() or [""]
    line = min(max(line, 1), len(lines))
    src = lines[line - 1]
    col = max(column, 1)
    start = 0
    if len(src) > width:
        start = max(0, min(col - width // 2, len(src) - width))
        src = src[start : start + width]
    return f"{src}\n{' ' * (col - 1 - start)}^"


def stopped_reading(where: str) -> LocatedError:
    """The last error of a reader that stopped at ``MAX_ERRORS``."""
    return LocatedError(stage="parse", where=where, message=f"{MAX_ERRORS} errors so far; the rest was not read",
                        hint="fix these first")


def locate(
    stage: Stage,
    message: str,
    *,
    text: str = "",
    line: int | None = None,
    column: int | None = None,
    where: str = "",
    hint: str = "",
) -> LocatedError:
    """The one helper that turns a back end's positions into a LocatedError (1-based line/col)."""
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    snippet = ""
    if text and line is not None and column is not None:
        snippet = caret_snippet(text, line, column)
    if column is not None:
        pos = f"col {column}" if line in (None, 1) else f"line {line}, col {column}"
        where = f"{where}, {pos}" if where else pos
    return LocatedError(
        stage=stage, where=where, message=message, snippet=snippet, hint=hint, line=line, column=column
    )
