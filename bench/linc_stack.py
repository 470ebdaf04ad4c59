"""LINC's evaluation stack, rebuilt from its two components for side-by-side timing in one run:
NLTK's first-order reader (``Expression.fromstring``) and Prover9 through NLTK's wrapper
(``nltk.Prover9(10)``), called the way LINC's ``evaluate()`` calls them — prove the conclusion;
if that fails, prove its negation; otherwise Uncertain — one problem (one sample) after another.

Inputs: FOLIO's gold FOL printed in NLTK syntax by our reader (problems whose gold FOL needs an
edit to parse are errors, as they are for LINC: NLTK cannot read them either), and LINC's
recorded completions, whose FOL lines are NLTK syntax already. Only the ``bench`` extra
installs NLTK; nothing in the project imports this module.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

__all__ = ["linc_prover", "evaluate", "folio_gold", "linc_replay"]


def linc_prover(workdir: Path):
    """NLTK's Prover9 wrapper (10 s timeout, as LINC builds it) on the binary our wheel ships."""
    import nltk

    from solvers.binaries import prover9_binary

    bindir = workdir / "prover9-bin"
    bindir.mkdir(parents=True, exist_ok=True, mode=0o700)
    link = bindir / "prover9"
    if not link.exists():
        link.symlink_to(prover9_binary())
    os.environ["PROVER9"] = str(bindir)
    return nltk.Prover9(10)


def evaluate(prover, premises: list[str], conclusion: str) -> str:
    from nltk.sem import Expression

    try:
        c = Expression.fromstring(conclusion)
        ps = [Expression.fromstring(p) for p in premises]
        if prover.prove(c, ps):
            return "True"
        if prover.prove(Expression.fromstring(f"-({conclusion})"), ps):
            return "False"
        return "Uncertain"
    except Exception:  # LINC counts any failure of a sample as Error
        return "Error"


_DIGITS = {str(i): w for i, w in enumerate(["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"])}


def _linc_name(name: str) -> str:
    """Constants as LINC's conversion leaves them for NLTK and Prover9: capitalised (Prover9 reads
    names starting u–z as variables), digits and dots spelled out, apostrophes dropped."""
    name = "".join(_DIGITS.get(ch, "Dot" if ch == "." else "" if ch in "'’" else ch) for ch in name)
    return name[:1].upper() + name[1:]


def _renamed(node):
    """The formula with every constant renamed by ``_linc_name``."""
    from parsers.fol import nodes as A

    if isinstance(node, A.Const):
        return A.Const(_linc_name(node.name))
    if isinstance(node, A.Var):
        return node
    if isinstance(node, (A.Atom, A.Func)):
        return type(node)(node.pred if isinstance(node, A.Atom) else node.name, tuple(_renamed(a) for a in node.args))
    if isinstance(node, (A.Forall, A.Exists)):
        return type(node)(node.var, _renamed(node.body))
    if isinstance(node, A.Not):
        return A.Not(_renamed(node.body))
    if isinstance(node, (A.And, A.Or)):
        return type(node)(tuple(_renamed(a) for a in node.args))
    return type(node)(_renamed(node.left), _renamed(node.right))


def _nltk_text(formula: str) -> str | None:
    from parsers.fol.printer import to_nltk
    from parsers.fol.lenient import parse_lenient

    try:
        f, edits = parse_lenient(formula)
    except Exception:
        return None
    if edits:
        return None
    return to_nltk(_renamed(f))


def folio_gold(problems, workdir: Path) -> tuple[float, int, Counter]:
    """(wall seconds, correct, outcomes) over FOLIO problems with gold FOL."""
    prover = linc_prover(workdir)
    label = {"True": "True", "False": "False", "Unknown": "Uncertain"}
    t0 = time.perf_counter()
    correct, outcomes = 0, Counter()
    for p in problems:
        texts = [_nltk_text(t) for t in [*p.formal.premises, p.formal.conclusion]]
        out = "Error" if any(t is None for t in texts) else evaluate(prover, texts[:-1], texts[-1])
        outcomes[out] += 1
        correct += out == label.get(p.answer)
    return time.perf_counter() - t0, correct, outcomes


def linc_replay(problems, workdir: Path, samples: int) -> tuple[float, int, Counter]:
    """(wall seconds, correct, per-sample outcomes) over LINC's recorded completions, majority vote
    over the samples that did not fail (LINC's k-majority)."""
    from parsers.llm_output import extract_linc

    prover = linc_prover(workdir)
    label = {"True": "True", "False": "False", "Unknown": "Uncertain"}
    t0 = time.perf_counter()
    correct, outcomes = 0, Counter()
    for p in problems:
        votes = []
        for text in (p.recorded or [])[:samples]:
            ex = extract_linc(text)
            out = "Error" if ex.errors else evaluate(prover, ex.premises, ex.conclusion)
            outcomes[out] += 1
            if out != "Error":
                votes.append(out)
        if votes:
            top = Counter(votes).most_common(1)[0][0]
            correct += top == label.get(p.answer)
    return time.perf_counter() - t0, correct, outcomes


def main(argv: list[str] | None = None) -> None:
    """``python bench/linc_stack.py folio|replay PATH [--samples K] [--limit N]``: one JSON line, timed from
    inside (the caller times the whole process)."""
    import argparse
    import json
    import tempfile

    from flows.datasets import load_problems

    ap = argparse.ArgumentParser(description="LINC's stack on FOLIO gold FOL or a LINC recording")
    ap.add_argument("what", choices=("folio", "replay"))
    ap.add_argument("path")
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--limit", type=int, default=None, help="only the first N problems")
    args = ap.parse_args(argv)
    problems = load_problems(args.path, limit=args.limit)
    with tempfile.TemporaryDirectory(prefix="linc-stack-", dir=str(ROOT / ".nesyflow")) as tmp:
        if args.what == "folio":
            wall, correct, outcomes = folio_gold(problems, Path(tmp))
        else:
            wall, correct, outcomes = linc_replay(problems, Path(tmp), args.samples)
    print(json.dumps({"problems": len(problems), "work_s": round(wall, 3), "correct": correct, "outcomes": dict(outcomes)}))


if __name__ == "__main__":
    main()
