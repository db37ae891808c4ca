"""Server-rendered SVG charts: funnel bars, line series, column series, horizontal bars.

No style elements or attributes (staff pages send ``style-src 'self'``): shapes carry
presentation attributes (fill, stroke) and classes that ``css/dashboard.css`` refines.
Each chart is ``role="img"`` with a ``<title>`` and ``<desc>``; the page puts a table of
the same numbers beside it, which is what screen readers and the CSV download use.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from markupsafe import Markup, escape

from cabos import formats

PALETTE = ("#0f4c5c", "#e36414", "#5f0f40", "#2a9d8f", "#9a031e", "#6c757d", "#fb8b24")
_ids = itertools.count(1)


def _n(value: float) -> str:
    """A coordinate: at most one decimal, no trailing zeros."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _open(width: int, height: int, title: str, desc: str, css: str) -> tuple[str, str]:
    uid = f"chart-{next(_ids)}"
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg {escape(css)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-labelledby="{uid}-t {uid}-d" '
            f'preserveAspectRatio="xMinYMin meet">'
            f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>')
    return uid, head


def _nice_max(value: float) -> float:
    """A round upper bound for an axis: 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10.0 * power  # pragma: no cover


def funnel(stages: Sequence[tuple[str, int, str]], title: str, desc: str, width: int = 720) -> Markup:
    """Horizontal bars, one per stage, widest first: (label, count, shown value) each."""
    label_w, bar_h, gap = 190, 26, 10
    height = len(stages) * (bar_h + gap) + gap
    _uid, out = _open(width, height, title, desc, "funnel")
    top = max((c for _l, c, _v in stages), default=0) or 1
    room = width - label_w - 90
    parts = [out]
    for i, (label, count, shown) in enumerate(stages):
        y = gap + i * (bar_h + gap)
        w = max(2.0, room * count / top) if count else 0.0
        parts.append(f'<text class="label" x="{label_w - 8}" y="{_n(y + bar_h * 0.68)}" text-anchor="end" '
                     f'fill="#1d2430" font-size="13">{escape(label)}</text>')
        parts.append(f'<rect class="bar stage-{i}" x="{label_w}" y="{y}" width="{_n(w)}" height="{bar_h}" rx="3" '
                     f'fill="{PALETTE[0] if i < len(stages) - 1 else PALETTE[1]}"/>')
        parts.append(f'<text class="value" x="{_n(label_w + w + 6)}" y="{_n(y + bar_h * 0.68)}" fill="#5b6472" '
                     f'font-size="13">{escape(shown)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _frame(width: int, height: int, left: int, bottom: int, top_value: float, labels: Sequence[str],
           value_label: str) -> list[str]:
    """Grid lines with their values and the x labels (at most ~12 shown)."""
    parts = []
    plot_h = height - bottom - 12
    for k in range(5):
        v = top_value * k / 4
        y = 12 + plot_h - plot_h * k / 4
        parts.append(f'<path class="grid" d="M{left} {_n(y)}H{width - 8}" stroke="#e3e6ea" stroke-width="1" '
                     'fill="none"/>')
        parts.append(f'<text class="axis" x="{left - 6}" y="{_n(y + 4)}" text-anchor="end" fill="#5b6472" '
                     f'font-size="11">{escape(_short(v))}</text>')
    step = max(1, -(-len(labels) // 12))
    plot_w = width - left - 8
    for i, label in enumerate(labels):
        if i % step:
            continue
        x = left + plot_w * (i + 0.5) / max(1, len(labels))
        parts.append(f'<text class="axis" x="{_n(x)}" y="{height - bottom + 16}" text-anchor="middle" fill="#5b6472" '
                     f'font-size="11">{escape(label)}</text>')
    if value_label:
        parts.append(f'<text class="axis" x="{left}" y="10" fill="#5b6472" font-size="11">{escape(value_label)}</text>')
    return parts


def _short(value: float) -> str:
    """An axis value in the locale's short form: '1,5 mil' / '1.5K'."""
    return formats.compact(value)


def lines(series: Sequence[tuple[str, Sequence[float]]], labels: Sequence[str], title: str, desc: str,
          width: int = 720, height: int = 260, value_label: str = "") -> Markup:
    """One line per series over the same x labels (weeks or months), with a legend."""
    left, bottom = 48, 40
    _uid, out = _open(width, height, title, desc, "lines")
    top = _nice_max(max((max(v, default=0) for _n_, v in series), default=0))
    parts = [out, *_frame(width, height, left, bottom, top, labels, value_label)]
    plot_w, plot_h = width - left - 8, height - bottom - 12
    count = max(1, len(labels))
    legend_x = float(left + 8)
    for s, (name, values) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        points = [(left + plot_w * (i + 0.5) / count, 12 + plot_h - plot_h * v / top) for i, v in enumerate(values)]
        if points:
            d = "M" + " L".join(f"{_n(x)} {_n(y)}" for x, y in points)
            if len(points) == 1:  # one bucket: a short flat stroke, so the series is visible
                x, y = points[0]
                d = f"M{_n(x - 6)} {_n(y)} L{_n(x + 6)} {_n(y)}"
            parts.append(f'<path class="line series-{s}" d="{d}" fill="none" stroke="{colour}" stroke-width="2.5" '
                         f'stroke-linejoin="round" stroke-linecap="round"/>')
            for x, y in points:
                parts.append(f'<circle class="dot series-{s}" cx="{_n(x)}" cy="{_n(y)}" r="2.5" fill="{colour}"/>')
        parts.append(f'<rect class="key series-{s}" x="{_n(legend_x)}" y="{height - 14}" width="12" height="4" '
                     f'fill="{colour}"/>')
        parts.append(f'<text class="legend" x="{_n(legend_x + 16)}" y="{height - 9}" fill="#1d2430" '
                     f'font-size="11">{escape(name)}</text>')
        legend_x += 16 + 6.2 * len(name) + 18  # about 6 px a character at 11 px
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(values: Sequence[float], labels: Sequence[str], title: str, desc: str, width: int = 720,
            height: int = 240, value_label: str = "") -> Markup:
    """One column per bucket (revenue per week or month)."""
    left, bottom = 56, 28
    _uid, out = _open(width, height, title, desc, "columns")
    top = _nice_max(max(values, default=0))
    parts = [out, *_frame(width, height, left, bottom, top, labels, value_label)]
    plot_w, plot_h = width - left - 8, height - bottom - 12
    slot = plot_w / max(1, len(values))
    for i, v in enumerate(values):
        h = plot_h * v / top
        if h <= 0:
            continue
        parts.append(f'<rect class="bar" x="{_n(left + slot * i + slot * 0.15)}" y="{_n(12 + plot_h - h)}" '
                     f'width="{_n(slot * 0.7)}" height="{_n(max(h, 1))}" fill="{PALETTE[1]}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(rows: Sequence[tuple[str, float, str]], title: str, desc: str, width: int = 720) -> Markup:
    """Horizontal bars: (label, value, shown value), largest first as given."""
    label_w, bar_h, gap = 300, 18, 7
    height = max(1, len(rows)) * (bar_h + gap) + gap
    _uid, out = _open(width, height, title, desc, "bars")
    top = max((v for _l, v, _s in rows), default=0) or 1
    room = width - label_w - 110
    parts = [out]
    for i, (label, value, shown) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = max(1.0, room * value / top) if value > 0 else 0.0
        text = label if len(label) <= 44 else label[:43] + "…"
        parts.append(f'<text class="label" x="{label_w - 8}" y="{_n(y + bar_h * 0.75)}" text-anchor="end" '
                     f'fill="#1d2430" font-size="11">{escape(text)}<title>{escape(label)}</title></text>')
        parts.append(f'<rect class="bar" x="{label_w}" y="{y}" width="{_n(w)}" height="{bar_h}" rx="2" '
                     f'fill="{PALETTE[0]}"/>')
        parts.append(f'<text class="value" x="{_n(label_w + w + 6)}" y="{_n(y + bar_h * 0.75)}" fill="#5b6472" '
                     f'font-size="12">{escape(shown)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
