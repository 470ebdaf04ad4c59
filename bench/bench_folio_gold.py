"""FOLIO validation, gold FOL → label: the Prefect batch against plain loops, measured in one run.

Baselines (no Prefect, sequential, one process): parse the gold FOL and call ONE prover per
problem — Prover9 (LINC's prover), E, Z3 — and, for the same work as the batch, the portfolio
(all three, cross-checked). Then the batch flow through a real local Prefect
server recording it (``--solver portfolio``: all three provers on every problem, cross-checked),
from a cold cache, and its rerun (every task Cached). Ratios are batch wall / loop wall.

    python bench/bench_folio_gold.py [--data ../shared/data] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import bench_server, cli_batch  # noqa: E402

from flows.datasets import load_problems  # noqa: E402
from parsers.errors import FormalizationError  # noqa: E402
from parsers.lenient import parse_lenient  # noqa: E402
from solvers import FolProblem, Limits, make_solver  # noqa: E402


def plain_loop(problems, solver_name: str, limits: Limits) -> tuple[float, int]:
    solver = make_solver(solver_name)
    t0 = time.perf_counter()
    correct = 0
    for p in problems:
        try:
            fs = [parse_lenient(t)[0] for t in p.formal.premises + [p.formal.conclusion]]
        except FormalizationError:
            continue
        status = solver.solve(FolProblem(tuple(fs[:-1]), fs[-1]), limits).status.value
        correct += status == p.answer
    return time.perf_counter() - t0, correct


OPTIONS = ["--parser", "gold", "--solver", "portfolio"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    path = Path(args.data) / "folio" / "folio-validation.jsonl"
    problems = load_problems(path)
    limits = Limits()

    api_url = bench_server()

    report: dict = {"problems": len(problems), "cores": os.cpu_count(), "concurrency": args.concurrency, "loops": {}}
    for name in ("prover9", "eprover", "z3", "portfolio"):
        wall, correct = plain_loop(problems, name, limits)
        report["loops"][name] = {"wall_s": round(wall, 3), "correct": correct}
        print(f"plain loop, {name:8s}: {wall:6.2f} s  ({correct} correct)", flush=True)

    with tempfile.TemporaryDirectory(prefix="nesyflow-bench-") as tmp:
        home = Path(tmp)
        cold_wall, cold = cli_batch(path, OPTIONS, home, api_url, args.concurrency, home / "s1.json")
        warm_wall, warm = cli_batch(path, OPTIONS, home, api_url, args.concurrency, home / "s2.json")
    report["batch_cold"] = {"cli_wall_s": round(cold_wall, 3), "flow_wall_s": cold["wall_s"], "correct": cold["correct"]}
    report["batch_cached"] = {"cli_wall_s": round(warm_wall, 3), "flow_wall_s": warm["wall_s"], "correct": warm["correct"]}
    print(f"Prefect batch (portfolio, cold cache): flow {cold['wall_s']:.2f} s, whole CLI {cold_wall:.2f} s ({cold['correct']} correct)")
    print(f"Prefect batch rerun (all cached):      flow {warm['wall_s']:.2f} s, whole CLI {warm_wall:.2f} s")
    report["ratios_flow_vs_loop"] = {k: round(cold["wall_s"] / v["wall_s"], 3) for k, v in report["loops"].items()}
    report["ratio_cached_vs_prover9_loop"] = round(warm["wall_s"] / report["loops"]["prover9"]["wall_s"], 3)
    for k, r in report["ratios_flow_vs_loop"].items():
        print(f"ratio batch flow / plain {k} loop: {r:.2f}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "folio_gold.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
