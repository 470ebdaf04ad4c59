"""Controlled-English parser: parse and solve time per problem on ProofWriter and PrOntoQA dev.

Plain Python, one process, sequential (no Prefect): what one problem costs the symbolic
baseline. Reports per-problem medians and totals, and accuracy from the pipeline's own answers.
``--baseline REV`` times another version of ``parsers/english.py`` (a git revision or a file) in
the same run, problem by problem in alternating order, so that before/after share the machine's load.
The slowest parse includes what the parser loads on first use (the dictionary, once per process).

    python bench/bench_english.py [--data ../shared/data] [--baseline cbb78db]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.datasets import load_problems  # noqa: E402
from flows.engine import pipeline  # noqa: E402
from solvers import Limits  # noqa: E402


def baseline_parser(spec: str):
    """``parse_problem_english`` of another version: a file, or parsers/english.py at a git revision."""
    path = Path(spec)
    if not path.is_file():
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{spec}:parsers/english.py"], check=True,
                              capture_output=True, text=True).stdout
        path = Path(tempfile.mkdtemp(prefix="bench-english-")) / "english_baseline.py"
        path.write_text(text)
    loader = importlib.util.spec_from_file_location("english_baseline", path)
    module = importlib.util.module_from_spec(loader)
    sys.modules[loader.name] = module  # dataclasses look their module up there
    loader.loader.exec_module(module)
    return module.parse_problem_english


def run_one(p, parse) -> tuple[float, float, bool, str]:
    pipeline.parse_problem_english = parse  # what pipeline.formalize(..., "english") calls
    t0 = time.perf_counter()
    checked = pipeline.check(pipeline.formalize(p, "english"))
    t1 = time.perf_counter()
    verdict = pipeline.solve(checked, "rules", Limits())
    t2 = time.perf_counter()
    result = pipeline.to_result(p, checked, [verdict])
    return (t1 - t0) * 1000, (t2 - t1) * 1000, result.correct, result.predicted or result.status


def stats(times: list[tuple[float, float, bool, str]], n: int) -> dict:
    parse_ms, solve_ms = [t[0] for t in times], [t[1] for t in times]
    return {
        "problems": n, "correct": sum(t[2] for t in times),
        "parse_ms_median": round(statistics.median(parse_ms), 3), "solve_ms_median": round(statistics.median(solve_ms), 3),
        "parse_ms_max": round(max(parse_ms), 1),
        "parse_s_total": round(sum(parse_ms) / 1000, 3), "solve_s_total": round(sum(solve_ms) / 1000, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--baseline", metavar="REV", help="also time parsers/english.py at this git revision (or file)")
    args = ap.parse_args()
    variants = {"current": pipeline.parse_problem_english}
    if args.baseline:
        variants["baseline"] = baseline_parser(args.baseline)
    report: dict = {}
    for ds in ("ProofWriter", "ProntoQA"):
        problems = load_problems(Path(args.data) / "logic_lm" / ds / "dev.json")
        times: dict[str, list] = {name: [] for name in variants}
        for i, p in enumerate(problems):
            order = list(variants) if i % 2 == 0 else list(reversed(variants))
            for name in order:
                times[name].append(run_one(p, variants[name]))
        report[ds] = {name: stats(times[name], len(problems)) for name in variants}
        if args.baseline:
            report[ds]["answers_changed"] = sum(a[3] != b[3] for a, b in zip(times["current"], times["baseline"]))
        for name, r in report[ds].items():
            if isinstance(r, dict):
                print(f"{ds:12s} {name:8s} {r['correct']}/{len(problems)} correct; per problem: parse+check "
                      f"{r['parse_ms_median']:.2f} ms, solve {r['solve_ms_median']:.2f} ms (medians); slowest parse "
                      f"{r['parse_ms_max']:.0f} ms; totals {r['parse_s_total']:.2f} s + {r['solve_s_total']:.2f} s")
        if args.baseline:
            print(f"{ds:12s} answers that differ between the two: {report[ds]['answers_changed']}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "english.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
