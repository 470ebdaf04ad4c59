"""Wall time and peak memory of the whole process tree of ``nesyflow batch`` on a big JSONL.

    python bench/make_big_jsonl.py /tmp/big.jsonl 1000000
    python bench/bench_stream.py /tmp/big.jsonl --limit 5
    python bench/bench_stream.py /tmp/big.jsonl            # the whole file, --parser gold

Each run has a fresh NESYFLOW_HOME (a cold store) and the benches' own Prefect server. Memory is
the peak of the summed RSS and PSS of every process of the run (``bench/_treemem.py``): the CLI
or the fork server's child, engine workers, provers. ``--code DIR`` runs another checkout of the
project (a baseline, e.g. ``git archive <commit> | tar -x -C DIR``) in-process with
``python -m flows.cli``; otherwise the installed ``nesyflow`` entry point (fork server) is run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, bench_server, cleanup, fresh_home  # noqa: E402
from _treemem import run_sampled  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--code", default=None, help="another checkout to run (in-process, python -m flows.cli)")
    ap.add_argument("--extra", default="", help="more batch options, space separated")
    ap.add_argument("--keep", action="store_true", help="keep the run's home (results, store)")
    args = ap.parse_args()
    api_url = bench_server()
    home = fresh_home("stream")
    env = {**os.environ, "NESYFLOW_HOME": str(home), "PREFECT_API_URL": api_url, "LITELLM_OFFLINE_MODE": "true"}
    opts = ["--parser", "gold", "--results", str(home / "results.jsonl"), "--summary-json", str(home / "summary.json"),
            *(["--limit", str(args.limit)] if args.limit else []), *args.extra.split()]
    if args.code:
        env["PYTHONPATH"] = str(Path(args.code).resolve())
        argv, cwd = [sys.executable, "-m", "flows.cli", "batch", args.path, *opts], args.code
    else:
        argv, cwd = [str(Path(sys.executable).with_name("nesyflow")), "batch", args.path, *opts], str(ROOT)
    with open("/proc/loadavg") as fh:
        load_before = fh.read().split()[:3]
    out = run_sampled(argv, env=env, cwd=cwd, python=sys.executable)
    with open("/proc/loadavg") as fh:
        load_after = fh.read().split()[:3]
    summary = json.loads((home / "summary.json").read_text()) if (home / "summary.json").exists() else {}
    lines = sum(1 for _ in open(home / "results.jsonl")) if (home / "results.jsonl").exists() else 0
    report = {"code": args.code or "this checkout (nesyflow entry point)", "limit": args.limit, "wall_s": out["wall_s"],
              "rc": out["rc"], "peak_rss_mb": out["peak_rss_mb"], "peak_pss_mb": out["peak_pss_mb"],
              "max_processes": out["max_processes"], "n": summary.get("n"), "correct": summary.get("correct"),
              "errors": summary.get("errors"), "results_lines": lines, "load_before": load_before, "load_after": load_after}
    if out["rc"] != 0:
        report["stderr"] = out["stderr"][-1500:]
    print(json.dumps(report, indent=2))
    if not args.keep:
        cleanup(home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
