"""What models wrap a program in, removed before a reader sees it.

Chat models add prose, Markdown and code fences, leak special tokens (``<tool_call>``,
``<|im_end|>``), think aloud (``<think>…</think>``) and append an answer; base models do not
stop: after the program they run on past Logic-LM's ``------`` separator into the next
``Problem:``, repeat the prompt, or start with junk before the first heading. Here:

* leaked special tokens and ``<think>`` blocks are removed;
* when the output has fenced code blocks, the first one holding the format's headings (or the
  first one) is the program;
* for the section formats, the program starts at its first heading and ends before a
  separator line (``------``, ``======``, ``###``), a line that opens a new problem
  (``Problem:``, ``Context:``, ``Question:``, ``Options:``), a heading that restarts the program,
  or an appended answer (``Answer:``, ``The answer is …``).

Lines are blanked, never deleted, so every located error still names the model's own output
line; every cut is a note in the result. Nothing here decides what a line means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Cleaned", "clean", "HEADINGS"]

HEADINGS = {
    "program": ("predicates", "facts", "rules", "query", "queries"),
    "logiclm": ("predicates", "premises", "conclusion", "conclusions"),
    "csp": ("domain", "variables", "constraints", "query", "queries"),
    "z3dsl": ("declarations", "constraints", "options"),
}
_TOKEN = re.compile(r"<\|[^<>|\n]{1,40}\|>|</?(?:tool_call|tool_response|s|eos|bos|start_of_turn|end_of_turn|assistant|"
                    r"user|system|answer|output|response|code|solution)>|\[/?INST\]|<</?SYS>>", re.I)
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?(?:</\1>|\Z)", re.S | re.I)
# Matched against one line each, with possessive runs (``*+``) where what follows cannot start
# with them: nothing backtracks, so cleaning is linear in the output.
_FENCE = re.compile(r"^\s*+```")
_SEPARATOR = re.compile(r"^\s*+(?:-{3,}+|={3,}+|\*{3,}+|#{3,}+|_{3,}+)\s*+$")
_NEW_PROBLEM = re.compile(r"^[#*\s]*+(?:problem|context|question|options|passage|example|input|statement)\s*+\d*+\s*+\**+\s*+"
                          r"[:：]", re.I)
_ANSWER = re.compile(r"^[#*\s]*+(?:the\s++)?(?:final\s++)?answer\s*+(?:is\b|[:：])|^\s*+therefore,?\s++the\s++answer", re.I)
_Z3DSL_HEADING = re.compile(r"^\s*+#*+\s*+(\w++)\s*+:?\s*+$")
_HEADING = re.compile(r"^[#*>\s-]*+([A-Za-z]++)\s*+\**+\s*+[:：]")
_QUESTION_GLOSS = re.compile(r"^\s*+question\s*+:::", re.I)


@dataclass
class Cleaned:
    text: str
    notes: list[str] = field(default_factory=list)


def _heading(line: str, style: str) -> str | None:
    names = HEADINGS.get(style)
    if not names:
        return None
    m = (_Z3DSL_HEADING if style == "z3dsl" else _HEADING).match(line)
    return m.group(1).lower() if m and m.group(1).lower() in names else None


def clean(output: str | None, style: str) -> Cleaned:
    """The program inside ``output``, with the same number of lines (see the module docstring)."""
    if output is None:
        return Cleaned("", ["the generation is empty (null)"])
    notes: list[str] = []
    text = _THINK.sub(lambda m: "\n" * m.group(0).count("\n"), output)
    if text != output:
        notes.append("a <think> block removed")
    stripped = _TOKEN.sub("", text)
    if stripped != text:
        notes.append("leaked special tokens removed")
    lines = stripped.split("\n")
    lines = _fenced(lines, style, notes)
    if style in HEADINGS:
        lines = _sections(lines, style, notes)
    return Cleaned("\n".join(lines), notes)


def _blank(lines: list[str], indices) -> None:
    for i in indices:
        lines[i] = ""


def _fenced(lines: list[str], style: str, notes: list[str]) -> list[str]:
    fences = [i for i, line in enumerate(lines) if _FENCE.match(line)]
    if len(fences) < 2:
        if fences:  # one opening fence (the block never closed): drop the fence line itself
            _blank(lines, fences)
        return lines
    blocks = [(fences[k], fences[k + 1]) for k in range(0, len(fences) - 1, 2)]
    chosen = next((b for b in blocks if any(_heading(lines[i], style) for i in range(b[0] + 1, b[1]))), blocks[0])
    outside = [i for i in range(len(lines)) if not (chosen[0] < i < chosen[1])]
    if any(lines[i].strip() and not _FENCE.match(lines[i]) for i in outside):
        notes.append(f"read the code block on output lines {chosen[0] + 2}–{chosen[1]}; text around it ignored")
    _blank(lines, outside)
    return lines


def _sections(lines: list[str], style: str, notes: list[str]) -> list[str]:
    heads = [i for i, line in enumerate(lines) if _heading(line, style)]
    if not heads:
        return lines
    first = heads[0]
    before = [i for i in range(first) if lines[i].strip()]
    if before and _heading(lines[first], style) not in HEADINGS[style][:2]:
        before = []  # the program may begin without its headings: the reader decides what these lines are
    if before:
        notes.append(f"{len(before)} line{'s' * (len(before) > 1)} before the first heading ({lines[first].strip()[:30]}) ignored")
        _blank(lines, before)
    seen: list[str] = []
    for i in range(first, len(lines)):
        line = lines[i]
        head = _heading(line, style)
        why = None
        if head:
            if head in seen and seen[-1] != head and _restarts(head, seen, style):
                why = f"the heading '{line.strip()[:30]}' starts the program again"
            seen.append(head)
        elif _SEPARATOR.match(line):
            why = f"a separator ({line.strip()[:10]})"
        elif _NEW_PROBLEM.match(line) and not (style == "z3dsl" and _QUESTION_GLOSS.match(line)):
            why = f"a new problem ({line.strip()[:30]})"
        elif _ANSWER.match(line):
            why = f"an appended answer ({line.strip()[:30]})"
        if why:
            rest = [k for k in range(i, len(lines)) if lines[k].strip()]
            if rest:
                notes.append(f"output cut at line {i + 1}, {why}: {len(rest)} line{'s' * (len(rest) > 1)} after it ignored")
                _blank(lines, rest)
            break
    return lines


def _restarts(head: str, seen: list[str], style: str) -> bool:
    """A heading met again after later sections: the model began another program."""
    order = HEADINGS[style]
    return order.index(head) < order.index(seen[-1]) if head in order and seen[-1] in order else False
