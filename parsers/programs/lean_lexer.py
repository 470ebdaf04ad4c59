"""Lean 4's lexical rules in Python: what Lean will read as code, so refusals look where Lean looks.

A regex over a Lean file is fooled by anything that is not code to the regex but is to Lean, or
the reverse: ``def «"» : Prop := True`` opens no string (``«…»`` is an identifier), and
``/-/- -/`` is one whole comment (Lean skips the character after ``/-``; a scanner that nests
there hides the code that follows). This is a transcription of Lean 4.35's ``whitespace``,
``finishCommentBlock``, ``strLitFnAux``, ``charLitFnAux``, ``identFnAux`` and ``numberFnAux``
(``src/Lean/Parser/Basic.lean``, ``isLetterLike``/``isSubScriptAlnum`` from ``Init/Meta``), one
pass, linear in the text.

Lean has no lexer of its own: symbols come from a token table that imports extend (Mathlib's
``∑'``, ``⁻¹'``, ``//``). Where that table decides whether a comment, a string or a character
literal begins — right after a symbol character, with no space — this reader refuses
(``LexError``) rather than guess; so it does for what Lean itself would reject inside a literal
(an unterminated comment, string or ``«``, an invalid escape), after which Lean's error recovery
reads the literal's inside as code. Raw strings and interpolated strings are refused too: no
proof needs them.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["Token", "LexError", "tokenize", "code_tokens", "position"]

# isIdFirst: ASCII letters, `_`, isLetterLike (Greek but λ Π Σ, Coptic, Greek Extended, letter-like
# symbols ℕ ℝ, Latin-1 and Latin Extended-A letters, mathematical alphanumerics).
_FIRST = ("A-Za-z_\u03b1-\u03ba\u03bc-\u03c9\u0391-\u039f\u03a1\u03a2\u03a4-\u03a9\u03ca-\u03fb\u1f00-\u1ffe"
          "\u2100-\u214f\U0001d49c-\U0001d59f\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u017f")
_REST = _FIRST + "0-9'!?\u2080-\u2089\u2090-\u209c\u1d62-\u1d6a\u2c7c"
_ID_FIRST = re.compile(f"[{_FIRST}]")
_PLAIN = re.compile(f"(?P<ws>[ \t\r\n]+)|(?P<id>[{_FIRST}][{_REST}]*(?:\\.[{_FIRST}][{_REST}]*)*)|(?P<sym>.)", re.S)
# characters that may open a comment, a literal or a number, or need the «» path
_SPECIAL = frozenset("\"'-/«#r0123456789")
_SURROGATE = re.compile("[\ud800-\udfff]")
_TAB_OR_CR = re.compile("[\t\r]")
_ID_PART = re.compile(f"[{_FIRST}][{_REST}]*")
_SPACE = re.compile(r"[ \t\r\n]+")
_RAW = re.compile(r'r#*"')
_QUOTE_OR_BACKSLASH = re.compile(r'["\\]')
_COMMENT_MARK = re.compile(r"/-|-/")
_DIGITS = re.compile(r"[0-9](?:_*[0-9])*")
_HEX = re.compile(r"[0-9a-fA-F](?:_*[0-9a-fA-F])*")
_BIN = re.compile(r"[01](?:_*[01])*")
_OCT = re.compile(r"[0-7](?:_*[0-7])*")
_FIELD = re.compile(r"[0-9]+")
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
_QUOTABLE = frozenset("\\\"'rnt")
# After these a comment, string or character literal certainly starts a new token.
_SAFE_BEFORE = frozenset("()[]{}⟨⟩⦃⦄,;")


class Token(NamedTuple):
    kind: str
    """``ident``, ``symbol`` (one character), ``hash`` (``#eval``), ``number``, ``string``,
    ``char``, ``comment`` (``--``, ``/- -/``) or ``doc`` (``/-- -/``, ``/-! -/``)."""
    start: int
    end: int
    name: tuple[str, ...] = ()
    """An identifier's components, ``«»`` removed: ``Lean.«Elab»`` is ``("Lean", "Elab")``."""
    escaped: bool = False
    """Some component was written ``«…»`` (so the identifier is no keyword)."""

    @property
    def word(self) -> str:
        return ".".join(self.name)


class LexError(ValueError):
    def __init__(self, offset: int, message: str):
        super().__init__(message)
        self.offset = offset
        self.message = message


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of ``offset``, lines counted by ``\\n`` as Lean counts them."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _close_comment(text: str, i: int, start: int) -> int:
    """The end of a block comment whose body starts at ``i`` (nesting, as ``finishCommentBlock``)."""
    depth = 1
    for m in _COMMENT_MARK.finditer(text, i):
        depth += 1 if m.group(0) == "/-" else -1
        if depth == 0:
            return m.end()
    raise LexError(start, "unterminated comment")


def _string_end(text: str, i: int, start: int) -> int:
    """The end of a string literal whose body starts at ``i`` (escapes as ``quotedStringFn``)."""
    while True:
        m = _QUOTE_OR_BACKSLASH.search(text, i)
        if m is None:
            raise LexError(start, "unterminated string literal")
        if m.group(0) == '"':
            return m.end()
        i = _escape_end(text, m.end(), in_string=True)


def _escape_end(text: str, i: int, in_string: bool) -> int:
    """After a backslash at ``i - 1``: where the escape ends; an invalid one is refused."""
    c = text[i] if i < len(text) else ""
    if c and c in _QUOTABLE:
        return i + 1
    if c in ("x", "u"):
        k = 2 if c == "x" else 4
        digits = text[i + 1:i + 1 + k]
        if len(digits) == k and all(d in _HEXDIGITS for d in digits):
            return i + 1 + k
    elif in_string and c == "\n":  # a string gap: `\`, newline, indentation
        m = _SPACE.match(text, i)
        if m and m.group(0).count("\n") == 1:
            return m.end()
    raise LexError(i - 1, "invalid escape sequence (Lean would read the rest of the literal as code)")


def _char_end(text: str, i: int) -> int | None:
    """The end of a well-formed character literal at ``i`` (``'c'``, ``'\\n'``), else None."""
    j = i + 1
    if j >= len(text) or text[j] == "'":  # `''` is no character literal (Lean: a notation token)
        return None
    if text[j] == "\\":
        try:
            j = _escape_end(text, j + 1, in_string=False)
        except LexError:
            return None
    else:
        j += 1
    return j + 1 if j < len(text) and text[j] == "'" else None


def _number_end(text: str, i: int, field: bool) -> int:
    """``numberFnAux``: ``0x1F``, ``0b10``, ``0o7``, ``1_000``, ``2.5e-3``, ``2.``; after a ``.``
    (``h.1.elim``) Lean reads a field index: digits only."""
    if field:
        return _FIELD.match(text, i).end()
    nxt = text[i + 1:i + 2]
    if text[i] == "0" and nxt and nxt in "xXbBoO":
        m = {"x": _HEX, "b": _BIN, "o": _OCT}[nxt.lower()].match(text, i + 2)
        if not m:
            raise LexError(i, "a number prefix with no digits")
        j = m.end()
    else:
        j = _DIGITS.match(text, i).end()
        if text.startswith(".", j):
            j += 1
            m = _DIGITS.match(text, j)
            j = m.end() if m else j
        if text[j:j + 1] in ("e", "E"):
            k = j + 1 + (text[j + 1:j + 2] in ("+", "-"))
            m = _DIGITS.match(text, k)
            if not m:
                raise LexError(j, "missing exponent digits in a number")
            j = m.end()
    if text.startswith("_", j):
        raise LexError(j, "a number ending in '_'")
    return j


def _ident(text: str, i: int) -> Token:
    """``identFnAux``: parts ``abc`` or ``«any text»`` joined by ``.`` when a part follows it."""
    parts, escaped, j, n = [], False, i, len(text)
    while True:
        if text.startswith("«", j):
            k = text.find("»", j + 1)
            if k < 0:
                raise LexError(j, "unterminated «identifier»")
            parts.append(text[j + 1:k])
            escaped, j = True, k + 1
        else:
            m = _ID_PART.match(text, j)
            parts.append(m.group(0))
            j = m.end()
        if j + 1 < n and text[j] == "." and (text[j + 1] == "«" or _ID_FIRST.match(text, j + 1)):
            j += 1
            continue
        return Token("ident", i, j, tuple(parts), escaped)


def tokenize(text: str) -> list[Token]:
    """Lean's tokens of ``text``, comments included; raises LexError (with an offset) where Lean
    would read differently from any reading of ours, or would fail inside a literal."""
    bad = _SURROGATE.search(text)
    if bad:
        raise LexError(bad.start(), "an unpaired surrogate character")
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c not in _SPECIAL:  # the common case: spaces, a plain identifier, a symbol
            m = _PLAIN.match(text, i)
            j = m.end()
            if m.lastgroup == "ws":
                bad = _TAB_OR_CR.search(text, i, j)
                if bad:  # Lean stops at either; its error recovery then resumes mid-token, where we cannot follow
                    raise LexError(bad.start(), "a tab or a carriage return between tokens (Lean allows neither: indent "
                                                "with spaces)")
            elif m.lastgroup == "id":
                if text.startswith(".«", j):
                    tok = _ident(text, i)
                    out.append(tok)
                    j = tok.end
                else:
                    out.append(Token("ident", i, j, tuple(m.group(0).split("."))))
            elif m.lastgroup == "sym":
                out.append(Token("symbol", i, j))
            i = j
            continue
        i = _special(text, i, out)
    return out


def _special(text: str, i: int, out: list[Token]) -> int:
    """One token that starts with a character of ``_SPECIAL``; appended to ``out``; returns its end."""
    c, n = text[i], len(text)
    if c.isdigit():
        field = bool(out) and out[-1].end == i and out[-1].kind == "symbol" and text[i - 1] == "."
        end = _number_end(text, i, field)
        out.append(Token("number", i, end))
        return end
    opens = c == '"' or (c == "-" and text.startswith("--", i)) or (c == "/" and text.startswith("/-", i)) \
        or (c == "'" and _char_end(text, i) is not None) or (c == "r" and _RAW.match(text, i) is not None)
    if opens and out and out[-1].end == i and out[-1].kind == "symbol" and text[i - 1] not in _SAFE_BEFORE:
        raise LexError(i, f"`{text[i - 1]}` directly before {text[i:i + 2]!r}: Lean's notation table decides whether "
                          "that starts a comment or a literal; put a space between them")
    if c == "-" and text.startswith("--", i):
        j = text.find("\n", i)
        end = n if j < 0 else j
        out.append(Token("comment", i, end))
    elif c == "/" and text.startswith("/-", i):
        mark = text[i + 2:i + 3]
        if not mark:
            raise LexError(i, "unterminated comment")
        end = _close_comment(text, i + 3, i)  # `/-x`: Lean skips x; `/--`, `/-!`: doc tokens
        out.append(Token("doc" if mark in ("-", "!") else "comment", i, end))
    elif c == '"':
        end = _string_end(text, i + 1, i)
        if "{" in text[i:end]:
            raise LexError(i, "a string with `{` (string interpolation runs code; a proof needs no strings)")
        out.append(Token("string", i, end))
    elif c == "'":
        end = _char_end(text, i)
        if end is None:  # `''`, or part of a notation (`⁻¹'`): a symbol to us; else Lean's char literal fails
            glued = out and out[-1].end == i and out[-1].kind == "symbol" and text[i - 1] not in _SAFE_BEFORE
            if not glued and not text.startswith("''", i):
                raise LexError(i, "a malformed character literal (Lean would read on from inside it)")
            end = i + 1
            out.append(Token("symbol", i, end))
        else:
            out.append(Token("char", i, end))
    elif c == "r" and _RAW.match(text, i):
        raise LexError(i, "a raw string literal (a proof needs no strings)")
    elif c == "«" or c == "r":
        tok = _ident(text, i)
        out.append(tok)
        end = tok.end
    elif c == "#" and i + 1 < n and (text[i + 1] == "«" or _ID_FIRST.match(text, i + 1)):
        tok = _ident(text, i + 1)
        out.append(Token("hash", i, tok.end, ("#" + tok.word,)))
        end = tok.end
    else:
        end = i + 1
        out.append(Token("symbol", i, end))
    return end


def code_tokens(tokens: list[Token]) -> list[Token]:
    return [t for t in tokens if t.kind not in ("comment", "doc")]
