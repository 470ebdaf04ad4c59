"""Cost per problem of the warm z3 worker alone (no Prefect, no store): the first N gold-FOL records
of a JSONL decided one after another by ``Z3Solver(warm=True)`` on one thread.

    python bench/bench_warm_z3.py /tmp/big.jsonl --n 1000
    python bench/bench_warm_z3.py /tmp/big.jsonl --n 1000 --code /tmp/base   # another checkout

Reports wall ms per problem and the CPU of this process and of its z3 workers per problem
(children's CPU is counted when a worker exits: every worker is retired before the clock stops).
Parsing happens before the clock starts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(path: str, n: int) -> dict:
    from parsers import parse_formula
    from solvers.base import FolProblem, Limits
    from solvers import warm, z3

    problems = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if len(problems) == n:
                break
            formal = json.loads(line)["formal"]
            problems.append(FolProblem(tuple(parse_formula(p) for p in formal["premises"]), parse_formula(formal["conclusion"])))
    limits = Limits(timeout_s=10)
    solver = z3.Z3Solver(warm=True)
    solver.solve(problems[0], limits)  # the worker is started before the clock
    c0, k0, t0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    statuses: dict[str, int] = {}
    for p in problems:
        s = solver.solve(p, limits).status.value
        statuses[s] = statuses.get(s, 0) + 1
    wall = time.perf_counter() - t0
    for w in list(warm._ALL):  # retire workers so their CPU is counted
        w.kill()
    c1, k1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    kids = (k1.ru_utime - k0.ru_utime) + (k1.ru_stime - k0.ru_stime)
    return {"n": len(problems), "wall_ms_per_problem": round(1000 * wall / len(problems), 3),
            "python_cpu_ms_per_problem": round(1000 * own / len(problems), 3),
            "z3_cpu_ms_per_problem": round(1000 * kids / len(problems), 3), "statuses": statuses,
            "load": open("/proc/loadavg").read().split()[:3]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", help="a JSONL whose records carry gold FOL (formal.premises, formal.conclusion)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--code", default=None, help="another checkout to measure (run in a child process)")
    args = ap.parse_args()
    if args.code:
        env = {**os.environ, "PYTHONPATH": str(Path(args.code).resolve())}
        out = subprocess.run([sys.executable, "-c", f"import sys, json; sys.path.insert(0, {str(ROOT / 'bench')!r}); "
                              f"from bench_warm_z3 import measure; print(json.dumps(measure({args.path!r}, {args.n})))"],
                             env=env, cwd=args.code, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr[-2000:])
        report = json.loads(out.stdout)
    else:
        sys.path.insert(0, str(ROOT))
        report = measure(args.path, args.n)
    report["code"] = args.code or "this checkout"
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
