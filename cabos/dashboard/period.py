"""The period a dashboard shows: whole UTC days, first and last included; and its buckets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

PRESETS = {"30d": 30, "90d": 90, "365d": 365}
DEFAULT_PRESET = "90d"
MAX_DAYS = 366 * 3
EARLIEST = date(1970, 1, 1)  # nothing a dashboard shows happened before; see from_args


@dataclass(frozen=True)
class Period:
    """From ``start`` to ``end``, both included, in UTC days."""

    start: date
    end: date

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time(), UTC)

    @property
    def end_at(self) -> datetime:
        """The first moment after the period (exclusive bound)."""
        return datetime.combine(self.end + timedelta(days=1), time(), UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __contains__(self, moment: datetime) -> bool:
        return self.start_at <= moment < self.end_at


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def from_args(args: Mapping[str, str], today: date) -> tuple[Period, str]:
    """The period a request asks for (``range`` preset, or ``from``/``to`` dates), and the preset name or 'custom'.

    Dates are clamped to the Unix epoch .. a year from today: the calendar's edges (``0001-01-01``,
    ``9999-12-31``) would overflow the arithmetic on weeks, months and the period before.
    """
    start, end = _date(args.get("from")), _date(args.get("to"))
    if start or end:
        latest = today + timedelta(days=366)
        start, end = (min(max(d, EARLIEST), latest) if d else None for d in (start, end))
        end = end or today
        start = start or end - timedelta(days=PRESETS[DEFAULT_PRESET] - 1)
        if start > end:
            start, end = end, start
        start = max(start, end - timedelta(days=MAX_DAYS - 1))
        return Period(start, end), "custom"
    preset = args.get("range", DEFAULT_PRESET)
    if preset == "ytd":
        return Period(date(today.year, 1, 1), today), preset
    if preset not in PRESETS:
        preset = DEFAULT_PRESET
    return Period(today - timedelta(days=PRESETS[preset] - 1), today), preset


def bucket_start(day: date, every: str) -> date:
    """The first day of the week (Monday) or month that holds ``day``."""
    if every == "month":
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())


def buckets(period: Period, every: str) -> Iterator[tuple[date, date]]:
    """The weeks or months that cover the period, each clipped to it: (first day, last day)."""
    first = bucket_start(period.start, every)
    while first <= period.end:
        if every == "month":
            nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            nxt = first + timedelta(days=7)
        yield max(first, period.start), min(nxt - timedelta(days=1), period.end)
        first = nxt
