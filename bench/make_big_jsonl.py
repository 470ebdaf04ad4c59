"""Write a large JSONL of small synthetic gold-FOL problems (the project's own format) for the
scaling benches: ``python bench/make_big_jsonl.py /tmp/big.jsonl 1000000``.

Each problem is a short syllogism-like story with its gold FOL (entailment, True / False /
Unknown by construction), its names varied so problems differ (no two share a result key) while
staying FOLIO-sized. Nothing is copied from a dataset; the file goes where you say (e.g. /tmp),
never into the repository.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

_SHAPES = (
    # (premises, conclusion, answer): P/Q/R are predicates, c a constant
    (["all x. ({P}(x) -> {Q}(x))", "{P}({c})"], "{Q}({c})", "True"),
    (["all x. ({P}(x) -> -{Q}(x))", "{P}({c})"], "{Q}({c})", "False"),
    (["all x. ({P}(x) -> {Q}(x))", "{Q}({c})"], "{P}({c})", "Unknown"),
    (["all x. ({P}(x) -> {Q}(x))", "all x. ({Q}(x) -> {R}(x))", "{P}({c})"], "{R}({c})", "True"),
)


def problem(i: int) -> dict:
    premises, conclusion, answer = _SHAPES[i % len(_SHAPES)]
    names = {"P": f"P{i % 997}", "Q": f"Q{i % 991}", "R": f"R{i % 983}", "c": f"c{i}"}
    fol = [p.format(**names) for p in premises]
    return {"id": f"big-{i:07d}", "premises": [f"premise {k + 1} of problem {i}" for k in range(len(fol))],
            "conclusion": f"conclusion of problem {i}", "answer": answer,
            "formal": {"language": "fol", "premises": fol, "conclusion": conclusion.format(**names)}}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: make_big_jsonl.py OUT.jsonl N", file=sys.stderr)
        return 2
    out, n = Path(argv[0]), int(argv[1])
    with out.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps(problem(i), ensure_ascii=False) + "\n")
    print(f"{out}: {n} problems, {out.stat().st_size / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
