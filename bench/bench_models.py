"""Per-model report: every recording given, read and decided the way replay does it, with
accuracy, Exe_Rate, Exe_Acc and the commonest rejection classes per file.

    python bench/bench_models.py [FILES or DIRECTORIES ...] [--examples 1] [--json out.json]

Without arguments it reads every Logic-LM-format recording under ``../shared/data/recorded``
(``logic_lm/`` and ``other_models/``). Each file goes through the engine exactly as
``nesyflow batch FILE --format logic-lm --parser replay`` does — the replay client, extraction,
checks, the default back ends, the vote — without Prefect and without the result store (every
program is read anew). A rejection class is the first located error of a problem that was
not decided (a reader's error, or a check's reason for rejecting the program: ``flows.engine.checks``)
with names, numbers and quoted text replaced, so one class gathers one kind of mistake. Exe_Rate
counts programs that were read and ran, rejected ones included (Logic-LM's definition).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "recorded"
DATASETS = ("ProofWriter", "ProntoQA", "FOLIO", "LogicalDeduction", "AR-LSAT")


def recordings(args: list[str]) -> list[Path]:
    paths = [Path(a) for a in args] or [DATA / "logic_lm", DATA / "other_models"]
    out = []
    for p in paths:
        out += sorted(p.rglob("*.json")) if p.is_dir() else [p]
    return [p for p in out if any(p.name.startswith(ds + "_") for ds in DATASETS)]


def rejection_class(error: str) -> str:
    """``parse error at output line 7, col 3: unexpected 'x'; expected …`` → ``parse: unexpected '…'; expected …``."""
    first = error.splitlines()[0]
    m = re.match(r"(\w+) error(?: at [^:]*)?: (.*)", first)
    stage, text = (m.group(1), m.group(2)) if m else ("?", first)
    text = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "'…'", text)
    text = re.sub(r"\b\d+(\.\d+)?\b", "N", text)
    text = re.sub(r"\(or N more\)", "", text)
    return f"{stage}: {text[:90]}"


def run_file(path: Path, examples: int) -> dict:
    from flows.datasets import load_problems
    from flows.engine.core import Engine
    from flows.engine.runs import BatchParams, _config
    from flows.llm.factory import make_client
    from flows.orchestration.report import summarize
    from flows.store import Store

    problems = load_problems(path, "logic-lm")
    cfg = _config(BatchParams(path=str(path), format="logic-lm", parser="replay"), problems)
    engine = Engine(cfg, Store(None), concurrency=2, client=make_client(cfg, 2, problems))
    t0 = time.perf_counter()
    engine.submit(problems)
    records = engine.records([p.id for p in problems])
    engine.close()
    results = [r.result for r in records]
    s = summarize(results, time.perf_counter() - t0)
    classes: Counter = Counter()
    samples: dict[str, str] = {}
    for r in results:
        if r.status in ("error", "rejected") and r.error:
            c = rejection_class(r.error)
            classes[c] += 1
            samples.setdefault(c, f"{r.id}: {r.error.splitlines()[0][:200]}")
    notes = Counter(re.sub(r"^(premise \d+|conclusion|output line \d+)[^:]*: ", "", n).split(":")[0][:70]
                    for r in results for n in r.notes)
    return {"file": f"{path.parent.name}/{path.name}", "n": s.n, "accuracy": s.accuracy, "exe_rate": s.exe_rate,
            "exe_acc": s.exe_acc, "errors": s.errors, "rejected": s.rejected, "wall_s": s.wall_s,
            "rejections": [{"class": c, "count": n, "example": samples[c]} for c, n in classes.most_common(6)][: max(examples, 6)],
            "normalizations": dict(notes.most_common(8))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", help="recordings or directories [../shared/data/recorded/*]")
    ap.add_argument("--examples", type=int, default=1, help="example errors per class to keep")
    ap.add_argument("--json", default=None, help="write the report here too")
    args = ap.parse_args()
    rows = []
    for path in recordings(args.paths):
        row = run_file(path, args.examples)
        rows.append(row)
        print(f"{row['file']:70s} n={row['n']:4d}  acc {100 * row['accuracy']:5.1f}  exe {100 * row['exe_rate']:5.1f}  "
              f"exe_acc {100 * row['exe_acc']:5.1f}  rejected {row['rejected']:3d}  ({row['wall_s']:.1f} s)", flush=True)
        for rej in row["rejections"][:4]:
            print(f"      {rej['count']:4d} × {rej['class']}")
    out = Path(args.json) if args.json else ROOT / "bench" / "results" / "models.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
