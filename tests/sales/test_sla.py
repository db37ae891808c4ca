"""The first-response deadline counts working hours only."""

from datetime import UTC, datetime

import pytest

from cabos.sales.sla import add_working_hours, schedule_from

MADRID = {"SALES_TIMEZONE": "Europe/Madrid", "SALES_WORKING_DAYS": "mon,tue,wed,thu,fri",
          "SALES_WORKING_HOURS": "09:00-18:00"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("start", "hours", "due"), [
    # Friday 27 Nov 2026, 17:00 in Madrid (16:00 UTC): 1 h on Friday, 9 h Monday, 9 h Tuesday, 5 h Wednesday.
    (utc(2026, 11, 27, 16, 0), 24, utc(2026, 12, 2, 13, 0)),
    # Saturday: nothing counts until Monday 09:00.
    (utc(2026, 11, 28, 10, 0), 2, utc(2026, 11, 30, 10, 0)),
    # Before opening: starts at 09:00 the same day.
    (utc(2026, 11, 30, 5, 0), 1, utc(2026, 11, 30, 9, 0)),
    # Exactly the rest of the day.
    (utc(2026, 11, 30, 8, 0), 9, utc(2026, 11, 30, 17, 0)),
])
def test_working_hours(start: datetime, hours: float, due: datetime) -> None:
    assert add_working_hours(start, hours, schedule_from(MADRID)) == due


def test_around_the_clock() -> None:
    schedule = schedule_from({**MADRID, "SALES_WORKING_HOURS": "", "SALES_WORKING_DAYS": "mon,tue,wed,thu,fri,sat,sun"})
    assert add_working_hours(utc(2026, 11, 28, 10, 0), 24, schedule) == utc(2026, 11, 29, 10, 0)


@pytest.mark.parametrize("bad", [{"SALES_WORKING_DAYS": "funday"}, {"SALES_WORKING_HOURS": "nine to five"},
                                 {"SALES_WORKING_HOURS": "18:00-09:00"}, {"SALES_WORKING_DAYS": ""}])
def test_bad_schedules_are_refused_with_a_message(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="SALES_WORKING"):
        schedule_from({**MADRID, **bad})
