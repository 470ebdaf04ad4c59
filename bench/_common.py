"""What the benchmarks share: the benchmarks' own Prefect server, and timing whole processes.

Every figure is a whole process, timed from outside (start-up, imports and exit included), so
nesyflow's CLI and a baseline script are measured the same way. Runs are interleaved
(ours, theirs, ours, theirs, …) and reported as medians: these machines are shared and a single
run can be off by a fifth. "Cold" means the project's own store is empty: each cold run gets a
fresh ``NESYFLOW_HOME`` (the benchmarks' Prefect server is reused, as a user's would be).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"

__all__ = ["ROOT", "DATA", "bench_server", "cli_batch", "cold_and_rerun", "timed", "median", "fresh_home", "write_report",
           "cleanup"]


def bench_server() -> str:
    """The API URL of the benchmarks' own local server (or ``PREFECT_API_URL`` when set); its
    credential (basic auth) goes into this process's environment, which every run copies."""
    sys.path.insert(0, str(ROOT))
    from flows.orchestration.server import client_env, ensure_server, offline_env

    home = ROOT / ".nesyflow" / "bench"
    os.environ.update({k: v for k, v in offline_env(home).items() if k not in os.environ})
    api_url = os.environ.get("PREFECT_API_URL") or ensure_server(home, port=4210)
    os.environ.update(client_env(home, api_url))  # its credential, for every process the benchmarks start
    from flows.cli.forkclient import ensure

    ensure()  # the CLI's fork server, like the Prefect server, is up before anything is timed
    return api_url


def fresh_home(tag: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"nesyflow-bench-{tag}-"))


def timed(argv: list[str], env: dict | None = None) -> tuple[float, str, str]:
    """(whole wall seconds, stdout, stderr) of one process; raises on a non-zero exit."""
    t0 = time.perf_counter()
    out = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} … failed ({out.returncode}): {out.stderr[-2000:]}")
    return wall, out.stdout, out.stderr


def cli_batch(path: Path, options: list[str], home: Path, api_url: str) -> tuple[float, dict]:
    """One ``nesyflow batch`` (the installed entry point) with its own NESYFLOW_HOME: (whole wall, summary)."""
    summary = home / "summary.json"
    env = {**os.environ, "NESYFLOW_HOME": str(home), "PREFECT_API_URL": api_url, "LITELLM_OFFLINE_MODE": "true"}
    nesyflow = str(Path(sys.executable).with_name("nesyflow"))
    wall, _, _ = timed([nesyflow, "batch", str(path), *options, "--summary-json", str(summary)], env)
    return wall, json.loads(summary.read_text())


def cold_and_rerun(path: Path, options: list[str], tag: str, api_url: str) -> tuple[float, dict, float]:
    """A batch from an empty store, then the same batch again, which must read everything back
    (no LLM call): (cold wall, cold summary, rerun wall). The store is removed afterwards."""
    home = fresh_home(tag)
    try:
        cold, summary = cli_batch(path, options, home, api_url)
        rerun, again = cli_batch(path, options, home, api_url)
        assert again["llm_calls"] == 0 and again["cached_problems"] == again["n"], again
    finally:
        cleanup(home)
    return cold, summary, rerun


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def write_report(name: str, report: dict) -> Path:
    out = ROOT / "bench" / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return out


def cleanup(*homes: Path) -> None:
    for h in homes:
        shutil.rmtree(h, ignore_errors=True)
