"""Pull formulas out of what real models write, in both prompt styles.

LINC style: ``TEXT:\\t<sentence>`` / ``FOL:\\t<formula>`` line pairs, premises first, the conclusion
last. Logic-LM style: ``Predicates:`` / ``Premises:`` / ``Conclusion:`` sections, each formula
followed by ``::: gloss``. Models wrap these in code fences, chatter before and after, number
their lines, end formulas with a period: all tolerated. What cannot be read is a located error
naming the output line, so the repair prompt can point at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from parsers.errors import LocatedError, locate

__all__ = ["Extracted", "extract_linc", "extract_logiclm", "extract_logic_program", "extract", "clean_formula", "detect_style",
           "unfence", "STYLES"]

_FENCE = re.compile(r"^\s*```")
_NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")
_LINC = re.compile(r"^\s*(TEXT|FOL)\s*[:：]\s*(.*)$", re.I)
_SECTION = re.compile(r"^\s*#*\s*(predicates|premises|conclusions?|question|query)\s*[:：]\s*(.*)$", re.I)


@dataclass
class Extracted:
    premises: list[str] = field(default_factory=list)
    conclusion: str = ""
    texts: list[str] = field(default_factory=list)
    errors: list[LocatedError] = field(default_factory=list)
    language: str = "fol"
    program: str = ""
    """Languages read as a whole program (csp, z3dsl, smtlib, sympy, python): the text to check."""


_FENCED = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n(.*?)```", re.S)
STYLES = ("auto", "linc", "logiclm", "program", "csp", "z3dsl", "smtlib", "sympy", "python")


def unfence(output: str) -> str:
    """The first fenced code block's body, or the whole output. Line numbers inside the block are
    then the block's own, which is what a repair prompt quotes back."""
    m = _FENCED.search(output)
    return m.group(1) if m else output


def detect_style(output: str) -> str:
    """The format an output is written in, by its own markers."""
    from parsers.programs.csp import looks_like_csp
    from parsers.programs.logic_program import looks_like_logic_program
    from parsers.programs.smtlib import looks_like_smtlib
    from parsers.programs.z3dsl import looks_like_z3_dsl

    if looks_like_z3_dsl(output):
        return "z3dsl"
    if looks_like_csp(output):
        return "csp"
    if looks_like_logic_program(output):
        return "program"
    if looks_like_smtlib(output):
        return "smtlib"
    if re.search(r"^\s*#*\s*premises\s*[:：]", output, re.I | re.M):
        return "logiclm"
    if re.search(r"^\s*(def solution\s*\(|answer\s*=)", output, re.M) and re.search(r"```python|^\s*(def |return\b)", output, re.M):
        return "python"
    if re.search(r"^\s*answer\s*[:：]", output, re.I | re.M) and not re.search(r"^\s*FOL\s*[:：]", output, re.I | re.M):
        return "sympy"
    return "linc"


def clean_formula(text: str) -> str:
    """Drop a ``::: gloss``, surrounding backticks or quotes, and a trailing period."""
    text = text.split(":::", 1)[0].strip()
    for _ in range(2):  # "`P(a)`." and "`P(a).`" alike
        text = text.strip("`").strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" and text.count(text[0]) == 2:
            text = text[1:-1].strip()
        if text.endswith(".") and not re.search(r"\d\.$", text):
            text = text[:-1].rstrip()
    return text


def _lines(output: str) -> list[tuple[int, str]]:
    """Numbered lines without code fences and list numbering."""
    out = []
    for i, line in enumerate(output.splitlines(), 1):
        if _FENCE.match(line):
            continue
        out.append((i, _NUMBERING.sub("", line, count=1)))
    return out


def extract_linc(output: str) -> Extracted:
    res = Extracted()
    fols: list[tuple[int, str]] = []
    text = ""
    for lineno, line in _lines(output):
        m = _LINC.match(line)
        if not m:
            continue  # chatter, tags such as <EVALUATE>, blank lines
        kind, body = m.group(1).upper(), m.group(2)
        if kind == "TEXT":
            text = body.strip()
            continue
        formula = clean_formula(body)
        if not formula:
            res.errors.append(locate("parse", "FOL line is empty", where=f"output line {lineno}",
                                     hint="write the formula after 'FOL:'"))
            continue
        fols.append((lineno, formula))
        res.texts.append(text)
        text = ""
    if not fols and not res.errors:
        res.errors.append(locate("parse", "no 'FOL:' lines in the output", where="output",
                                 hint="answer with TEXT:/FOL: line pairs, premises first and the conclusion last"))
        return res
    if len(fols) == 1:
        res.errors.append(locate("parse", "only one 'FOL:' line: premises and a conclusion are needed", where=f"output line {fols[0][0]}"))
        return res
    res.premises = [f for _, f in fols[:-1]]
    res.conclusion = fols[-1][1] if fols else ""
    return res


def extract_logiclm(output: str) -> Extracted:
    res = Extracted()
    section = None
    seen: dict[str, int] = {}
    conclusions: list[tuple[int, str]] = []
    for lineno, line in _lines(output):
        m = _SECTION.match(line)
        if m:
            section = m.group(1).lower().rstrip("s") if m.group(1).lower().startswith("conclusion") else m.group(1).lower()
            seen.setdefault(section, lineno)
            rest = clean_formula(m.group(2))
            if rest and section == "premises":
                res.premises.append(rest)
            elif rest and section == "conclusion":
                conclusions.append((lineno, rest))
            continue
        if not line.strip() or line.strip().startswith(("---", "###")):
            continue
        if section == "premises":
            f = clean_formula(line)
            if f:
                res.premises.append(f)
                res.texts.append(line.split(":::", 1)[1].strip() if ":::" in line else "")
        elif section == "conclusion":
            f = clean_formula(line)
            if f:
                conclusions.append((lineno, f))
    if "premises" not in seen:
        res.errors.append(locate("parse", "no 'Premises:' section in the output", where="output",
                                 hint="answer with Predicates:, Premises: and Conclusion: sections"))
    elif not res.premises:
        res.errors.append(locate("parse", "the 'Premises:' section is empty", where=f"output line {seen['premises']}"))
    if "conclusion" not in seen:
        res.errors.append(locate("parse", "no 'Conclusion:' section in the output", where="output",
                                 hint="end with a 'Conclusion:' section holding one formula"))
    elif not conclusions:
        res.errors.append(locate("parse", "the 'Conclusion:' section is empty", where=f"output line {seen['conclusion']}"))
    else:
        res.conclusion = conclusions[0][1]
        if len(conclusions) > 1:
            res.errors.append(locate("parse", f"{len(conclusions)} formulas under 'Conclusion:'; one is expected",
                                     where=f"output line {conclusions[1][0]}", hint="put one formula under 'Conclusion:'"))
    return res


def extract_logic_program(output: str) -> Extracted:
    """Logic-LM's Facts/Rules/Query programs, printed as Unicode FOL for the check stage."""
    from parsers.fol.printer import to_unicode
    from parsers.programs.logic_program import parse_logic_program

    prog = parse_logic_program(output)
    res = Extracted(errors=list(prog.errors))
    if not prog.errors:
        res.premises = [to_unicode(f) for f in prog.premises]
        res.conclusion = to_unicode(prog.conclusion)
    return res


def extract(output: str, style: str = "auto") -> Extracted:
    """``style``: one of ``STYLES``; ``auto`` reads it from the output's own markers. FOL styles
    give premises and a conclusion; program languages give the program text, checked later."""
    if style == "auto":
        style = detect_style(output)
    if style in ("csp", "z3dsl"):
        return Extracted(language=style, program=output)
    if style in ("smtlib", "sympy", "python"):
        return Extracted(language=style, program=unfence(output))
    if style == "program":
        return extract_logic_program(output)
    return extract_logiclm(output) if style == "logiclm" else extract_linc(output)
