"""The first-response deadline: SALES_SLA_HOURS counted in working hours only.

"24 working hours" on a 09:00–18:00, Monday–Friday week given on Friday at
17:00 runs out on Wednesday at 17:00, not on Saturday. The deadline is fixed
when the handoff is made (``handoffs.due_at``), so the queue sorts and
filters overdue contacts in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Schedule:
    zone: ZoneInfo
    days: frozenset[int]  # 0 = Monday
    start: time | None  # None: around the clock
    end: time | None


def schedule_from(config: Any) -> Schedule:
    """The schedule the settings describe; bad values fail loudly at start-up, not at a handoff."""
    zone = ZoneInfo(str(config.get("SALES_TIMEZONE") or "UTC"))
    names = [d.strip().lower()[:3] for d in str(config.get("SALES_WORKING_DAYS") or "").split(",") if d.strip()]
    unknown = [n for n in names if n not in DAY_NAMES]
    if unknown or not names:
        raise ValueError(f"SALES_WORKING_DAYS: use day names among {', '.join(DAY_NAMES)}, not {unknown or names}")
    hours = str(config.get("SALES_WORKING_HOURS") or "").strip()
    start = end = None
    if hours:
        try:
            a, b = (time.fromisoformat(part.strip()) for part in hours.split("-", 1))
        except ValueError as exc:
            raise ValueError(f"SALES_WORKING_HOURS: write it as 09:00-18:00, not {hours!r}") from exc
        if b <= a:
            raise ValueError(f"SALES_WORKING_HOURS: the day must end after it starts ({hours!r})")
        start, end = a, b
    return Schedule(zone, frozenset(DAY_NAMES.index(n) for n in names), start, end)


def add_working_hours(start: datetime, hours: float, schedule: Schedule) -> datetime:
    """The moment ``hours`` working hours after ``start`` (aware datetimes, UTC result)."""
    left = timedelta(hours=hours)
    local = start.astimezone(schedule.zone)
    day = local.date()
    for _ in range(3700):  # ten years of calendar: a bound, not a limit anyone reaches
        if day.weekday() in schedule.days:
            if schedule.start is None or schedule.end is None:
                open_at = datetime.combine(day, time(0), schedule.zone)
                close_at = datetime.combine(day + timedelta(days=1), time(0), schedule.zone)
            else:
                open_at = datetime.combine(day, schedule.start, schedule.zone)
                close_at = datetime.combine(day, schedule.end, schedule.zone)
            begin = max(open_at, local)
            if begin < close_at:
                available = close_at - begin
                if left <= available:
                    return (begin + left).astimezone(UTC)
                left -= available
        day += timedelta(days=1)
    raise ValueError("SLA deadline too far away")


def local_today(now: datetime, config: Any) -> date:
    """Today's date where the sales team works (SALES_TIMEZONE): due dates are days there."""
    return now.astimezone(ZoneInfo(str(config.get("SALES_TIMEZONE") or "UTC"))).date()
