"""What one event is worth: engagement share, decay, signal points, and whether it is purchase evidence.

The smallest pieces of the intent math, shared by the assessment
(``scoring``), the walk through time (``timeline``) and the reading patterns
(``patterns``). Pure functions; nothing reads the clock.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cabos.intent.rules import Rules

# Events scoring reads. Readings, downloads, forms and clicks add value; a hand-raise
# (demo or contact-sales request) and a sales outcome move the mode (see timeline).
SCORED_TYPES = ("reading", "download", "form_submit", "email_click", "hand_raise", "outcome")
DETAILED_TYPES = ("hand_raise", "outcome")  # their data (form, message, outcome kind) is read too
DAY = 86400.0
INFORMATION, PURCHASE = "information", "purchase"


@dataclass(slots=True)
class Reading:
    """One event of the trail as scoring sees it (a reading, a download, a form); read-only by convention."""

    # Not frozen: a full recompute builds millions, and frozen construction costs 3-4× more.

    occurred_at: datetime
    content_kind: str | None
    content_slug: str | None
    stage: str | None = None
    problems: tuple[str, ...] = ()
    engaged_ms: int = 0
    scroll_pct: int = 0
    read_to_end: bool = False
    type: str = "reading"
    id: int | None = None
    detail: dict[str, Any] | None = None  # hand_raise and outcome: the event's data


def engagement_share(engaged_ms: int, rules: Rules) -> float:
    """Share of a full read that ``engaged_ms`` of attention is worth (0..1, capped)."""
    if engaged_ms <= 0:
        return 0.0
    seconds = engaged_ms / 1000.0
    curve = rules.curve
    if seconds >= curve[-1][0]:
        return curve[-1][1]
    i = bisect.bisect_right(_seconds(curve), seconds)
    (s0, a0), (s1, a1) = curve[i - 1], curve[i]
    return a0 + (a1 - a0) * (seconds - s0) / (s1 - s0)


_SECONDS: dict[int, tuple[tuple[tuple[float, float], ...], tuple[float, ...]]] = {}


def _seconds(curve: tuple[tuple[float, float], ...]) -> tuple[float, ...]:
    # By identity: hashing the curve on every reading cost more than the interpolation.
    known = _SECONDS.get(id(curve))
    if known is None or known[0] is not curve:
        if len(_SECONDS) > 64:
            _SECONDS.clear()
        known = _SECONDS[id(curve)] = (curve, tuple(s for s, _ in curve))
    return known[1]


def decay(age: timedelta, rules: Rules) -> float:
    """2^(-age / half-life); the future (negative age) is not worth more than now."""
    days = age.total_seconds() / DAY
    return 1.0 if days <= 0 else 0.5 ** (days / rules.half_life_days)


def skimmed(reading: Reading, rules: Rules) -> bool:
    """Read faster than anyone reads to choose: more words per minute of attention than ``pace``."""
    if reading.type != "reading" or reading.engaged_ms <= 0:
        return False
    words = rules.words.get((reading.content_kind or "", reading.content_slug or ""), 0)
    if words < rules.patterns.pace_min_words:
        return False
    return words / (reading.engaged_ms / 60000.0) > rules.patterns.pace_words_per_minute


def contribution(reading: Reading, rules: Rules, is_skimmed: bool | None = None) -> tuple[float, float, float, bool]:
    """(value before decay, engagement share, signal points, is purchase evidence) of one event.

    ``is_skimmed``: ``skimmed(reading, rules)`` if the caller knows it already.
    """
    signal = rules.signals.get((reading.content_kind or "", reading.content_slug or "")) if rules.signals else None
    kind = reading.type
    if kind == "reading":
        if reading.engaged_ms <= 0:
            return 0.0, 0.0, 0.0, False  # opened, never read: not interest
        share = engagement_share(reading.engaged_ms, rules)
    elif kind == "download":
        share = rules.download_share
    elif kind == "form_submit":
        share = 0.0  # a form is a hand-raiser only when it is a signal
    elif kind == "email_click":
        if not reading.content_slug:
            return 0.0, 0.0, 0.0, False  # a link to no piece of ours says nothing about a problem
        share = rules.click_share
    else:
        return 0.0, 0.0, 0.0, False
    page = reading.content_kind == "page"
    weight = 0.0 if page else rules.stage_weights.get(reading.stage or "", 0.0)
    points = signal.points if signal is not None else 0.0
    # Recent purchase evidence: a real read (at a plausible pace) of an evidence-stage item, or a signal
    # marked evidence.
    evidence = (signal is not None and signal.evidence) or (
        kind not in ("form_submit", "email_click") and not page and share > 0 and share >= rules.evidence_min_share
        and reading.stage in rules.evidence_stages
        and not (skimmed(reading, rules) if is_skimmed is None else is_skimmed))
    return weight * share + points, share, points, evidence
