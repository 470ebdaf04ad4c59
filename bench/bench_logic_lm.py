"""Logic-LM's released GPT-4 programs (five datasets), replayed: the CLI against a plain loop.

* plain loop: ``bench/plain_loop.py`` — read, check and solve each recorded program with the same
  functions and back ends, sequentially, in one process without Prefect;
* nesyflow: ``nesyflow batch <recording> --format logic-lm --parser replay`` from an empty store,
  then its rerun (everything read back).

Both are whole processes timed from outside, interleaved and repeated; medians are reported.

    python bench/bench_logic_lm.py [--repeat 3] [--datasets LogicalDeduction,AR-LSAT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATA, bench_server, cold_and_rerun, median, timed, write_report  # noqa: E402

DATASETS = ("ProofWriter", "ProntoQA", "FOLIO", "LogicalDeduction", "AR-LSAT")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--model", default="gpt-4")
    args = ap.parse_args()
    api_url = bench_server()
    report: dict = {"cores": os.cpu_count(), "repeat": args.repeat, "model": args.model, "datasets": {}}
    for ds in args.datasets.split(","):
        path = Path(args.data) / "recorded" / "logic_lm" / f"{ds}_dev_{args.model}.json"
        walls: dict[str, list[float]] = {"loop": [], "nesyflow": [], "rerun": []}
        correct = {}
        for _ in range(args.repeat):
            wall, out, _ = timed([sys.executable, "bench/plain_loop.py", str(path)])
            walls["loop"].append(wall)
            correct["loop"] = json.loads(out)["correct"]
            wall, s, rerun = cold_and_rerun(path, ["--format", "logic-lm", "--parser", "replay"], "logiclm", api_url)
            walls["nesyflow"].append(wall)
            walls["rerun"].append(rerun)
            correct["nesyflow"] = s["correct"]
        med = {k: median(v) for k, v in walls.items()}
        row = {"median_whole_process_s": med, "all_runs_s": {k: [round(x, 3) for x in v] for k, v in walls.items()},
               "correct": correct, "ratio_vs_loop": {k: round(med[k] / med["loop"], 3) for k in ("nesyflow", "rerun")}}
        report["datasets"][ds] = row
        print(f"{ds:17s} loop {med['loop']:6.2f} s  nesyflow {med['nesyflow']:6.2f} s "
              f"(ratio {row['ratio_vs_loop']['nesyflow']:.2f})  rerun {med['rerun']:5.2f} s  correct {correct}", flush=True)
    print(json.dumps(report, indent=2))
    write_report(f"logic_lm_replay_{args.model}", report)


if __name__ == "__main__":
    main()
