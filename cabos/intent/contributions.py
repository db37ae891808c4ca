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


class Judge:
    """One rules set's per-event arithmetic, prepared once: plain dicts, the curve split in two.

    A rules change re-walks millions of events (``cabos intent replay``, ``backtest``,
    ``recompute``); looking the same things up in the rules' read-only mappings on every
    event cost a third of the walk. ``judge(rules)`` keeps one per rules set.
    """

    __slots__ = ("rules", "signals", "words", "weights", "seconds", "curve", "full", "full_share", "download",
                 "click", "evidence_stages", "min_share", "pace_min_words", "pace")

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.signals = dict(rules.signals or {})
        self.words = dict(rules.words)
        self.weights = dict(rules.stage_weights)
        self.curve = rules.curve
        self.seconds = tuple(s for s, _ in rules.curve)
        self.full, self.full_share = rules.curve[-1]
        self.download = rules.download_share
        self.click = rules.click_share
        self.evidence_stages = rules.evidence_stages
        self.min_share = rules.evidence_min_share
        self.pace_min_words = rules.patterns.pace_min_words
        self.pace = rules.patterns.pace_words_per_minute

    def share(self, engaged_ms: int) -> float:
        if engaged_ms <= 0:
            return 0.0
        seconds = engaged_ms / 1000.0
        if seconds >= self.full:
            return self.full_share
        curve = self.curve
        i = bisect.bisect_right(self.seconds, seconds)
        (s0, a0), (s1, a1) = curve[i - 1], curve[i]
        return a0 + (a1 - a0) * (seconds - s0) / (s1 - s0)

    def skimmed(self, reading: Reading) -> bool:
        if reading.type != "reading" or reading.engaged_ms <= 0:
            return False
        words = self.words.get((reading.content_kind or "", reading.content_slug or ""), 0)
        return words >= self.pace_min_words and words / (reading.engaged_ms / 60000.0) > self.pace

    def weigh(self, r: Reading) -> tuple[float, float, float, bool, bool]:
        """(value before decay, engagement share, signal points, is purchase evidence, skimmed) of one event."""
        kind = r.type
        key = (r.content_kind or "", r.content_slug or "")
        fast = False
        if kind == "reading":
            ms = r.engaged_ms
            if ms <= 0:
                return 0.0, 0.0, 0.0, False, False  # opened, never read: not interest
            share = self.share(ms)
            words = self.words.get(key, 0)
            fast = words >= self.pace_min_words and words / (ms / 60000.0) > self.pace
        elif kind == "download":
            share = self.download
        elif kind == "form_submit":
            share = 0.0  # a form is a hand-raiser only when it is a signal
        elif kind == "email_click":
            if not r.content_slug:
                return 0.0, 0.0, 0.0, False, False  # a link to no piece of ours says nothing about a problem
            share = self.click
        else:
            return 0.0, 0.0, 0.0, False, False
        signal = self.signals.get(key) if self.signals else None
        page = key[0] == "page"
        weight = 0.0 if page else self.weights.get(r.stage or "", 0.0)
        points = signal.points if signal is not None else 0.0
        # Recent purchase evidence: a real read (at a plausible pace) of an evidence-stage item, or a
        # signal marked evidence.
        evidence = (signal is not None and signal.evidence) or (
            kind != "form_submit" and kind != "email_click" and not page and share > 0 and share >= self.min_share
            and r.stage in self.evidence_stages and not fast)
        return weight * share + points, share, points, evidence, fast


_JUDGES: dict[int, Judge] = {}


def judge(rules: Rules) -> Judge:
    """The prepared arithmetic of ``rules`` (by identity: a rules change gets its own)."""
    known = _JUDGES.get(id(rules))
    if known is None or known.rules is not rules:
        if len(_JUDGES) > 16:
            _JUDGES.clear()
        known = _JUDGES[id(rules)] = Judge(rules)
    return known


def engagement_share(engaged_ms: int, rules: Rules) -> float:
    """Share of a full read that ``engaged_ms`` of attention is worth (0..1, capped)."""
    return judge(rules).share(engaged_ms)


def decay(age: timedelta, rules: Rules) -> float:
    """2^(-age / half-life); the future (negative age) is not worth more than now."""
    days = age.total_seconds() / DAY
    return 1.0 if days <= 0 else 0.5 ** (days / rules.half_life_days)


def skimmed(reading: Reading, rules: Rules) -> bool:
    """Read faster than anyone reads to choose: more words per minute of attention than ``pace``."""
    return judge(rules).skimmed(reading)


def contribution(reading: Reading, rules: Rules) -> tuple[float, float, float, bool]:
    """(value before decay, engagement share, signal points, is purchase evidence) of one event."""
    value, share, points, evidence, _ = judge(rules).weigh(reading)
    return value, share, points, evidence
