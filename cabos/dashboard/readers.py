"""Readers and readings, the two figures that scan the whole trail: from the daily rollup when it exists.

Two facts per day, both additive, so any period is a sum of days:

- *Reader days*: for each visitor and each day they read, the day and their previous reading
  day (``FIRST`` when it is their first ever). A visitor read in a period [a, b] exactly
  when one of their reader days d in [a, b] has its previous day before a: their first
  reading day inside the period. So the number of distinct readers of any period is a sum
  over day rows (``WHERE day BETWEEN a AND b AND prev_day < a``), never a count over
  people. The same chain over engaged readings (≥ ``ENGAGED_MS`` of attention) counts
  engaged readers.
- *Reading stats*: per day and content, the readings, those read to the end, and a
  histogram of engaged time (``EDGES``) from which medians are read.

``window`` computes both for a range of days straight from ``events``; the rollup tables
(``cabos.dashboard.rollup``) store what ``window`` returned for closed days, and the
dashboard computes the days after the last refresh live with the same function.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from cabos.dashboard.models import HISTOGRAM_BUCKETS
from cabos.tracking.models import Event

FIRST = date(1970, 1, 1)  # the previous reading day of a first reading
# A reader is *engaged* from this much attention on one reading (30 s: past a glance).
ENGAGED_MS = 30_000
READABLE = ("article", "page", "guide")

# Engaged-time histogram edges, seconds: fine where most readings fall, coarser in the tail.
EDGES = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 90, 105, 120, 150, 180, 210, 240,
         300, 360, 420, 480, 600, 720, 900, 1200, 1800, 2700, 3600)
assert len(EDGES) == HISTOGRAM_BUCKETS, "the rollup keeps one column per bucket: change both, and migrate"


def bucket_of(engaged_ms: int) -> int:
    """Index of the histogram bucket holding ``engaged_ms``: EDGES[i] <= seconds < EDGES[i + 1]."""
    return max(0, bisect_right(EDGES, engaged_ms / 1000) - 1)


def bucket_sql(column: object) -> object:
    """``bucket_of`` as a SQL expression (the same answer, computed by the database)."""
    whens = [(column >= edge * 1000, i)  # type: ignore[operator]
             for i, edge in reversed(list(enumerate(EDGES))) if i > 0]
    return case(*whens, else_=0)


def _rank_value(histogram: Mapping[int, int], rank: int) -> float:
    """The ``rank``-th smallest value (1-based), placed evenly inside its bucket."""
    seen = 0
    for index in sorted(histogram):
        count = histogram[index]
        if count and rank <= seen + count:
            low = EDGES[index]
            if index + 1 >= len(EDGES):
                return float(low)  # the open last bucket: "an hour or more"
            return low + (EDGES[index + 1] - low) * (rank - seen - 0.5) / count
        seen += count
    raise ValueError("rank beyond the histogram")


def median_of(histogram: Mapping[int, int]) -> float | None:
    """Median engaged seconds from a histogram: the middle rank(s), each placed evenly inside its bucket.

    Exact to within the bucket of each middle value (a second below 8 s, 10–20 % above).
    """
    total = sum(histogram.values())
    if total == 0:
        return None
    if total % 2:
        return _rank_value(histogram, total // 2 + 1)
    return (_rank_value(histogram, total // 2) + _rank_value(histogram, total // 2 + 1)) / 2


@dataclass
class ContentStats:
    """Readings of one content over some days."""

    readings: int = 0
    read_to_end: int = 0
    histogram: Counter[int] = field(default_factory=Counter)

    def add(self, other: ContentStats) -> None:
        self.readings += other.readings
        self.read_to_end += other.read_to_end
        self.histogram.update(other.histogram)

    @property
    def median_seconds(self) -> float | None:
        return median_of(self.histogram)

    @property
    def read_to_end_rate(self) -> float | None:
        return self.read_to_end / self.readings if self.readings else None


@dataclass
class Window:
    """What ``window`` found for a range of days."""

    # (chain, day, previous day) -> visitors; chain 'all' or 'engaged'
    reader_days: Counter[tuple[str, date, date]] = field(default_factory=Counter)
    # (day, kind, slug) -> [readings, read to end, readings per bucket, downloads]
    content_days: dict[tuple[date, str, str], list[Any]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, [0] * len(EDGES), 0]))


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _day(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _previous_days(session: Session, visitors: list[str], before: datetime) -> dict[str, dict[str, date]]:
    """Each visitor's last reading day before ``before``, per chain.

    Only the visitor's own index (visitor_id, occurred_at) can serve this: ``type`` is
    grouped on, not filtered on, so the planner is never tempted by the (type,
    occurred_at) index and every reading ever.
    """
    found: dict[str, dict[str, date]] = {"all": {}, "engaged": {}}
    engaged_at = func.max(case((Event.engaged_ms >= ENGAGED_MS, Event.occurred_at)))
    for i in range(0, len(visitors), 500):
        chunk = visitors[i:i + 500]
        query = (select(Event.visitor_id, Event.type, func.max(Event.occurred_at), engaged_at)
                 .where(Event.visitor_id.in_(chunk), Event.occurred_at < before)
                 .group_by(Event.visitor_id, Event.type))
        for visitor_id, type_, last, last_engaged in session.connection().execute(query):
            if type_ != "reading":
                continue
            found["all"][visitor_id] = _day(last)
            if last_engaged is not None:
                found["engaged"][visitor_id] = _day(last_engaged)
    return found


def _chain(days_by_visitor: Mapping[str, Iterable[date]], previous: Mapping[str, date], chain: str,
           out: Counter[tuple[str, date, date]]) -> None:
    for visitor_id, days in days_by_visitor.items():
        prev = previous.get(visitor_id, FIRST)
        for day in sorted(set(days)):
            out[(chain, day, prev)] += 1
            prev = day


def window(session: Session, first: date, last: date,
           previous: Mapping[str, Mapping[str, date]] | None = None) -> Window:
    """Reader days and content days for ``first``..``last`` (both included), from ``events``.

    ``previous`` gives each visitor's last reading day before ``first`` per chain (a full
    rebuild carries it from the days before); without it they are looked up.
    """
    start, end = day_start(first), day_start(last + timedelta(days=1))
    out = Window()
    in_range = and_(Event.type == "reading", Event.occurred_at >= start, Event.occurred_at < end)
    day = func.date(Event.occurred_at)
    days: dict[str, dict[str, set[date]]] = {"all": defaultdict(set), "engaged": defaultdict(set)}
    query = (select(Event.visitor_id, day, func.max(Event.engaged_ms))
             .where(in_range, Event.visitor_id.is_not(None)).group_by(Event.visitor_id, day))
    for visitor_id, d, engaged_ms in session.connection().execute(query):
        d = _day(d)
        days["all"][visitor_id].add(d)
        if (engaged_ms or 0) >= ENGAGED_MS:
            days["engaged"][visitor_id].add(d)
    looked_up = previous if previous is not None else _previous_days(session, sorted(days["all"]), start)
    for chain, by_visitor in days.items():
        _chain(by_visitor, looked_up.get(chain, {}), chain, out.reader_days)
    bucket = bucket_sql(Event.engaged_ms)
    stats = (select(day, Event.content_kind, Event.content_slug, bucket, func.count(),
                    func.sum(case((Event.read_to_end, 1), else_=0)))
             .where(in_range, Event.content_kind.in_(READABLE), Event.content_slug.is_not(None))
             .group_by(day, Event.content_kind, Event.content_slug, bucket))
    for d, kind, slug, b, n, ends in session.connection().execute(stats):
        cell = out.content_days[(_day(d), kind, slug)]
        cell[0] += int(n)
        cell[1] += int(ends or 0)
        cell[2][int(b)] += int(n)
    downloads = (select(day, Event.content_kind, Event.content_slug, func.count())
                 .where(Event.type == "download", Event.occurred_at >= start, Event.occurred_at < end,
                        Event.content_kind.in_(READABLE), Event.content_slug.is_not(None))
                 .group_by(day, Event.content_kind, Event.content_slug))
    for d, kind, slug, n in session.connection().execute(downloads):
        out.content_days[(_day(d), kind, slug)][3] += int(n)
    return out


def last_days(session: Session, first: date, last: date) -> dict[str, dict[str, date]]:
    """Each visitor's last reading day (per chain) in ``first``..``last``: what a rebuild carries forward."""
    start, end = day_start(first), day_start(last + timedelta(days=1))
    out: dict[str, dict[str, date]] = {"all": {}, "engaged": {}}
    base = (select(Event.visitor_id, func.max(Event.occurred_at))
            .where(Event.type == "reading", Event.visitor_id.is_not(None),
                   Event.occurred_at >= start, Event.occurred_at < end).group_by(Event.visitor_id))
    for visitor_id, at in session.connection().execute(base):
        out["all"][visitor_id] = _day(at)
    for visitor_id, at in session.connection().execute(base.where(Event.engaged_ms >= ENGAGED_MS)):
        out["engaged"][visitor_id] = _day(at)
    return out


ReaderRow = tuple[str, date, date, int]  # chain, day, previous day, visitors


def count_readers(reader_days: Iterable[ReaderRow], first: date, last: date) -> dict[str, int]:
    """Distinct readers per chain in ``first``..``last`` from (chain, day, previous day, visitors) rows."""
    counts = {"all": 0, "engaged": 0}
    for chain, day, prev, n in reader_days:
        if first <= day <= last and prev < first:
            counts[chain] += n
    return counts


ContentRow = tuple[str, str, int, int, list[int], int]  # kind, slug, readings, read to end, histogram, downloads


def content_stats(rows: Iterable[ContentRow]) -> dict[tuple[str, str], tuple[ContentStats, int]]:
    """Per (kind, slug): reading stats and downloads, summed over rows."""
    sums: dict[tuple[str, str], list[Any]] = {}
    for kind, slug, n, ends, histogram, downloads in rows:
        acc = sums.get((kind, slug))
        if acc is None:
            sums[(kind, slug)] = [n, ends, list(histogram or [0] * len(EDGES)), downloads]
            continue
        acc[0] += n
        acc[1] += ends
        if histogram and n:
            acc[2] = [a + b for a, b in zip(acc[2], histogram)]
        acc[3] += downloads
    return {key: (ContentStats(n, ends, Counter({b: c for b, c in enumerate(hist) if c})), downloads)
            for key, (n, ends, hist, downloads) in sums.items()}
