"""z3's output for a constraint program, accounted for line by line against our own commands.

A script can make z3 print text of its choosing — an error message quotes a ``|symbol|`` whole,
line breaks and ``sat`` included — so answers are not picked out of the output by their look.
Our commands frame it instead: after the script, and after each of our ``check-sat``\\ s, an
``echo`` of a marker carrying a nonce fresh for this run, which the script cannot know. The
script's section may hold only z3's complaints about it; each check's section exactly one line,
``sat``, ``unsat`` or ``unknown`` (or z3's error about that check). Anything else — a marker out of
order, a second answer, a line that is neither — means the output is not ours to read: the run
is an error, never a verdict.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

__all__ = ["Framing", "Sections", "read_sections", "ERROR_BLOCK"]

ANSWERS = ("sat", "unsat", "unknown")
ERROR_BLOCK = re.compile(r'\(error "(?:line (\d+) column (\d+): )?((?:[^"\\]|\\.)*)"\)', re.S)
"""z3's ``(error "…")``: it escapes a quote inside as ``\\"`` and keeps line breaks."""


@dataclass(frozen=True)
class Framing:
    """The markers of one run: ``after_script()`` once, then ``after_check(i)`` per check-sat."""

    nonce: str = field(default_factory=lambda: secrets.token_hex(16))

    def marker(self, label: str) -> str:
        return f"@nesyflow-check {self.nonce} {label}"

    def after_script(self) -> str:
        return f'(echo "{self.marker("script")}")'

    def after_check(self, i: int) -> str:
        return f'(echo "{self.marker(str(i))}")'


@dataclass
class Sections:
    answers: list[str] = field(default_factory=list)
    """One per check whose section closed, in order."""
    script_errors: str = ""
    """z3's output about the script itself (only errors can be there)."""
    check_errors: str = ""
    """z3's errors about one of our checks (the script defined what it asks wrongly)."""
    unclosed: str = ""
    """Output after the last marker of a run that stopped early (a limit, a crash)."""
    forged: str = ""
    """Why the output cannot be read as ours ('' when it can)."""


def _split(text: str) -> tuple[str, str]:
    """(z3's error blocks, what is left once they and its ``WARNING:`` lines are taken out)."""
    errors = "\n".join(m.group() for m in ERROR_BLOCK.finditer(text))
    rest = [ln for ln in ERROR_BLOCK.sub("", text).split("\n") if ln.strip() and not ln.startswith("WARNING: ")]
    return errors, "\n".join(rest).strip()


def read_sections(out: str, framing: Framing, checks: int) -> Sections:
    """Split ``out`` at our markers and check every section; ``checks``: how many check-sats we sent."""
    expected = ["script"] + [str(i) for i in range(checks)]
    prefix = f"@nesyflow-check {framing.nonce} "
    s = Sections()
    chunk: list[str] = []
    seen = 0
    for line in out.split("\n"):
        if not line.startswith(prefix):
            chunk.append(line)
            continue
        label = line[len(prefix):]
        if seen >= len(expected) or label != expected[seen]:
            s.forged = f"marker {label!r} where {expected[seen] if seen < len(expected) else 'nothing'!r} was due"
            return s
        errors, rest = _split("\n".join(chunk))
        chunk = []
        if seen == 0:
            if rest:
                s.forged = f"the script made z3 print {rest[:80]!r}"
                return s
            s.script_errors = errors
        elif rest not in ANSWERS:
            s.forged = f"check {seen - 1} answered {rest[:80]!r}, not one of sat/unsat/unknown"
            return s
        else:
            s.answers.append(rest)
            if errors:  # z3 refused one of our commands: the script defined what it asks wrongly
                s.check_errors += errors + "\n"
        seen += 1
    errors, rest = _split("\n".join(chunk))
    if seen == len(expected) and (errors or rest):
        s.forged = "output after the last check"
    s.unclosed = "\n".join(x for x in (errors, rest) if x)
    return s
