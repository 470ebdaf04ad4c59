"""Lean 4 proofs a model writes for a theorem whose statement is ours.

The statement, the header and the imports belong to the problem; the model supplies a proof:
a term, a ``by`` block, or a whole ``theorem``/``lemma`` (with helper lemmas before it), whose
statement the back end then checks against ours in Lean (``solvers.lean``).

A Lean file runs code while it elaborates and can change how later text reads, so before anything
runs the model's text is read with Lean's own lexical rules (``lean_lexer``: ``«»`` identifiers,
nested comments, string escapes) and refused, located, where it reaches for what a proof does not
need: commands that run code or end the file early, new axioms, imports, scopes (``namespace``,
``section``, ``end``, ``include``), new syntax, ``unsafe``/``partial``/``opaque`` declarations,
compiler hooks (``implemented_by``, ``extern``, ``native_decide``), meta-programming and IO names
(``Lean.*``, ``IO.*``), attributes outside a short list and options outside ``pp.*``/``linter.*``.
Comments and strings are skipped (``-- end of the proof`` is fine), except for words that run code:
after a parse error Lean's recovery may read a comment, a string or a «name» as code. The problem's
own header and statement get a lighter check: no code-running commands, no ``debug.*`` options. The verdict does
not rest on this filter alone: ``solvers.lean`` elaborates our statement before the model's text
and checks by names the model cannot know.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from parsers.errors import FormalizationError, LocatedError, locate

from .lean_lexer import LexError, Token, code_tokens, position, tokenize

__all__ = ["LeanProgram", "read_lean_output", "split_signature", "split_theorem", "REFUSED", "looks_like_lean",
           "refusals", "words"]

_RUNS = "runs code while the file elaborates"
# keyword → why (a keyword spelled plainly, not as «…»; the first occurrences in code are reported)
REFUSED = {
    "import": "imports are the problem's, not the proof's",
    "prelude": "the file header is the problem's, not the proof's",
    "axiom": "a proof may not add axioms (it could assume the goal)",
    "namespace": "a proof opens no namespace (it could rename what the statement means)",
    "section": "a proof opens no section",
    "end": "a proof closes no scope",
    "export": "export adds aliases to the problem's names",
    "include": "include adds hypotheses to later theorems",
    "omit": "omit changes which hypotheses later theorems take",
    "unsafe": "unsafe declarations bypass the kernel",
    "partial": "partial definitions are not needed in a proof",
    "opaque": "opaque constants are not needed in a proof",
    "implemented_by": "@[implemented_by] replaces checked code by unchecked code",
    "extern": "@[extern] binds to native code",
    "run_cmd": f"run_cmd {_RUNS}", "run_elab": f"run_elab {_RUNS}", "run_meta": f"run_meta {_RUNS}",
    "run_tac": f"run_tac {_RUNS}", "by_elab": f"by_elab {_RUNS}",
    "elab": f"elab defines code that {_RUNS}", "elab_rules": f"elab_rules defines code that {_RUNS}",
    "macro": "macro defines new syntax", "macro_rules": "macro_rules redefines syntax",
    "syntax": "new syntax is not needed for a proof", "declare_syntax_cat": "new syntax is not needed for a proof",
    "notation": "new notation is not needed for a proof", "binder_predicate": "new notation is not needed for a proof",
    "infix": "new notation is not needed for a proof", "infixl": "new notation is not needed for a proof",
    "infixr": "new notation is not needed for a proof", "prefix": "new notation is not needed for a proof",
    "postfix": "new notation is not needed for a proof",
    "simproc": f"simproc defines code that {_RUNS}", "dsimproc": f"dsimproc defines code that {_RUNS}",
    "initialize": "initialize runs code when the file loads", "builtin_initialize": "initialize runs code when the file loads",
    "native_decide": "native_decide trusts compiled code instead of the kernel",
    "native": "`decide +native` trusts compiled code instead of the kernel",
}
# names refused however they are spelled or qualified (their last component)
_TRUSTS_COMPILER = frozenset({"native_decide", "ofReduceBool", "ofReduceNat", "reduceBool", "reduceNat", "trustCompiler",
                              "implemented_by", "extern"})
_META_ROOTS = frozenset({"Lean", "IO", "EIO", "BaseIO", "System"})
# commands the problem's header may not use either: they run code, or end the file
_HEADER_REFUSED = frozenset({"unsafe", "implemented_by", "extern", "run_cmd", "run_elab", "run_meta", "run_tac", "by_elab",
                             "elab", "elab_rules", "simproc", "dsimproc", "initialize", "builtin_initialize", "native_decide"})
_HEADER_HASH = frozenset({"#eval", "#eval!", "#exit", "#reduce", "#guard", "#guard_msgs", "#guard_expr", "#check_failure",
                          "#sample", "#test", "#time", "#exec"})
ATTRIBUTES = frozenset({
    "simp", "reducible", "irreducible", "semireducible", "instance", "class", "default_instance", "ext", "norm_cast",
    "push_cast", "simps", "elab_as_elim", "induction_eliminator", "cases_eliminator", "congr", "gcongr", "mono", "refl",
    "symm", "trans", "nolint", "inline", "specialize", "match_pattern", "coe", "aesop", "fun_prop", "continuity",
    "measurability", "bound", "field_simps", "grind", "to_additive"})
# Words that run code, refused even outside code: a file Lean fails to parse is read on from where
# the error was, which may be inside a comment, a string or a «name» (found by fuzzing Lean 4.35).
_CODE_ANYWHERE = re.compile(r"(?<![\w.'!?#])(?:#eval!?|#guard(?:_expr|_msgs)?|#reduce|#sample|#test|run_cmd|run_elab|"
                            r"run_meta|run_tac|by_elab|native_decide|elab_rules|elab|macro_rules|macro|syntax|simproc|"
                            r"dsimproc|initialize|builtin_initialize|implemented_by|extern|command_elab|term_elab)(?![\w!?'])"
                            r"|[uU]nsafe|\bLean\.[\w«]|\bIO\.[\w«]")
_LIMITS = re.compile(r"heartbeats|maxrecdepth|timeout|maxsteps|maxsize|maxdepth", re.I)


class LeanProgram(BaseModel):
    """A checked Lean proof attempt: what the back end assembles into a file."""

    model_config = ConfigDict(frozen=True)

    header: str = ""
    """The problem's header: imports, opens, declarations (the problem's own, lightly checked)."""
    statement: str
    """The theorem's signature after its name: ``(a b : ℕ) (h : a = b) : b = a``."""
    proof: str = ""
    """The proof term or ``by`` block, when the model wrote only a proof."""
    text: str = ""
    """The model's own text, placed in the file as is when it declares its own theorem."""
    theorem: str | None = None
    """The name of the model's theorem that must have our statement (its last theorem/lemma), as written."""


_LOOKS = re.compile(r"```lean|^[ \t]*(theorem|lemma)[ \t]|:=[ \t]*by\b|^[ \t]*by\b", re.M)


def looks_like_lean(text: str) -> bool:
    return bool(_LOOKS.search(text))


def words(text: str) -> list[Token]:
    """The code tokens of ``text`` (comments dropped); raises LexError."""
    return code_tokens(tokenize(text))


def _error(text: str, offset: int, message: str, where: str, hint: str = "write only the proof of the given statement"):
    line, col = position(text, offset)
    return locate("parse", message, text=text, line=line, column=col, where=where, hint=hint)


def refusals(text: str, *, header: bool = False, where: str = "output") -> list[LocatedError]:
    """Located refusals for ``text``: a model's proof, or (``header=True``) the problem's header or
    statement, which may declare, import and set limits but not run code or skip the kernel."""
    try:
        tokens = tokenize(text)
    except LexError as exc:
        return [_error(text, exc.offset, f"Lean would not read this as written: {exc.message}", where)]
    return _refusals(text, tokens, header, where)


def _refusals(text: str, tokens: list[Token], header: bool, where: str) -> list[LocatedError]:
    errors: list[LocatedError] = []
    for tok in tokens:  # once Lean meets a parse error, its recovery may resume inside any of these
        if len(errors) < 5 and (tok.kind in ("comment", "doc", "string", "char") or tok.escaped):
            for m in _CODE_ANYWHERE.finditer(text, tok.start, tok.end):
                errors.append(_error(text, m.start(), f"'{m.group(0)}' is not allowed in a proof, not even in a comment, "
                                                      "string or «name»: after a parse error Lean may read it as code",
                                     where))
                if len(errors) == 5:
                    return errors
    code = code_tokens(tokens)
    attributes = _Attributes(text)
    for i, tok in enumerate(code):
        listed = None if header else attributes.step(code, i)  # every token, to keep its state
        why = _refused(text, code, i, header) or listed
        if why:
            errors.append(_error(text, why[0], why[1], where))
            if len(errors) == 5:
                break
    return errors


def _refused(text: str, code: list[Token], i: int, header: bool) -> tuple[int, str] | None:
    tok = code[i]
    if tok.kind == "hash":
        if header:
            return (tok.start, f"'{tok.word}' is not allowed in a problem's header: it {_RUNS}") if tok.word in _HEADER_HASH \
                else None
        if tok.word == "#check":
            return None
        if tok.word in _HEADER_HASH or tok.word in ("#print", "#synth", "#help"):
            what = {"#exit": "ends the file before the goal is checked", "#print": "is not needed in a proof"}.get(tok.word, _RUNS)
            return tok.start, f"'{tok.word}' is not allowed in a proof: it {what}"
        return tok.start, (f"'{tok.word}' is not allowed in a proof: # commands are not needed in one "
                           "(Finset.card's `#s`: write `s.card`)")
    if tok.kind != "ident":
        return None
    word, parts = tok.word, tok.name
    keyword = None if tok.escaped or len(parts) != 1 else word
    if "unsafe" in word.lower():
        return tok.start, f"'{word}' is not allowed: unsafe code bypasses the kernel"
    if parts[-1] in _TRUSTS_COMPILER:
        return tok.start, f"'{word}' is not allowed: {REFUSED.get(parts[-1], 'it trusts compiled code instead of the kernel')}"
    if keyword == "set_option":
        return _option(text, code, i, header)
    if header:
        return (tok.start, f"'{word}' is not allowed in a problem's header: it {_RUNS}") if keyword in _HEADER_REFUSED \
            else None
    if keyword in REFUSED:
        return tok.start, f"'{word}' is not allowed in a proof: {REFUSED[keyword]}"
    root = parts[1] if parts[0] == "_root_" and len(parts) > 1 else parts[0]
    if root in _META_ROOTS:
        return tok.start, f"'{word}' is not allowed in a proof: {root}.* is meta-programming or IO, which a proof does not need"
    return None


def _option(text: str, code: list[Token], i: int, header: bool) -> tuple[int, str] | None:
    name = code[i + 1] if i + 1 < len(code) else None
    if name is None or name.kind != "ident":
        return code[i].start, "set_option without an option name"
    opt = name.word
    if header:
        if opt.startswith(("debug.", "trace.")):
            return name.start, f"set_option {opt} is not allowed in a problem's header: it changes what Lean checks"
        return None
    if opt.startswith(("pp.", "linter.")) or opt in ("autoImplicit", "relaxedAutoImplicit"):
        return None
    if _LIMITS.search(opt):
        return name.start, f"set_option {opt} is not allowed: resource limits are ours"
    return name.start, f"set_option {opt} is not allowed in a proof (only pp.*, linter.* and autoImplicit)"


class _Attributes:
    """``@[a, local b c, -d]`` / ``attribute [a] x``: each attribute's name must be in ATTRIBUTES.
    Fed every code token once (a scan per ``@[`` would be quadratic on ``@[@[@[…``)."""

    def __init__(self, text: str):
        self.text, self.depth, self.expect, self.pending = text, 0, False, False

    def step(self, code: list[Token], i: int) -> tuple[int, str] | None:
        tok, text = code[i], self.text
        ch = text[tok.start] if tok.kind == "symbol" else None
        if ch == "[" and self.pending:
            self.depth, self.expect, self.pending = 1, True, False
        elif self.depth and ch in ("[", "("):
            self.depth += 1
        elif self.depth and ch in ("]", ")"):
            self.depth -= 1
        elif self.depth == 1 and ch == ",":
            self.expect = True
        elif self.depth == 1 and self.expect and tok.kind == "ident" and tok.word not in ("local", "scoped"):
            self.expect = False
            if tok.word not in ATTRIBUTES:
                return tok.start, (f"attribute [{tok.word}] is not allowed in a proof (allowed: simp, reducible, "
                                   "irreducible, instance, ext, norm_cast, push_cast, simps, aesop and a few more)")
        nxt = code[i + 1] if i + 1 < len(code) else None
        if not self.depth and nxt is not None and nxt.kind == "symbol" and text[nxt.start] == "[" and (
                (ch == "@" and nxt.start == tok.end) or (tok.kind == "ident" and tok.word == "attribute" and not tok.escaped)):
            self.pending = True
        return None


def _depth_delta(text: str, tok: Token) -> int:
    if tok.kind != "symbol":
        return 0
    ch = text[tok.start]
    return 1 if ch in "([{⦃⟨" else -1 if ch in ")]}⦄⟩" else 0


def _assign_at(text: str, code: list[Token], k: int) -> bool:
    """Whether code[k] is the ``:`` of a ``:=``."""
    return (text[code[k].start] == ":" and k + 1 < len(code) and code[k + 1].start == code[k].end
            and text[code[k + 1].start] == "=" and code[k + 1].kind == "symbol")


def split_signature(statement: str) -> tuple[str, str]:
    """``(a : ℕ) (h : 0 < a) : 0 < a * a`` → (binders, type): split at the first ``:`` outside brackets."""
    try:
        code = words(statement)
    except LexError:
        return "", statement.strip()
    depth = 0
    for k, tok in enumerate(code):
        depth += _depth_delta(statement, tok)
        if depth == 0 and tok.kind == "symbol" and statement[tok.start] == ":" and not _assign_at(statement, code, k):
            return statement[:tok.start].strip(), statement[tok.end:].strip()
    return "", statement.strip()


_DECLS = ("theorem", "lemma", "example")
_MODIFIERS = ("private", "protected", "noncomputable")


def _declarations(code: list[Token]) -> list[int]:
    return [k for k, t in enumerate(code) if t.kind == "ident" and not t.escaped and t.word in _DECLS]


def _decl_start(text: str, tokens: list[Token], kw: Token) -> int:
    """Where the declaration of keyword ``kw`` begins: its modifiers, ``@[…]`` and doc comment."""
    k = next(j for j, t in enumerate(tokens) if t.start == kw.start)
    start = kw.start
    while k > 0:
        prev = tokens[k - 1]
        if prev.kind == "doc" or (prev.kind == "ident" and prev.word in _MODIFIERS):
            k, start = k - 1, prev.start
        elif prev.kind == "symbol" and text[prev.start] == "]":
            depth, j = 0, k - 1
            while j >= 0:
                depth += -_depth_delta(text, tokens[j]) if tokens[j].kind == "symbol" else 0
                if depth == 0:
                    break
                j -= 1
            if j < 1 or text[tokens[j - 1].start] != "@":
                break
            k, start = j - 1, tokens[j - 1].start
        else:
            break
    return start


def split_theorem(source: str) -> tuple[str, str, str, str]:
    """A Lean file's (header, theorem name, signature, proof) — the dataset's own file (miniF2F)."""
    tokens = tokenize(source)  # LexError is a ValueError
    code = code_tokens(tokens)
    decls = _declarations(code)
    if not decls:
        raise ValueError("no theorem in the Lean source")
    k = decls[-1]
    kw = code[k]
    header = source[:_decl_start(source, tokens, kw)].rstrip()
    name, after = "", kw.end
    if kw.word != "example" and k + 1 < len(code) and code[k + 1].kind == "ident":
        name, after, k = source[code[k + 1].start:code[k + 1].end], code[k + 1].end, k + 1
    depth = 0
    for j in range(k + 1, len(code)):
        depth += _depth_delta(source, code[j])
        if depth == 0 and code[j].kind == "symbol" and _assign_at(source, code, j):
            pieces, at = [], after  # comments out of the signature, which is joined onto one line
            for t in tokens:
                if t.kind in ("comment", "doc") and after <= t.start < code[j].start:
                    pieces.append(source[at:t.start])
                    at = t.end
            sig = " ".join(pieces) + " " + source[at:code[j].start]
            return header, name, " ".join(sig.split()), source[code[j + 1].end:].strip()
    raise ValueError(f"theorem {name or '?'} has no ':='")


_FENCE = re.compile(r"```(?:lean4?|Lean)?[ \t]*\n(.*?)```", re.S)


def read_lean_output(output: str, statement: str, header: str = "") -> LeanProgram:
    """The model's proof for ``statement``; raises FormalizationError with located errors."""
    m = _FENCE.search(output)
    text = (m.group(1) if m else output).replace("\r\n", "\n").strip("\n")
    header, statement = header.replace("\r\n", "\n"), statement.replace("\r\n", "\n")
    if not text.strip():
        raise FormalizationError(locate("parse", "the output holds no proof", where="output",
                                        hint="answer with a proof term or a `by` block"))
    errors = refusals(header, header=True, where="header") + refusals(statement, header=True, where="statement")
    try:
        tokens = tokenize(text)
    except LexError:
        tokens, errors = [], errors + refusals(text)
    errors += _refusals(text, tokens, False, "output")
    code = code_tokens(tokens)
    if errors:
        raise FormalizationError(errors[:5])
    decls = _declarations(code)
    if not decls:
        proof = text.strip()
        proof = proof[2:].strip() if proof.startswith(":=") else proof
        return LeanProgram(header=header, statement=statement, proof=proof, text=text)
    last = code[decls[-1]]
    if last.word == "example":  # no name to refer to: its signature must be ours, its proof is taken
        try:
            _, _, sig, proof = split_theorem(text[last.start:])
        except ValueError as exc:
            raise FormalizationError(_error(text, last.start, str(exc), "output")) from None
        if " ".join(sig.split()) != " ".join(statement.split()):
            raise FormalizationError(_error(text, last.start, f"the example states `{sig[:120]}`; the problem states "
                                                              f"`{statement[:120]}`", "output",
                                            hint="prove the given statement, unchanged"))
        return LeanProgram(header=header, statement=statement, proof=proof, text=text)
    nxt = code[decls[-1] + 1] if decls[-1] + 1 < len(code) else None
    if nxt is None or nxt.kind != "ident":
        raise FormalizationError(_error(text, last.start, "a theorem without a name", "output"))
    return LeanProgram(header=header, statement=statement, text=text, theorem=text[nxt.start:nxt.end])
