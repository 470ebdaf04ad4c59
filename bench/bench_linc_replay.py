"""LINC's recorded GPT-4 completions, replayed: nesyflow's CLI against LINC's stack, whole processes.

* LINC's stack: ``bench/linc_stack.py replay`` — every sample's FOL lines read by NLTK, Prover9
  through NLTK on C then ¬C, majority vote over the samples that did not fail;
* nesyflow: ``nesyflow batch <recording> --parser replay --samples K`` from an empty store (every
  completion through the LLM path: the replay client, extraction, checks, the default portfolio,
  the vote), then its rerun (everything read back).

    python bench/bench_linc_replay.py [--repeat 3] [--recording proofwriter|folio]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATA, bench_server, cold_and_rerun, median, timed, write_report  # noqa: E402

RECORDINGS = {"proofwriter": ("gpt-4-0613_proofwriter-neurosymbolic-8shot_generations_raw.json", 5),
              "folio": ("gpt-4-0613_folio-neurosymbolic-8shot_generations_raw.json", 10)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--recording", choices=tuple(RECORDINGS), default="proofwriter")
    args = ap.parse_args()
    name, samples = RECORDINGS[args.recording]
    path = Path(args.data) / "recorded" / "linc" / name
    api_url = bench_server()
    walls: dict[str, list[float]] = {"linc": [], "nesyflow": [], "rerun": []}
    correct = {}
    for i in range(args.repeat):
        wall, out, _ = timed([sys.executable, "bench/linc_stack.py", "replay", str(path), "--samples", str(samples)])
        walls["linc"].append(wall)
        correct["linc"] = json.loads(out)["correct"]
        wall, s, rerun = cold_and_rerun(path, ["--parser", "replay", "--samples", str(samples)], "linc", api_url)
        walls["nesyflow"].append(wall)
        walls["rerun"].append(rerun)
        correct["nesyflow"] = s["correct"]
        print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in walls.items()), flush=True)
    med = {k: median(v) for k, v in walls.items()}
    report = {"recording": name, "samples": samples, "cores": os.cpu_count(), "repeat": args.repeat,
              "median_whole_process_s": med, "all_runs_s": {k: [round(x, 3) for x in v] for k, v in walls.items()},
              "correct": correct, "ratio_vs_linc": {k: round(med[k] / med["linc"], 3) for k in ("nesyflow", "rerun")}}
    print(json.dumps(report, indent=2))
    write_report(f"linc_replay_{args.recording}", report)


if __name__ == "__main__":
    main()
