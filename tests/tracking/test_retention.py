"""Retention (`cabos tracking purge`), drop counts for staff, trail paging, the tracker's size."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import crawleruseragents
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.db import utcnow
from cabos.tracking.models import Event, Visitor
from cabos.tracking.trail import ENGAGED, readings_of, trail
from tests.tracking.conftest import drops, readings, views

TRACKER = Path(__file__).resolve().parents[2] / "cabos" / "site" / "static" / "js" / "tracker.js"


def test_the_tracker_is_under_3_kb_gzipped() -> None:
    size = len(gzip.compress(TRACKER.read_bytes(), compresslevel=9))
    assert size < 3 * 1024, f"tracker.js is {size} bytes gzipped"


def test_the_tracker_is_served_from_our_own_static_files(client) -> None:
    with client.get("/static/js/tracker.js") as resp:
        assert resp.status_code == 200
        body = resp.get_data()
    assert b"sendBeacon" in body and b"http" not in body.split(b"*/", 1)[1]  # no third party in the code


def add_events(session: Session, visitor: str, contact: int | None, ages_days: list[int]) -> None:
    now = utcnow()
    session.add(Visitor(id=visitor, contact_id=contact, created_at=now - timedelta(days=max(ages_days)),
                        last_seen_at=now - timedelta(days=min(ages_days))))
    session.flush()
    for days in ages_days:
        session.add(Event(type="reading", visitor_id=visitor, contact_id=contact, content_kind="article",
                          content_slug="a", occurred_at=now - timedelta(days=days), engaged_ms=1000))
    session.commit()


def test_purge_applies_both_retention_periods(runner, session: Session) -> None:
    contact = Contact(email="ana@example.com", custom={})
    session.add(contact)
    session.commit()
    add_events(session, "a" * 32, contact.id, [1, 100, 800])   # identified: only the 800-day event goes
    add_events(session, "b" * 32, None, [95, 120])              # anonymous, unseen for 95 days: all goes
    add_events(session, "c" * 32, None, [10, 200])              # anonymous, seen 10 days ago: the visitor stays
    result = runner.invoke(args=["tracking", "purge"])
    assert result.exit_code == 0, result.output
    assert "purged 1 events older than 730 days; 1 anonymous visitors unseen for 90 days, with 2 events" in result.output
    session.expire_all()
    assert set(session.scalars(select(Visitor.id))) == {"a" * 32, "c" * 32}
    assert session.scalar(select(func.count()).select_from(Event)) == 4
    result = runner.invoke(args=["tracking", "purge", "--older-than", "30"])
    assert "purged 2 events older than 30 days" in result.output
    assert session.scalar(select(func.count()).select_from(Event)) == 2


def test_drop_counts_are_visible_to_staff(runner, send, payload, articles, session: Session) -> None:
    send(payload(articles[0]), headers={"User-Agent": "curl/8.0"})
    send(payload(articles[0], token="nope"))
    send(payload(articles[0], token="nope"))
    result = runner.invoke(args=["tracking", "drops"])
    assert result.exit_code == 0
    assert result.output.splitlines() == ["unknown_view   2", "bot            1"]


def test_the_whole_crawler_list_stores_no_reading(app, client, payload, articles, session: Session) -> None:
    agents = [ua for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA for ua in entry.get("instances", [])]
    assert len(agents) > 1000
    body = payload(articles[0])
    import json
    data = json.dumps(body)
    buffer = app.extensions["cabos.tracking"].buffer
    buffer.interval = 600  # one write at the end, not one per request
    try:
        for ua in agents:
            assert client.post("/t/e", data=data, headers={"User-Agent": ua, "Origin": "http://localhost"}).status_code == 204
    finally:
        buffer.close()
    assert readings(session) == [] and views(session, articles[0].slug) == (0, 0)
    assert drops(session) == {"bot": len(agents)}
    assert client.get_cookie("cabos_vid") is None


def test_trail_pages_newest_first_and_engaged_filter(session: Session) -> None:
    contact = Contact(email="ana@example.com", custom={})
    session.add(contact)
    session.commit()
    add_events(session, "a" * 32, contact.id, [5, 4, 3, 2, 1])
    session.add(Event(type="reading", contact_id=contact.id, content_slug="b", engaged_ms=0,
                      occurred_at=datetime.now(UTC)))
    session.commit()
    first = trail(session, contact.id, limit=4)
    rest = trail(session, contact.id, limit=4, before=(first[-1].occurred_at, first[-1].id))
    assert len(first) == 4 and len(rest) == 2
    stamps = [e.occurred_at for e in first + rest]
    assert stamps == sorted(stamps, reverse=True)
    engaged = session.scalars(select(Event).where(Event.contact_id == contact.id, ENGAGED)).all()
    assert len(engaged) == 5  # the zero-engagement view counts as a view, not as interest
    now = utcnow()
    assert len(readings_of(session, "a", now - timedelta(days=3, hours=12), now)) == 3
