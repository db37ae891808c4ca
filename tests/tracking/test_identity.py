"""Stitching: anonymous readings join the contact's trail when the visitor identifies."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.tracking.identity import earliest, identify, latest
from cabos.tracking.models import Event, Visitor
from cabos.tracking.trail import trail
from cabos.tracking.visitors import current_visitor_id
from tests.tracking.conftest import HEADERS, readings, visitor_cookie


def identify_request(app: Flask, client: FlaskClient, session: Session, email: str, via: str = "form",
                     headers: dict[str, str] | None = None) -> Contact:
    """What the lead form handler does: the request's visitor, a contact, identify, commit."""
    cookie = visitor_cookie(client)
    with app.test_request_context("/guias/x", method="POST", headers={
            **HEADERS, **(headers or {}), **({"Cookie": f"cabos_vid={cookie}"} if cookie else {})}):
        visitor_id = current_visitor_id()
    contact = session.scalar(select(Contact).where(Contact.email == email))
    if contact is None:
        contact = Contact(email=email, custom={})
        session.add(contact)
        session.flush()
    identify(session, visitor_id, contact, via)
    session.commit()
    return contact


def test_three_anonymous_readings_join_the_trail_in_order_with_depth(app, client, send, payload, articles,
                                                                     session: Session) -> None:
    depths = [(30_000, 40, False), (90_000, 100, True), (5_000, 15, False)]
    for age, (doc, (engaged, scroll, end)) in zip([300_000, 200_000, 100_000], zip(articles, depths)):
        assert send(payload(doc, engaged_ms=engaged, scroll_pct=scroll, read_to_end=end, age_ms=age)).status_code == 204
    assert all(r.contact_id is None for r in readings(session))

    contact = identify_request(app, client, session, "ana@example.com")

    events = trail(session, contact.id)
    assert [e.type for e in events] == ["merge", "reading", "reading", "reading"]
    merge, *read = events
    assert merge.data == {"via": "form", "attached": 3}
    assert [e.content_slug for e in read] == [d.slug for d in articles[:3]][::-1]  # newest first
    assert [(e.engaged_ms, e.scroll_pct, e.read_to_end) for e in read] == depths[::-1]


def test_identify_is_idempotent_and_later_readings_join_directly(app, client, send, payload, articles,
                                                                 session: Session) -> None:
    send(payload(articles[0]))
    contact = identify_request(app, client, session, "ana@example.com")
    identify_request(app, client, session, "ana@example.com")
    send(payload(articles[1]))  # after identification: lands on the trail at once
    types = [e.type for e in trail(session, contact.id)]
    assert types.count("merge") == 1 and types.count("reading") == 2
    assert all(r.contact_id == contact.id for r in readings(session))


def test_a_contact_can_have_several_devices(app, app_factory, client, send, payload, articles, content_dir,
                                            session: Session) -> None:
    laptop, phone = client, app.test_client()
    send(payload(articles[0]), via=laptop)
    send(payload(articles[1]), via=phone)
    contact = identify_request(app, laptop, session, "ana@example.com")
    identify_request(app, phone, session, "ana@example.com", via="email_click")
    linked = session.scalars(select(Visitor).where(Visitor.contact_id == contact.id)).all()
    assert len(linked) == 2
    events = trail(session, contact.id)
    assert sorted(e.data.get("via", "") for e in events if e.type == "merge") == ["email_click", "form"]
    assert {e.content_slug for e in events if e.type == "reading"} == {articles[0].slug, articles[1].slug}


def test_a_tampered_cookie_never_resolves_to_a_contact(app, client, send, payload, articles,
                                                       session: Session) -> None:
    send(payload(articles[0]))
    victim = identify_request(app, client, session, "victim@example.com")
    real = visitor_cookie(client)
    attacker = app.test_client()
    attacker.set_cookie("cabos_vid", real.split(".")[0] + ".forged-signature")
    with app.test_request_context("/", headers={"Cookie": f"cabos_vid={real.split('.')[0]}.forged"}):
        assert current_visitor_id() is None
    send(payload(articles[1]), via=attacker)
    victims_readings = [e for e in trail(session, victim.id) if e.type == "reading"]
    assert [e.content_slug for e in victims_readings] == [articles[0].slug]


def test_no_identity_without_consent_or_with_gpc(app, client, send, payload, articles, session: Session) -> None:
    send(payload(articles[0]))
    contact = identify_request(app, client, session, "ana@example.com", headers={"Sec-GPC": "1"})
    assert [e.type for e in trail(session, contact.id)] == []
    assert readings(session)[0].contact_id is None


def test_identify_without_visitor_does_nothing(session: Session) -> None:
    contact = Contact(email="x@example.com", custom={})
    session.add(contact)
    identify(session, None, contact, "form")
    session.commit()
    assert session.scalars(select(Event)).all() == []


def test_identify_creates_a_visitor_not_yet_written(session: Session) -> None:
    contact = Contact(email="x@example.com", custom={})
    session.add(contact)
    identify(session, "a" * 32, contact, "email_click")
    session.commit()
    assert session.get(Visitor, "a" * 32).contact_id == contact.id


def test_current_visitor_id_can_mint_one_for_an_identification(app: Flask) -> None:
    with app.test_request_context("/", headers=HEADERS):
        visitor_id = current_visitor_id(create=True)
        assert visitor_id is not None and len(visitor_id) == 32
        assert current_visitor_id(create=True) == visitor_id
        response = app.process_response(app.response_class("ok"))
        assert f"cabos_vid={visitor_id}." in response.headers["Set-Cookie"]
    with app.test_request_context("/", headers={**HEADERS, "DNT": "1"}):
        assert current_visitor_id(create=True) is None


def test_first_touch_is_the_earliest_and_latest_the_newest(app, client, send, payload, articles,
                                                           session: Session) -> None:
    from cabos.db import utcnow
    send(payload(articles[0], query="?utm_source=linkedin&utm_campaign=sga", age_ms=600_000))
    form_touch = {"source": "direct", "landing": "/guias/x", "at": utcnow().isoformat()}
    contact = Contact(email="ana@example.com", custom={}, first_touch=form_touch, latest_touch=form_touch)
    session.add(contact)
    session.commit()
    identify_request(app, client, session, "ana@example.com")
    session.refresh(contact)
    assert contact.first_touch["source"] == "linkedin"  # the visitor came before the form
    assert contact.latest_touch == form_touch
    # A later campaign visit by a known contact moves their latest touch.
    send(payload(articles[1], query="?utm_source=newsletter", age_ms=0))
    session.expire_all()
    contact = session.get(Contact, contact.id)
    assert contact.latest_touch["source"] == "newsletter"
    assert contact.first_touch["source"] == "linkedin"


def test_touch_helpers_prefer_known_times() -> None:
    a = {"source": "a", "at": "2026-01-01T00:00:00+00:00"}
    b = {"source": "b", "at": "2026-02-01T00:00:00+00:00"}
    assert earliest(a, b) == a and earliest(b, a) == a and earliest({}, b) == b and earliest(None, None) == {}
    assert latest(a, b) == b and latest(b, {}) == b
