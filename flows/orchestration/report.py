"""Summaries and tables of a batch: the numbers of DESIGN.md §4 and their markdown form."""

from __future__ import annotations

from collections import Counter

from flows.models import ProblemResult, Summary

__all__ = ["summarize", "summary_markdown", "results_table", "summary_text"]


def summarize(results: list[ProblemResult], wall_s: float, **meta) -> Summary:
    n = len(results)
    by_status = Counter(r.status for r in results)
    errors = by_status.get("error", 0)
    correct = sum(r.correct for r in results)
    executed = n - errors
    return Summary(
        n=n,
        correct=correct,
        accuracy=round(correct / n, 4) if n else 0.0,
        decided=sum(r.predicted is not None for r in results),
        exe_rate=round(executed / n, 4) if n else 0.0,
        exe_acc=round(correct / executed, 4) if executed else 0.0,
        errors=errors,
        undetermined=by_status.get("undetermined", 0),
        contradictory=by_status.get("contradictory", 0),
        rejected=by_status.get("rejected", 0),
        pruned_samples=sum(sum(r.pruned.values()) for r in results),
        disagreements=sum(bool(r.disagreement) for r in results),
        wall_s=round(wall_s, 3),
        by_status=dict(sorted(by_status.items())),
        **meta,
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def summary_markdown(s: Summary) -> str:
    rows = [
        ("problems", s.n), ("correct", s.correct), ("accuracy", _pct(s.accuracy)),
        ("Exe_Rate (formalizations that ran)", _pct(s.exe_rate)), ("Exe_Acc (correct among those)", _pct(s.exe_acc)),
        ("decided", s.decided), ("undetermined", s.undetermined), ("contradictory premises", s.contradictory),
        ("rejected by the checks (ran; cannot mean the problem)", s.rejected), ("samples pruned before the vote", s.pruned_samples),
        ("errors", s.errors), ("back-end disagreements", s.disagreements),
        ("LLM calls", s.llm_calls), ("tokens (prompt / completion)", f"{s.prompt_tokens} / {s.completion_tokens}"),
        ("cost", f"${s.cost_usd:.4f}"), ("wall time", f"{s.wall_s:.1f} s"),
    ]
    head = f"# nesyflow batch: {s.dataset}\n\nparser `{s.parser}`, solver `{s.solver}`\n\n| metric | value |\n|---|---|\n"
    return head + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n"


def results_table(results: list[ProblemResult]) -> list[dict]:
    """Rows for the per-problem table artifact: DESIGN.md §4 columns, then what each stage did."""
    return [
        {
            "id": r.id, "gold": r.gold or "", "predicted": r.predicted or "", "status": r.status, "solver": r.solver,
            "samples": r.samples, "repair_rounds": r.repair_rounds,
            **{stage: r.stages.get(stage, "")[:160] for stage in ("formalize", "check", "solve", "vote")},
            "error": (r.error or "").splitlines()[0][:160] if r.error else "",
        }
        for r in results
    ]


def summary_text(s: Summary) -> str:
    """The short table the CLI prints."""
    lines = [
        f"problems      {s.n}",
        f"correct       {s.correct}  ({_pct(s.accuracy)})",
        f"Exe_Rate      {_pct(s.exe_rate)}   Exe_Acc {_pct(s.exe_acc)}",
        f"decided       {s.decided}   undetermined {s.undetermined}   errors {s.errors}   contradictory {s.contradictory}   "
        f"rejected {s.rejected}   pruned samples {s.pruned_samples}",
        f"disagreements {s.disagreements}",
        f"LLM calls     {s.llm_calls}   cached {s.llm_cached}   failed {s.llm_failed}   tokens {s.prompt_tokens}+{s.completion_tokens}   cost ${s.cost_usd:.4f}",
        f"from store    {s.cached_problems} of {s.n} problems",
        f"wall time     {s.wall_s:.2f} s",
    ]
    return "\n".join(lines)
