"""The dashboard's numbers: funnel, people and time series, each a function of a Session and a Period.

Every count is of *people who reached a stage during the period* (by the moment they
reached it), so stages are comparable period to period; conversion is a stage's count
over the previous stage's, for the same period. Medians of time between stages are over
the people counted at the later stage, from the moment they reached the earlier one.
Attribution and content performance live in ``attribution`` and ``content``.
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from cabos.contacts.models import Contact
from cabos.dashboard import readers
from cabos.dashboard.period import Period, buckets
from cabos.intent.models import IntentChange
from cabos.sales.models import Handoff, HandoffOutcome
from cabos.staff.models import StaffUser

STAGES = ("visitors", "engaged", "identified", "purchase", "handed_off", "accepted", "won")
DEFAULT_CURRENCY = "EUR"
CLOSED_LOOP = ("sent_back", "disqualified")


def median(values: Sequence[timedelta | float]) -> timedelta | None:
    """The median of durations, or of seconds (mean of the middle two for an even count), or None."""
    if not values:
        return None
    seconds = statistics.median(v.total_seconds() if isinstance(v, timedelta) else v for v in values)
    return timedelta(seconds=round(seconds, 3))


def _within(column: Any, period: Period) -> Any:
    return and_(column >= period.start_at, column < period.end_at)


# --- revenue -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Win:
    """One won outcome: the deal, its contact and when; revenue in the dashboard's currency."""

    outcome_id: int
    handoff_id: int
    contact_id: int
    at: datetime
    revenue_cents: int
    currency: str
    handoff_at: datetime
    assigned_to: int | None
    contact_created_at: datetime | None = None


def wins(session: Session, period: Period) -> list[Win]:
    """Won outcomes recorded in the period, oldest first."""
    query = (select(HandoffOutcome.id, HandoffOutcome.handoff_id, HandoffOutcome.contact_id, HandoffOutcome.occurred_at,
                    HandoffOutcome.revenue_cents, HandoffOutcome.currency, Handoff.created_at, Handoff.assigned_to,
                    Contact.created_at)
             .join(Handoff, Handoff.id == HandoffOutcome.handoff_id)
             .join(Contact, Contact.id == HandoffOutcome.contact_id)
             .where(HandoffOutcome.kind == "won", _within(HandoffOutcome.occurred_at, period))
             .order_by(HandoffOutcome.occurred_at, HandoffOutcome.id))
    return [Win(i, h, c, at, int(cents or 0), (cur or DEFAULT_CURRENCY).upper(), h_at, who, created)
            for i, h, c, at, cents, cur, h_at, who, created in session.connection().execute(query)]


def main_currency(won: Iterable[Win]) -> str:
    """The currency most wins are in (revenue in others is listed apart, never added)."""
    counts = Counter(w.currency for w in won)
    if not counts:
        return DEFAULT_CURRENCY
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


# --- funnel -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    key: str
    count: int
    conversion: float | None  # count / previous stage's count (None for the first, or after 0)
    median_time: timedelta | None  # from the previous stage, for the people counted here
    timed: int  # how many people that median is over


@dataclass(frozen=True)
class Funnel:
    period: Period
    stages: tuple[Stage, ...]
    revenue_cents: int
    currency: str
    other_currencies: dict[str, int]  # wins in other currencies: currency -> cents (not added)
    cycle: timedelta | None  # median identified → won, over the people won in the period
    won_deals: int

    def stage(self, key: str) -> Stage:
        return next(s for s in self.stages if s.key == key)


def seconds_between(dialect: str, later: Any, earlier: Any) -> Any:
    """``later - earlier`` in seconds, as the database computes it (SQLite keeps times as text)."""
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def _seconds(value: float | None) -> float:
    """Non-negative seconds, to the millisecond (julianday's doubles are not exact)."""
    return max(0.0, round(float(value or 0), 3))


def _purchase_entries(period: Period) -> Any:
    return and_(IntentChange.kind == "mode", IntentChange.to_value == "purchase",
                _within(IntentChange.occurred_at, period))


ReaderCounts = Callable[[date, date], dict[str, int]]  # distinct readers ('all', 'engaged') in a range of days


def identified_by_day(session: Session, period: Period) -> dict[date, int]:
    """Contacts created per day of the period, counted in the database (the rollup keeps them too)."""
    day = func.date(Contact.created_at)
    rows = session.connection().execute(select(day, func.count()).where(_within(Contact.created_at, period))
                                        .group_by(day))
    return {readers._day(d): int(n) for d, n in rows}


def funnel(session: Session, period: Period, count_readers: ReaderCounts, won: Sequence[Win] | None = None,
           identified_days: dict[date, int] | None = None) -> Funnel:
    """Visitors → engaged → identified → purchase mode → handed off → accepted → won, for ``period``."""
    counted = count_readers(period.start, period.end)
    if identified_days is None:
        identified_days = identified_by_day(session, period)
    identified = sum(identified_days.values())

    conn = session.connection()
    dialect = conn.dialect.name
    # Durations are computed by the database: tens of thousands of rows need no datetimes here.
    first_entry = func.min(IntentChange.occurred_at)
    purchase = conn.execute(
        select(IntentChange.contact_id, seconds_between(dialect, first_entry, func.min(Contact.created_at)))
        .join(Contact, Contact.id == IntentChange.contact_id).where(_purchase_entries(period))
        .group_by(IntentChange.contact_id)).all()

    # Each contact's first handoff in the period, and the latest purchase-mode entry before it.
    entry = aliased(IntentChange)
    handoffs: dict[int, tuple[datetime, float | None]] = {}
    for contact_id, at, since_entry in conn.execute(
            select(Handoff.contact_id, Handoff.created_at,
                   seconds_between(dialect, Handoff.created_at, func.max(entry.occurred_at)))
            .outerjoin(entry, and_(entry.contact_id == Handoff.contact_id, entry.kind == "mode",
                                   entry.to_value == "purchase", entry.occurred_at <= Handoff.created_at))
            .where(_within(Handoff.created_at, period)).group_by(Handoff.id, Handoff.contact_id, Handoff.created_at)):
        if contact_id not in handoffs or at < handoffs[contact_id][0]:
            handoffs[contact_id] = (at, since_entry)

    accepted: dict[int, float] = {}
    for contact_id, since_handoff in conn.execute(
            select(HandoffOutcome.contact_id, seconds_between(dialect, HandoffOutcome.occurred_at, Handoff.created_at))
            .join(Handoff, Handoff.id == HandoffOutcome.handoff_id)
            .where(HandoffOutcome.kind == "accepted", _within(HandoffOutcome.occurred_at, period))
            .order_by(HandoffOutcome.occurred_at, HandoffOutcome.id)):
        accepted.setdefault(contact_id, since_handoff)

    if won is None:
        won = wins(session, period)
    # For each win: since its handoff was accepted (or, if never accepted, since the handoff).
    won_ids = select(HandoffOutcome.handoff_id).where(HandoffOutcome.kind == "won",
                                                     _within(HandoffOutcome.occurred_at, period))
    accepted_at = dict(session.connection().execute(
        select(HandoffOutcome.handoff_id, func.min(HandoffOutcome.occurred_at))
        .where(HandoffOutcome.kind == "accepted", HandoffOutcome.handoff_id.in_(won_ids))
        .group_by(HandoffOutcome.handoff_id)).all())
    won_first: dict[int, Win] = {}
    for w in won:
        won_first.setdefault(w.contact_id, w)
    won_gaps = [max(timedelta(0), w.at - accepted_at.get(w.handoff_id, w.handoff_at)) for w in won_first.values()]
    cycle = median([max(timedelta(0), w.at - w.contact_created_at) for w in won_first.values()
                    if w.contact_created_at is not None])

    currency = main_currency(won)
    revenue = sum(w.revenue_cents for w in won if w.currency == currency)
    others: dict[str, int] = defaultdict(int)
    for w in won:
        if w.currency != currency:
            others[w.currency] += w.revenue_cents

    counts = [counted["all"], counted["engaged"], identified, len(purchase), len(handoffs), len(accepted),
              len(won_first)]
    times: list[Sequence[timedelta | float] | None] = [
        None, None, None,  # anonymous readers' stages are not timed
        [_seconds(secs) for _c, secs in purchase],
        [_seconds(secs) for _at, secs in handoffs.values() if secs is not None],
        [_seconds(secs) for secs in accepted.values()],
        won_gaps,
    ]
    stages = []
    for i, key in enumerate(STAGES):
        conversion = counts[i] / counts[i - 1] if i and counts[i - 1] else None
        t = times[i]
        stages.append(Stage(key, counts[i], conversion, median(t) if t else None, len(t or ())))
    return Funnel(period, tuple(stages), revenue, currency, dict(others), cycle, len(won))


# --- people -------------------------------------------------------------------------------------


@dataclass
class PersonRow:
    """One salesperson's figures (or the team's, or the unassigned handoffs')."""

    staff_id: int | None
    name: str
    received: int = 0
    responses: list[timedelta] = field(default_factory=list)
    within_sla: int = 0
    sla_due: int = 0  # handoffs whose deadline has passed or that were answered: the SLA's denominator
    accepted: int = 0
    sent_back: int = 0
    sent_back_reasons: Counter[str] = field(default_factory=Counter)
    disqualified: int = 0
    won: int = 0
    lost: int = 0
    revenue_cents: int = 0

    @property
    def median_response(self) -> timedelta | None:
        return median(self.responses)

    @property
    def sla_rate(self) -> float | None:
        return self.within_sla / self.sla_due if self.sla_due else None

    def add(self, other: PersonRow) -> None:
        for name in ("received", "within_sla", "sla_due", "accepted", "sent_back", "disqualified", "won", "lost",
                     "revenue_cents"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.responses.extend(other.responses)
        self.sent_back_reasons.update(other.sent_back_reasons)


@dataclass(frozen=True)
class ReasonCount:
    kind: str  # 'sent_back' | 'disqualified'
    reason: str
    by: str  # the source, or the problem
    count: int


@dataclass(frozen=True)
class People:
    sales: tuple[PersonRow, ...]  # one row per salesperson (and 'unassigned' if any), by revenue
    team: PersonRow
    currency: str
    by_source: tuple[ReasonCount, ...]
    by_problem: tuple[ReasonCount, ...]


def people(session: Session, period: Period, now: datetime, won: Sequence[Win] | None = None) -> People:
    """Per salesperson: handoffs received, first response vs SLA, outcomes, revenue; and the closed loop."""
    rows: dict[int | None, PersonRow] = {}
    names = {uid: (name or email) for uid, name, email in
             session.connection().execute(select(StaffUser.id, StaffUser.name, StaffUser.email))}
    sales_ids = session.scalars(select(StaffUser.id).where(StaffUser.role == "sales", StaffUser.active)).all()

    def row(uid: int | None) -> PersonRow:
        if uid not in rows:
            rows[uid] = PersonRow(uid, names.get(uid, "") if uid is not None else "")
        return rows[uid]

    for uid in sales_ids:
        row(uid)
    conn = session.connection()
    dialect = conn.dialect.name
    responded = Handoff.first_response_at
    for uid, seconds, in_time, overdue in conn.execute(
            select(Handoff.assigned_to, seconds_between(dialect, responded, Handoff.created_at),
                   responded <= Handoff.due_at, Handoff.due_at <= now)
            .where(_within(Handoff.created_at, period))):
        r = row(uid)
        r.received += 1
        if seconds is not None:
            r.responses.append(_seconds(seconds))
        if seconds is not None or overdue:
            r.sla_due += 1
            if in_time:
                r.within_sla += 1

    if won is None:
        won = wins(session, period)
    currency = main_currency(won)
    closing = conn.execute(
        select(HandoffOutcome.kind, HandoffOutcome.reason, Handoff.assigned_to, func.count())
        .join(Handoff, Handoff.id == HandoffOutcome.handoff_id)
        .where(HandoffOutcome.kind.in_(("accepted", "sent_back", "disqualified", "lost")),
               _within(HandoffOutcome.occurred_at, period))
        .group_by(HandoffOutcome.kind, HandoffOutcome.reason, Handoff.assigned_to)).all()
    for kind, reason, uid, n in closing:
        r = row(uid)
        setattr(r, kind, getattr(r, kind) + n)
        if kind == "sent_back":
            r.sent_back_reasons[reason or ""] += n
    # The closed loop: what sales said, by where the contact came from and their main problem.
    loop = conn.execute(
        select(HandoffOutcome.kind, HandoffOutcome.reason, Handoff.top_problem, Contact.first_touch)
        .join(Handoff, Handoff.id == HandoffOutcome.handoff_id)
        .join(Contact, Contact.id == HandoffOutcome.contact_id)
        .where(HandoffOutcome.kind.in_(CLOSED_LOOP), _within(HandoffOutcome.occurred_at, period))).all()
    by_source: Counter[tuple[str, str, str]] = Counter()
    by_problem: Counter[tuple[str, str, str]] = Counter()
    for kind, reason, problem, first_touch in loop:
        source = str(first_touch.get("source") or "") if isinstance(first_touch, dict) else ""
        by_source[(kind, reason or "", source)] += 1
        by_problem[(kind, reason or "", problem or "")] += 1
    for w in won:
        r = row(w.assigned_to)
        r.won += 1
        if w.currency == currency:
            r.revenue_cents += w.revenue_cents

    team = PersonRow(None, "")
    for r in rows.values():
        team.add(r)
    ordered = sorted(rows.values(), key=lambda r: (r.staff_id is None, -r.revenue_cents, -r.won, r.name.lower()))

    def counts(counter: Counter[tuple[str, str, str]]) -> tuple[ReasonCount, ...]:
        return tuple(ReasonCount(k, reason, by, n) for (k, reason, by), n in
                     sorted(counter.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1], kv[0][2])))

    return People(tuple(ordered), team, currency, counts(by_source), counts(by_problem))


# --- time series --------------------------------------------------------------------------------

SERIES = ("visitors", "engaged", "identified", "purchase", "handed_off", "won", "revenue")


@dataclass(frozen=True)
class Point:
    start: date
    end: date
    values: dict[str, int]


def _bucketed(days: Iterable[tuple[Any, date]], edges: Sequence[tuple[date, date]],
              distinct: bool = True) -> list[int]:
    """Per bucket, by UTC day: how many distinct keys, or (``distinct=False``) the sum of the keys."""
    seen: list[set[Any]] = [set() for _ in edges]
    totals = [0] * len(edges)
    starts = [a for a, _b in edges]
    for key, day in days:
        if not edges or day < starts[0] or day > edges[-1][1]:
            continue
        i = bisect_right(starts, day) - 1
        if distinct:
            seen[i].add(key)
        else:
            totals[i] += key
    return [len(s) for s in seen] if distinct else totals


def series(session: Session, period: Period, every: str, count_readers: ReaderCounts,
           won: Sequence[Win] | None = None, identified_days: dict[date, int] | None = None) -> list[Point]:
    """The key numbers per week or month of the period (each bucket counted like a period of its own)."""
    edges = list(buckets(period, every))
    if won is None:
        won = wins(session, period)
    currency = main_currency(won)
    if identified_days is None:
        identified_days = identified_by_day(session, period)
    entry_day = func.date(IntentChange.occurred_at)
    purchase = session.connection().execute(select(IntentChange.contact_id, entry_day).distinct()
                                            .where(_purchase_entries(period))).all()
    handoff_day = func.date(Handoff.created_at)
    handed = session.connection().execute(select(Handoff.contact_id, handoff_day).distinct()
                                          .where(_within(Handoff.created_at, period))).all()
    columns = {
        "identified": _bucketed(((n, d) for d, n in identified_days.items()), edges, distinct=False),
        "purchase": _bucketed(((c, readers._day(d)) for c, d in purchase), edges),
        "handed_off": _bucketed(((c, readers._day(d)) for c, d in handed), edges),
        "won": _bucketed(((w.contact_id, w.at.date()) for w in won), edges),
        "revenue": _bucketed(((w.revenue_cents, w.at.date()) for w in won if w.currency == currency), edges,
                             distinct=False),
    }
    points = []
    for i, (a, b) in enumerate(edges):
        counted = count_readers(a, b)
        values = {"visitors": counted["all"], "engaged": counted["engaged"]}
        values.update({k: v[i] for k, v in columns.items()})
        points.append(Point(a, b, values))
    return points
