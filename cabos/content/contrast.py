"""Can a brand colour carry text? WCAG 2.2 contrast ratios, and the nearest colour that can.

The site writes text in the accent (eyebrows, the active link) and white text on it (buttons,
badges); both need 4.5:1 (WCAG 2.2 AA, 1.4.3). A colour that falls short is kept for what is
only decoration (borders, chart bars) and replaced, for text, by the nearest colour that passes:
the same hue mixed with black (or white, on a dark background) just enough.
"""

from __future__ import annotations

from collections.abc import Sequence

AA_TEXT = 4.5
WHITE = "#ffffff"


def _rgb(colour: str) -> tuple[float, float, float]:
    value = colour.lstrip("#")
    if len(value) == 3:
        value = "".join(ch * 2 for ch in value)
    return int(value[0:2], 16) / 255, int(value[2:4], 16) / 255, int(value[4:6], 16) / 255


def luminance(colour: str) -> float:
    """Relative luminance (WCAG's definition, sRGB)."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(a: str, b: str) -> float:
    """The contrast ratio of two colours, 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _mix(colour: str, towards: str, share: float) -> str:
    mixed = (round((c + (t - c) * share) * 255) for c, t in zip(_rgb(colour), _rgb(towards), strict=True))
    return "#" + "".join(f"{v:02x}" for v in mixed)


def readable(colour: str, against: Sequence[str], minimum: float = AA_TEXT) -> str:
    """``colour`` if it reaches ``minimum`` against every colour in ``against``, else the least change that does."""
    if all(ratio(colour, other) >= minimum for other in against):
        return colour
    for step in range(1, 101):
        for towards in ("#000000", WHITE):
            candidate = _mix(colour, towards, step / 100)
            if all(ratio(candidate, other) >= minimum for other in against):
                return candidate
    return "#000000"
