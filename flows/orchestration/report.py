"""Summaries and tables of a batch: the numbers of DESIGN.md §4 and their markdown form."""

from __future__ import annotations

from flows.engine.tally import NO_ANSWER, Tally
from flows.models import ErrorGroup, ProblemResult, Summary
import re

from flows.text import markdown_text, one_line

__all__ = ["NO_ANSWER", "summarize", "summary_markdown", "verdict_markdown", "results_table", "summary_text", "common_errors"]

def common_errors(results: list[ProblemResult], top: int = 3, ids: int = 3) -> list[ErrorGroup]:
    """Problems without an answer, grouped by the first line of their message with its place, numbers
    and quoted text set aside (``parse error at premise 3, col 17: unexpected ','`` and ``… at
    conclusion, col 2: unexpected ')'`` are one kind of error), commonest first (``Tally``)."""
    return Tally.of(results).common_errors(top, ids)


def summarize(results: list[ProblemResult], wall_s: float, **meta) -> Summary:
    return Tally.of(results).summary(wall_s, **meta)


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
    model = f", model {_code(s.model)}" if s.model else ""
    head = (f"# nesyflow batch: {_md(s.dataset)}\n\nparser {_code(s.parser)}{model}, solver {_code(s.solver)}\n\n"
            "| metric | value |\n|---|---|\n")
    text = head + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n"
    if s.common_errors:
        text += "\n## Why problems got no answer (commonest)\n\n| status | problems | first message | e.g. |\n|---|---|---|---|\n"
        text += "\n".join(f"| {_md(g.status)} | {g.count} | {_md(g.message)} | {_md(', '.join(g.ids))} |" for g in s.common_errors) + "\n"
    return text


def _md(text: str) -> str:
    """Untrusted text (a dataset's name, ids, messages quoting a model) in the summary artifact: the
    Prefect UI renders its markdown with raw HTML and links, so every markup character is escaped."""
    return markdown_text(text, 300)


_NAME = re.compile(r"[\w.+/:@-]{1,120}")


def _code(name: str) -> str:
    """A model or back-end name as a code span (literal text) when it is plainly a name, else escaped."""
    return f"`{name}`" if _NAME.fullmatch(name) else _md(name)


def verdict_markdown(r: ProblemResult) -> str:
    """The ``reason-verdict`` artifact: the status, the back end, and the reason (which may quote a
    model's reply) as literal text, line by line."""
    return f"**{_md(r.status)}** ({_md(r.solver)})\n\n{markdown_text(r.reason, None, lines=True)}\n"


def results_table(results: list[ProblemResult]) -> list[dict]:
    """Rows for the per-problem table artifact: DESIGN.md §4 columns, then what each stage did. Cells
    are plain text (the UI shows them as text, not markdown), with control characters escaped."""
    return [
        {
            "id": one_line(r.id, 300), "gold": r.gold or "", "predicted": r.predicted or "", "status": r.status, "solver": r.solver,
            "samples": r.samples, "repair_rounds": r.repair_rounds,
            **{stage: one_line(r.stages.get(stage, ""), 160) for stage in ("formalize", "check", "solve", "vote")},
            "error": one_line((r.error or "").splitlines()[0], 160) if r.error else "",
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
    for i, g in enumerate(s.common_errors):  # why a batch that failed as a whole failed, on the console
        more = f" +{g.count - len(g.ids)} more" if g.count > len(g.ids) else ""
        lines.append(f"{'no answer' if i == 0 else '':13} {g.count} × {g.status}: {g.message}  [{', '.join(g.ids)}{more}]")
    return "\n".join(lines)
