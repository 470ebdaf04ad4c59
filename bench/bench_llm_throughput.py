"""LLM throughput: a simulated model with fixed latency behind a local OpenAI-compatible server.

100 problems × 5 samples, 1 s per call, concurrency 8: the ideal wall time is 100·5·1/8 = 62.5 s.
The batch flow runs in this process against a real local Prefect server (recording every task
run), over real HTTP through litellm. Then the finished batch again: every call from Prefect's
cache. Reports throughput as a fraction of ideal and the rerun as a fraction of the first run.

    python bench/bench_llm_throughput.py [--problems 100] [--samples 5] [--latency 1.0] [--concurrency 8]
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

COMPLETION = ("TEXT:\tAll men are mortal.\nFOL:\tall x. (Man(x) -> Mortal(x))\n"
              "TEXT:\tSocrates is a man.\nFOL:\tMan(Socrates)\nTEXT:\tSocrates is mortal.\nFOL:\tMortal(Socrates)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=100)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="nesyflow-llm-bench-"))
    from flows.server import ensure_server, offline_env

    bench_home = ROOT / ".nesyflow" / "bench"
    os.environ.update(offline_env(tmp))  # fresh result storage and caches: the first run computes everything
    os.environ["NESYFLOW_HOME"] = str(tmp)
    os.environ["PREFECT_API_URL"] = os.environ.get("NESYFLOW_BENCH_API_URL") or ensure_server(bench_home, port=4210)

    data = tmp / "problems.jsonl"
    with data.open("w") as fh:
        for i in range(args.problems):
            fh.write(json.dumps({"id": f"sim{i}", "premises": ["All men are mortal.", "Socrates is a man."],
                                 "conclusion": f"Socrates is mortal ({i}).", "answer": "True"}) + "\n")

    from flows.batch import drain, run_batch
    from flows.fake_openai import FakeOpenAI

    ideal = args.problems * args.samples * args.latency / args.concurrency
    with FakeOpenAI(lambda messages: COMPLETION, latency_s=args.latency) as server:
        params = dict(path=str(data), parser="llm", model="openai/simulated", api_base=server.api_base,
                      samples=args.samples, concurrency=args.concurrency, solver="z3")
        t0, m0 = time.perf_counter(), time.monotonic()
        first = run_batch(**params)
        first_wall = time.perf_counter() - t0
        calls_first = len(server.requests)
        first_request_s = server.arrivals[0] - m0 if server.arrivals else None
        calls_span_s = server.arrivals[-1] - server.arrivals[0] + args.latency if server.arrivals else None
        t0 = time.perf_counter()
        second = run_batch(**params)
        second_wall = time.perf_counter() - t0
        calls_second = len(server.requests) - calls_first
    drain()
    report = {
        "problems": args.problems, "samples": args.samples, "latency_s": args.latency, "concurrency": args.concurrency,
        "ideal_s": ideal, "first_wall_s": round(first_wall, 2), "throughput_vs_ideal": round(ideal / first_wall, 3),
        "first_request_after_s": round(first_request_s, 2), "calls_span_s": round(calls_span_s, 2),
        "throughput_while_calling_vs_ideal": round(ideal / calls_span_s, 3),
        "first_llm_calls": first.summary.llm_calls, "http_requests_first": calls_first, "first_correct": first.summary.correct,
        "rerun_wall_s": round(second_wall, 2), "rerun_llm_calls": second.summary.llm_calls,
        "http_requests_rerun": calls_second, "rerun_vs_first": round(second_wall / first_wall, 4),
    }
    print(json.dumps(report, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "llm_throughput.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
