"""Outcomes: every kind, its checks, the trail, the history, the queue's SLA and the handoff rules."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from cabos.contacts.models import Contact
from cabos.db import utcnow
from cabos.sales.handoffs import create_handoff
from cabos.sales.models import Delivery, Handoff, HandoffOutcome
from cabos.sales.outcomes import OutcomeError, OutcomeInput, record_outcome
from cabos.sales.signals import outcome_recorded
from cabos.staff.models import StaffUser
from cabos.tracking.models import Event
from tests.conftest import staff_login

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
KIND = re.compile(r'name="kind" value="(\w+)"')


def post_outcome(client, journey, kind: str, **fields: str):  # type: ignore[no-untyped-def]
    """Post the one outcome form as a browser without JavaScript would: every field, the chosen kind."""
    page = client.get(f"/staff/contacts/{journey.contact.id}").get_data(as_text=True)
    assert kind in KIND.findall(page), f"no {kind} choice in the outcome form"
    reason = fields.pop("reason", "")
    data = {"csrf_token": TOKEN.search(page).group(1), "kind": kind, "reason_sent_back": "",
            "reason_disqualified": "", "reason_lost": "", "note": "", "revenue": "", "currency": "EUR", "won_on": "",
            **({f"reason_{kind}": reason} if reason else {}), **fields}
    return client.post(f"/staff/handoffs/{journey.handoff.id}/outcome", data=data)


def handoff_of(db, journey) -> Handoff:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        h = s.get(Handoff, journey.handoff.id)
        s.expunge(h)
        return h


def test_accept_then_won_with_revenue(app: Flask, db, journey) -> None:
    client = staff_login(app.test_client(), journey.seller)
    assert post_outcome(client, journey, "accepted").status_code == 302
    h = handoff_of(db, journey)
    assert h.status == "accepted" and h.first_response_at is not None and h.open_contact_id == journey.contact.id
    assert post_outcome(client, journey, "won", revenue="12.500,50", currency="eur", won_on="2026-11-20",
                        note="Signed for two warehouses").status_code == 302
    h = handoff_of(db, journey)
    assert (h.status, h.revenue_cents, h.currency, str(h.won_on)) == ("won", 1_250_050, "EUR", "2026-11-20")
    assert h.open_contact_id is None and h.closed_at is not None
    with db.sessions() as s:
        kinds = s.scalars(select(HandoffOutcome.kind).order_by(HandoffOutcome.id)).all()
        assert kinds == ["accepted", "won"]
        events = s.scalars(select(Event).where(Event.type == "outcome").order_by(Event.id)).all()
        assert [e.data["outcome"] for e in events] == ["accepted", "won"]
        assert events[1].data["revenue_cents"] == 1_250_050 and events[1].data["by"] == journey.seller.id
    body = client.get(f"/staff/contacts/{journey.contact.id}").get_data(as_text=True)
    assert "Signed for two warehouses" in body


@pytest.mark.parametrize("kind", ["sent_back", "disqualified", "lost"])
def test_reasons_come_from_the_configured_list(app: Flask, db, journey, kind: str) -> None:
    client = staff_login(app.test_client(), journey.seller)
    post_outcome(client, journey, kind, reason="I just made this up")
    assert handoff_of(db, journey).status == "new"
    with app.test_request_context("/"):
        from cabos.content import current_library
        from cabos.sales.policy import policy_of
        reason = policy_of(current_library()).reasons[kind][0]
    post_outcome(client, journey, kind, reason=reason)
    h = handoff_of(db, journey)
    assert h.status == kind and h.outcome_reason == reason and h.open_contact_id is None


def test_won_needs_a_positive_amount(app: Flask, db, journey) -> None:
    client = staff_login(app.test_client(), journey.seller)
    for bad in ("", "-5", "abc", "0"):
        post_outcome(client, journey, "won", revenue=bad)
    assert handoff_of(db, journey).status == "new"


def test_a_closed_handoff_takes_no_more_outcomes(app: Flask, db, journey) -> None:
    with app.test_request_context("/"), db.sessions() as s:
        h = s.get(Handoff, journey.handoff.id)
        user = s.get(StaffUser, journey.seller.id)
        record_outcome(s, h, OutcomeInput("won", revenue_cents=100), user, utcnow())
        with pytest.raises(OutcomeError):
            record_outcome(s, h, OutcomeInput("accepted"), user, utcnow())


def test_sent_back_is_announced_for_nurture_and_a_new_handoff_can_follow(app: Flask, db, journey) -> None:
    seen = []

    def receiver(_sender, handoff, outcome, session, **_):  # type: ignore[no-untyped-def]
        seen.append((handoff.id, outcome.kind))

    outcome_recorded.connect(receiver)
    try:
        with app.test_request_context("/"), db.sessions() as s:
            from cabos.content import current_library
            from cabos.sales.policy import policy_of
            h = s.get(Handoff, journey.handoff.id)
            reason = policy_of(current_library()).reasons["sent_back"][0]
            record_outcome(s, h, OutcomeInput("sent_back", reason=reason), s.get(StaffUser, journey.seller.id),
                           utcnow())
            again = create_handoff(s, s.get(Contact, journey.contact.id), {}, utcnow())
            assert again.id != h.id and again.status == "new"
            s.commit()
    finally:
        outcome_recorded.disconnect(receiver)
    assert seen == [(journey.handoff.id, "sent_back")]


def test_create_handoff_is_idempotent_and_disqualified_is_final(app: Flask, db, journey) -> None:
    with app.test_request_context("/"), db.sessions() as s:
        contact = s.get(Contact, journey.contact.id)
        assert create_handoff(s, contact, {}, utcnow()).id == journey.handoff.id
        assert s.scalar(select(func.count()).select_from(Handoff)) == 1
        from cabos.content import current_library
        from cabos.sales.policy import policy_of
        reason = policy_of(current_library()).reasons["disqualified"][0]
        record_outcome(s, s.get(Handoff, journey.handoff.id), OutcomeInput("disqualified", reason=reason), None,
                       utcnow())
        assert create_handoff(s, contact, {}, utcnow()).id == journey.handoff.id
        assert s.scalar(select(func.count()).select_from(Handoff)) == 1


def test_round_robin_among_active_salespeople(app: Flask, db, make_staff) -> None:
    a, b = make_staff("sales"), make_staff("sales")
    make_staff("sales", active=False)
    make_staff("marketer")
    with app.test_request_context("/"), db.sessions() as s:
        contacts = [Contact(email=f"c{i}@example.com", custom={}) for i in range(4)]
        s.add_all(contacts)
        s.flush()
        now = utcnow()
        got = [create_handoff(s, c, {}, now + timedelta(seconds=i)).assigned_to for i, c in enumerate(contacts)]
        assert got == [a.id, b.id, a.id, b.id]
        assert s.scalar(select(func.count()).select_from(Delivery).where(Delivery.kind == "email")) == 4


def test_assignment_rules_in_site_yml(app_factory, make_content, make_staff, db) -> None:
    content = make_content({"site.yml": """\
name: Test Co
language: en
base_url: http://example.test
sales:
  currency: usd
  reasons:
    lost: [Too expensive, Went quiet]
  assignment:
    - when: {country: [Mexico, méxico]}
      to: [latam@staff.example]
"""})
    latam = make_staff("sales", email="latam@staff.example")
    other = make_staff("sales")
    app = app_factory(content)
    with app.test_request_context("/"), db.sessions() as s:
        from cabos.content import current_library
        from cabos.sales.policy import policy_of
        policy = policy_of(current_library())
        assert policy.currency == "USD" and policy.reasons["lost"] == ("Too expensive", "Went quiet")
        assert policy.reasons["disqualified"]  # defaults stay for the kinds not configured
        mx = Contact(email="a@example.mx", country="México", custom={})
        es = Contact(email="b@example.es", country="Spain", custom={})
        mx2 = Contact(email="c@example.mx", country="mexico", custom={})
        s.add_all([mx, es, mx2])
        s.flush()
        now = utcnow()
        assert create_handoff(s, mx, {}, now).assigned_to == latam.id
        assert create_handoff(s, es, {}, now).assigned_to == other.id
        assert create_handoff(s, mx2, {}, now).assigned_to == latam.id


def test_overdue_handoffs_are_highlighted_in_the_queue(app: Flask, db, journey) -> None:
    with db.sessions() as s:
        h = s.get(Handoff, journey.handoff.id)
        h.due_at = utcnow() - timedelta(hours=1)
        s.commit()
    client = staff_login(app.test_client(), journey.seller)
    body = client.get("/staff/queue").get_data(as_text=True)
    assert 'class="overdue"' in body
    assert f"/staff/contacts/{journey.contact.id}" in client.get("/staff/queue?status=overdue").get_data(as_text=True)
    post_outcome(client, journey, "accepted")
    assert 'class="overdue"' not in client.get("/staff/queue").get_data(as_text=True)
