"""What the benchmarks share: a recording Prefect server for benchmarks, and timing one CLI batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["ROOT", "bench_server", "cli_batch"]


def bench_server() -> str:
    """The API URL of the benchmarks' own local server (or ``PREFECT_API_URL`` when set)."""
    from flows.server import ensure_server, offline_env

    home = ROOT / ".nesyflow" / "bench"
    os.environ.update({k: v for k, v in offline_env(home).items() if k not in os.environ})
    return os.environ.get("PREFECT_API_URL") or ensure_server(home, port=4210)


def cli_batch(path: Path, options: list[str], home: Path, api_url: str, concurrency: int, summary: Path) -> tuple[float, dict]:
    """One ``nesyflow batch`` in a subprocess with its own NESYFLOW_HOME: (whole CLI wall, summary)."""
    # its own result storage too: a "cold" run must not read results a previous benchmark stored
    env = {**os.environ, "NESYFLOW_HOME": str(home), "PREFECT_API_URL": api_url, "LITELLM_OFFLINE_MODE": "true",
           "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "results")}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "flows.cli", "batch", str(path), *options, "--concurrency", str(concurrency),
                          "--summary-json", str(summary)], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"batch failed: {out.stderr[-2000:]}")
    return wall, json.loads(summary.read_text())
