"""Interest by problem as a server-rendered SVG bar chart: no script, no CDN, every label escaped."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from cabos import formats

WIDTH = 520
ROW_H = 40  # a label line above each bar: long problem names are never cut by the left edge
LABEL_H = 16
BAR_H = 14
VALUE_W = 56  # room kept right of the longest bar for its value


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def interest_chart(rows: Sequence[tuple[str, float]], title: str, top: int = 3, limit: int = 12) -> Markup:
    """Horizontal bars, one per problem, highest first; the ``top`` ones highlighted."""
    rows = [(name, value) for name, value in rows if value > 0][:limit]
    if not rows:
        return Markup("")
    peak = max(v for _n, v in rows) or 1.0
    height = ROW_H * len(rows) + 4
    bar_room = WIDTH - VALUE_W
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for i, (name, value) in enumerate(rows):
        y = i * ROW_H + 2
        width = max(2.0, bar_room * value / peak)
        cls = "bar top" if i < top else "bar"
        parts.append(
            f'<g><title>{escape(name)}: {escape(formats.number(value, 1))}</title>'
            f'<text x="0" y="{y + LABEL_H - 4}">{escape(_short(name))}</text>'
            f'<rect class="{cls}" x="0" y="{y + LABEL_H}" width="{width:.1f}" height="{BAR_H}" rx="3"/>'
            f'<text class="value" x="{width + 6:.1f}" y="{y + LABEL_H + BAR_H - 3}">{escape(formats.number(value, 1))}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def depth_bar(scroll_pct: int) -> Markup:
    """A tiny bar of how far down a page was read."""
    pct = max(0, min(100, int(scroll_pct)))
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 6" width="60" height="6" aria-hidden="true">'
                  f'<rect width="100" height="6" fill="#e3e6ea"/><rect width="{pct}" height="6" fill="#0f4c5c"/></svg>')
