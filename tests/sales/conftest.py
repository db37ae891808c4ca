"""A scripted journey on the demo content, stored as the real parts store it.

Anonymous reads → the guide's form (capture + stitching) → the download →
nurture emails sent and clicked → decide-stage reads → purchase mode (the
intent store) → handoff. Times are relative to now so decay stays small.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from cabos.contacts.capture import Lead, capture, record_event
from cabos.contacts.models import Contact
from cabos.content import current_library
from cabos.db import utcnow
from cabos.intent import update_contact
from cabos.sales.handoffs import create_handoff
from cabos.sales.models import Handoff
from cabos.tracking.models import Event, Visitor

VISITOR = "a" * 32
PROBLEM = "inventario-descuadrado"
GUIDE = "guia-inventario-que-cuadra"
LEARN = ["por-que-no-cuadra-el-inventario", "como-calcular-la-exactitud-del-inventario"]
DECIDE = ["caso-electrolevante-exactitud-inventario", "como-evaluar-y-elegir-un-sga"]


@dataclass
class Journey:
    contact: Contact
    handoff: Handoff
    start: datetime
    form_at: datetime
    switch_at: datetime
    handoff_at: datetime
    touch: dict[str, Any]
    times: dict[str, datetime] = field(default_factory=dict)


def reading(session: Session, slug: str, at: datetime, seconds: int, scroll: int, visitor: str | None = VISITOR,
            contact_id: int | None = None, kind: str = "article", data: dict[str, Any] | None = None) -> Event:
    doc = current_library().document(kind, slug)  # type: ignore[arg-type]
    assert doc is not None, slug
    event = Event(type="reading", occurred_at=at, visitor_id=visitor, contact_id=contact_id, view_id=uuid.uuid4().hex,
                  content_kind=kind, content_slug=slug, stage=doc.stage, problems=list(doc.problems),
                  engaged_ms=seconds * 1000, scroll_pct=scroll, read_to_end=scroll >= 95, data=data or {})
    session.add(event)
    session.flush()
    return event


def run_journey(session: Session, now: datetime | None = None, lead: Lead | None = None,
                touch: dict[str, Any] | None = None, visitor: str = VISITOR) -> Journey:
    """Store the whole journey; the handoff is made at ``now`` (default: a minute ago).

    When nurture is wired in, it hands the contact off itself as the intent update
    announces purchase mode; the explicit ``create_handoff`` then returns that handoff.
    """
    handoff_at = now or utcnow() - timedelta(minutes=1)
    switch_at = handoff_at - timedelta(minutes=5)
    back = switch_at - timedelta(minutes=20)
    start = back - timedelta(days=2)
    touch = touch or {"source": "google", "medium": "cpc", "campaign": "inventario-q4",
                      "landing": "/articulos/por-que-no-cuadra-el-inventario", "at": start.isoformat()}
    session.add(Visitor(id=visitor, created_at=start, last_seen_at=start, first_touch=touch, latest_touch=touch))
    session.flush()
    reading(session, LEARN[0], start, 200, 90, visitor, data={"touch": touch})
    reading(session, LEARN[1], start + timedelta(minutes=5), 120, 70, visitor)
    form_at = start + timedelta(minutes=10)
    library = current_library()
    guide = library.guides[GUIDE]
    lead = lead or Lead(email="marta@almacenes-ruiz.es", name="Marta Ruiz",
                        fields={"company": "Almacenes Ruiz", "role": "Directora de operaciones",
                                "company_size": "50-249", "country": "España"},
                        consent_text="I agree")
    contact, _created = capture(session, lead, guide, touch, visitor, form_at)
    record_event(session, "download", contact, guide, {"via": "link"}, visitor, form_at + timedelta(minutes=1))
    update_contact(session, contact.id, form_at + timedelta(minutes=2))
    email_at = start + timedelta(days=1)
    session.add(Event(type="email_sent", occurred_at=email_at, contact_id=contact.id,
                      data={"subject": "Tu inventario, paso a paso", "sequence": "inventario", "step": 1}))
    session.add(Event(type="email_click", occurred_at=email_at + timedelta(hours=2), contact_id=contact.id,
                      data={"url": "/articulos/como-evaluar-y-elegir-un-sga", "sequence": "inventario", "step": 1}))
    reading(session, DECIDE[0], back, 300, 100, visitor, contact.id)
    reading(session, DECIDE[1], back + timedelta(minutes=8), 260, 96, visitor, contact.id)
    reading(session, "precios", back + timedelta(minutes=15), 40, 60, visitor, contact.id, kind="page")
    update = update_contact(session, contact.id, switch_at)
    assert update is not None and update.mode == "purchase", "the journey should end in purchase mode"
    handoff = create_handoff(session, contact, {"rule": "purchase_mode", "grade": update.grade}, handoff_at)
    session.flush()
    return Journey(contact, handoff, start, form_at, switch_at, handoff_at, touch)


@pytest.fixture
def journey(app: Flask, db, make_staff):  # type: ignore[no-untyped-def]
    """The scripted journey, committed, handed to a salesperson ``journey.seller``."""
    seller = make_staff("sales", email="sofia@staff.example", name="Sofía")
    with app.test_request_context("/"), db.sessions() as session:
        j = run_journey(session)
        session.commit()
        session.expunge_all()
    j.seller = seller  # type: ignore[attr-defined]
    return j


def two_workers_at_once(job: Callable[[], None]) -> None:
    """Run ``job`` in two threads released together (two workers' ticks); raise what either raised."""
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            job()
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
