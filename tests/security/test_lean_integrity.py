"""Issue 18, Lean: no model text and no dataset text makes nesyflow report "proved" for what Lean
did not prove. Each payload below made the old back end prove False (or a false statement) with
"uses no axioms"; through the real Lean 4.35 kernel and through the real CLI each now ends not
proved, while honest proofs in the same shapes still prove. The reader is timed on hostile shapes."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from parsers.errors import FormalizationError
from parsers.programs.lean import LeanProgram, looks_like_lean, read_lean_output, split_signature, split_theorem
from solvers.base import Limits
from solvers.lean import LeanSolver

ROOT = Path(__file__).resolve().parents[2]
LIMITS = Limits(timeout_s=20, cpu_s=20)
SKIP = "set_option debug.skipKernelTC true\nunsafe def loop : False := loop"
# name → (the model's text, the problem's statement, the problem's header)
ATTACKS = {
    # our statement's `False`/`And` resolved to the model's, `#print axioms` to Evil.nesyflow_goal
    "namespace-False": ("namespace Evil\ndef False : Prop := True\ntheorem t : False := True.intro", ": False", ""),
    "namespace-And": ("namespace Evil\ndef And (a b : Prop) : Prop := True\ntheorem t (p q : Prop) : And p q := True.intro",
                      "(p q : Prop) : And p q", ""),
    # the kernel switched off, hidden from the old scanner by an identifier it read as a string …
    "hidden-by-«\"»": ('def «"» : Prop := True\n' + SKIP + '\ndef «z"» : Prop := True\ntheorem t : False := loop', ": False", ""),
    # … by an identifier it read as a comment, and by a comment Lean closes earlier than it did
    "hidden-by-«/-»": ("def «/-» : Prop := True\n" + SKIP + "\ndef «-/» : Prop := True\ntheorem t : False := loop",
                       ": False", ""),
    "hidden-by-/-/-": ("/-/- -/\n" + SKIP + "\n-- -/\ntheorem t : False := loop", ": False", ""),
    # a section variable `include`d into our own theorem, reached through `@h.elim3`
    "variable-include": ("def False.elim3 (h : False) : False := h\nvariable (h : False)\ninclude h\n"
                         "theorem h.elim3 : True := True.intro", ": False", ""),
    # a dataset's header switching the kernel off for its gold proof
    "header-skipKernelTC": ("loop", ": False", SKIP),
}


pytestmark = pytest.mark.usefixtures("lean")  # every test here needs the kernel (tests/conftest.py)


def verdict(text: str, statement: str, header: str = ""):
    try:
        program = read_lean_output(text, statement, header)
    except FormalizationError as exc:
        return "refused", exc.errors
    out = LeanSolver().solve(program, LIMITS)
    return out.answer or out.status, out.errors


@pytest.mark.lean
@pytest.mark.parametrize("name", list(ATTACKS))
def test_each_attack_is_refused_before_lean_runs(name):
    text, statement, header = ATTACKS[name]
    outcome, errors = verdict(text, statement, header)
    assert outcome == "refused", (outcome, errors)
    (first, *_) = errors
    assert first.line is not None and first.column is not None and first.snippet.endswith("^")


@pytest.mark.parametrize("hidden,word", [
    ("#eval (6 * 7 : Nat)", "#eval"), ("run_cmd pure ()", "run_cmd"), ("axiom cheat : False", "axiom"),
    ("#exit", "#exit"), ("unsafe def u : Nat := 0", "unsafe"), ("set_option maxHeartbeats 0", "maxHeartbeats"),
])
@pytest.mark.parametrize("opener,closer", [('«"»', '«z"»'), ("«/-»", "«-/»")])
def test_what_the_old_scanner_could_not_see_is_refused_where_it_is(hidden, word, opener, closer):
    text = f"def {opener} : Prop := True\n{hidden}\ndef {closer} : Prop := True\nfun h => h"
    with pytest.raises(FormalizationError) as info:
        read_lean_output(text, "(p : Prop) : p → p")
    (err, *_) = info.value.errors
    assert word in err.message and (err.line, err.column) == (2, hidden.index(word) + 1)


# What the file's layout alone stops, with the reader bypassed: our statement is elaborated before
# the model's text and the model's scopes end before our theorem. (A kernel switched off by
# `set_option` is the reader's to refuse: Lean keeps no record of it.)
LAYOUT = {
    "namespace-False": ("t", *ATTACKS["namespace-False"][:2]),
    "namespace-And": ("t", *ATTACKS["namespace-And"][:2]),
    "variable-include": ("h.elim3", *ATTACKS["variable-include"][:2]),
}


@pytest.mark.lean
@pytest.mark.parametrize("name", list(LAYOUT))
def test_the_file_layout_alone_does_not_prove_them(name):
    theorem, text, statement = LAYOUT[name]
    out = LeanSolver().solve(LeanProgram(statement=statement, text=text, theorem=theorem), LIMITS)
    assert out.status == "error" and out.answer is None, out.reason


@pytest.mark.lean
def test_a_proof_that_leans_on_our_statements_axiom_is_not_proved(monkeypatch):
    """Our statement is an axiom only to lend its type; a proof that found it (as `exact?` could)
    depends on it, and #print axioms says so."""
    import solvers.lean as backend

    monkeypatch.setattr(backend.secrets, "token_hex", lambda n: "feedface")
    text = "theorem t : False := nesyflow_target_feedface"
    out = LeanSolver().solve(LeanProgram(statement=": False", text=text, theorem="t"), LIMITS)
    assert out.status == "error" and "nesyflow_target (the problem's statement as an axiom)" in out.reason, out.reason


HONEST = {
    "helper lemma, attribute, comments": (
        "-- a helper; the words end, namespace, sorry and import in comments are harmless\n"
        "@[reducible] def Both (p q : Prop) : Prop := And p q\n"
        "private theorem flip' (p q : Prop) (h : Both p q) : Both q p :=\n"
        "  And.rec (fun hp hq => And.intro hq hp) h\n"
        "/-- the theorem -/\ntheorem swap (p q : Prop) : And p q → And q p := fun h => flip' p q h",
        "(p q : Prop) : And p q → And q p"),
    "open … in": ("open Or in\ntheorem comm (p q : Prop) : Or p q → Or q p := fun h => Or.rec (fun hp => inr hp) "
                  "(fun hq => inl hq) h", "(p q : Prop) : Or p q → Or q p"),
    "universe-polymorphic": ("theorem refl' {α : Sort v} (a : α) : Eq a a := Eq.refl a", "(α : Sort u) (a : α) : Eq a a"),
    "proof only, with an option": ("set_option pp.all true in\nfun h => And.rec (fun hp hq => And.intro hq hp) h",
                                   "(p q : Prop) : And p q → And q p"),
}


@pytest.mark.lean
@pytest.mark.parametrize("name", list(HONEST))
def test_honest_proofs_in_the_same_shapes_still_prove(name):
    text, statement = HONEST[name]
    outcome, errors = verdict(text, statement)
    assert outcome == "proved", errors


@pytest.mark.lean
@pytest.mark.prefect
def test_through_the_cli_no_attack_is_proved(prefect_api, tmp_path):
    records = [{"id": name, "kind": "theorem", "question": name, "answer": "proved",
                "formal": {"language": "lean", "header": header, "conclusion": statement, "premises": [text]}}
               for name, (text, statement, header) in ATTACKS.items()]
    records += [{"id": f"honest {name}", "kind": "theorem", "question": name, "answer": "proved",
                 "formal": {"language": "lean", "header": "", "conclusion": statement, "premises": [text]}}
                for name, (text, statement) in HONEST.items()]
    data = tmp_path / "lean-attacks.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "r.jsonl"
    run = subprocess.run([sys.executable, "-m", "flows.cli", "batch", str(data), "--parser", "gold", "--results", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    results = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(results) == {r["id"] for r in records}
    for name in ATTACKS:
        r = results[name]
        assert r["predicted"] != "proved" and r["status"] == "error", (name, r["status"], r["predicted"])
        assert "not allowed" in (r["error"] or ""), (name, r["error"])
    for name in HONEST:
        assert results[f"honest {name}"]["predicted"] == "proved", results[f"honest {name}"]


HOSTILE = {
    "blank lines": "\n" * 20_000,
    "spaces": " " * 20_000,
    "indented blank lines": ("\n" + " " * 49) * 400,
    "one long identifier": "a" * 20_000,
    "theorem then spaces": "theorem" + " " * 20_000,
    "theorem then blank lines": "theorem t" + "\n" * 20_000,
    "nested comment openers": "/-" * 10_000,
    "comment lines": "--\n" * 7_000,
    "code words in a comment": "/- " + "#eval " * 3_300 + "-/",
    "escape openers": "«" * 20_000,
    "backslashes in a string": '"' + "\\\\" * 10_000 + '"',
    "option with a long name": "set_option " + "a" * 20_000,
    "open brackets": "theorem t " + "(" * 20_000,
    "fence openers": "```lean\n" * 2_500,
    "apostrophes": "'" * 20_000,
    "projections": "h.1" * 7_000,
    "attribute openers": "@[" * 10_000,
    "long statement": "theorem t : " + "x " * 10_000 + ":= rfl",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_the_lean_reader_is_linear_on_hostile_shapes(name):
    text = HOSTILE[name]
    for read in (lambda: read_lean_output(text, "(p q : Prop) : And p q → And q p"), lambda: split_theorem(text),
                 lambda: looks_like_lean(text), lambda: split_signature(text),
                 lambda: read_lean_output("fun h => h", text, text)):
        # This thread's CPU time, with the garbage collector paused: the bound is about the reader,
        # not a busy machine, nor a full collection of the test session's heap that the reader's
        # allocations happen to trigger (0.6 s late in the whole suite, 0.05 s alone).
        gc.collect()
        gc.disable()
        t0 = time.thread_time()
        try:
            read()
        except (FormalizationError, ValueError):
            pass
        finally:
            spent = time.thread_time() - t0
            gc.enable()
        assert spent < 0.5, (name, spent)


@pytest.mark.lean
def test_a_kernel_refusal_of_a_bare_proof_blames_the_proof_not_the_statement():
    """``lcProof`` (an unsafe axiom of the prelude) as the whole proof: the kernel refuses it at our
    theorem's line, and the repair prompt said "Lean rejects the problem's statement"."""
    outcome, errors = verdict("lcProof", ": False")
    assert outcome == "error", (outcome, errors)
    assert "unsafe declaration 'lcProof'" in errors[0].message
    assert "statement" not in errors[0].message and errors[0].where == "output", errors[0]
