"""Delivery against a real SMTP server (aiosmtpd on loopback): parts, headers, links, failures, retries."""

from __future__ import annotations

import smtplib
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import select, update

from cabos.contacts.models import Suppression
from cabos.contacts.privacy import email_hash
from cabos.db import utcnow
from cabos.mail import TemporaryMailError
from cabos.nurture.models import Enrolment, OutboxMessage
from cabos.nurture.outbox import Sender, _retry_safe, resolve, stuck
from cabos.tracking.models import Event, Visitor
from tests.nurture.conftest import add_contact, guide_event, later, rows, tick

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


@pytest.fixture
def app_config(smtp_server) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {**smtp_server.settings, "NURTURE_RETRY_BASE": 60}


def test_the_welcome_arrives_with_both_parts_the_headers_and_working_links(app: Flask, session, client,  # type: ignore[no-untyped-def]
                                                                            smtp_server) -> None:
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app)
    (delivered,) = smtp_server.messages
    message = delivered.message
    (row,) = rows(session)
    assert delivered.rcpt_tos == ["ana@example.com"]
    assert message["To"] == "Ana López <ana@example.com>"
    assert message["Subject"] == "Your stock guide, Ana"
    assert message["Message-ID"] == row.message_id and message["X-Cabos-Outbox"] == str(row.id)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith("<http://localhost/e/u/")
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Hello Ana from" in text and "Hello Ana from" in html

    # The first link goes to our article: recorded, stitched, redirected with the campaign.
    link = next(w for w in text.split() if "/e/c/" in w).strip("()")
    response = client.get(urlsplit(link).path, headers={"User-Agent": BROWSER})
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert (target.netloc, target.path) == ("localhost", "/articles/stock-basics")
    assert parse_qs(target.query)["utm_campaign"] == ["welcome"]
    click = session.scalar(select(Event).where(Event.type == "email_click"))
    assert click is not None and click.contact_id == contact.id and click.content_slug == "stock-basics"
    assert click.data["outbox"] == row.id
    visitor = session.get(Visitor, click.visitor_id)
    assert visitor is not None and visitor.contact_id == contact.id
    assert "cabos_vid" in response.headers.get("Set-Cookie", "")
    sent = session.scalar(select(Event).where(Event.type == "email_sent"))
    assert sent is not None and sent.data["message_id"] == row.message_id


def test_one_rejected_recipient_fails_alone_and_is_never_emailed_again(app: Flask, session, smtp_server) -> None:  # type: ignore[no-untyped-def]
    people = [add_contact(session, f"{n}@example.com", n.title()) for n in ("ana", "bob", "carla")]
    for person in people:
        guide_event(session, person)
    session.commit()
    smtp_server.refuse("bob@example.com")
    report = tick(app)
    assert (report.sends.sent, report.sends.failed) == (2, 1)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == ["ana@example.com", "carla@example.com"]
    failed = rows(session, status="failed")
    assert [(r.contact_id, r.reason) for r in failed] == [(people[1].id, "rejected")]
    assert "550" in failed[0].error
    assert session.get(Suppression, email_hash("bob@example.com")) is not None
    session.expire_all()
    bob = session.scalar(select(Enrolment).where(Enrolment.contact_id == people[1].id))
    assert bob is not None and (bob.status, bob.exit_reason) == ("exited", "bounced")


def test_a_temporary_refusal_is_retried_with_backoff_then_given_up(app: Flask, session, smtp_server) -> None:  # type: ignore[no-untyped-def]
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    smtp_server.refuse("ana@example.com", "450 4.2.1 Mailbox busy, try later")
    start = utcnow()
    tick(app)
    (row,) = rows(session)
    assert (row.status, row.reason, row.attempts) == ("queued", "retry", 1)
    assert row.next_attempt_at is not None and row.next_attempt_at >= start + timedelta(seconds=60)
    assert tick(app).sends.sent == 0  # not before its time
    assert rows(session)[0].attempts == 1
    # The server is fine again by the next attempt.
    smtp_server.refused.clear()
    assert tick(app, now=later(minutes=2)).sends.sent == 1
    assert len(smtp_server.messages) == 1


def test_temporary_failures_give_up_after_the_last_attempt(app_factory, content_dir, session, smtp_server) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(content_dir, **smtp_server.settings, NURTURE_RETRY_ATTEMPTS=2, NURTURE_RETRY_BASE=0)
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    smtp_server.refuse("ana@example.com", "451 4.3.0 Temporary failure")
    tick(app)
    tick(app)
    (row,) = rows(session)
    assert (row.status, row.reason, row.attempts) == ("failed", "temporary", 2)
    assert smtp_server.messages == []


def test_a_send_left_sending_by_a_dead_sender_becomes_unknown_and_is_not_resent(app: Flask, session,  # type: ignore[no-untyped-def]
                                                                                 smtp_server) -> None:
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app, send=False)
    (row,) = rows(session)
    # A sender claimed it and started the conversation, then died (long ago).
    session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(
        status="sending", claimed_by="dead", claimed_at=utcnow() - timedelta(hours=1),
        sending_at=utcnow() - timedelta(hours=1)))
    session.commit()
    report = tick(app)
    assert report.sends.stuck == 1 and report.sends.sent == 0 and smtp_server.messages == []
    (row,) = rows(session)
    assert (row.status, row.reason) == ("unknown", "sender_lost")
    assert tick(app, now=later(days=1)).sends.sent == 0  # never automatically
    with app.app_context():
        assert [r.id for r in stuck(session)] == [row.id]
        resolve(session, row.id, "requeue", utcnow())  # staff checked the server's log: it never left
    session.commit()
    assert tick(app).sends.sent == 1 and len(smtp_server.messages) == 1


def test_claims_of_a_dead_sender_go_back_to_the_queue(app: Flask, session, smtp_server) -> None:  # type: ignore[no-untyped-def]
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app, send=False)
    with app.app_context():
        dead = Sender(app, sender_id="dead")
        assert len(dead.claim(utcnow())) == 1  # and then it died before trying
    assert tick(app).sends.sent == 0  # its claim still holds for a while
    report = tick(app, now=later(minutes=6))
    assert (report.sends.requeued, report.sends.sent) == (1, 1)
    assert len(smtp_server.messages) == 1


def test_a_sender_that_lost_its_claim_does_not_send(app: Flask, session, smtp_server) -> None:  # type: ignore[no-untyped-def]
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app, send=False)
    with app.app_context():
        slow = Sender(app, sender_id="slow")
        fast = Sender(app, sender_id="fast", clock=lambda: utcnow() + timedelta(minutes=6))
        (row_id,) = slow.claim(utcnow())
        fast.recover(fast.clock())  # the slow sender's claim expired and went back to the queue
        assert fast.deliver().sent == 1
        assert slow.send_one(row_id) == ("lost", "")
    assert len(smtp_server.messages) == 1


def _error(cls: type, cause: BaseException | None, code: int | None = None):  # type: ignore[no-untyped-def]
    try:
        raise cls("failed", code) from cause
    except cls as exc:
        return exc


@pytest.mark.parametrize(("error", "safe"), [
    (_error(TemporaryMailError, None, 451), True),  # the server said: not now
    (_error(TemporaryMailError, ConnectionRefusedError()), True),  # never talked
    (_error(TemporaryMailError, smtplib.SMTPConnectError(421, b"busy")), True),
    (_error(TemporaryMailError, smtplib.SMTPServerDisconnected("gone")), False),  # maybe after DATA
    (_error(TemporaryMailError, TimeoutError()), False),
])
def test_only_failures_that_surely_did_not_deliver_are_retried(error, safe: bool) -> None:  # type: ignore[no-untyped-def]
    assert _retry_safe(error) is safe


def test_a_batch_goes_over_one_connection_and_an_unsubscribe_after_the_check_still_stops_its_row(  # type: ignore[no-untyped-def]
        app: Flask, session, smtp_server) -> None:
    contacts = [add_contact(session, f"reader{i}@example.com") for i in range(4)]
    for contact in contacts:
        guide_event(session, contact)
    session.commit()
    tick(app, send=False)
    with app.app_context():
        sender = Sender(app)
        start = sender._start

        def unsubscribe_the_third(row_id, *args):  # type: ignore[no-untyped-def]
            # The batch was checked already; this person unsubscribes just before their row starts.
            if row_id == rows(session)[2].id:
                session.add(Suppression(email_hash=email_hash("reader2@example.com"), reason="unsubscribe",
                                        created_at=utcnow()))
                session.commit()
            return start(row_id, *args)

        sender._start = unsubscribe_the_third  # type: ignore[method-assign]
        counts = sender.deliver()
    assert (counts.sent, counts.cancelled) == (3, 1)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        "reader0@example.com", "reader1@example.com", "reader3@example.com"]
    assert smtp_server.connections == 1
    assert [r.status for r in rows(session)] == ["sent", "sent", "cancelled", "sent"]
