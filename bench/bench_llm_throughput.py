"""LLM throughput: a simulated model with a fixed latency behind a loopback OpenAI-compatible server
(its own process, as a real endpoint would be), driven by the real CLI in a subprocess.

    python bench/bench_llm_throughput.py --problems 1000 --samples 5 --latency 0.02 --concurrency 64

Reports, for one cold run and its rerun (same command, same state):
* calls/s while calls flow: requests the server received / (last arrival − first arrival + latency);
* end to end against the ideal (problems × samples × latency / concurrency);
* the rerun: LLM calls (0 expected), cached calls read back per second of the batch, and its wall
  time beyond start-up (start-up: the same CLI on a one-problem batch already in the store);
* peak memory (RSS) of the process that runs the batch (the fork server's child; the CLI itself with
  ``NESYFLOW_FORKSERVER=0``) and of the whole process tree, sampled every 0.1 s.

The CLI is the installed ``nesyflow`` entry point, whose fork server is started (as the Prefect
server is) before anything is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _common import bench_server  # noqa: E402

COMPLETION = ("TEXT:\tAll men are mortal.\nFOL:\tall x. (Man(x) -> Mortal(x))\n"
              "TEXT:\tSocrates is a man.\nFOL:\tMan(Socrates)\nTEXT:\tSocrates is mortal.\nFOL:\tMortal(Socrates)")


def _fork_server() -> int | None:
    """The pid of this checkout's fork server (its children run the CLI's batches), if one runs."""
    import psutil

    from flows.cli.forkclient import socket_path

    path = str(socket_path())
    pids = {p.pid: p.ppid() for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] and path in p.info["cmdline"]}
    roots = [pid for pid, ppid in pids.items() if ppid not in pids]
    return roots[0] if len(roots) == 1 else None


def _rss_sampler(pid: int, peaks: dict, stop: threading.Event) -> None:
    """Peak RSS of the process that runs the batch ("cli") and of everything it runs ("tree"). Through
    the fork server that is the server's child (the only one while a benchmark runs) and its
    descendants, plus the thin ``nesyflow`` process that relays to it."""
    import psutil

    try:
        client = psutil.Process(pid)
        server = _fork_server()
        server = psutil.Process(server) if server else None
    except psutil.Error:
        return
    while not stop.is_set():
        try:
            runner = next(iter(server.children()), None) if server else client
            if runner is None:
                stop.wait(0.02)
                continue
            procs = {p.pid: p for p in [client, runner, *runner.children(recursive=True)]}
            sizes = {}
            for p in procs.values():
                try:
                    sizes[p.pid] = p.memory_info().rss
                except psutil.Error:
                    pass
            peaks["cli"] = max(peaks.get("cli", 0), sizes.get(runner.pid, 0))
            peaks["tree"] = max(peaks.get("tree", 0), sum(sizes.values()))
        except psutil.Error:
            if not client.is_running():
                break
        stop.wait(0.1)


def run_cli(args: list[str], env: dict) -> tuple[float, dict, dict]:
    """(whole wall seconds, summary, peak RSS in MB) of one ``nesyflow batch`` (the installed entry point)."""
    summary = Path(env["NESYFLOW_HOME"]) / "summary.json"
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("nesyflow")), "batch", *args, "--summary-json", str(summary)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peaks: dict = {}
    stop = threading.Event()
    sampler = threading.Thread(target=_rss_sampler, args=(proc.pid, peaks, stop), daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"batch failed ({proc.returncode}): {err[-2000:]}")
    return wall, json.loads(summary.read_text()), {k: round(v / 2**20, 1) for k, v in peaks.items()}


def stats(api_base: str) -> dict:
    with urllib.request.urlopen(api_base + "/stats", timeout=10) as resp:
        return json.loads(resp.read())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--workers", type=int, default=None, help="engine processes (default: the CLI's)")
    ap.add_argument("--out", default=None, help="where to write the JSON report [bench/results/llm_throughput_<args>.json]")
    args = ap.parse_args()

    api_url = bench_server()
    tmp = Path(tempfile.mkdtemp(prefix="nesyflow-llm-bench-"))
    env = {**os.environ, "NESYFLOW_HOME": str(tmp / "home"), "PREFECT_API_URL": api_url, "LITELLM_OFFLINE_MODE": "true"}
    data = tmp / "problems.jsonl"
    with data.open("w") as fh:
        for i in range(args.problems):
            fh.write(json.dumps({"id": f"sim{i}", "premises": ["All men are mortal.", "Socrates is a man."],
                                 "conclusion": f"Socrates is mortal ({i}).", "answer": "True"}) + "\n")
    (tmp / "one.jsonl").write_text(data.read_text().splitlines()[0] + "\n")
    reply = tmp / "reply.txt"
    reply.write_text(COMPLETION)
    server = subprocess.Popen([sys.executable, "-m", "flows.llm.fake_openai", "--latency", str(args.latency), "--reply", str(reply)],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    api_base = server.stdout.readline().strip()
    try:
        common = ["--parser", "llm", "--model", "openai/simulated", "--api-base", api_base, "--solver", "z3",
                  "--samples", str(args.samples), "--concurrency", str(args.concurrency)]
        if args.workers is not None:
            common += ["--workers", str(args.workers)]
        ideal = args.problems * args.samples * args.latency / args.concurrency
        cold_wall, cold, cold_mem = run_cli([str(data), *common], env)
        s1 = stats(api_base)
        span = (s1["last"] - s1["first"] + args.latency) if s1["requests"] else None
        warm_wall, warm, warm_mem = run_cli([str(data), *common], env)
        s2 = stats(api_base)
        run_cli([str(tmp / "one.jsonl"), *common], env)  # into the store
        startup_wall, _, _ = run_cli([str(tmp / "one.jsonl"), *common], env)
    finally:
        server.kill()
    calls = s1["requests"]
    report = {
        "problems": args.problems, "samples": args.samples, "latency_s": args.latency, "concurrency": args.concurrency,
        "ideal_s": round(ideal, 2),
        "cold": {"whole_wall_s": round(cold_wall, 2), "flow_wall_s": cold["wall_s"], "llm_calls": cold["llm_calls"],
                 "http_requests": calls, "correct": cold["correct"], "calls_span_s": round(span, 2) if span else None,
                 "calls_per_s_while_flowing": round(calls / span, 1) if span else None,
                 "calls_per_s_end_to_end": round(calls / cold_wall, 1),
                 "vs_ideal_end_to_end": round(ideal / cold_wall, 3), "peak_rss_mb": cold_mem},
        "rerun": {"whole_wall_s": round(warm_wall, 2), "flow_wall_s": warm["wall_s"], "llm_calls": warm["llm_calls"],
                  "http_requests": s2["requests"] - calls, "llm_cached": warm["llm_cached"],
                  "cached_calls_per_s": round(warm["llm_cached"] / max(warm["wall_s"], 1e-9), 1),
                  "startup_wall_s": round(startup_wall, 2), "beyond_startup_s": round(warm_wall - startup_wall, 2),
                  "vs_first_run": round(warm_wall / cold_wall, 4), "peak_rss_mb": warm_mem},
    }
    print(json.dumps(report, indent=2))
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / (
        f"llm_throughput_{args.problems}x{args.samples}_{args.latency}s_c{args.concurrency}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
