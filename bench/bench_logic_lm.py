"""Logic-LM's released GPT-4 programs (five datasets), replayed: the batch flow against a plain loop.

Plain loop (no Prefect, no litellm, sequential): read each recorded program the way the replay
path does (``parsers.llm_output.extract``), check it, solve it — the same functions the tasks call.
For the constraint datasets the loop runs twice, with a warm z3 worker and with one z3 process per
problem, to show what the warm worker buys. Then the replay batch through a real local Prefect
server from a cold cache (every recorded completion goes through litellm's provider interface),
and its rerun (LLM calls and solver results cached). Ratios are flow wall / plain-loop wall.

    python bench/bench_logic_lm.py [--data ../shared/data] [--concurrency 2] [--datasets LogicalDeduction,AR-LSAT]
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

from flows import pipeline  # noqa: E402
from flows.datasets import load_problems  # noqa: E402
from solvers import Limits  # noqa: E402
from solvers.smt import SmtSolver  # noqa: E402

DATASETS = ("ProofWriter", "ProntoQA", "FOLIO", "LogicalDeduction", "AR-LSAT")


def plain_loop(problems, limits: Limits, warm: bool = True) -> tuple[float, int]:
    cold_solver = SmtSolver(warm=False)
    t0 = time.perf_counter()
    correct = 0
    for p in problems:
        form = pipeline.formalize_output(p, p.recorded[0], "auto", p.id, "replay")
        checked = pipeline.check(form, close_free=True)
        if not warm and checked.smt is not None:
            correct += cold_solver.solve(checked.smt, limits).answer == p.answer
            continue
        verdict = pipeline.solve(checked, "portfolio", limits)
        correct += pipeline.to_result(p, checked, [verdict]).correct
    return time.perf_counter() - t0, correct


OPTIONS = ["--format", "logic-lm", "--parser", "replay"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    args = ap.parse_args()
    limits = Limits()

    api_url = bench_server()

    report: dict = {"cores": os.cpu_count(), "concurrency": args.concurrency, "datasets": {}}
    for ds in args.datasets.split(","):
        path = Path(args.data) / "recorded" / "logic_lm" / f"{ds}_dev_gpt-4.json"
        problems = load_problems(path, "logic-lm")
        row: dict = {"problems": len(problems)}
        wall, correct = plain_loop(problems, limits)
        row["loop"] = {"wall_s": round(wall, 3), "correct": correct}
        print(f"{ds:17s} plain loop: {wall:6.2f} s ({correct}/{len(problems)} correct)", flush=True)
        if problems and problems[0].kind == "choice":
            cold_wall, cold_correct = plain_loop(problems, limits, warm=False)
            row["loop_one_process_per_problem"] = {"wall_s": round(cold_wall, 3), "correct": cold_correct}
            print(f"{ds:17s} plain loop, a z3 process per problem: {cold_wall:6.2f} s "
                  f"(warm worker ratio {wall / cold_wall:.2f})", flush=True)
        with tempfile.TemporaryDirectory(prefix="nesyflow-bench-") as tmp:
            home = Path(tmp)
            cold_cli, cold = cli_batch(path, OPTIONS, home, api_url, args.concurrency, home / "s1.json")
            warm_cli, warm = cli_batch(path, OPTIONS, home, api_url, args.concurrency, home / "s2.json")
        row["flow_cold"] = {"flow_wall_s": cold["wall_s"], "cli_wall_s": round(cold_cli, 3), "correct": cold["correct"],
                            "llm_calls": cold["llm_calls"], "llm_cached": cold["llm_cached"]}
        row["flow_cached"] = {"flow_wall_s": warm["wall_s"], "cli_wall_s": round(warm_cli, 3), "correct": warm["correct"],
                              "llm_calls": warm["llm_calls"]}
        row["ratio_flow_vs_loop"] = round(cold["wall_s"] / wall, 3)
        row["ratio_cached_vs_cold"] = round(warm["wall_s"] / cold["wall_s"], 3)
        print(f"{ds:17s} flow cold {cold['wall_s']:6.2f} s ({cold['llm_calls']} LLM calls, {cold['llm_cached']} cached; "
              f"ratio to loop {row['ratio_flow_vs_loop']:.2f}), "
              f"rerun {warm['wall_s']:.2f} s ({warm['llm_calls']} LLM calls), correct {cold['correct']}", flush=True)
        report["datasets"][ds] = row
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "logic_lm_replay.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
