"""JSON nesting bounded per record, found before ``json.loads`` recurses into it.

``json.loads`` recurses once per ``[``/``{``: one dataset line of ``[`` × 100,000 raised
``RecursionError`` and ended the whole batch. Here a linear scan (strings skipped, brackets counted)
finds where a text's nesting passes ``MAX_JSON_DEPTH``, so the loader can report that record and
read the others; a JSON list whose one element is too deep is split into its elements to that end.
No record of any format we read is nested more than a few levels.
"""

from __future__ import annotations

import re

__all__ = ["MAX_JSON_DEPTH", "too_deep", "array_elements", "position"]

MAX_JSON_DEPTH = 64
# a string (unterminated: to the end of the text), or one structural character
_TOKEN = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\Z)|[\[\]{},]')


def too_deep(text: str, start: int = 0, end: int | None = None) -> int | None:
    """Offset in ``text`` where the nesting of ``text[start:end]`` first passes ``MAX_JSON_DEPTH``, or None."""
    end = len(text) if end is None else end
    if text.count("[", start, end) + text.count("{", start, end) <= MAX_JSON_DEPTH:
        return None  # cannot be deeper than it has brackets (the common case: no scan)
    depth = 0
    for m in _TOKEN.finditer(text, start, end):
        ch = text[m.start()]
        if ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return m.start()
        elif ch in "]}":
            depth -= 1
    return None


def array_elements(text: str) -> list[tuple[int, int]] | None:
    """Spans (start, end) of the elements of the one JSON array that ``text`` is, or None when it
    is not one (it never closes, or something follows it). Elements are not checked: each is read
    on its own."""
    depth, start, spans, end = 0, 0, [], None
    for m in _TOKEN.finditer(text):
        ch = text[m.start()]
        if ch in "[{":
            depth += 1
            if depth == 1:
                if ch != "[":
                    return None
                start = m.end()
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                spans.append((start, m.start()))
                end = m.end()
                break
        elif ch == "," and depth == 1:
            spans.append((start, m.start()))
            start = m.end()
    if end is None or text[end:].strip() or text[: text.find("[")].strip():
        return None
    if len(spans) == 1 and not text[spans[0][0]:spans[0][1]].strip():
        return []  # "[]"
    return spans


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
