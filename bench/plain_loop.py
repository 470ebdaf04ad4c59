"""A plain loop over the same back ends, no Prefect, no engine: the baseline of bench_logic_lm.

``python bench/plain_loop.py RECORDING`` reads each recorded program the way the replay path does
(``flows.engine.pipeline.formalize_output``), checks it and solves it with the default back ends, one
problem after another, and prints one JSON line. Timed from outside as a whole process.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    from flows.datasets import load_problems
    from flows.engine import pipeline
    from solvers import Limits

    path = sys.argv[1]
    problems = load_problems(path, "logic-lm")
    limits = Limits()
    t0 = time.perf_counter()
    correct = 0
    for p in problems:
        if not p.recorded:
            continue
        form = pipeline.formalize_output(p, p.recorded[0], "auto", p.id, "replay")
        checked = pipeline.check(form, close_free=True)
        verdict = pipeline.solve(checked, "portfolio", limits)
        correct += pipeline.to_result(p, checked, [verdict]).correct
    print(json.dumps({"problems": len(problems), "work_s": round(time.perf_counter() - t0, 3), "correct": correct}))


if __name__ == "__main__":
    main()
