"""Outcomes as the judge: replay rules over the stored history and score them against what sales recorded.

For every contact sales judged (an ``outcome`` event on the trail: accepted,
sent back with a reason, disqualified, won with revenue, lost), the trail
*before* their first outcome is walked under the rules, as if the rules had been
live: would the rules have handed them off, and when, compared with the
handoff that really happened? Contacts without an outcome only say how many
handoffs the rules would make that nobody has judged yet.

* accepted, won and lost are sales-qualified (a lost deal was a real one);
  sent back and disqualified are not, by reason;
* precision: of the judged contacts the rules hand off, the share sales
  qualified; won deals caught (earlier or later than they really were handed
  off) and missed; lead time gained: how much earlier the rules hand off.

Only reads: nothing is stored, no signal is sent. Outcomes and handoffs come
from the trail (``outcome`` and ``handoff`` events), so this needs nothing
from ``cabos.sales``.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cabos.intent.rules import Rules
from cabos.intent.scoring import fit, grade_for, grade_rank
from cabos.intent.bulk import chunk_map, id_ranges, read_chunk
from cabos.intent.store import fields_of
from cabos.intent.timeline import first_entry
from cabos.tracking.models import Event

QUALIFIED = ("accepted", "won", "lost")
NOT_QUALIFIED = ("sent_back", "disqualified")


@dataclass
class Score:
    """How one rules file fares against the recorded outcomes."""

    source: str
    version: str
    judged: int = 0  # contacts with a recorded outcome
    qualified: int = 0  # … sales accepted, won or lost
    handed: int = 0  # judged contacts the rules would hand off before sales judged them
    handed_qualified: int = 0
    handed_back: Counter[str] = field(default_factory=Counter)  # "sent_back: reason" -> count
    won: int = 0
    won_revenue_cents: int = 0
    won_caught: int = 0
    won_caught_revenue_cents: int = 0
    won_earlier: int = 0  # caught no later than the real handoff
    won_later: int = 0
    lead_days: list[float] = field(default_factory=list)  # real handoff - rules handoff, for caught qualified
    unjudged_handed: int = 0  # contacts without an outcome the rules hand off now

    @property
    def precision(self) -> float | None:
        return self.handed_qualified / self.handed if self.handed else None

    @property
    def recall(self) -> float | None:
        return self.handed_qualified / self.qualified if self.qualified else None

    @property
    def won_missed(self) -> int:
        return self.won - self.won_caught

    @property
    def median_lead_days(self) -> float | None:
        return statistics.median(self.lead_days) if self.lead_days else None

    @property
    def handed_not_qualified(self) -> int:
        return self.handed - self.handed_qualified


@dataclass(frozen=True)
class Judged:
    """What sales said about one contact: the first judgement and the best one."""

    first_at: datetime
    label: str  # the best outcome: won > lost > accepted > disqualified > sent_back
    reason: str
    revenue_cents: int
    handed_at: datetime | None  # the real first handoff


_RANK = {"won": 0, "lost": 1, "accepted": 2, "disqualified": 3, "sent_back": 4}


def _judged(readings: list[Any], handed_at: datetime | None) -> Judged | None:
    outcomes = sorted((r for r in readings if r.type == "outcome" and (r.detail or {}).get("outcome") in _RANK),
                      key=lambda r: r.occurred_at)
    if not outcomes:
        return None
    best = min(outcomes, key=lambda r: (_RANK[r.detail["outcome"]], r.occurred_at))
    revenue = sum(int(r.detail.get("revenue_cents") or 0) for r in outcomes if r.detail["outcome"] == "won")
    return Judged(outcomes[0].occurred_at, best.detail["outcome"], str(best.detail.get("reason") or ""), revenue,
                  handed_at)


def _eligible(fields: dict[str, Any], rules: Rules) -> bool:
    points, found = fit(fields, rules)
    if any(m.exclude for m in found):
        return False
    return grade_rank(grade_for(points, rules, found)) <= grade_rank(rules.handoff_min_grade)


def rules_handoff(readings: list[Any], fields: dict[str, Any], rules: Rules, until: datetime) -> datetime | None:
    """When the rules would first have handed this contact off, from their trail before ``until``."""
    if not _eligible(fields, rules):
        return None
    before = [r for r in readings if r.occurred_at < until and r.type != "outcome"]
    return first_entry(before, rules, until - timedelta(microseconds=1))


def backtest(session: Session, rules_sets: list[Rules], now: datetime, batch_size: int = 1000,
             progress: Callable[[int], None] | None = None, workers: int = 1) -> list[Score]:
    """Score each rules set against the outcomes recorded on the trail (read-only).

    ``workers`` processes walk ranges of contacts in parallel (``bulk.chunk_map``); the scores are the
    same whatever their number.
    """
    scores = [Score(r.source, r.version) for r in rules_sets]
    first_handoff = dict(session.execute(select(Event.contact_id, func.min(Event.occurred_at))
                                         .where(Event.type == "handoff", Event.contact_id.is_not(None))
                                         .group_by(Event.contact_id)).all())
    done = 0
    ranges = id_ranges(session, batch_size)
    for count, parts in chunk_map(session, _backtest_range, ranges, (rules_sets, now, first_handoff), workers):
        for score, part in zip(scores, parts, strict=True):
            _merge(score, part)
        done += count
        if progress is not None:
            progress(done)
    return scores


def _backtest_range(session: Session, lo: int, hi: int, rules_sets: list[Rules], now: datetime,
                    first_handoff: dict[int, datetime]) -> tuple[int, list[Score]]:
    scores = [Score(r.source, r.version) for r in rules_sets]
    batch = read_chunk(session, lo, hi)
    for person, readings in batch:
        fields = fields_of(person)
        judged = _judged(readings, first_handoff.get(person.id))
        for rules, score in zip(rules_sets, scores, strict=True):
            if judged is None:
                score.unjudged_handed += rules_handoff(readings, fields, rules, now) is not None
                continue
            _count(score, judged, rules_handoff(readings, fields, rules, judged.first_at))
    return len(batch), scores


def _merge(score: Score, part: Score) -> None:
    """Add a later range's figures to ``score`` (lead times stay in contact order)."""
    for name in ("judged", "qualified", "handed", "handed_qualified", "won", "won_revenue_cents", "won_caught",
                 "won_caught_revenue_cents", "won_earlier", "won_later", "unjudged_handed"):
        setattr(score, name, getattr(score, name) + getattr(part, name))
    score.handed_back.update(part.handed_back)
    score.lead_days += part.lead_days


def _count(score: Score, judged: Judged, at: datetime | None) -> None:
    qualified = judged.label in QUALIFIED
    score.judged += 1
    score.qualified += qualified
    if judged.label == "won":
        score.won += 1
        score.won_revenue_cents += judged.revenue_cents
    if at is None:
        return
    score.handed += 1
    if qualified:
        score.handed_qualified += 1
        if judged.handed_at is not None:
            score.lead_days.append((judged.handed_at - at).total_seconds() / 86400)
    else:
        score.handed_back[f"{judged.label}: {judged.reason}" if judged.reason else judged.label] += 1
    if judged.label == "won":
        score.won_caught += 1
        score.won_caught_revenue_cents += judged.revenue_cents
        if judged.handed_at is None or at <= judged.handed_at:
            score.won_earlier += 1
        else:
            score.won_later += 1


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f} d"


def rows(scores: list[Score]) -> list[tuple[str, list[str]]]:
    """The comparison as (label, one value per rules set): the terminal table and the staff page."""
    def money(cents: int) -> str:
        return f"{cents / 100:,.0f}"

    out = [
        ("contacts judged by sales", [f"{s.judged:,}" for s in scores]),
        ("… qualified (accepted, won, lost)", [f"{s.qualified:,}" for s in scores]),
        ("rules would hand off (judged)", [f"{s.handed:,}" for s in scores]),
        ("… sales qualified them", [f"{s.handed_qualified:,}" for s in scores]),
        ("… sent back or disqualified", [f"{s.handed_not_qualified:,}" for s in scores]),
        ("precision", [_pct(s.precision) for s in scores]),
        ("recall of qualified", [_pct(s.recall) for s in scores]),
        ("won deals", [f"{s.won:,} ({money(s.won_revenue_cents)})" for s in scores]),
        ("… caught", [f"{s.won_caught:,} ({money(s.won_caught_revenue_cents)})" for s in scores]),
        ("… caught no later than sales got them", [f"{s.won_earlier:,}" for s in scores]),
        ("… caught later", [f"{s.won_later:,}" for s in scores]),
        ("… missed", [f"{s.won_missed:,}" for s in scores]),
        ("median lead time gained", [_days(s.median_lead_days) for s in scores]),
        ("not judged yet, rules hand off now", [f"{s.unjudged_handed:,}" for s in scores]),
    ]
    reasons = sorted({r for s in scores for r in s.handed_back})
    out += [(f"handed off, then {r}", [f"{s.handed_back.get(r, 0):,}" for s in scores]) for r in reasons]
    return out


def render(scores: list[Score], now: datetime) -> list[str]:
    """The backtest as lines of text for the terminal."""
    if not scores or scores[0].judged == 0:
        return [f"No recorded outcomes at {now:%Y-%m-%d %H:%M} UTC: sales has not accepted, sent back, "
                "disqualified, won or lost any handoff yet, so there is nothing to judge the rules against.",
                *(f"(The rules would hand off {s.unjudged_handed:,} contacts now: {s.source}.)" for s in scores)]
    names = [f"{s.source} ({s.version[:8]})" for s in scores]
    width = max(len(label) for label, _ in rows(scores)) + 2
    col = max(16, *(len(n) + 2 for n in names))
    lines = [f"Backtest against the outcomes sales recorded, at {now:%Y-%m-%d %H:%M} UTC (nothing was changed)", "",
             " " * width + "".join(f"{n:>{col}}" for n in names)]
    for label, values in rows(scores):
        lines.append(f"{label:<{width}}" + "".join(f"{v:>{col}}" for v in values))
    if len(scores) > 1:
        lines += ["", verdict(scores[0], scores[1])]
    return lines


def verdict(current: Score, candidate: Score) -> str:
    """One sentence: which rules file the outcomes favour, and why."""
    p0, p1 = current.precision or 0.0, candidate.precision or 0.0
    r0, r1 = current.recall or 0.0, candidate.recall or 0.0
    if (p1, r1) == (p0, r0):
        return "The outcomes do not tell the two apart."
    if p1 >= p0 and r1 >= r0:
        better, worse = candidate.source, current.source
    elif p0 >= p1 and r0 >= r1:
        better, worse = current.source, candidate.source
    else:
        return (f"Trade-off: {candidate.source} has precision {_pct(p1)} and recall {_pct(r1)}, "
                f"{current.source} {_pct(p0)} and {_pct(r0)}.")
    return f"{better} is better than {worse}: at least as precise and catching at least as many qualified contacts."
