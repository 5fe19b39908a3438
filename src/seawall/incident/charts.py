"""Inline SVG bar charts for the report: static images, no script, printable."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

_W, _BAR, _GAP, _LABEL = 640, 18, 6, 230


def bar_chart(title: str, items: Sequence[tuple[str, int]], *, colour: str = "#2b6cb0") -> str:
    """A horizontal bar chart; the largest value fills the width."""
    items = list(items)[:15]
    height = 28 + len(items) * (_BAR + _GAP) + 4
    top = max((v for _, v in items), default=0) or 1
    span = _W - _LABEL - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{_W}" height="{height}" '
        f'viewBox="0 0 {_W} {height}" aria-label="{escape(title)}">',
        f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    if not items:
        parts.append('<text x="0" y="40" font-size="12">(none)</text>')
    for i, (label, value) in enumerate(items):
        y = 28 + i * (_BAR + _GAP)
        w = max(1, round(span * value / top))
        short = label if len(label) <= 34 else label[:33] + "…"
        parts += [
            f'<text x="{_LABEL - 6}" y="{y + 13}" font-size="11" text-anchor="end">'
            f"{escape(short)}</text>",
            f'<rect x="{_LABEL}" y="{y}" width="{w}" height="{_BAR}" fill="{colour}"/>',
            f'<text x="{_LABEL + w + 4}" y="{y + 13}" font-size="11">{value}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)
