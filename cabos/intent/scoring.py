"""Interest, intent score, mode and grade as pure functions of readings, fields and rules.

The math, in the words of intent.yml:

* A reading of a piece of content is worth ``stage weight × share``, where
  ``share`` follows the engagement curve of its engaged seconds (a skim counts
  little, ``full_read_seconds`` counts fully, more counts no more). A guide
  download counts ``engagement.download`` of a full read; a reading of the guide's
  landing page is a reading like any other (same item as the download). A strong signal
  (pricing, demo, a case study) adds its points on top.
* Time fades it: a contribution made ``age`` days ago is worth
  ``value × 2^(-age / half_life_days)`` now (exponential decay with a half-life).
* Each piece of content counts once: its best reading, as worth *now*. Reading
  the same article ten times is not ten articles, and the score stays bounded
  (``Rules.max_score``), so a threshold can be checked against what is reachable.
* Interest in a problem is the sum of the content on that problem; the intent
  score is the sum of all content.
* Purchase mode: ``score ≥ threshold`` *and* at least ``min_readings``
  different items of an evidence stage (decide, by default) read with at least
  ``min_engagement`` in the last ``days`` days (or signals marked evidence).
  Learn-stage reading alone can never switch a reader to purchase mode.
* Grade: the points of the fit rules a contact's fields match, against the
  grade thresholds. It depends on the fields only.

Because every contribution decays with the same half-life and the best reading
of an item stays the best as time passes, an assessment made at ``t0`` is
brought to ``t`` by multiplying every value by ``2^(-(t - t0) / half_life)``
(``Assessment.at``): decay is applied on read, exactly, without the events.
``now`` is always a parameter; nothing here reads the clock.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from cabos.intent.rules import GRADES, FitRule, Rules, fold

SCORED_TYPES = ("reading", "download", "form_submit", "email_click")
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


@dataclass(frozen=True, slots=True)
class Item:
    """One piece of content's contribution: its best reading, as worth at the assessment's time."""

    kind: str
    slug: str
    stage: str | None
    problems: tuple[str, ...]
    value: float
    share: float  # engagement share of the best reading
    points: float  # signal points included in value (before decay)
    visits: int  # readings of this item that counted
    engaged_ms: int  # over all those readings
    last_at: datetime
    event_id: int | None  # the best reading: the one that counts
    evidence_at: datetime | None  # latest reading that is purchase evidence


@dataclass(frozen=True, slots=True)
class FitMatch:
    """A fit rule the contact's fields matched."""

    field: str
    value: str
    points: float
    label: str
    condition: str


@dataclass(frozen=True)
class Assessment:
    """Everything the intent model says about one person at ``as_of``, with its evidence."""

    as_of: datetime
    score: float
    interest: tuple[tuple[str, float], ...]  # (problem, value), highest first
    mode: str
    grade: str | None  # None for anonymous visitors
    fit_points: float | None
    items: tuple[Item, ...]  # highest value first
    fit: tuple[FitMatch, ...]
    evidence_count: int  # evidence items inside the window at as_of
    evidence_until: datetime | None  # when the evidence condition stops holding

    def at(self, now: datetime, rules: Rules) -> Assessment:
        """This assessment decayed to ``now`` (a later time), mode re-evaluated."""
        if now <= self.as_of:
            return self
        factor = decay(now - self.as_of, rules)
        items = tuple(replace(i, value=i.value * factor) for i in self.items)
        return _complete(now, items, self.grade, self.fit_points, self.fit, rules)

    @property
    def problems(self) -> dict[str, float]:
        return dict(self.interest)


# --- the pieces -----------------------------------------------------------------------------


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


@functools.lru_cache(maxsize=64)
def _seconds(curve: tuple[tuple[float, float], ...]) -> tuple[float, ...]:
    return tuple(s for s, _ in curve)


def decay(age: timedelta, rules: Rules) -> float:
    """2^(-age / half-life); the future (negative age) is not worth more than now."""
    days = age.total_seconds() / DAY
    return 1.0 if days <= 0 else 0.5 ** (days / rules.half_life_days)


def contribution(reading: Reading, rules: Rules) -> tuple[float, float, float, bool]:
    """(value before decay, engagement share, signal points, is purchase evidence) of one event."""
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
    # Recent purchase evidence: a real read of an evidence-stage item, or a signal marked evidence.
    evidence = (signal is not None and signal.evidence) or (
        kind not in ("form_submit", "email_click") and not page and share > 0 and share >= rules.evidence_min_share
        and reading.stage in rules.evidence_stages)
    return weight * share + points, share, points, evidence


# --- fit --------------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d{1,3}(?:[.,\s]\d{3})+(?!\d)|\d+")


def first_number(value: str) -> float | None:
    """'120' -> 120, '50-199' -> 50, 'Más de 1.000' -> 1000: the lower bound of a size."""
    m = _NUMBER.search(value)
    return float(re.sub(r"[.,\s]", "", m.group())) if m else None


@functools.lru_cache(maxsize=1024)
def _compiled(rule: FitRule) -> frozenset[str] | re.Pattern[str] | None:
    if rule.condition in ("equals", "in"):
        return frozenset(fold(v) for v in rule.value)
    if rule.condition == "contains":
        # whole words, so 'coo' does not match 'coordinador'
        return re.compile("|".join(rf"(?<!\w){re.escape(fold(v))}(?!\w)" for v in rule.value))
    return None


_fold = functools.lru_cache(maxsize=65536)(fold)  # field values repeat across contacts


def matches(rule: FitRule, raw: Any) -> bool:
    value = "" if raw is None else (", ".join(map(str, raw)) if isinstance(raw, list) else str(raw))
    if rule.condition == "present":
        return bool(value.strip()) is rule.value
    if not value.strip():
        return False
    if rule.condition == "between":
        n = first_number(value)
        return n is not None and rule.value[0] <= n <= rule.value[1]
    compiled = _compiled(rule)
    if isinstance(compiled, frozenset):
        return _fold(value) in compiled
    return compiled is not None and compiled.search(_fold(value)) is not None


def profile_fields(email: str, base: Mapping[str, Any], custom: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The fields fit rules see: profile columns, custom form answers, email_domain."""
    fields = {**(custom or {}), **base, "email": email}
    fields["email_domain"] = email.rsplit("@", 1)[-1].strip().lower() if "@" in email else ""
    return fields


def fit(fields: Mapping[str, Any], rules: Rules) -> tuple[float, tuple[FitMatch, ...]]:
    """Fit points and the rules that gave them; depends on the fields only."""
    found = tuple(FitMatch(r.field, str(fields.get(r.field) or ""), r.points, r.label, r.condition)
                  for r in rules.fit_rules if matches(r, fields.get(r.field)))
    return math.fsum(m.points for m in found), found


def grade_for(points: float, rules: Rules) -> str:
    """A–D from fit points; with no fit rules at all, every contact fits (A)."""
    if not rules.fit_rules:
        return GRADES[0]
    for grade, minimum in rules.grade_thresholds:
        if points >= minimum:
            return grade
    return GRADES[-1]


def grade_rank(grade: str | None) -> int:
    return GRADES.index(grade) if grade in GRADES else len(GRADES)


# --- the assessment ------------------------------------------------------------------------


def assess(readings: Iterable[Reading], fields: Mapping[str, Any] | None, rules: Rules,
           now: datetime) -> Assessment:
    """Score ``readings`` as of ``now`` (later events are ignored); grade ``fields`` (None: visitor)."""
    best: dict[tuple[str, str], list[Any]] = {}
    half_life = rules.half_life_days * DAY
    for r in readings:
        if r.occurred_at > now:
            continue
        base, share, points, evidence = contribution(r, rules)
        if base <= 0:
            continue
        value = base * 0.5 ** ((now - r.occurred_at).total_seconds() / half_life)
        key = (r.content_kind or "", r.content_slug or "")
        acc = best.get(key)
        if acc is None:
            best[key] = [r, value, share, points, 1, r.engaged_ms, r.occurred_at, r.occurred_at if evidence else None]
            continue
        if value > acc[1]:
            acc[0], acc[1], acc[2], acc[3] = r, value, share, points
        acc[4] += 1
        acc[5] += r.engaged_ms
        if r.occurred_at > acc[6]:
            acc[6] = r.occurred_at
        if evidence and (acc[7] is None or r.occurred_at > acc[7]):
            acc[7] = r.occurred_at
    items = tuple(Item(k[0], k[1], a[0].stage, tuple(a[0].problems), a[1], a[2], a[3], a[4], a[5], a[6], a[0].id,
                       a[7]) for k, a in best.items())
    if fields is None:
        return _complete(now, items, None, None, (), rules)
    points, found = fit(fields, rules)
    return _complete(now, items, grade_for(points, rules), points, found, rules)


def _complete(now: datetime, items: tuple[Item, ...], grade: str | None, fit_points: float | None,
              found: tuple[FitMatch, ...], rules: Rules) -> Assessment:
    items = tuple(sorted(items, key=lambda i: (-i.value, i.kind, i.slug)))
    score = math.fsum(i.value for i in items)
    per_problem: dict[str, list[float]] = {}
    for item in items:
        for problem in item.problems:
            per_problem.setdefault(problem, []).append(item.value)
    interest = tuple(sorted(((p, math.fsum(v)) for p, v in per_problem.items()), key=lambda pv: (-pv[1], pv[0])))
    window = timedelta(days=rules.evidence_days)
    times = sorted((i.evidence_at for i in items if i.evidence_at is not None and i.evidence_at >= now - window),
                   reverse=True)
    k = rules.evidence_min_readings
    until = times[k - 1] + window if len(times) >= k else None
    mode = PURCHASE if score >= rules.threshold and until is not None else INFORMATION
    return Assessment(now, score, interest, mode, grade, fit_points, items, found, len(times), until)


def lapse_time(a: Assessment, rules: Rules) -> datetime | None:
    """When a purchase-mode assessment falls back to information mode if nothing happens (None: it is not in it)."""
    if a.mode != PURCHASE or a.evidence_until is None:
        return None
    days = rules.half_life_days * math.log2(a.score / rules.threshold) if a.score > 0 else 0.0
    return min(a.as_of + timedelta(days=days), a.evidence_until)


def should_hand_off(state: Any, rules: Rules) -> bool:
    """Purchase mode and a grade at least ``handoff.min_grade``: hand to sales (visitors never)."""
    return state.mode == PURCHASE and state.grade is not None \
        and grade_rank(state.grade) <= grade_rank(rules.handoff_min_grade)


# --- storage form ------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def evidence_json(a: Assessment) -> dict[str, Any]:
    """The evidence as stored: every contributing item and fit rule, values as of ``as_of``."""
    return {
        "items": [{"kind": i.kind, "slug": i.slug, "stage": i.stage, "problems": list(i.problems),
                   "value": i.value, "share": i.share, "points": i.points, "visits": i.visits, "ms": i.engaged_ms,
                   "last": _iso(i.last_at), "event": i.event_id, "evidence": _iso(i.evidence_at)} for i in a.items],
        "fit": [{"field": m.field, "value": m.value, "points": m.points, "label": m.label,
                 "condition": m.condition} for m in a.fit],
        "evidence_count": a.evidence_count,
    }


def from_stored(as_of: datetime, evidence: Mapping[str, Any], grade: str | None, fit_points: float | None,
                rules: Rules) -> Assessment:
    """Rebuild an assessment from its stored evidence (mode re-evaluated under ``rules``)."""
    items = tuple(Item(d["kind"], d["slug"], d.get("stage"), tuple(d.get("problems") or ()), float(d["value"]),
                       float(d.get("share", 0.0)), float(d.get("points", 0.0)), int(d.get("visits", 1)),
                       int(d.get("ms", 0)), _dt(d["last"]) or as_of, d.get("event"), _dt(d.get("evidence")))
                  for d in evidence.get("items", ()))
    found = tuple(FitMatch(d["field"], d.get("value", ""), float(d["points"]), d.get("label", ""),
                           d.get("condition", "")) for d in evidence.get("fit", ()))
    return _complete(as_of, items, grade, fit_points, found, rules)
