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
           "unfence", "too_long", "STYLES", "MAX_OUTPUT_CHARS"]

# Every pattern here is matched against one line, and every run of optional characters is
# possessive (``*+``) where what follows cannot start with them: no pattern backtracks, so reading
# is linear in the output (a cubic ``^\s*[#*\s]*`` over blank lines cost 38 s on 1 KB).
_FENCE = re.compile(r"^\s*+```")
_NUMBERING = re.compile(r"^\s*+(?:\d++[.)]|[-*•])\s+")
_LINC = re.compile(r"^\s*+(TEXT|FOL)\s*+[:：]\s*+(.*)$", re.I)
_SECTION = re.compile(r"^[#*>\s-]*+(predicates|premises|conclusions?|question|query)\s*+\**+\s*+[:：]\s*+\**+\s*+(.*)$", re.I)
MAX_OUTPUT_CHARS = 100_000
"""Longer outputs are refused, not read: the longest recorded completion is under 3,000 characters,
and a reader's time and a repair prompt's size grow with what it is given."""


@dataclass
class Extracted:
    premises: list[str] = field(default_factory=list)
    conclusion: str = ""
    texts: list[str] = field(default_factory=list)
    errors: list[LocatedError] = field(default_factory=list)
    language: str = "fol"
    program: str = ""
    """Languages read as a whole program (csp, z3dsl, smtlib, sympy, python): the text to check."""
    notes: list[str] = field(default_factory=list)
    """How the output was read where it departed from the format (each variant accepted, each cut)."""


_FENCED = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n(.*?)```", re.S)
STYLES = ("auto", "linc", "logiclm", "program", "csp", "z3dsl", "smtlib", "sympy", "python")


def unfence(output: str) -> str:
    """The first fenced code block's body, or the whole output. Line numbers inside the block are
    then the block's own, which is what a repair prompt quotes back."""
    m = _FENCED.search(output)
    return m.group(1) if m else output


_MARKERS = {  # one line each; see detect_style
    "logiclm-premises": re.compile(r"^\s*+#*+\s*+premises\s*+[:：]", re.I),
    "python-entry": re.compile(r"^\s*+(?:def solution\s*+\(|answer\s*+=)"),
    "python-body": re.compile(r"^\s*+(?:def |return\b)"),
    "answer": re.compile(r"^\s*+answer\s*+[:：]", re.I),
    "fol": re.compile(r"^\s*+FOL\s*+[:：]", re.I),
    "linc": re.compile(r"^\s*+(?:TEXT|FOL)\s*+[:：]", re.I),
    "logiclm": re.compile(r"^[#*\s]*+(?:predicates|conclusion)\s*+\**+\s*+[:：]", re.I),
}


def detect_style(output: str) -> str | None:
    """The format an output is written in, by its own markers (None when it carries none)."""
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
    lines = [line for line in output.splitlines() if line and not line.isspace()]  # no marker is blank
    seen = {name for name, pattern in _MARKERS.items() if any(pattern.match(line) for line in lines)}
    if "logiclm-premises" in seen:
        return "logiclm"
    if "python-entry" in seen and ("python-body" in seen or "```python" in output):
        return "python"
    if "answer" in seen and "fol" not in seen:
        return "sympy"
    if "linc" in seen:
        return "linc"
    if "logiclm" in seen:
        return "logiclm"
    return None


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


_CONNECTIVE = re.compile(r"[∀∃¬∧∨→↔⊕&|]|->")
_DECLARATION = re.compile(r"^\s*+[A-Za-z_][\w’']*+\s*+\(\s*+[a-z]\w?(?:\s*+,\s*+[a-z]\w?)*+\s*+\)\s*+$")
_WORD_OPS = ((re.compile(r"\bFORALL\b|\bForAll\b"), "∀"), (re.compile(r"\bEXISTS\b"), "∃"), (re.compile(r"\bAND\b"), "∧"),
             (re.compile(r"\bOR\b"), "∨"), (re.compile(r"\bNOT\b"), "¬"), (re.compile(r"\bIMPLIES\b"), "→"),
             (re.compile(r"\bIFF\b"), "↔"), (re.compile(r"\bXOR\b"), "⊕"), (re.compile(r"(?<=[)\s])V(?=\s)"), "∨"))


def _is_prose(text: str) -> bool:
    """A sentence, not a formula: no parenthesis, no connective symbol, several words."""
    return "(" not in text and not _CONNECTIVE.search(text) and len(re.findall(r"[A-Za-z]+", text)) >= 3


def _ascii_connectives(formula: str) -> tuple[str, bool]:
    """Upper-case word connectives (AND, OR, NOT, FORALL …) and a lone V between formulas, as symbols.
    Only used when the formula does not parse as written."""
    out = formula
    for pattern, symbol in _WORD_OPS:
        out = pattern.sub(symbol, out)
    return out, out != formula


def extract_logiclm(output: str, statement: str | None = None) -> Extracted:
    """Logic-LM's FOL sections. A formula line belongs to the section above it; prose lines are
    skipped (noted); with ``Predicates:`` but no ``Premises:`` heading, the first line that is a
    formula rather than a declaration starts the premises (noted). The conclusion is the one
    formula under ``Conclusion:``; with several different ones, the one whose gloss is the
    problem's ``statement`` (clearly closer than the rest) is taken and noted; otherwise a located error."""
    from parsers.fol.reader import parse_formula

    res = Extracted()
    section = None
    seen: dict[str, int] = {}
    conclusions: list[tuple[int, str]] = []
    glosses: dict[str, str] = {}
    prose = 0
    implied = False
    lines = _lines(output)
    has_premises = any((m := _SECTION.match(line)) and m.group(1).lower() == "premises" for _, line in lines)
    for lineno, line in lines:
        m = _SECTION.match(line)
        if m:
            name = m.group(1).lower()
            section = "conclusion" if name.startswith("conclusion") else name
            seen.setdefault(section, lineno)
            rest = m.group(2)
            if not rest.strip():
                continue
            line = rest
        if not line.strip() or line.strip().startswith(("---", "###")):
            continue
        formula = clean_formula(line)
        if not formula:
            continue
        if _is_prose(formula):
            prose += 1
            continue
        if section == "predicates" and not has_premises and not _DECLARATION.match(formula) and "premises" not in seen:
            section, implied = "premises", True
            seen["premises"] = lineno
        if section in ("premises", None):
            if section is None:
                seen.setdefault("premises?", lineno)
            res.premises.append(formula)
            res.texts.append(line.split(":::", 1)[1].strip() if ":::" in line else "")
        elif section == "conclusion":
            conclusions.append((lineno, formula))
            if ":::" in line:
                glosses.setdefault(formula, line.split(":::", 1)[1].strip())
    if implied:
        res.notes.append(f"no 'Premises:' heading: the formulas from output line {seen['premises']} on read as premises")
    if prose:
        res.notes.append(f"{prose} prose line{'s' * (prose > 1)} skipped")
    fixed = []
    for f in res.premises:
        g, changed = _maybe_ascii(f, parse_formula)
        fixed.append(g)
        if changed:
            res.notes.append(f"word connectives read as symbols: {f[:60]}")
    res.premises = fixed
    conclusions = [(n, *_maybe_ascii(f, parse_formula)) for n, f in conclusions]
    for n, f, changed in conclusions:
        if changed:
            res.notes.append(f"word connectives read as symbols: {f[:60]}")
    distinct = list(dict.fromkeys(f for _, f, _ in conclusions))
    if "premises" not in seen and "premises?" not in seen:
        what = "one formula and no sections" if len(conclusions) + len(res.premises) == 1 else "no 'Premises:' section"
        res.errors.append(locate("parse", f"{what}: expected Logic-LM's Predicates:/Premises:/Conclusion: sections",
                                 where="output", hint="answer with Predicates:, Premises: and Conclusion: sections"))
    elif not res.premises:
        res.errors.append(locate("parse", "the 'Premises:' section is empty", where=f"output line {seen.get('premises', 1)}"))
    if "conclusion" not in seen:
        res.errors.append(locate("parse", "no 'Conclusion:' section in the output (the last formula might be it, or the "
                                          "output was cut short)", where="output",
                                 hint="end with a 'Conclusion:' section holding one formula"))
    elif not conclusions:
        res.errors.append(locate("parse", "the 'Conclusion:' section is empty", where=f"output line {seen['conclusion']}"))
    else:
        res.conclusion = distinct[0]
        chosen = _by_statement(distinct, glosses, statement) if len(distinct) > 1 else None
        if chosen is not None:
            res.conclusion = chosen
            res.notes.append(f"{len(distinct)} formulas under 'Conclusion:'; took {chosen[:60]}, whose gloss is the "
                             "question's statement")
        elif len(distinct) > 1:
            second = next(n for n, f, _ in conclusions if f == distinct[1])
            res.errors.append(locate("parse", f"{len(distinct)} different formulas under 'Conclusion:'; one is expected",
                                     where=f"output line {second}", hint="put one formula under 'Conclusion:'"))
    return res


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower().replace("’", "'").replace("'s", "")) if w not in _STOP}


_STOP = {"a", "an", "the", "is", "are", "of", "to", "and", "or", "in", "on", "at", "x", "y"}


def _by_statement(formulas: list[str], glosses: dict[str, str], statement: str | None) -> str | None:
    """The formula whose gloss says the statement (word overlap ≥ 0.6, ahead of the next by ≥ 0.25)."""
    if not statement or not all(f in glosses for f in formulas):
        return None
    target = _words(statement)
    if not target:
        return None
    def score(f: str) -> float:
        g = _words(glosses[f])
        return len(g & target) / len(g | target) if g | target else 0.0
    ranked = sorted(formulas, key=score, reverse=True)
    best, runner = score(ranked[0]), score(ranked[1])
    return ranked[0] if best >= 0.6 and best - runner >= 0.25 else None


def _maybe_ascii(formula: str, parse) -> tuple[str, bool]:
    """The formula with word connectives read as symbols, when only that reading parses. Parsed
    only when there is a word to read (most formulas have none, and junk lines fail slowly)."""
    from parsers.errors import FormalizationError

    fixed, changed = _ascii_connectives(formula)
    if not changed:
        return formula, False
    try:
        parse(formula)
        return formula, False
    except FormalizationError:
        try:
            parse(fixed)
            return fixed, True
        except FormalizationError:
            return formula, False


def extract_logic_program(output: str) -> Extracted:
    """Logic-LM's Facts/Rules/Query programs, printed as Unicode FOL for the check stage."""
    from parsers.fol.printer import to_unicode
    from parsers.programs.logic_program import parse_logic_program

    prog = parse_logic_program(output)
    res = Extracted(errors=list(prog.errors), notes=list(prog.notes))
    if not prog.errors:
        res.premises = [to_unicode(f) for f in prog.premises]
        res.conclusion = to_unicode(prog.conclusion)
    return res


def extract(output: str | None, style: str = "auto", expected: str | None = None,
            statement: str | None = None) -> Extracted:
    """``style``: one of ``STYLES``; ``auto`` reads it from the output's own markers, and when it has
    none, ``expected`` (the format the prompt asked for) decides. The program is cleaned first
    (``parsers.cleanup``: wrappers, fences, run-on text), every cut noted. FOL styles give premises
    and a conclusion; program languages give the program text, checked later. ``statement``: the
    problem's statement in English, to tell which of several conclusions the output means."""
    from parsers.cleanup import clean

    if output is None or not str(output).strip():
        return Extracted(errors=[locate("formalize", "the output is empty" + (" (null)" if output is None else ""),
                                        where="output", hint="answer with the formalization")],
                         language=expected if expected in _PROGRAM_STYLES else "fol")
    if len(output) > MAX_OUTPUT_CHARS:
        return Extracted(errors=[too_long(len(output))], language=expected if expected in _PROGRAM_STYLES else "fol")
    if style == "auto":
        style = detect_style(clean(output, "none").text) or expected or "linc"
    cleaned = clean(output, style)
    text = cleaned.text
    if style in _PROGRAM_STYLES:
        res = Extracted(language=style, program=text)
    elif style == "program":
        res = extract_logic_program(text)
    else:
        res = extract_logiclm(text, statement) if style == "logiclm" else extract_linc(text)
    res.notes = [*cleaned.notes, *res.notes]
    return res


_PROGRAM_STYLES = ("csp", "z3dsl", "smtlib", "sympy", "python")
"""Styles read as a whole program, in the language of the same name (checked later)."""


def too_long(chars: int) -> LocatedError:
    """The located error of an output over ``MAX_OUTPUT_CHARS`` (``chars``: its length)."""
    return locate("formalize", f"the output is {chars:,} characters; at most {MAX_OUTPUT_CHARS:,} are read", where="output",
                  hint="answer with the formalization only")
