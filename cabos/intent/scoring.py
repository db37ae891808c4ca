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

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from cabos.intent.contributions import (
    DAY,
    DETAILED_TYPES,
    INFORMATION,
    PURCHASE,
    SCORED_TYPES,
    Reading,
    contribution,
    decay,
    engagement_share,
    skimmed,
)
from cabos.intent.rules import GRADES, FitRule, Rules, fold
from cabos.intent.timeline import Item, Walk, walk, walk_many

__all__ = ["DAY", "DETAILED_TYPES", "INFORMATION", "PURCHASE", "SCORED_TYPES", "Reading", "Item", "FitMatch",
           "Assessment", "contribution", "decay", "engagement_share", "skimmed", "assess", "fit", "grade_for",
           "should_hand_off", "lapse_time", "evidence_json", "from_stored", "profile_fields", "first_number"]


@dataclass(frozen=True, slots=True)
class FitMatch:
    """A fit rule the contact's fields matched."""

    field: str
    value: str
    points: float
    label: str
    condition: str
    exclude: bool = False

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return FitMatch, (self.field, self.value, self.points, self.label, self.condition, self.exclude)


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
    evidence_until: datetime | None  # purchase mode: it holds until then if nothing happens (None otherwise)
    entered_at: datetime | None = None  # purchase mode: since when
    # Why the mode is what it is: the entry (reading, or a request with its message), the pattern
    # that kept it out (focus, pace), or the exit (silence, outcome). JSON-ready.
    why: Mapping[str, Any] = field(default_factory=dict)

    @property
    def excluded(self) -> tuple[FitMatch, ...]:
        """The hard exclusions the contact matched (competitor, press …): never handed off."""
        return tuple(m for m in self.fit if m.exclude)

    def at(self, now: datetime, rules: Rules) -> Assessment:
        """This assessment decayed to ``now`` (a later time); purchase mode ends after its silence."""
        if now <= self.as_of:
            return self
        factor = decay(now - self.as_of, rules)
        items = tuple(replace(i, value=i.value * factor) for i in self.items)
        mode, until, entered, why = self.mode, self.evidence_until, self.entered_at, self.why
        if mode == PURCHASE and until is not None and until <= now:
            mode, until, entered, why = INFORMATION, None, None, {"exit": "silence", "at": until.isoformat()}
        window = now - timedelta(days=rules.evidence_days)
        count = sum(1 for i in items if i.evidence_at is not None and i.evidence_at >= window)
        return _complete(now, items, self.grade, self.fit_points, self.fit, mode, count, until, entered, why)

    @property
    def problems(self) -> dict[str, float]:
        return dict(self.interest)


# --- fit --------------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d{1,3}(?:[.,\s]\d{3})+(?!\d)|\d+")


def first_number(value: str) -> float | None:
    """'120' -> 120, '50-199' -> 50, 'Más de 1.000' -> 1000: the lower bound of a size."""
    m = _NUMBER.search(value)
    return float(re.sub(r"[.,\s]", "", m.group())) if m else None


@functools.lru_cache(maxsize=1024)
def _compiled(rule: FitRule) -> frozenset[str] | re.Pattern[str] | None:
    if rule.condition in ("equals", "in", "listed_in"):
        return frozenset(fold(v) for v in rule.value)
    if rule.condition == "contains":
        # whole words, so 'coo' does not match 'coordinador'
        return re.compile("|".join(rf"(?<!\w){re.escape(fold(v))}(?!\w)" for v in rule.value))
    return None


_fold = functools.lru_cache(maxsize=65536)(fold)  # field values repeat across contacts


def _domains(value: str) -> list[str]:
    """'mail.press.example.com' -> itself, 'press.example.com', 'example.com': a listed domain covers its subdomains."""
    parts = value.split(".")
    return [".".join(parts[i:]) for i in range(len(parts) - 1)]


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
        folded = _fold(value)
        if rule.condition == "listed_in" and rule.field in ("email_domain", "website", "domain"):
            return any(d in compiled for d in _domains(folded))
        return folded in compiled
    return compiled is not None and compiled.search(_fold(value)) is not None


def profile_fields(email: str, base: Mapping[str, Any], custom: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The fields fit rules see: profile columns, custom form answers, email_domain."""
    fields = {**(custom or {}), **base, "email": email}
    fields["email_domain"] = email.rsplit("@", 1)[-1].strip().lower() if "@" in email else ""
    return fields


def fit(fields: Mapping[str, Any], rules: Rules) -> tuple[float, tuple[FitMatch, ...]]:
    """Fit points and the rules that gave them (exclusions included, their points too); fields only."""
    memo, names = _fit_memo(rules.fit_rules)
    key = tuple(_hashable(fields.get(name)) for name in names)
    known = memo.get(key)
    if known is None:
        found = tuple(FitMatch(r.field, str(fields.get(r.field) or ""), r.points, r.label, r.condition, r.exclude)
                      for r in rules.fit_rules if matches(r, fields.get(r.field)))
        if len(memo) > 100_000:
            memo.clear()
        known = memo[key] = (math.fsum(m.points for m in found), found)
    return known


# A full recompute grades 100,000 contacts whose fields repeat (roles, sizes, domains): each
# combination is graded once per set of fit rules (held by identity, so a rules change starts afresh).
_FIT_MEMOS: dict[int, tuple[tuple[FitRule, ...], tuple[str, ...], dict[tuple[Any, ...], Any]]] = {}


def _fit_memo(rules: tuple[FitRule, ...]) -> tuple[dict[tuple[Any, ...], Any], tuple[str, ...]]:
    entry = _FIT_MEMOS.get(id(rules))
    if entry is None or entry[0] is not rules:
        if len(_FIT_MEMOS) > 16:
            _FIT_MEMOS.clear()
        entry = _FIT_MEMOS[id(rules)] = (rules, tuple(dict.fromkeys(r.field for r in rules)), {})
    return entry[2], entry[1]


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return (list, *map(_hashable, value))
    if isinstance(value, dict):
        return (dict, *sorted((k, _hashable(v)) for k, v in value.items()))
    return (type(value), value)


def grade_for(points: float, rules: Rules, found: tuple[FitMatch, ...] = ()) -> str:
    """A–D from fit points; a hard exclusion is D; with no fit rules at all, every contact fits (A)."""
    if any(m.exclude for m in found):
        return GRADES[-1]
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
           now: datetime, values: bool = True) -> Assessment:
    """Score ``readings`` as of ``now`` (later events are ignored); grade ``fields`` (None: visitor).

    ``values=False``: mode, grade and their reasons only (no items, score 0): what a replay counts.
    """
    return _assessed(walk(readings, rules, now, values), fields, rules, now)


def assess_many(readings: Sequence[Reading], fields: Mapping[str, Any] | None, rules: Sequence[Rules],
                now: datetime, values: bool = True) -> list[Assessment]:
    """``assess`` under each of ``rules``, the trail counted once where they count alike (``walk_many``)."""
    return [_assessed(w, fields, r, now) for w, r in zip(walk_many(readings, rules, now, values), rules, strict=True)]


def _assessed(w: Walk, fields: Mapping[str, Any] | None, rules: Rules, now: datetime) -> Assessment:
    if fields is None:
        grade, points, found = None, None, ()
    else:
        points, found = fit(fields, rules)
        grade = grade_for(points, rules, found)
    mode, until, entered, why = w.mode, w.until, w.entered_at, w.why
    excluded = [m.label or m.field for m in found if m.exclude]
    if excluded:
        # Not our buyer (a competitor, the press): whatever they read, they are not choosing us.
        mode, until, entered, why = INFORMATION, None, None, {"excluded": excluded}
    return _complete(now, w.items, grade, points, found, mode, w.evidence_count, until, entered, why)


def _complete(now: datetime, items: tuple[Item, ...], grade: str | None, fit_points: float | None,
              found: tuple[FitMatch, ...], mode: str, evidence_count: int, until: datetime | None,
              entered_at: datetime | None, why: Mapping[str, Any]) -> Assessment:
    items = tuple(sorted(items, key=lambda i: (-i.value, i.kind, i.slug)))
    score = math.fsum(i.value for i in items)
    per_problem: dict[str, list[float]] = {}
    for item in items:
        for problem in item.problems:
            per_problem.setdefault(problem, []).append(item.value)
    interest = tuple(sorted(((p, math.fsum(v)) for p, v in per_problem.items()), key=lambda pv: (-pv[1], pv[0])))
    if mode != PURCHASE:
        until, entered_at = None, None
    return Assessment(now, score, interest, mode, grade, fit_points, items, found, evidence_count, until,
                      entered_at, dict(why))


def lapse_time(a: Assessment, rules: Rules) -> datetime | None:
    """When a purchase-mode assessment falls back to information mode if nothing happens (None: it is not in it)."""
    return a.evidence_until if a.mode == PURCHASE else None


def should_hand_off(state: Any, rules: Rules) -> bool:
    """Purchase mode, a grade at least ``handoff.min_grade`` and no hard exclusion: hand to sales (visitors never).

    A person who asked for sales themselves (a demo or contact-sales request) is answered whatever
    their grade, unless they are excluded or graded D: below the bar is a call sales can still win,
    but nobody should ask for a demo and hear nothing.
    """
    if state.mode != PURCHASE or state.grade is None or getattr(state, "excluded", ()):
        return False
    why = getattr(state, "why", None) or {}
    asked = why.get("entry") == "hand_raise" or "request" in why
    bar = grade_rank("C") if asked else grade_rank(rules.handoff_min_grade)
    return grade_rank(state.grade) <= max(bar, grade_rank(rules.handoff_min_grade))


# --- storage form ------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def evidence_json(a: Assessment, items: bool = True) -> dict[str, Any]:
    """The evidence as stored: every contributing item and fit rule, values as of ``as_of``, and why the mode.

    ``items=False``: without the readings (a grade change's record: fit explains a grade).
    """
    return {
        "items": [] if not items else [{"kind": i.kind, "slug": i.slug, "stage": i.stage, "problems": list(i.problems),
                   "value": i.value, "share": i.share, "points": i.points, "visits": i.visits, "ms": i.engaged_ms,
                   "last": _iso(i.last_at), "event": i.event_id, "evidence": _iso(i.evidence_at)} for i in a.items],
        "fit": [{"field": m.field, "value": m.value, "points": m.points, "label": m.label,
                 "condition": m.condition, **({"exclude": True} if m.exclude else {})} for m in a.fit],
        "evidence_count": a.evidence_count,
        "mode": {"mode": a.mode, "since": _iso(a.entered_at), "until": _iso(a.evidence_until), "why": dict(a.why)},
    }


def from_stored(as_of: datetime, evidence: Mapping[str, Any], grade: str | None, fit_points: float | None,
                rules: Rules) -> Assessment:
    """Rebuild an assessment from its stored evidence (values as stored; the mode as decided then)."""
    items = tuple(Item(d["kind"], d["slug"], d.get("stage"), tuple(d.get("problems") or ()), float(d["value"]),
                       float(d.get("share", 0.0)), float(d.get("points", 0.0)), int(d.get("visits", 1)),
                       int(d.get("ms", 0)), _dt(d["last"]) or as_of, d.get("event"), _dt(d.get("evidence")))
                  for d in evidence.get("items", ()))
    found = tuple(FitMatch(d["field"], d.get("value", ""), float(d["points"]), d.get("label", ""),
                           d.get("condition", ""), bool(d.get("exclude", False))) for d in evidence.get("fit", ()))
    # Rows stored before modes had their own record (rules version 1) read as information mode
    # until `cabos intent recompute` walks their trail.
    mode = evidence.get("mode") or {}
    return _complete(as_of, items, grade, fit_points, found, str(mode.get("mode") or INFORMATION),
                     int(evidence.get("evidence_count", 0)), _dt(mode.get("until")), _dt(mode.get("since")),
                     mode.get("why") or {})
