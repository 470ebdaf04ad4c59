"""Wall time and peak memory of the whole process tree of ``nesyflow batch`` on a big JSONL.

    python bench/make_big_jsonl.py /tmp/big.jsonl 1000000
    python bench/bench_stream.py /tmp/big.jsonl --limit 5
    python bench/bench_stream.py /tmp/big.jsonl            # the whole file, --parser gold
    python bench/bench_stream.py /tmp/big.jsonl --stop-after 2700   # Ctrl-C after 45 min: a partial run

Each run has a fresh NESYFLOW_HOME (a cold store) and the benches' own Prefect server. Memory is
the peak of the summed RSS and PSS of every process of the run (``bench/_treemem.py``): the CLI
or the fork server's child, engine workers, provers. The results file is checked to be in the
input's order (its ids in the file's order, each once); ``--stop-after S`` interrupts the batch as Ctrl-C
does after S seconds (the CLI writes what finished) and reports how far it got, with the results
file's growth every minute, for a whole file that takes longer than one sitting. ``--code DIR`` runs another checkout of the
project (a baseline, e.g. ``git archive <commit> | tar -x -C DIR``) in-process with
``python -m flows.cli``; otherwise the installed ``nesyflow`` entry point (fork server) is run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, bench_server, cleanup, fresh_home  # noqa: E402
from _treemem import run_sampled, stat_fields  # noqa: E402


def _children_named(root: int, word: str) -> list[int]:
    """Our child processes whose command line holds ``word`` (the ``nesyflow batch`` we started)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := stat_fields(int(entry))) is not None and int(fields[1]) == root:
            try:
                cmd = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if word.encode() in cmd:
                found.append(int(entry))
    return found


def _results_in_order(results: Path, data: str) -> tuple[int, bool]:
    """(lines in the results file, whether its ids come in the input's order, each once). A batch
    stopped early also writes what finished after an unfinished problem, so the file may skip ids."""
    if not results.exists():
        return 0, False
    n, ok = 0, True
    with open(results, encoding="utf-8") as res, open(data, encoding="utf-8") as src:
        ids = (json.loads(line)["id"] for line in src)
        for line in res:
            n += 1
            got = json.loads(line)["id"]
            ok = ok and any(want == got for want in ids)  # advances the input to that id, or exhausts it
    return n, ok


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--code", default=None, help="another checkout to run (in-process, python -m flows.cli)")
    ap.add_argument("--extra", default="", help="more batch options, space separated")
    ap.add_argument("--keep", action="store_true", help="keep the run's home (results, store)")
    ap.add_argument("--stop-after", type=float, default=None, help="seconds; then SIGINT the batch (a partial run)")
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
    results = home / "results.jsonl"
    growth: list[tuple[int, int]] = []  # (seconds, results bytes) every minute
    stopped: list[bool] = []
    # A shell's background job starts with SIGINT ignored, and an exec keeps an ignored signal: the
    # batch would never see the Ctrl-C below. A handler here is reset to the default on exec.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def on_sample(elapsed: float) -> None:
        if elapsed >= 60 * (len(growth) + 1):
            growth.append((round(elapsed), results.stat().st_size if results.exists() else 0))
        if args.stop_after and elapsed >= args.stop_after and not stopped:
            stopped.append(True)
            for pid in _children_named(os.getpid(), "batch"):
                os.kill(pid, signal.SIGINT)

    out = run_sampled(argv, env=env, cwd=cwd, python=sys.executable, on_sample=on_sample)
    with open("/proc/loadavg") as fh:
        load_after = fh.read().split()[:3]
    summary = json.loads((home / "summary.json").read_text()) if (home / "summary.json").exists() else {}
    lines, in_order = _results_in_order(results, args.path)
    report = {"code": args.code or "this checkout (nesyflow entry point)", "limit": args.limit, "wall_s": out["wall_s"],
              "rc": out["rc"], "peak_rss_mb": out["peak_rss_mb"], "peak_pss_mb": out["peak_pss_mb"],
              "max_processes": out["max_processes"], "peak_rss_at_s": out["peak_rss_at_s"],
              "memory_mb_each_minute": out["memory_mb_each_minute"], "n": summary.get("n"), "correct": summary.get("correct"),
              "errors": summary.get("errors"), "results_lines": lines,
              "results_in_input_order": in_order, "stopped_after_s": args.stop_after if stopped else None,
              "results_mb_each_minute": [(t, round(b / 1e6, 1)) for t, b in growth], "load_before": load_before, "load_after": load_after}
    if out["rc"] != 0:
        report["stderr"] = out["stderr"][-1500:]
    print(json.dumps(report, indent=2))
    if not args.keep:
        cleanup(home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
