"""What a batch reports beside its files: the console summary's reasons, the summary artifact,
the chart (issue 20). Plain functions, no Prefect."""

from __future__ import annotations

from flows.models import ProblemResult
from flows.orchestration.charts import chart_series
from flows.orchestration.report import common_errors, summarize, summary_markdown, summary_text


def result(pid, status, correct=False, error=None, reason=""):
    return ProblemResult(id=pid, gold="True", predicted="True" if status == "True" else None, status=status, solver="z3",
                         correct=correct, error=error, reason=reason)


def test_commonest_reasons_group_by_kind_not_by_place():
    rs = [result(f"p{i}", "error", error=f"parse error at premise {i}, col {2 * i}: unexpected '{i}'\nsnippet\n   ^")
          for i in range(4)]
    rs += [result("slow", "undetermined", reason="z3: wall-clock limit"), result("ok", "True", correct=True)]
    groups = common_errors(rs)
    assert [(g.status, g.count, g.ids) for g in groups] == [("error", 4, ["p0", "p1", "p2"]), ("undetermined", 1, ["slow"])]
    assert groups[0].message == "parse error at premise 0, col 0: unexpected '0'"
    text = summary_text(summarize(rs, 1.0))
    assert "no answer     4 × error: parse error at premise 0, col 0: unexpected '0'  [p0, p1, p2 +1 more]" in text
    assert "              1 × undetermined: z3: wall-clock limit  [slow]" in text


def test_untrusted_text_reaches_the_console_escaped():
    """Dataset ids and model/endpoint text are untrusted: no terminal escape, no forged line."""
    rs = [result("evil\x1b[2J", "error", error="formalize error: \x1b[31mLLM call failed\u202e\rnesyflow: error: forged")]
    text = summary_text(summarize(rs, 1.0))
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text
    assert "[evil\\x1b[2J]" in text and text.count("\n") == summary_text(summarize([], 1.0)).count("\n") + 1


def test_summary_artifact_names_the_model():
    md = summary_markdown(summarize([result("p", "True", correct=True)], 1.0, dataset="d.jsonl", parser="llm",
                                    solver="portfolio", model="openai/gpt-4o"))
    assert "parser `llm`, model `openai/gpt-4o`, solver `portfolio`" in md


def test_the_outcome_chart_shows_correct_answers_within_statuses():
    rs = [result(f"t{i}", "True", correct=i < 6) for i in range(7)] + [result(f"e{i}", "error") for i in range(3)]
    title, rows = chart_series(rs)
    assert [label for label, _ in rows] == ["True", "error"], "correct is not a status"
    assert rows[0][1] == {"share of the batch": 0.7, "correct": 0.6} and rows[1][1]["correct"] == 0.0
    assert sum(series["share of the batch"] for _, series in rows) == 1.0
