"""What one sandboxed run costs: N trivial Program-of-Thought programs (``answer = 1``) through
``solvers.math.run_python``, one after another, reported as the median and quartiles of wall time.

    .venv/bin/python bench/bench_sandbox_start.py [N]

The machines are shared: compare medians of runs made back to back (before/after a change), not
single figures.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from solvers.base import Limits  # noqa: E402
from solvers.math import run_python  # noqa: E402


def main(n: int = 50) -> None:
    limits = Limits(timeout_s=60, cpu_s=10, memory_mb=512)
    run_python("answer = 1\n", limits)  # warm the caches (sandbox check, bind list)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        out = run_python("answer = 1\n", limits)
        times.append(time.perf_counter() - t0)
        if '"value": "1"' not in out.stdout:
            raise SystemExit(f"a trivial program failed: {out.returncode} {out.stderr[-300:]}")
    q1, med, q3 = statistics.quantiles(times, n=4)
    print(f"{n} trivial sandboxed runs: median {med * 1000:.1f} ms (quartiles {q1 * 1000:.1f}–{q3 * 1000:.1f} ms, "
          f"min {min(times) * 1000:.1f} ms)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
