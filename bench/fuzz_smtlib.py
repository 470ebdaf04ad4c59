"""Fuzz the SMT-LIB reader against the real z3 binary: whatever the reader accepts, z3 must run no
command we did not emit (issue 18).

Scripts are random mixes of what has fooled a reader before — stray ``\\``, ``|``, ``"``, ``;``,
``#|``, ``'``, non-ASCII, numbers run into names — around ``assert``\\ s, with commands that leave
a trace when z3 runs them: ``(echo "<canary>")`` prints a line, ``(set-option
:regular-output-channel "<file>")`` creates a file in a scratch directory (and swallows our output),
``(check-sat)`` prints an extra answer. Each script the reader accepts is run on z3 followed by our
own nonce-marked suffix (``echo``, ``check-sat``, ``echo``), unconfined, in a scratch directory. A
bypass is any trace: the canary line, a file, our marker missing, or other than exactly one answer.

    python bench/fuzz_smtlib.py --seconds 600 [--seed 18] [--root /work/main]

``--root`` fuzzes the reader of another checkout (e.g. the code before the fix). Prints a JSON
line: scripts generated, accepted, run on z3, bypasses (with the first few scripts).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["Fuzzer", "Report", "random_script"]

CANARY = "nesyflow-fuzz-canary"
_ERROR = re.compile(r'\(error "(?:[^"\\]|\\.)*"\)', re.S)
HAZARDS = ["\\", "|", '"', ";", "#|", "|#", "'", "\n", "é", "{", "}", "[", "`", "#", "#x", "2x", ":", '""', "|a|", "||",
           "\\|", '"\\"', "; c\n", "\r", "\t", "-1", "1.5", "#b01", ":named", "!", "\x0c", "\\\\"]
ATOMS = ["x", "y", "true", "false", "1", "(foo)", "(> x 1)", "(= x y)", "|q r|", '"s"', "foo"]


def _commands(path: Path) -> list[str]:
    return [f'(echo "{CANARY}")', f'(set-option :regular-output-channel "{path}")', "(check-sat)", "(get-info :name)",
            "(reset)", "(exit)", "(push 1)", "(eval x)"]


def random_script(rng: random.Random, path: Path) -> str:
    """A declaration, one to three asserts whose bodies mix atoms, lists, hazards and commands, a conclusion."""
    commands = _commands(path)

    def body(depth: int) -> str:
        parts = []
        for _ in range(rng.randint(1, 6)):
            r = rng.random()
            if r < 0.35:
                parts.append(rng.choice(HAZARDS))
            elif r < 0.55:
                parts.append(rng.choice(commands))
            elif r < 0.7 and depth < 3:
                parts.append(f"({body(depth + 1)})")
            else:
                parts.append(rng.choice(ATOMS))
        sep = rng.choice([" ", " ", "", "\n"])
        return sep.join(parts)

    asserts = [f"(assert {body(0)})" for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.2:  # sometimes an honest script, so acceptance is exercised too
        asserts = [rng.choice(["(assert (> x 1))", '(assert (! (> x 0) :named a1))', "(assert (= |q r| x)) ; note"])]
    return "(declare-const x Int)\n(declare-const y Int)\n(declare-const |q r| Int)\n" + "\n".join(asserts) + \
        "\n(define-fun conclusion () Bool (> x 0))\n"


@dataclass
class Report:
    generated: int = 0
    accepted: int = 0
    bypasses: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"generated": self.generated, "accepted": self.accepted, "run_on_z3": self.accepted,
                "bypasses": len(self.bypasses), "seconds": round(self.seconds, 1), "first": self.bypasses[:3]}


class Fuzzer:
    """``reader(text) -> script`` (raising on refusal) and a z3 binary; ``run`` for a time budget."""

    def __init__(self, reader, z3: str, scratch: Path):
        self.reader, self.z3, self.scratch = reader, z3, scratch

    def traces(self, script: str, target: Path) -> list[str]:
        """What z3 did beyond our commands when given ``script`` and our suffix ('' each: nothing)."""
        nonce = secrets.token_hex(8)
        suffix = f'(echo "@fuzz {nonce} script")\n(check-sat)\n(echo "@fuzz {nonce} end")\n'
        text = script if script.endswith("\n") else script + "\n"
        try:
            out = subprocess.run([self.z3, "-in", "-smt2", "-T:10"], input=(text + suffix).encode(), capture_output=True,
                                 cwd=self.scratch, timeout=30).stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            return ["z3 did not finish in 30 s"]
        found = []
        if target.exists():
            found.append(f"z3 created {target.name}")
        lines = [ln for ln in _ERROR.sub("", out).split("\n") if ln.strip() and not ln.startswith("WARNING: ")]
        if CANARY in lines:
            found.append("z3 ran an echo")
        if lines[-1:] != [f"@fuzz {nonce} end"]:
            found.append("our end marker is missing (output redirected or z3 stopped)")
        if f"@fuzz {nonce} script" in lines:
            rest = lines[lines.index(f"@fuzz {nonce} script"):]
            if [ln for ln in rest[1:-1]] not in (["sat"], ["unsat"], ["unknown"]):
                found.append(f"our check-sat's answer is not alone: {rest[1:-1][:4]}")
            others = [ln for ln in lines[:lines.index(f"@fuzz {nonce} script")] if ln]
            if others:
                found.append(f"the script made z3 print {others[:3]}")
        else:
            found.append("our first marker is missing")
        return found

    def run(self, seconds: float, seed: int) -> Report:
        rng = random.Random(seed)
        report = Report()
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            target = self.scratch / f"written-{report.generated}"
            text = random_script(rng, target)
            report.generated += 1
            try:
                script = self.reader(text)
            except Exception:
                continue  # refused (a located error): z3 never sees it
            report.accepted += 1
            found = self.traces(script, target)
            if found:
                report.bypasses.append({"script": text, "traces": found})
            for leftover in self.scratch.iterdir():
                leftover.unlink()
        report.seconds = time.monotonic() - t0
        return report


def reader_of(root: Path):
    """The SMT-LIB reader of the checkout at ``root``, as ``text -> script``."""
    sys.path.insert(0, str(root))
    from parsers.programs.smtlib import parse_smtlib_program

    return lambda text: parse_smtlib_program(text).script


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--root", default=str(ROOT), help="checkout whose reader is fuzzed [this one]")
    args = ap.parse_args()
    reader = reader_of(Path(args.root))
    from solvers.binaries import z3_binary

    scratch = Path(tempfile.mkdtemp(prefix="nesyflow-fuzz-"))
    try:
        report = Fuzzer(reader, z3_binary(), scratch).run(args.seconds, args.seed)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({"root": args.root, "seed": args.seed, **report.summary()}))


if __name__ == "__main__":
    main()
