"""LLM throughput: a simulated model with a fixed latency behind a loopback OpenAI-compatible server
(its own process, as a real endpoint would be), driven by the real CLI in a subprocess.

    python bench/bench_llm_throughput.py --problems 1000 --samples 5 --latency 0.02 --concurrency 64

Reports, for one cold run and its rerun (same command, same state):
* calls/s while calls flow: requests the server received / (last arrival − first arrival + latency);
* end to end against the ideal (problems × samples × latency / concurrency);
* the rerun: LLM calls (0 expected), cached calls read back per second of the batch, and its wall
  time beyond start-up (start-up: the same CLI on a one-problem batch already in the store);
* peak memory (RSS) of the process that runs the batch (the fork server's child; the CLI itself with
  ``NESYFLOW_FORKSERVER=0``) and of the whole process tree, sampled every 0.05 s;
* CPU (utime + stime from ``/proc/<pid>/stat``) per call, by process group: the engine workers (and
  the solvers they run), the CLI and the fork server's child that runs the flow, the Prefect server,
  and the simulated model server (not ours) — while calls flow (between the first and the last
  request's answer) and over the whole run; for the rerun, per cached call. ``ours`` sums all but the
  model server: the figure that says how many calls a second this machine can drive
  (1000 / ours ms × cores), whatever else it is running;
* the load average before and after (a shared machine's other work shows there).

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
from _treemem import cpu_seconds  # noqa: E402

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


class Sampler:
    """Every 0.05 s: peak RSS of the process that runs the batch ("cli") and of its tree, and the CPU
    seconds (utime + stime) of each process group — ``engine`` (the batch runner's descendants: the
    engine workers and the solvers they start), ``cli`` (the thin ``nesyflow`` relay and the fork
    server's child that runs the batch and the flow), ``prefect`` (the Prefect server's tree) and
    ``model`` (the simulated endpoint, not ours). A process is counted at the last value it was seen
    with, so one that exits between samples loses at most 0.05 s of its CPU. ``series`` keeps
    (time.monotonic(), {group: seconds}) to read the CPU spent between two instants."""

    def __init__(self, client_pid: int, fixed: dict[str, list[int]]):
        self.client_pid, self.fixed = client_pid, fixed
        self.peaks: dict = {}
        self.seen: dict[int, tuple[str, float]] = {}
        self.series: list[tuple[float, dict[str, float]]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Sampler":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self._sample()

    def _groups(self, psutil, server) -> dict[int, str]:
        out: dict[int, str] = {}
        for group, roots in self.fixed.items():
            for root in roots:
                try:
                    proc = psutil.Process(root)
                    out.update({p.pid: group for p in [proc, *proc.children(recursive=True)]})
                except psutil.Error:
                    pass
        out[self.client_pid] = "cli"
        runner = None
        try:
            runner = next(iter(server.children()), None) if server else psutil.Process(self.client_pid)
            if runner is not None:
                out[runner.pid] = "cli"
                out.update({p.pid: "engine" for p in runner.children(recursive=True)})
        except psutil.Error:
            pass
        self._runner = runner.pid if runner is not None else None
        return out

    def _sample(self) -> None:
        import psutil

        groups = self._groups(psutil, self._server)
        rss: dict[int, int] = {}
        for pid, group in groups.items():
            cpu = cpu_seconds(pid)
            if cpu is not None:
                self.seen[pid] = (group, max(cpu, self.seen.get(pid, (group, 0.0))[1]))
            if group in ("cli", "engine"):
                try:
                    rss[pid] = psutil.Process(pid).memory_info().rss
                except psutil.Error:
                    pass
        if self._runner in rss:
            self.peaks["cli"] = max(self.peaks.get("cli", 0), rss[self._runner])
        self.peaks["tree"] = max(self.peaks.get("tree", 0), sum(rss.values()))
        totals: dict[str, float] = {}
        for group, cpu in self.seen.values():
            totals[group] = totals.get(group, 0.0) + cpu
        self.series.append((time.monotonic(), totals))

    def _run(self) -> None:
        import psutil

        server = _fork_server()
        try:
            self._server = psutil.Process(server) if server else None
        except psutil.Error:
            self._server = None
        self._runner = None
        while not self.stop.is_set():
            self._sample()
            self.stop.wait(0.05)

    def between(self, t0: float, t1: float) -> dict[str, float]:
        """CPU seconds of each group spent between two ``time.monotonic()`` instants (interpolated)."""
        def at(t: float) -> dict[str, float]:
            before = [s for s in self.series if s[0] <= t]
            after = [s for s in self.series if s[0] >= t]
            if not before:
                return {g: 0.0 for g in self.series[0][1]} if t < self.series[0][0] else dict(self.series[0][1])
            if not after:
                return dict(self.series[-1][1])
            (ta, a), (tb, b) = before[-1], after[0]
            w = (t - ta) / (tb - ta) if tb > ta else 0.0
            return {g: a.get(g, 0.0) + w * (b.get(g, 0.0) - a.get(g, 0.0)) for g in set(a) | set(b)}

        start, end = at(t0), at(t1)
        return {g: round(end.get(g, 0.0) - start.get(g, 0.0), 3) for g in sorted(set(start) | set(end))}

    def baseline(self) -> dict[str, float]:
        """CPU seconds of each group at the first sample (the long-lived servers' past)."""
        return dict(self.series[0][1]) if self.series else {}

    def total(self) -> dict[str, float]:
        """CPU seconds of each group from the first sample to the last."""
        return self.between(self.series[0][0], self.series[-1][0]) if self.series else {}


def run_cli(args: list[str], env: dict, fixed: dict[str, list[int]]) -> tuple[float, dict, Sampler]:
    """(whole wall seconds, summary, sampler) of one ``nesyflow batch`` (the installed entry point)."""
    summary = Path(env["NESYFLOW_HOME"]) / "summary.json"
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("nesyflow")), "batch", *args, "--summary-json", str(summary)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with Sampler(proc.pid, fixed) as sampler:
        _, err = proc.communicate()
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"batch failed ({proc.returncode}): {err[-2000:]}")
    return wall, json.loads(summary.read_text()), sampler


def _per_call(cpu: dict[str, float], calls: int) -> dict:
    """CPU milliseconds per call by group, ours summed (the model server is not ours)."""
    if not calls:
        return {}
    out = {g: round(1000 * s / calls, 2) for g, s in cpu.items()}
    out["ours"] = round(1000 * sum(s for g, s in cpu.items() if g != "model") / calls, 2)
    return out


def _prefect_server_pid() -> int | None:
    """The benchmarks' Prefect server (``bench_server``'s record), if this script started it."""
    from flows.orchestration.server import server_record

    pid = server_record(ROOT / ".nesyflow" / "bench").get("pid")
    return int(pid) if pid and cpu_seconds(int(pid)) is not None else None


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
    fixed = {"model": [server.pid]}
    prefect_pid = _prefect_server_pid()
    if prefect_pid:
        fixed["prefect"] = [prefect_pid]
    try:
        common = ["--parser", "llm", "--model", "openai/simulated", "--api-base", api_base, "--solver", "z3",
                  "--samples", str(args.samples), "--concurrency", str(args.concurrency)]
        if args.workers is not None:
            common += ["--workers", str(args.workers)]
        ideal = args.problems * args.samples * args.latency / args.concurrency
        load0 = os.getloadavg()
        cold_wall, cold, cold_s = run_cli([str(data), *common], env, fixed)
        s1 = stats(api_base)
        span = (s1["last"] - s1["first"] + args.latency) if s1["requests"] else None
        warm_wall, warm, warm_s = run_cli([str(data), *common], env, fixed)
        s2 = stats(api_base)
        run_cli([str(tmp / "one.jsonl"), *common], env, fixed)  # into the store
        startup_wall, _, start_s = run_cli([str(tmp / "one.jsonl"), *common], env, fixed)
        load1 = os.getloadavg()
    finally:
        server.kill()
    calls = s1["requests"]
    flowing = cold_s.between(s1["first"], s1["last"] + args.latency) if calls else {}
    flowing_calls = calls  # every request arrived in [first, last]; each is answered latency later
    mb = lambda peaks: {k: round(v / 2**20, 1) for k, v in peaks.items()}  # noqa: E731
    warm_cpu = warm_s.total()
    report = {
        "problems": args.problems, "samples": args.samples, "latency_s": args.latency, "concurrency": args.concurrency,
        "ideal_s": round(ideal, 2), "cpus": os.cpu_count(), "load_avg_before": [round(x, 2) for x in load0],
        "load_avg_after": [round(x, 2) for x in load1],
        "cold": {"whole_wall_s": round(cold_wall, 2), "flow_wall_s": cold["wall_s"], "llm_calls": cold["llm_calls"],
                 "http_requests": calls, "correct": cold["correct"], "calls_span_s": round(span, 2) if span else None,
                 "calls_per_s_while_flowing": round(calls / span, 1) if span else None,
                 "calls_per_s_end_to_end": round(calls / cold_wall, 1),
                 "vs_ideal_end_to_end": round(ideal / cold_wall, 3), "peak_rss_mb": mb(cold_s.peaks),
                 "cpu_s_while_flowing": flowing,
                 "cpu_ms_per_call_while_flowing": _per_call(flowing, flowing_calls),
                 "cpu_s_whole_run": cold_s.total(),
                 "cpu_ms_per_call_whole_run": _per_call(cold_s.total(), calls)},
        "rerun": {"whole_wall_s": round(warm_wall, 2), "flow_wall_s": warm["wall_s"], "llm_calls": warm["llm_calls"],
                  "http_requests": s2["requests"] - calls, "llm_cached": warm["llm_cached"],
                  "cached_calls_per_s": round(warm["llm_cached"] / max(warm["wall_s"], 1e-9), 1),
                  "startup_wall_s": round(startup_wall, 2), "beyond_startup_s": round(warm_wall - startup_wall, 2),
                  "vs_first_run": round(warm_wall / cold_wall, 4), "peak_rss_mb": mb(warm_s.peaks),
                  "cpu_s_whole_run": warm_cpu, "cpu_ms_per_cached_call": _per_call(warm_cpu, warm["llm_cached"]),
                  "startup_cpu_s": start_s.total()},
    }
    print(json.dumps(report, indent=2))
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / (
        f"llm_throughput_{args.problems}x{args.samples}_{args.latency}s_c{args.concurrency}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
