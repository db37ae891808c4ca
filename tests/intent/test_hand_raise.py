"""A demo or contact-sales request: purchase mode at once, and a fit contact handed to sales with the message.

The forms issue (#14) stores ``Event(type="hand_raise", data={"form", "kind", "message"})`` and calls
``cabos.intent.hooks.after_form``; these tests create that event directly.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.intent.hooks import after_form
from cabos.intent.models import IntentState
from cabos.intent.store import current_state, history
from cabos.sales.models import Handoff
from cabos.tracking.models import Event
from tests.intent.conftest import DECIDE, HEAD_OF_OPS, LEARN, NOW, Journey, add_contact, add_events

MESSAGE = "Tenemos 3 almacenes y el inventario no cuadra: ¿podemos ver una demo la semana que viene?"


def raise_hand(session: Session, contact_id: int, at, kind: str = "demo") -> None:  # type: ignore[no-untyped-def]
    session.add(Event(type="hand_raise", occurred_at=at, contact_id=contact_id,
                      data={"form": "pedir-demo", "kind": kind, "message": MESSAGE}))
    session.flush()
    after_form(session, contact_id, at)


def test_a_fit_contact_asking_for_a_demo_is_handed_off_at_once_with_the_message(session, demo_library) -> None:
    contact = add_contact(session, **HEAD_OF_OPS)
    journey = Journey(demo_library)
    journey.read(LEARN[0], days_ago=1)  # no decide-stage reading at all: the request is the evidence
    add_events(session, journey.readings, contact_id=contact.id)
    raise_hand(session, contact.id, NOW)
    session.commit()

    state = current_state(session, contact.id, NOW)
    assert state is not None and state.mode == "purchase" and state.assessment.why["message"] == MESSAGE
    (change,) = [c for c in history(session, contact.id) if c.kind == "mode"]
    assert (change.to_value, change.occurred_at) == ("purchase", NOW)
    handoff = session.scalar(select(Handoff).where(Handoff.contact_id == contact.id))
    assert handoff is not None and handoff.grade == "A"
    assert handoff.evidence["why"]["entry"] == "hand_raise" and handoff.evidence["why"]["message"] == MESSAGE


def test_a_request_below_the_handoff_grade_still_reaches_sales(session) -> None:
    # role 0 + 10-49 employees 15 + Spain 10 = 25 points: grade C, below the usual bar (B)
    contact = add_contact(session, email="luis@ferreteria-sol.es", role="Responsable de compras",
                          company_size="10-49", country="España")
    raise_hand(session, contact.id, NOW)
    session.commit()
    handoff = session.scalar(select(Handoff).where(Handoff.contact_id == contact.id))
    assert handoff is not None and handoff.grade == "C"


def test_a_request_from_outside_the_target_is_purchase_mode_but_not_a_handoff(session) -> None:
    contact = add_contact(session, email="pepe@gmail.com", role="Estudiante")
    raise_hand(session, contact.id, NOW, kind="contact_sales")
    session.commit()
    assert current_state(session, contact.id, NOW).mode == "purchase"  # type: ignore[union-attr]
    assert session.scalar(select(Handoff).where(Handoff.contact_id == contact.id)) is None


def test_stored_purchase_mode_lasts_weeks_on_read_and_ends_after_the_silence(session, demo_library,
                                                                            demo_rules) -> None:
    contact = add_contact(session, **HEAD_OF_OPS)
    journey = Journey(demo_library)
    journey.read(LEARN[0], days_ago=6)
    journey.read(DECIDE[0], days_ago=3)
    journey.read(DECIDE[1], days_ago=2)
    journey.visit("precios", days_ago=2)
    add_events(session, journey.readings, contact_id=contact.id)
    after_form(session, contact.id, NOW)
    session.commit()
    silence = timedelta(days=demo_rules.exit.silence_days)
    last = NOW - timedelta(days=2)
    assert current_state(session, contact.id, last + timedelta(days=7)).mode == "purchase"  # type: ignore[union-attr]
    later = current_state(session, contact.id, last + silence + timedelta(hours=1))
    assert later is not None and later.mode == "information" and later.mode_since == last + silence
    row = session.scalar(select(IntentState).where(IntentState.contact_id == contact.id))
    assert row is not None and row.evidence_until == last + silence
