"""Intent follows live traffic: a stored batch of readings and a lead form rescore people."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cabos.contacts.models import Contact
from cabos.db import utcnow
from cabos.intent.hooks import after_readings
from cabos.intent.models import IntentState
from cabos.tracking.models import Event, Visitor
from cabos.tracking.store import Reading


def _reading(visitor_id: str, slug: str, engaged_ms: int, when) -> Reading:  # type: ignore[no-untyped-def]
    return Reading(kind="article", slug=slug, stage="decide", problems=["inventario-descuadrado"],
                   received_at=when, started_at=when - timedelta(minutes=5), first_send=True,
                   visitor_id=visitor_id, view_id=f"v-{visitor_id}-{slug}", engaged_ms=engaged_ms, scroll_pct=90)


def test_a_written_batch_rescores_the_contacts_behind_engaged_readings(app, session) -> None:
    now = utcnow()
    contact = Contact(email="ana@example.com", name="Ana")
    session.add(contact)
    session.flush()
    session.add_all([Visitor(id="a" * 32, contact_id=contact.id), Visitor(id="b" * 32)])
    session.flush()
    for vid in ("a" * 32, "b" * 32):
        session.add(Event(type="reading", occurred_at=now, visitor_id=vid,
                          contact_id=contact.id if vid == "a" * 32 else None, view_id=f"v-{vid}",
                          content_kind="article", content_slug="x", stage="decide",
                          problems=["inventario-descuadrado"], engaged_ms=240_000, scroll_pct=90))
    session.commit()
    batch = [_reading("a" * 32, "x", 240_000, now), _reading("b" * 32, "x", 240_000, now),
             _reading("c" * 32, "y", 0, now)]
    assert after_readings(app, batch) == 1  # anonymous and unengaged visitors are not rescored here
    states = session.scalars(select(IntentState)).all()
    assert [(s.contact_id, s.visitor_id) for s in states] == [(contact.id, None)]
    assert states[0].score > 0


def test_the_buffer_calls_the_hook_after_committing(app) -> None:
    buffer = app.extensions["cabos.tracking"].buffer
    assert buffer.after_write is not None and buffer.after_write.func is after_readings
