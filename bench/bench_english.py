"""Controlled-English parser: parse and solve time per problem on ProofWriter and PrOntoQA dev.

Plain Python, one process, sequential (no Prefect): what one problem costs the symbolic
baseline. Reports per-problem medians and totals, and accuracy from the pipeline's own answers.

    python bench/bench_english.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.datasets import load_problems  # noqa: E402
from flows.engine import pipeline  # noqa: E402
from solvers import Limits  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    args = ap.parse_args()
    report = {}
    for ds in ("ProofWriter", "ProntoQA"):
        problems = load_problems(Path(args.data) / "logic_lm" / ds / "dev.json")
        parse_ms, solve_ms, correct = [], [], 0
        for p in problems:
            t0 = time.perf_counter()
            checked = pipeline.check(pipeline.formalize(p, "english"))
            t1 = time.perf_counter()
            verdict = pipeline.solve(checked, "rules", Limits())
            t2 = time.perf_counter()
            parse_ms.append((t1 - t0) * 1000)
            solve_ms.append((t2 - t1) * 1000)
            correct += pipeline.to_result(p, checked, [verdict]).correct
        report[ds] = {
            "problems": len(problems), "correct": correct,
            "parse_ms_median": round(statistics.median(parse_ms), 3), "solve_ms_median": round(statistics.median(solve_ms), 3),
            "parse_s_total": round(sum(parse_ms) / 1000, 3), "solve_s_total": round(sum(solve_ms) / 1000, 3),
        }
        r = report[ds]
        print(f"{ds:12s} {correct}/{len(problems)} correct; per problem: parse+check {r['parse_ms_median']:.2f} ms, "
              f"solve {r['solve_ms_median']:.2f} ms (medians); totals {r['parse_s_total']:.2f} s + {r['solve_s_total']:.2f} s")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "english.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
