"""FOLIO validation, gold FOL → label: nesyflow's CLI against LINC's stack, whole processes, one run.

* LINC's stack: ``bench/linc_stack.py folio`` — NLTK's reader and Prover9 through NLTK, prove C
  else ¬C, one problem after another (what LINC's ``evaluate()`` does);
* nesyflow: ``nesyflow batch folio-validation.jsonl --parser gold`` from an empty store, default
  solver (the portfolio: Z3 decides, E confirms, Prover9 breaks ties), then ``--solver eprover``,
  ``z3`` and ``prover9`` alone, and the rerun of the default job (everything read back).

Runs are interleaved and repeated (``--repeat``); medians are reported, ratios are nesyflow / LINC.

    python bench/bench_folio_gold.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATA, bench_server, cleanup, cli_batch, fresh_home, median, timed, write_report  # noqa: E402

SOLVERS = ("portfolio", "eprover", "z3", "prover9")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--solvers", default=",".join(SOLVERS))
    args = ap.parse_args()
    path = Path(args.data) / "folio" / "folio-validation.jsonl"
    api_url = bench_server()
    solvers = args.solvers.split(",")
    walls: dict[str, list[float]] = {name: [] for name in ["linc", *solvers, "rerun"]}
    correct: dict[str, int] = {}
    for i in range(args.repeat):
        wall, out, _ = timed([sys.executable, "bench/linc_stack.py", "folio", str(path)])
        walls["linc"].append(wall)
        correct["linc"] = json.loads(out)["correct"]
        for name in solvers:
            home = fresh_home("folio")
            wall, summary = cli_batch(path, ["--parser", "gold", "--solver", name], home, api_url)
            walls[name].append(wall)
            correct[name] = summary["correct"]
            if name == "portfolio":
                wall, again = cli_batch(path, ["--parser", "gold", "--solver", name], home, api_url)
                assert again["cached_problems"] == again["n"], again
                walls["rerun"].append(wall)
            cleanup(home)
        print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in walls.items() if v), flush=True)
    med = {k: median(v) for k, v in walls.items()}
    report = {
        "problems": 204, "cores": os.cpu_count(), "repeat": args.repeat, "median_whole_process_s": med,
        "all_runs_s": {k: [round(x, 3) for x in v] for k, v in walls.items()},
        "correct": correct,
        "ratio_vs_linc": {k: round(med[k] / med["linc"], 3) for k in med if k != "linc"},
    }
    print(json.dumps(report, indent=2))
    write_report("folio_gold", report)


if __name__ == "__main__":
    main()
