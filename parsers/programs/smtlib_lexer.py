"""SMT-LIB tokens exactly as z3's scanner (``src/parsers/smt2/smt2scanner.cpp``) reads them, or a located error.

The command whitelist (``parsers.programs.smtlib``) is only as good as its agreement with z3 on
where each command ends. z3 recovers from a *scanner* error (a stray ``\\``, ``'``, ``{``, a
non-ASCII byte outside a string) by re-synchronising on the next ``(`` at what it believes is
depth 0 — and a scanner error right after a ``)`` makes it count that ``)`` twice — so a command
we saw nested, ``(assert (foo) \\ (set-option …) "")``, ran at top level. Hence this reader accepts
a strict subset of what z3's scanner accepts without error, and refuses everything else:

* whitespace is space, tab, CR, LF; ``;`` comments run to the end of the line;
* ``( )``; strings ``"…"`` with ``""`` for a quote; ``|quoted symbols|``; simple symbols, keywords
  (``:name``), numerals, decimals and negative numbers (z3 reads ``-1`` as a number), ``#x``/``#b``
  bit-vector literals;
* refused, though z3 would read them: ``#| block comments |#`` (a second comment syntax whose end
  rule differs from ``;``), ``\\`` inside strings or quoted symbols (an escape in some z3 versions,
  a plain character in others), line breaks inside quoted symbols, control characters anywhere,
  and two atoms with nothing between them (``2x`` is two tokens to z3, ``a"b"`` too);
* refused because z3's scanner would throw: any other character outside strings, quoted
  symbols and comments (``\\ ' ` { } [ ]``, non-ASCII), ``#`` not starting a bit-vector literal,
  an unterminated string or quoted symbol.

Every token is scanned by a linear pattern or ``str.find``: no backtracking on hostile text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from parsers.errors import FormalizationError, locate

__all__ = ["Token", "tokenize", "position", "SYMBOL_CHARS"]

SYMBOL_CHARS = "A-Za-z0-9~!@$%^&*_\\-+=<>.?/,"
"""Characters z3's scanner reads inside a simple symbol (its ``m_normalized`` classes 'a', '0', '-')."""

_WS = re.compile(r"[ \t\r\n]+")
_RUN = re.compile(f"[{SYMBOL_CHARS}]+")
_KEYWORD = re.compile(f":[{SYMBOL_CHARS}]*")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]*)?")
_BV = re.compile(r"#x[0-9A-Fa-f]+|#b[01]+")
_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_DELIMITERS = " \t\r\n();"


@dataclass(frozen=True)
class Token:
    kind: str
    """``(``, ``)``, ``symbol``, ``keyword``, ``string``, ``number`` or ``bv``."""
    text: str
    """The source text."""
    start: int
    end: int

    @property
    def value(self) -> str:
        """What z3 sees: ``|echo|`` and ``echo`` are the same symbol."""
        if self.kind == "symbol" and self.text.startswith("|"):
            return self.text[1:-1]
        return self.text


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of ``offset``; lines end at ``\\n`` only, as in z3."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _fail(text: str, offset: int, message: str, hint: str = "") -> FormalizationError:
    line, col = position(text, offset)
    return FormalizationError(locate("parse", message, text=text, line=line, column=col, where="SMT-LIB", hint=hint))


def _describe(ch: str) -> str:
    return repr(ch) if ch.isprintable() else f"U+{ord(ch):04X}"


def tokenize(text: str) -> list[Token]:
    """All tokens of ``text`` (comments and whitespace dropped); raises ``FormalizationError`` at the first refusal."""
    bad = _BAD.search(text)
    if bad:
        raise _fail(text, bad.start(), f"control character {_describe(bad.group())} in the script",
                    hint="SMT-LIB text is printable characters, spaces, tabs and line breaks")
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i = _WS.match(text, i).end()
            continue
        if c == ";":
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if c in "()":
            out.append(Token(c, c, i, i + 1))
            i += 1
            continue
        if c == "|":
            end = _quoted_symbol_end(text, i)
        elif c == '"':
            end = _string_end(text, i)
        elif c == "#":
            m = _BV.match(text, i)
            if not m:
                if text.startswith("#|", i):
                    raise _fail(text, i, "block comments '#| … |#' are not accepted", hint="comment with ';' to the end of the line")
                raise _fail(text, i, "'#' starts a bit-vector literal (#x1F or #b101) and nothing else")
            end = m.end()
        elif c == ":":
            end = _KEYWORD.match(text, i).end()
        elif _RUN.match(text, i):
            end = _RUN.match(text, i).end()
            word = text[i:end]
            if (word[0].isdigit() or (word[0] == "-" and len(word) > 1 and word[1].isdigit())) and not _NUMBER.fullmatch(word):
                raise _fail(text, i, f"{word!r} is not one token to z3 (a number runs into other characters)",
                            hint="separate a number from what follows with a space, or start a name with a letter")
        else:
            raise _fail(text, i, f"unexpected character {_describe(c)}: z3's scanner rejects it outside strings, |quoted symbols| and comments",
                        hint="names use letters, digits and ~!@$%^&*_-+=<>.?/, or are written |like this|")
        kind = {"|": "symbol", '"': "string", "#": "bv", ":": "keyword"}.get(c)
        if kind is None:
            kind = "number" if _NUMBER.fullmatch(text, i, end) else "symbol"
        if end < n and text[end] not in _DELIMITERS:
            raise _fail(text, end, f"{text[i:end]!r} runs into {_describe(text[end])}: separate tokens with a space",
                        hint="z3 would split these characters differently")
        out.append(Token(kind, text[i:end], i, end))
        i = end
    return out


def _quoted_symbol_end(text: str, i: int) -> int:
    close = text.find("|", i + 1)
    line_end = text.find("\n", i + 1)
    if close < 0 or 0 <= line_end < close:
        raise _fail(text, i, "unterminated |quoted symbol| (it must close on its line)", hint="close it with '|'")
    k = text.find("\\", i + 1, close)
    if k >= 0:
        raise _fail(text, k, "a backslash inside a |quoted symbol| (z3 reads it as an escape)",
                    hint="quoted symbols hold printable characters other than | and \\")
    return close + 1


def _string_end(text: str, i: int) -> int:
    j = i + 1
    while True:
        close = text.find('"', j)
        if close < 0:
            raise _fail(text, i, "unterminated string literal", hint='close it with \'"\'; a quote inside is written ""')
        if text.startswith('""', close):
            j = close + 2
            continue
        k = text.find("\\", i + 1, close)
        if k >= 0:
            raise _fail(text, k, "a backslash inside a string literal (z3 versions read escapes differently)",
                        hint="write the string without '\\'")
        return close + 1
