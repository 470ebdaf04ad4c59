"""A chart for the batch's UI page, as an SVG image (no plotting library needed).

What it plots depends on the batch: accuracy and Exe_Rate by repair round for LLM batches with
repair; accuracy by reasoning depth where problem ids carry one (ProofWriter's ``-D3-``);
otherwise the share of each status, each with its correctly answered part. Published as an image
artifact whose URL is a data URL.
"""

from __future__ import annotations

import base64
from html import escape

from flows.engine.tally import Tally
from flows.models import ProblemResult

__all__ = ["chart_series", "svg_bar_chart", "data_url"]



def chart_series(results: list[ProblemResult]) -> tuple[str, list[tuple[str, dict[str, float]]]]:
    """(title, [(group label, {series name: value in 0..1})]), counted by ``Tally`` (which a batch
    keeps as it goes)."""
    return Tally.of(results).chart()


_COLORS = ["#2563eb", "#f59e0b", "#10b981", "#ef4444"]


def svg_bar_chart(title: str, groups: list[tuple[str, dict[str, float]]]) -> str:
    names = list(dict.fromkeys(name for _, series in groups for name in series))  # as the series give them
    bar_h, gap, left, width = 18, 10, 150, 360
    height = 50 + len(groups) * (len(names) * bar_h + gap) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="10" y="22" font-size="15" font-weight="bold">{escape(title)}</text>']
    y = 40
    for label, series in groups:
        parts.append(f'<text x="10" y="{y + bar_h * len(names) / 2 + 4}">{escape(label)}</text>')
        for i, name in enumerate(names):
            value = series.get(name, 0.0)
            w = max(1, int(width * value))
            parts.append(f'<rect x="{left}" y="{y}" width="{w}" height="{bar_h - 3}" fill="{_COLORS[i % len(_COLORS)]}"/>')
            parts.append(f'<text x="{left + w + 5}" y="{y + bar_h - 6}">{100 * value:.1f} %</text>')
            y += bar_h
        y += gap
    x = left
    for i, name in enumerate(names):  # legend
        parts.append(f'<rect x="{x}" y="{y + 5}" width="12" height="12" fill="{_COLORS[i % len(_COLORS)]}"/>')
        parts.append(f'<text x="{x + 16}" y="{y + 15}">{escape(name)}</text>')
        x += 16 + 7 * len(name) + 20
    parts.append("</svg>")
    return "\n".join(parts)


def data_url(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
