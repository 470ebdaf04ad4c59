"""Lean 4 proofs a model writes for a theorem whose statement is ours.

The statement, the header and the imports belong to the problem; the model supplies a proof:
a term, a ``by`` block, or a whole ``theorem``/``lemma`` (with helper lemmas before it), whose
statement the back end then checks against ours in Lean (``solvers.lean``). A Lean file runs
code while it elaborates, so before anything runs, commands that execute code, end the file
early, add axioms, import modules or lift resource limits are refused with a located error —
the sandbox contains what gets through, this keeps it from being asked. Comments and string
literals are skipped when looking (``-- #eval`` is harmless), nested block comments included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from parsers.errors import FormalizationError, LocatedError, locate

__all__ = ["LeanProgram", "read_lean_output", "split_signature", "split_theorem", "REFUSED", "looks_like_lean"]

# word → why it is refused (the first occurrence outside comments and strings is reported)
REFUSED = {
    "import": "imports are the problem's, not the proof's",
    "prelude": "the file header is the problem's, not the proof's",
    "axiom": "a proof may not add axioms (it could assume the goal)",
    "#exit": "#exit would end the file before the goal is checked",
    "#eval": "#eval runs code while the file elaborates",
    "#eval!": "#eval runs code while the file elaborates",
    "run_cmd": "run_cmd runs code while the file elaborates",
    "run_elab": "run_elab runs code while the file elaborates",
    "run_meta": "run_meta runs code while the file elaborates",
    "elab": "elab defines code that runs while the file elaborates",
    "elab_rules": "elab_rules defines code that runs while the file elaborates",
    "macro": "macro defines code that runs while the file elaborates",
    "macro_rules": "macro_rules defines code that runs while the file elaborates",
    "syntax": "new syntax is not needed for a proof",
    "initialize": "initialize runs code when the file loads",
    "builtin_initialize": "builtin_initialize runs code when the file loads",
    "unsafe": "unsafe declarations bypass the kernel",
    "implemented_by": "@[implemented_by] replaces checked code by unchecked code",
    "extern": "@[extern] binds to native code",
}
_LIMIT_OPTIONS = re.compile(r"set_option\s+([\w.]*(?:heartbeats|maxrecdepth|timeout|maxsteps|maxsize|maxdepth)[\w.]*)",
                            re.I)
_WORD = re.compile(r"#?[A-Za-z_][\w.!']*")
_DECL = re.compile(r"^\s*(?:@\[[^\]]*\]\s*)?(?:private\s+|protected\s+|noncomputable\s+)*(theorem|lemma|example)\b(\s+[^\s:(\[{]+)?",
                   re.M)


class LeanProgram(BaseModel):
    """A checked Lean proof attempt: what the back end assembles into a file."""

    model_config = ConfigDict(frozen=True)

    header: str = ""
    """The problem's header: imports, opens, declarations (trusted as the problem's own)."""
    statement: str
    """The theorem's signature after its name: ``(a b : ℕ) (h : a = b) : b = a``."""
    proof: str = ""
    """The proof term or ``by`` block, when the model wrote only a proof."""
    text: str = ""
    """The model's own text, placed in the file as is when it declares its own theorem."""
    theorem: str | None = None
    """The name of the model's theorem that must have our statement (its last theorem/lemma)."""


def looks_like_lean(text: str) -> bool:
    return bool(re.search(r"```lean|^\s*(theorem|lemma)\s|:=\s*by\b|^\s*by\b", text, re.M))


def _code_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of the text outside comments and string literals."""
    spans, i, start, n = [], 0, 0, len(text)
    while i < n:
        if text.startswith("--", i):
            spans.append((start, i))
            j = text.find("\n", i)
            i = start = n if j < 0 else j
        elif text.startswith("/-", i):
            spans.append((start, i))
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/-", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("-/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            start = i
        elif text[i] == '"':
            spans.append((start, i))
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            start = i
        else:
            i += 1
    spans.append((start, n))
    return [(a, b) for a, b in spans if b > a]


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def refusals(text: str) -> list[LocatedError]:
    errors: list[LocatedError] = []
    for a, b in _code_spans(text):
        chunk = text[a:b]
        for m in _WORD.finditer(chunk):
            word = m.group(0)
            key = word if word in REFUSED else word.rstrip("!") if word.rstrip("!") in REFUSED else None
            if key is None or (m.start() > 0 and chunk[m.start() - 1] in "._'"):
                continue
            line, col = _position(text, a + m.start())
            errors.append(locate("parse", f"'{word}' is not allowed in a proof: {REFUSED[key]}", text=text, line=line,
                                 column=col, where="output", hint="write only the proof of the given statement"))
        for m in _LIMIT_OPTIONS.finditer(chunk):
            line, col = _position(text, a + m.start())
            errors.append(locate("parse", f"set_option {m.group(1)} is not allowed: resource limits are ours", text=text,
                                 line=line, column=col, where="output"))
    return errors[:5]


def split_signature(statement: str) -> tuple[str, str]:
    """``(a : ℕ) (h : 0 < a) : 0 < a * a`` → (binders, type): split at the first ``:`` outside brackets."""
    depth = 0
    for i, ch in enumerate(statement):
        if ch in "([{⦃":
            depth += 1
        elif ch in ")]}⦄":
            depth -= 1
        elif ch == ":" and depth == 0 and not statement.startswith(":=", i):
            return statement[:i].strip(), statement[i + 1:].strip()
    return "", statement.strip()


def split_theorem(source: str) -> tuple[str, str, str, str]:
    """A Lean file's (header, theorem name, signature, proof) — the dataset's own file (miniF2F)."""
    m = list(_DECL.finditer(source))
    if not m:
        raise ValueError("no theorem in the Lean source")
    decl = m[-1]
    header = source[: decl.start()].rstrip()
    name = (decl.group(2) or "").strip()
    rest = source[decl.end():]
    depth, cut = 0, None
    for i, ch in enumerate(rest):
        if ch in "([{⦃":
            depth += 1
        elif ch in ")]}⦄":
            depth -= 1
        elif depth == 0 and rest.startswith(":=", i):
            cut = i
            break
    if cut is None:
        raise ValueError(f"theorem {name or '?'} has no ':='")
    return header, name, " ".join(rest[:cut].split()), rest[cut + 2:].strip()


_FENCE = re.compile(r"```(?:lean4?|Lean)?[ \t]*\n(.*?)```", re.S)


def read_lean_output(output: str, statement: str, header: str = "") -> LeanProgram:
    """The model's proof for ``statement``; raises FormalizationError with located errors."""
    m = _FENCE.search(output)
    text = (m.group(1) if m else output).strip("\n")
    if not text.strip():
        raise FormalizationError(locate("parse", "the output holds no proof", where="output",
                                        hint="answer with a proof term or a `by` block"))
    errors = refusals(text)
    if errors:
        raise FormalizationError(errors)
    decls = [d for d in _DECL.finditer(text) if not _inside_comment(text, d.start())]
    if not decls:
        proof = text.strip()
        proof = proof[2:].strip() if proof.startswith(":=") else proof
        return LeanProgram(header=header, statement=statement, proof=proof, text=text)
    last = decls[-1]
    if last.group(1) == "example":  # no name to refer to: its signature must be ours, its proof is taken
        _, _, sig, proof = split_theorem(text[last.start():])
        if " ".join(sig.split()) != " ".join(statement.split()):
            line, col = _position(text, last.start())
            raise FormalizationError(locate("parse", f"the example states `{sig[:120]}`; the problem states "
                                                     f"`{statement[:120]}`", text=text, line=line, column=col, where="output",
                                            hint="prove the given statement, unchanged"))
        return LeanProgram(header=header, statement=statement, proof=proof, text=text)
    name = (last.group(2) or "").strip()
    if not name:
        line, col = _position(text, last.start())
        raise FormalizationError(locate("parse", "a theorem without a name", text=text, line=line, column=col, where="output"))
    return LeanProgram(header=header, statement=statement, text=text, theorem=name)


def _inside_comment(text: str, offset: int) -> bool:
    return not any(a <= offset < b for a, b in _code_spans(text))
