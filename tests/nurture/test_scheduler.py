"""The scheduler: who enters, what each step decides, and that nothing is sent twice or late."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text

from cabos.contacts.models import Suppression
from cabos.contacts.privacy import email_hash
from cabos.db import utcnow
from cabos.intent.store import intent_changed, update_contact
from cabos.nurture.handoff import on_intent_changed
from cabos.nurture.models import Enrolment
from cabos.nurture.scheduler import due_query
from cabos.sales.handoffs import open_handoff
from cabos.sales.models import Handoff
from cabos.sales.outcomes import OutcomeInput, record_outcome
from tests.nurture.conftest import FILES, SEQUENCE, add_contact, go_purchase, guide_event, later, reading, rows, tick


def enrolments(session) -> list[Enrolment]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(session.scalars(select(Enrolment).order_by(Enrolment.id)))


def test_asking_for_a_guide_enrols_once_and_sends_the_welcome(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    report = tick(app)
    assert (report.schedule.enrolled, report.schedule.queued, report.sends.sent) == (1, 1, 1)
    # Running again, or the same person downloading the PDF, changes nothing.
    guide_event(session, contact, type_="download")
    session.commit()
    again = tick(app)
    assert (again.schedule.enrolled, again.schedule.queued, again.sends.sent) == (0, 0, 0)
    sent = rows(session)
    assert [(r.step, r.status) for r in sent] == [("welcome", "sent")]
    assert sent[0].message_id and sent[0].sent_at
    (enrolment,) = enrolments(session)
    assert enrolment.status == "active" and enrolment.next_step == "next"
    assert enrolment.next_due_at is not None
    assert timedelta(days=3) - timedelta(minutes=1) < enrolment.next_due_at - sent[0].created_at <= timedelta(days=3)


def test_the_steps_follow_the_schedule_and_the_sequence_completes(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app)
    assert tick(app, now=later(days=2)).sends.sent == 0  # not yet
    assert tick(app, now=later(days=3)).sends.sent == 1
    assert tick(app, now=later(days=10)).sends.sent == 1
    assert tick(app, now=later(days=30)).sends.sent == 0
    assert [(r.step, r.status) for r in rows(session)] == [("welcome", "sent"), ("next", "sent"), ("case", "sent")]
    (enrolment,) = enrolments(session)
    assert (enrolment.status, enrolment.next_due_at, enrolment.next_step) == ("completed", None, None)


def test_next_article_is_one_they_have_not_read_on_their_top_problem(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    contact = add_contact(session)
    guide_event(session, contact)
    reading(session, contact, "stock-basics", "learn", ["bad-stock"])
    reading(session, contact, "stock-count", "learn", ["bad-stock"])
    with app.app_context():
        update_contact(session, contact.id, utcnow())
    session.commit()
    tick(app)
    tick(app, now=later(days=3))
    (row,) = rows(session, step="next")
    assert row.status == "sent"
    assert row.data["article"] not in ("stock-basics", "stock-count")
    assert row.data["article"] == "stock-compare"  # the next stage of the journey first


def test_a_step_whose_condition_fails_is_skipped_and_recorded(make_content, app_factory, session) -> None:  # type: ignore[no-untyped-def]
    sequence = SEQUENCE.replace("when: {mode: information}", "when: {interest: slow-orders}")
    app = app_factory(make_content({**FILES, "sequences/welcome.yml": sequence}))
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app)
    report = tick(app, now=later(days=3))
    assert report.schedule.skipped == {"condition": 1} and report.sends.sent == 0
    assert [(r.step, r.status, r.reason) for r in rows(session)] == [
        ("welcome", "sent", ""), ("next", "skipped", "condition")]
    assert tick(app, now=later(days=10)).sends.sent == 1  # the sequence goes on


def test_a_step_far_past_due_after_downtime_is_skipped_not_sent_late(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    contact = add_contact(session)
    guide_event(session, contact, at=utcnow() - timedelta(days=3, hours=1))  # the worker was down since
    session.commit()
    report = tick(app)
    assert report.schedule.skipped == {"late": 1}
    assert report.sends.sent == 1  # the second step (due 1 hour ago) still goes out
    assert [(r.step, r.status, r.reason) for r in rows(session)] == [
        ("welcome", "skipped", "late"), ("next", "sent", "")]


def test_a_queued_send_that_became_late_is_skipped_by_the_sender(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app, send=False)
    report = tick(app, now=later(hours=49))
    assert report.sends.sent == 0 and report.sends.by_reason == {"late": 1}
    assert [(r.status, r.reason) for r in rows(session)] == [("skipped", "late")]


def test_switching_to_purchase_mode_between_steps_stops_the_sequence_and_hands_off(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app)
    go_purchase(app, session, contact)
    session.commit()
    report = tick(app, now=later(days=3))
    assert report.sends.sent == 0 and report.due == 0
    assert [r.step for r in rows(session)] == ["welcome"]
    (enrolment,) = enrolments(session)
    assert (enrolment.status, enrolment.exit_reason, enrolment.next_due_at) == ("exited", "handoff", None)
    handoff = open_handoff(session, contact.id)
    assert handoff is not None and handoff.evidence["trigger"]["source"] == "intent"


def test_the_scheduler_stops_and_hands_off_even_if_nobody_told_it(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app)
    intent_changed.disconnect(on_intent_changed)
    try:
        go_purchase(app, session, contact)
        session.commit()
    finally:
        intent_changed.connect(on_intent_changed, weak=False)
    assert open_handoff(session, contact.id) is None
    report = tick(app, now=later(days=3))
    assert report.sends.sent == 0 and report.schedule.handoffs == 1
    assert [r.step for r in rows(session)] == ["welcome"]
    assert enrolments(session)[0].exit_reason == "handoff"
    assert session.scalar(select(Handoff).where(Handoff.contact_id == contact.id)) is not None


def test_a_queued_step_is_cancelled_when_they_switch_before_it_is_sent(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app, send=False)
    intent_changed.disconnect(on_intent_changed)
    try:
        go_purchase(app, session, contact, at=utcnow() + timedelta(seconds=1))
        session.commit()
    finally:
        intent_changed.connect(on_intent_changed, weak=False)
    report = tick(app)
    assert report.sends.sent == 0 and report.sends.by_reason == {"handoff": 1}
    assert [(r.status, r.reason) for r in rows(session)] == [("cancelled", "handoff")]
    assert open_handoff(session, contact.id) is not None


def test_a_suppressed_address_is_not_enrolled_and_a_queued_send_is_cancelled(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    ana, bob = add_contact(session), add_contact(session, "bob@example.com", "Bob")
    session.add(Suppression(email_hash=email_hash(bob.email), reason="unsubscribe"))
    guide_event(session, ana)
    guide_event(session, bob)
    session.commit()
    tick(app, send=False)
    assert [e.contact_id for e in enrolments(session)] == [ana.id]
    session.add(Suppression(email_hash=email_hash(ana.email), reason="unsubscribe"))  # after queueing
    session.commit()
    report = tick(app)
    assert report.sends.sent == 0
    assert [(r.status, r.reason) for r in rows(session)] == [("cancelled", "unsubscribe")]


@pytest.mark.parametrize(("reentry", "rounds"), [("never", 1), ("always", 2), ("30d", 1)])
def test_reentry_policy(make_content, app_factory, session, reentry: str, rounds: int) -> None:  # type: ignore[no-untyped-def]
    sequence = "trigger:\n  guide: stock-guide\nsteps:\n  - email: welcome\n" + f"reentry: {reentry}\n"
    app = app_factory(make_content({**FILES, "sequences/welcome.yml": sequence}))
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app)
    guide_event(session, contact, at=utcnow() + timedelta(days=2))
    session.commit()
    tick(app, now=later(days=2))
    assert [e.round for e in enrolments(session)] == list(range(1, rounds + 1))
    assert len(rows(session, status="sent")) == rounds


def test_interest_in_a_problem_can_start_a_sequence(make_content, app_factory, session) -> None:  # type: ignore[no-untyped-def]
    sequence = "trigger:\n  interest: slow-orders\n  min: 0.5\nsteps:\n  - email: welcome\n"
    app = app_factory(make_content({**FILES, "sequences/orders.yml": sequence}))
    reader, other = add_contact(session), add_contact(session, "bob@example.com", "Bob")
    reading(session, reader, "orders-basics", "learn", ["slow-orders"])
    reading(session, other, "stock-basics", "learn", ["bad-stock"])
    with app.app_context():
        update_contact(session, reader.id, utcnow())
        update_contact(session, other.id, utcnow())
    session.commit()
    tick(app)
    assert [(e.contact_id, e.sequence) for e in enrolments(session)] == [(reader.id, "orders")]


def test_a_sequence_whose_file_broke_pauses_its_contacts(make_content, app_factory, session) -> None:  # type: ignore[no-untyped-def]
    root = make_content(FILES)
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app_factory(root))
    (root / "sequences" / "welcome.yml").unlink()
    report = tick(app_factory(root), now=later(days=3))
    assert report.schedule.postponed == 1 and report.sends.sent == 0
    (enrolment,) = enrolments(session)
    assert enrolment.status == "active" and enrolment.next_due_at > utcnow()


def test_sent_back_by_sales_resumes_where_they_left(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app)
    go_purchase(app, session, contact)
    session.commit()
    handoff = open_handoff(session, contact.id)
    assert handoff is not None
    with app.app_context():
        record_outcome(session, handoff, OutcomeInput("sent_back", reason="Not ready to buy yet"), None, utcnow())
    session.commit()
    first, second = enrolments(session)
    assert (first.status, second.status, second.round, second.next_step) == ("exited", "active", 2, "next")
    # Sent back ends purchase mode (intent's exit on an outcome): they are nurtured again from 'next'
    # (the step for information mode), not handed straight back.
    report = tick(app, now=later(days=3))
    assert report.schedule.handoffs == 0 and report.schedule.skipped == {} and report.sends.sent == 1
    assert tick(app, now=later(days=10)).sends.sent == 1
    assert [(r.step, r.round) for r in rows(session, status="sent")] == [("welcome", 1), ("next", 2), ("case", 2)]


def test_a_tick_reads_due_enrolments_through_the_index(db, session) -> None:  # type: ignore[no-untyped-def]
    if not db.is_sqlite:
        pytest.skip("the plan of a tiny PostgreSQL table is a sequential scan by design")
    query = due_query(utcnow(), 500).with_only_columns(Enrolment.id)
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    plan = session.execute(text("EXPLAIN QUERY PLAN " + sql)).all()
    assert any("SEARCH nurture_enrolments USING" in str(row)
               and "INDEX ix_nurture_enrolments_due (next_due_at<?)" in str(row) for row in plan), plan


def test_the_demo_content_runs(make_content, app_factory, session) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import DEMO_CONTENT
    app = app_factory(Path(DEMO_CONTENT))
    contact = add_contact(session)
    guide_event(session, contact, "guia-inventario-que-cuadra")
    session.commit()
    assert tick(app).sends.sent == 1
    assert tick(app, now=later(days=3)).sends.sent == 1
    assert rows(session, step="siguiente-lectura")[0].data["article"]


def test_only_contacts_who_agreed_to_receive_emails_are_enrolled(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    ana, bob = add_contact(session), add_contact(session, "bob@example.com", "Bob", consent=False)
    guide_event(session, ana)
    guide_event(session, bob)
    session.commit()
    tick(app)
    assert [e.contact_id for e in enrolments(session)] == [ana.id]


def test_a_site_without_consent_forms_enrols_everyone(make_content, app_factory, session) -> None:  # type: ignore[no-untyped-def]
    root = make_content(FILES)
    (root / "site.yml").write_text((root / "site.yml").read_text() + "consent: \"off\"\n")
    app = app_factory(root)
    guide_event(session, add_contact(session, consent=False))
    session.commit()
    assert tick(app).schedule.enrolled == 1
