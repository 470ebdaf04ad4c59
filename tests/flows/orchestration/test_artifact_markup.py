"""Untrusted text in the batch's and reason's markdown artifacts stays text. The Prefect UI (3.9)
renders artifact markdown with raw HTML allowed (sanitised, but a dataset's id can still place an
image, a link, a heading) and live links, so ids, messages and replies are escaped where we write
them. Rendered here with markdown-it (CommonMark + tables, raw HTML on) as the UI's renderers do."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from flows.models import ErrorGroup, ProblemResult, Summary
from flows.orchestration.charts import svg_bar_chart
from flows.orchestration.report import results_table, summary_markdown, verdict_markdown

HOSTILE = [
    '<img src=x onerror="alert(1)">',
    "<script>alert(2)</script>",
    "[click](javascript:alert(3))",
    "![c](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoNCk+)",
    '<a href="javascript:alert(5)">y</a>',
    "<details open ontoggle=alert(6)>z</details>",
    "see http://evil.example and www.evil.example",
    "a|b `c` *d* _e_ ~~f~~ &lt;g&gt; \\",
]
_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _markup(html: str) -> list[str]:
    """Tags and links the rendered HTML has beyond what our own layout makes."""
    found = [tag for tag in ("<img", "<script", "<a ", "<svg", "<details", "<del", "<em", "<code>c") if tag in html]
    return found + re.findall(r"<\w+[^>]*\s(?:href|src|on\w+)=", html)


def _shown(payload: str) -> str:
    """The payload as the artifact shows it: bare URLs and addresses defanged (GFM links them)."""
    return payload.replace("://", "[:]//").replace("www.", "www[.]").replace("@", "[@]")


def _rendered_text(html: str) -> str:
    import html as h
    return h.unescape(re.sub(r"<[^>]+>", "", html))


@pytest.mark.parametrize("payload", HOSTILE)
def test_a_hostile_id_and_message_stay_text_in_the_summary(payload):
    s = Summary(n=1, dataset=payload, parser="gold", solver="z3", model=payload, wall_s=1.0,
                common_errors=[ErrorGroup(status="error", count=1, message=f"parse error: {payload}", ids=[payload])])
    html = _MD.render(summary_markdown(s))
    assert _markup(html) == [], html
    assert html.count("<tr>") == 1 + 16 + 1 + 1, "no cell or row break from the text"
    assert _shown(payload) in _rendered_text(html), "shown as written"
    assert "://" not in _rendered_text(html) and "www." not in _rendered_text(html), "no bare URL for GFM to link"


@pytest.mark.parametrize("payload", HOSTILE)
def test_a_hostile_reason_stays_text_in_the_verdict(payload):
    reason = f"the model said:\n{payload}\n# not a heading\n- not a list\n1. nor this\n\n> nor a quote"
    r = ProblemResult(id=payload, gold=None, predicted=None, status="error", solver="z3", reason=reason)
    html = _MD.render(verdict_markdown(r))
    assert _markup(html) == [], html
    assert not any(tag in html for tag in ("<h1", "<ul", "<ol", "<blockquote")), html
    assert html.startswith("<p><strong>error</strong> (z3)</p>")
    assert _shown(payload) in _rendered_text(html) and "# not a heading" in _rendered_text(html)
    assert "://" not in _rendered_text(html) and "www." not in _rendered_text(html), "no bare URL for GFM to link"


def test_table_cells_are_plain_text_and_the_chart_escapes_its_labels():
    payload = HOSTILE[0] + "\x1b[2J"
    (row,) = results_table([ProblemResult(id=payload, gold=None, predicted=None, status="error", solver="z3",
                                          error=f"{payload}\nsecond line")])
    assert row["id"] == HOSTILE[0] + "\\x1b[2J" and row["error"] == row["id"], "text as written, no control characters"
    svg = svg_bar_chart(payload, [(HOSTILE[1], {HOSTILE[4]: 0.5})])
    assert "<script" not in svg and "<img" not in svg and "<a " not in svg and "&lt;script&gt;" in svg
