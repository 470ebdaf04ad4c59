"""Untrusted text made safe to keep and to show: ``cap`` bounds a message, ``printable`` escapes it.

Ids, formulas and messages come from datasets, models and sandboxed programs. Kept whole, one 20 MB
error message went into ``reason``, the results file and the store; printed raw, an id carrying
``ESC [ 2 J`` cleared the user's terminal. ``cap`` is applied where results and verdicts are built
(``flows.models``), ``printable`` wherever the CLI prints such text, ``escape_log_records``
escapes every log record (Prefect's and litellm's lines under ``--verbose``), and ``markdown_text``
makes such text inert in a markdown artifact: the Prefect UI renders raw HTML and links there.
"""

from __future__ import annotations

import logging
import re

from parsers.errors import MAX_MESSAGE_CHARS, cap

__all__ = ["MAX_MESSAGE_CHARS", "cap", "printable", "one_line", "markdown_text", "escape_log_records",
           "without_surrogates"]

_SURROGATES = re.compile("[\ud800-\udfff]")


def without_surrogates(value):
    """``value`` (a string, or lists and dicts of them) with every unpaired UTF-16 surrogate replaced
    by U+FFFD, and how many were. JSON may spell one (``"\\ud800"``), a non-UTF-8 argv decodes to
    them, and such a string cannot be written as UTF-8: one in a dataset's id crashed the whole
    batch when its result was stored, one in a model's reply failed its problem as an internal error."""
    if isinstance(value, str):
        return (value, 0) if value.isascii() else _SURROGATES.subn("\ufffd", value)
    if isinstance(value, list):
        out, total = [], 0
        for item in value:
            item, n = without_surrogates(item)
            out.append(item)
            total += n
        return (out, total) if total else (value, 0)
    if isinstance(value, dict):
        out, total = {}, 0
        for k, v in value.items():
            k, n = without_surrogates(k)
            v, m = without_surrogates(v)
            out[k] = v
            total += n + m
        return (out, total) if total else (value, 0)
    return value, 0

def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# C0 controls (ESC, CR, BS, BEL …), DEL, C1 controls (CSI 0x9b is ESC [ to many terminals), and the
# invisible characters that reorder or hide text (bidi overrides, zero-width marks).
_UNSAFE = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x200B, 0x2010), *range(0x202A, 0x202F),
           *range(0x2066, 0x206A), 0xFEFF]
_TABLE = {code: _escape(code) for code in _UNSAFE}
_TABLE_LINES = {k: v for k, v in _TABLE.items() if k not in (0x09, 0x0A)}


def printable(text, newlines: bool = True) -> str:
    """``text`` with every control character written as an escape (``\\x1b``), so printing it
    cannot move the cursor, clear the screen or retitle the terminal. ``newlines``: keep line
    breaks and tabs (a multi-line message); otherwise they are escaped too (an id)."""
    return str(text).translate(_TABLE_LINES if newlines else _TABLE)


def one_line(text, limit: int = 160) -> str:
    """``text`` as one line fit for a console summary or a run name: every control character
    (newlines too) escaped, cut to ``limit`` characters."""
    out = printable(text, newlines=False)
    return out if len(out) <= limit else out[: limit - 1] + "…"


# Every character CommonMark (and the UIs' renderers, marked and micromark) may read as markup, each
# written with a backslash (an escape both honour for all ASCII punctuation): no HTML tag or entity,
# no link or image, no emphasis, no code span, no table cell break, and ``_defang`` for the autolinks escapes cannot stop.
_MARKUP = re.compile(r"""([\\`*_{}\[\]()<>&!|~#+:@])""")
_BLOCK_START = re.compile(r"^(\s*)(\d*)([-=.])")  # a list item, setext underline or ordered item


# GFM makes links of bare URLs and e-mail addresses after parsing, from the text itself (remark-gfm,
# the V2 UI's), so escapes cannot stop it: they are defanged, visibly (``http[:]//``, ``www[.]``, ``[@]``).
_AUTOLINK = re.compile(r"(?<=[a-z])(:)(?=//)|(?<=www)(\.)|(@)", re.IGNORECASE)


def _defang(text: str) -> str:
    return _AUTOLINK.sub(lambda m: f"[{m.group(0)}]", text)


def markdown_text(text, limit: int | None = 300, lines: bool = False) -> str:
    """``text`` as literal markdown text: control characters escaped as ``printable`` does, every
    markup character backslash-escaped, so an id, a formula or a model's reply shows as written
    and can make no tag, link or image. One line cut to ``limit`` unless ``lines``: then each line
    is kept (joined by hard breaks) and none can open a heading, list, quote or HTML block."""
    if not lines:
        return _MARKUP.sub(r"\\\1", _defang(one_line(text, limit) if limit else printable(text, newlines=False)))
    rows = printable(text if limit is None else cap(str(text), limit)).split("\n")
    return "\\\n".join(_BLOCK_START.sub(r"\1\2\\\3", _MARKUP.sub(r"\\\1", _defang(row))) for row in rows if row.strip())


_BASE_FACTORY = logging.getLogRecordFactory()


def _escaped_record(*args, **kwargs) -> logging.LogRecord:
    record = _BASE_FACTORY(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string stays the handler's to report
        return record
    record.msg, record.args = printable(message), None
    if record.exc_info:
        record.exc_text = printable(logging.Formatter().formatException(record.exc_info))
    return record


def escape_log_records() -> None:
    """Every log record made from now on in this process carries its message (and traceback)
    formatted once and escaped, whichever handler shows it: Prefect's console lines under
    ``--verbose`` (an id, a formula, a located error), litellm's, the flow run's logs in the UI.
    A record factory, not a handler filter: Prefect sets its handlers up again when it likes."""
    if logging.getLogRecordFactory() is not _escaped_record:
        logging.setLogRecordFactory(_escaped_record)
