"""A batch's figures, counted as its results are written: memory flat in the number of problems.

A batch of a million problems cannot keep every result to summarize at the end; ``Tally`` keeps
the counts the summary (``Summary``), its chart and its "why no answer" groups are made of, plus
the first ``keep`` results (the per-problem table artifact and the flow's returned report).
``flows.orchestration.report.summarize`` and ``charts.chart_series`` read a list of results
through this, so there is one way of counting. Nothing here imports Prefect.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from flows.models import ErrorGroup, ProblemRecord, ProblemResult, Summary, Usage
from flows.text import one_line

__all__ = ["Tally", "NO_ANSWER", "MAX_ERROR_KINDS"]

NO_ANSWER = ("error", "undetermined", "rejected")
MAX_ERROR_KINDS = 10_000
"""Kinds of message counted for "why no answer"; beyond that new kinds are not ranked (noted)."""

_VARIES = re.compile(r"'[^']*'|\"[^\"]*\"|\d+")
_WHERE = re.compile(r"^(\w+ error) at [^:]*:")  # a located error's place: "parse error at premise 3, col 17:"
_DEPTH = re.compile(r"-D(\d+)-")


class _Group:
    __slots__ = ("count", "ids", "message")

    def __init__(self, message: str):
        self.count, self.ids, self.message = 0, [], message


class Tally:
    def __init__(self, keep: int = 0):
        self.keep = keep
        self.head: list[ProblemResult] = []
        self.n = self.correct = self.decided = self.pruned = self.disagreements = 0
        self.by_status: Counter[str] = Counter()
        self.correct_by_status: Counter[str] = Counter()
        self.by_round: Counter[int] = Counter()  # executed (status != error) by repair rounds used
        self.correct_by_round: Counter[int] = Counter()
        self.max_round = 0
        self.depths: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # "depth 3" -> [problems, correct]
        self.groups: dict[tuple[str, str], _Group] = {}
        self.error_kinds_dropped = 0
        self.usage = Usage()
        self.cached = self.samples_total = self.samples_failed = 0

    def add_result(self, r: ProblemResult) -> None:
        self.n += 1
        if len(self.head) < self.keep:
            self.head.append(r)
        self.by_status[r.status] += 1
        self.correct += r.correct
        self.correct_by_status[r.status] += r.correct
        self.decided += r.predicted is not None
        self.pruned += sum(r.pruned.values())
        self.disagreements += bool(r.disagreement)
        self.max_round = max(self.max_round, r.repair_rounds)
        if r.status != "error":
            self.by_round[r.repair_rounds] += 1
        self.correct_by_round[r.repair_rounds] += r.correct
        m = _DEPTH.search(r.id)
        if m:
            d = self.depths[f"depth {m.group(1)}"]
            d[0] += 1
            d[1] += r.correct
        self.samples_total += r.samples
        self.samples_failed += r.samples - sum(r.votes.values())
        if r.status in NO_ANSWER:
            first = ((r.error or r.reason or "no message").strip().splitlines() or ["no message"])[0]
            key = (r.status, _VARIES.sub("#", _WHERE.sub(r"\1:", first)))
            g = self.groups.get(key)
            if g is None:
                if len(self.groups) >= MAX_ERROR_KINDS:
                    self.error_kinds_dropped += 1
                    return
                g = self.groups[key] = _Group(one_line(first))
            g.count += 1
            if len(g.ids) < 3:
                g.ids.append(one_line(r.id, 80))

    def add(self, record: ProblemRecord) -> None:
        self.add_result(record.result)
        self.usage = self.usage + record.usage
        self.cached += record.cached

    def common_errors(self, top: int = 3, ids: int = 3) -> list[ErrorGroup]:
        ranked = sorted(self.groups.items(), key=lambda kv: -kv[1].count)[:top]  # stable: first seen first on ties
        return [ErrorGroup(status=status, count=g.count, ids=g.ids[:ids], message=g.message) for (status, _), g in ranked]

    def summary(self, wall_s: float, **meta) -> Summary:
        n, errors = self.n, self.by_status.get("error", 0)
        executed = n - errors
        return Summary(
            n=n, correct=self.correct, accuracy=round(self.correct / n, 4) if n else 0.0, decided=self.decided,
            exe_rate=round(executed / n, 4) if n else 0.0, exe_acc=round(self.correct / executed, 4) if executed else 0.0,
            errors=errors, undetermined=self.by_status.get("undetermined", 0),
            contradictory=self.by_status.get("contradictory", 0), rejected=self.by_status.get("rejected", 0),
            pruned_samples=self.pruned, disagreements=self.disagreements, wall_s=round(wall_s, 3),
            by_status=dict(sorted(self.by_status.items())), common_errors=self.common_errors(), **meta)

    def chart(self) -> tuple[str, list[tuple[str, dict[str, float]]]]:
        """(title, [(group label, {series name: value in 0..1})]): see ``flows.orchestration.charts``."""
        n = self.n or 1
        if self.max_round > 0:
            groups, executed, correct = [], 0, 0
            for k in range(self.max_round + 1):
                executed += self.by_round.get(k, 0)
                correct += self.correct_by_round.get(k, 0)
                groups.append((f"after round {k}", {"accuracy": correct / n, "Exe_Rate": executed / n}))
            return "Accuracy and Exe_Rate by repair round", groups
        if len(self.depths) > 1:
            return "Accuracy by reasoning depth", [(k, {"accuracy": c / t}) for k, (t, c) in sorted(self.depths.items())]
        rows = [(s, {"share of the batch": c / n, "correct": self.correct_by_status[s] / n})
                for s, c in sorted(self.by_status.items(), key=lambda kv: -kv[1])]
        return "Status of each problem, and the part of it answered correctly (share of the batch)", rows

    @classmethod
    def of(cls, results: list[ProblemResult]) -> "Tally":
        t = cls()
        for r in results:
            t.add_result(r)
        return t
