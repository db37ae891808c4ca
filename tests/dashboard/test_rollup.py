"""The rollup gives the same figures as the trail itself, however often (or rarely) it is refreshed."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import distinct, func, select, update

from cabos.dashboard import readers, rollup
from cabos.dashboard.models import ContactDay, ContentDay, ReaderDay, Refresh
from cabos.dashboard.period import Period
from cabos.tracking.models import Event, Visitor
from tests.dashboard.conftest import reading

START = date(2026, 2, 1)


def _random_trail(session, seed: int = 7) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    for v in range(40):
        session.add(Visitor(id=f"r{v:02d}", created_at=datetime(2026, 2, 1, tzinfo=UTC),
                            last_seen_at=datetime(2026, 2, 1, tzinfo=UTC)))
    session.flush()
    for v in range(40):
        for _ in range(rng.randint(1, 12)):
            when = datetime.combine(START + timedelta(days=rng.randint(0, 59)), datetime.min.time(), UTC) \
                + timedelta(minutes=rng.randint(0, 1439))
            seconds = rng.choice([0, 3, 12, 29.9, 30, 45, 90, 200, 700, 5000])
            session.add(reading(f"r{v:02d}", None, rng.choice(["a1", "a2", "a3"]), when, seconds,
                                end=rng.random() < 0.3))
    session.commit()


def _direct(session, period: Period) -> dict[str, int]:  # type: ignore[no-untyped-def]
    base = select(func.count(distinct(Event.visitor_id))).where(
        Event.type == "reading", Event.occurred_at >= period.start_at, Event.occurred_at < period.end_at)
    return {"all": session.scalar(base), "engaged": session.scalar(base.where(Event.engaged_ms >= readers.ENGAGED_MS))}


def _periods() -> list[Period]:
    rng = random.Random(3)
    out = [Period(START, date(2026, 3, 31)), Period(date(2026, 3, 1), date(2026, 3, 31))]
    for _ in range(6):
        a = START + timedelta(days=rng.randint(0, 59))
        out.append(Period(a, a + timedelta(days=rng.randint(0, 30))))
    return out


def _stats(session, period: Period, library) -> dict:  # type: ignore[no-untyped-def]
    rows = rollup.load(session, period, library)
    stats = readers.content_stats(rows.contents)
    contacts: dict = {}
    for measure, dimension, key, n in rows.contacts:
        contacts[(measure, dimension, key)] = contacts.get((measure, dimension, key), 0) + n
    return {"contents": {k: (s.readings, s.read_to_end, dict(s.histogram), dl) for k, (s, dl) in stats.items()},
            "contacts": contacts}


def test_readers_from_rollup_and_live_days_equal_count_distinct(app, session, history, library) -> None:
    _random_trail(session)
    periods = _periods()
    live = {p: (_stats(session, p, library)) for p in periods}  # nothing refreshed yet: all computed live
    for p in periods:
        assert rollup.load(session, p, library).readers(p.start, p.end) == _direct(session, p), p
    # Refreshed on irregular days (gaps of up to 9 days), checking every period each time.
    now = datetime(2026, 2, 10, 6, tzinfo=UTC)
    while now.date() <= date(2026, 4, 5):
        rollup.refresh(session, now, library, days=2)
        session.commit()
        for p in periods:
            assert rollup.load(session, p, library).readers(p.start, p.end) == _direct(session, p), (now, p)
            assert _stats(session, p, library) == live[p], (now, p)
        now += timedelta(days=random.Random(now.day).randint(1, 9))


def test_refresh_is_idempotent_and_catches_late_readings(app, session, history, library) -> None:
    _random_trail(session, seed=11)
    # An anonymous device reads a3 on 1 March; on 20 March it turns out to be c1's (identified on 4 March).
    session.add(Visitor(id="v9", created_at=datetime(2026, 3, 1, tzinfo=UTC), last_seen_at=datetime(2026, 3, 1, tzinfo=UTC)))
    session.flush()
    session.add(reading("v9", None, "a3", datetime(2026, 3, 1, 8, tzinfo=UTC), 50))
    session.commit()
    now = datetime(2026, 3, 20, 3, tzinfo=UTC)
    rollup.refresh(session, now, library)
    session.commit()

    def rows():  # type: ignore[no-untyped-def]
        return (sorted(session.execute(select(ReaderDay.chain, ReaderDay.day, ReaderDay.prev_day, ReaderDay.visitors)).all()),
                sorted(session.execute(select(ContentDay.__table__)).all()),
                sorted(session.execute(select(ContactDay.day, ContactDay.measure, ContactDay.dimension, ContactDay.key,
                                              ContactDay.contacts)).all()))

    first = rows()
    rollup.refresh(session, now, library)
    session.commit()
    assert rows() == first
    # A reading that started yesterday evening arrives today: the next refresh rebuilds yesterday.
    session.add(reading("r00", None, "a1", datetime(2026, 3, 19, 23, 50, tzinfo=UTC), 300))
    # c1 signs in on that device: identify's stitching, as it does it.
    c1 = history.contacts["c1"]
    session.execute(update(Visitor).where(Visitor.id == "v9").values(contact_id=c1))
    session.execute(update(Event).where(Event.visitor_id == "v9").values(contact_id=c1))
    session.add(Event(type="merge", occurred_at=datetime(2026, 3, 20, 4, tzinfo=UTC), visitor_id="v9", contact_id=c1))
    session.commit()
    before = {k: v for k, v in _stats(session, Period(date(2026, 3, 4), date(2026, 3, 4)), library)["contacts"].items()}
    assert ("identified", "content", "article:a3") not in before  # stored before the merge
    period = Period(date(2026, 3, 19), date(2026, 3, 19))
    result = rollup.refresh(session, now + timedelta(hours=2), library)
    session.commit()
    assert result.first == date(2026, 3, 17) and result.through == date(2026, 3, 19)
    assert rollup.load(session, period, library).readers(period.start, period.end) == _direct(session, period)
    after = _stats(session, Period(date(2026, 3, 4), date(2026, 3, 4)), library)["contacts"]
    assert after[("identified", "content", "article:a3")] == 1 and after[("identified", "problem", "bad-stock")] == 1
    # A full rebuild gives the same rows as the incremental ones.
    incremental = rows()
    rollup.refresh(session, now + timedelta(hours=2), library, full=True)
    session.commit()
    assert rows() == incremental


def test_the_refresh_command(runner, app, session, history) -> None:
    result = runner.invoke(args=["dashboard", "refresh", "--full"])
    assert result.exit_code == 0, result.output
    assert "dashboard rollup: rebuilt 2026-02-10" in result.output
    assert session.scalar(select(func.count()).select_from(ReaderDay)) > 0


def test_the_worker_job_refreshes_when_due(app, session, history) -> None:
    import time_machine

    from cabos.dashboard import WORKER_JOBS

    job = app.extensions[WORKER_JOBS]["dashboard-refresh"]
    with time_machine.travel(datetime(2026, 3, 20, 3, tzinfo=UTC), tick=False):
        job(app, lambda: False)
    first = session.get(Refresh, "readers")
    assert first is not None and first.through == date(2026, 3, 19)
    with time_machine.travel(datetime(2026, 3, 20, 3, 30, tzinfo=UTC), tick=False):
        job(app, lambda: False)  # not due: nothing rebuilt
    session.expire_all()
    assert session.get(Refresh, "readers").refreshed_at == datetime(2026, 3, 20, 3, tzinfo=UTC)
    with time_machine.travel(datetime(2026, 3, 21, 0, 10, tzinfo=UTC), tick=False):
        job(app, lambda: False)
    session.expire_all()
    assert session.get(Refresh, "readers").through == date(2026, 3, 20)
