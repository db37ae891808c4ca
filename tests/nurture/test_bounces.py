"""Bounces and complaints from a mailbox: real-format DSNs and ARF reports, applied to the sends they are about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from cabos.contacts.models import Suppression
from cabos.contacts.privacy import email_hash
from cabos.db import utcnow
from cabos.nurture.bounces import dsn
from cabos.nurture.bounces.mailbox import process
from cabos.nurture.bounces.models import Feedback, Review, SentMessage, remember
from cabos.nurture.bounces.record import Policy
from cabos.tracking.models import Event
from tests.nurture.conftest import add_contact, guide_event, later, rows, tick
from tests.nurture.mailservers import Box, serve

SAMPLES = Path(__file__).parent / "bounces"
MID = "<176458050112.4242.987654321.nurture.1@estiba.example>"


def sample(name: str, message_id: str = MID, recipient: str = "ana@example.com") -> bytes:
    text = (SAMPLES / name).read_text()
    return text.replace("{message_id}", message_id).replace("{recipient}", recipient).encode()


@pytest.mark.parametrize(("name", "kind", "status"), [
    ("postfix.eml", "hard", "5.1.1"),
    ("exchange.eml", "hard", "5.1.10"),
    ("gmail.eml", "soft", "4.2.2"),
    ("exim.eml", "hard", "5.1.1"),
    ("arf.eml", "complaint", "abuse"),
])
@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])  # as stored in a file, as a mailbox serves it
def test_each_real_format_gives_its_kind_status_and_the_original_message_id(name: str, kind: str, status: str,
                                                                            line_end: bytes) -> None:
    reading = dsn.parse(sample(name).replace(b"\n", line_end))
    (report,) = reading.reports
    assert (report.kind, report.status) == (kind, status)
    assert report.message_id.strip("<>") == MID.strip("<>")
    assert report.recipient == "ana@example.com"


def test_a_delay_warning_is_no_bounce() -> None:
    reading = dsn.parse(sample("postfix-delayed.eml"))
    assert reading.reports == [] and "delayed" in reading.note


@pytest.mark.parametrize(("raw", "reason"), [
    (b"", "empty"),
    (b"Subject: hello\r\n\r\nJust a reply to your newsletter, thanks!\r\n", "not a delivery report"),
    (sample("postfix.eml").replace(b"Content-Type: message/delivery-status", b"Content-Type: text/plain"),
     "without a message/delivery-status part"),
    (sample("postfix.eml").replace(b"Message-ID: " + MID.encode(), b"X-Nothing: here"), "Message-ID"),
    (sample("postfix.eml").replace(b"Status: 5.1.1", b"Status: soon"), "no valid Status"),
    (sample("exim.eml").split(b"------ This is a copy")[0], "without a copy of the original"),
    (b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n\xff\xfe\x00--x",
     "delivery-status"),
])
def test_a_malformed_report_says_why(raw: bytes, reason: str) -> None:
    with pytest.raises(dsn.Malformed, match=reason):
        dsn.parse(raw)


@pytest.fixture
def app_config(smtp_server) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {**smtp_server.settings, "MAIL_SOFT_BOUNCE_LIMIT": 2}


def _sent(app: Flask, session, email: str = "ana@example.com"):  # type: ignore[no-untyped-def]
    """A real nurture send to ``email`` through the outbox; returns (contact, its Message-ID)."""
    contact = add_contact(session, email)
    guide_event(session, contact)
    session.commit()
    tick(app)
    (row,) = rows(session, contact_id=contact.id)
    assert row.status == "sent"
    return contact, row.message_id


@pytest.mark.parametrize("name", ["postfix.eml", "exchange.eml", "exim.eml", "arf.eml"])
def test_a_hard_bounce_or_complaint_suppresses_with_the_reason_on_the_trail(app: Flask, session, name: str) -> None:  # type: ignore[no-untyped-def]
    contact, message_id = _sent(app, session)
    with app.app_context():
        outcome = process(session, sample(name, message_id), utcnow(), Policy.from_config(app.config))
        session.commit()
    assert outcome == "suppressed"
    reason = "complaint" if name == "arf.eml" else "bounced"
    assert session.get(Suppression, email_hash(contact.email)).reason == reason
    (event,) = session.scalars(select(Event).where(Event.contact_id == contact.id,
                                                   Event.type.in_(("email_bounce", "email_complaint"))))
    assert event.data["sequence"] == "welcome" and event.data["suppressed"] is True
    (feedback,) = session.scalars(select(Feedback))
    assert feedback.suppressed and feedback.contact_id == contact.id


def test_soft_bounces_count_and_suppress_at_the_limit_and_a_repeat_counts_once(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    contact, message_id = _sent(app, session)
    policy = Policy.from_config(app.config)
    with app.app_context():
        first = process(session, sample("gmail.eml", message_id), utcnow(), policy)
        again = process(session, sample("gmail.eml", message_id), utcnow(), policy)  # the same report twice
        session.commit()
        assert (first, again) == ("counted", "duplicate")
        assert session.get(Suppression, email_hash(contact.email)) is None
        # A second soft bounce, about another email to the same person, reaches the limit of 2.
        remember(session, message_id="<second.step@estiba.example>", contact_id=contact.id, kind="nurture",
                 ref_id=999, now=utcnow(), sequence="welcome", step="second")
        assert process(session, sample("gmail.eml", "<second.step@estiba.example>"), utcnow(), policy) == "suppressed"
        session.commit()
    assert session.get(Suppression, email_hash(contact.email)).reason == "soft_bounces"
    assert session.scalar(select(func.count()).select_from(Feedback)) == 2


def test_malformed_or_unknown_reports_are_kept_for_review_and_change_nothing(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    contact, _ = _sent(app, session)
    with app.app_context():
        policy = Policy.from_config(app.config)
        assert process(session, b"\xff\xfe garbage", utcnow(), policy) == "review"
        assert process(session, sample("postfix.eml", "<nobody@elsewhere.example>"), utcnow(), policy) == "review"
        session.commit()
    reviews = list(session.scalars(select(Review).order_by(Review.id)))
    assert [r.reason.split(" ")[0] for r in reviews] == ["not", "no"]
    assert reviews[1].recipient == "ana@example.com" and "nobody@elsewhere.example" in reviews[1].raw
    assert session.scalar(select(func.count()).select_from(Suppression)) == 0
    assert session.scalar(select(func.count()).select_from(Feedback)) == 0


def test_every_send_is_in_the_message_id_map(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    contact, message_id = _sent(app, session)
    (sent,) = session.scalars(select(SentMessage))
    assert (sent.message_id, sent.contact_id, sent.kind, sent.sequence) == (
        message_id.strip("<>"), contact.id, "nurture", "welcome")


@pytest.mark.parametrize("complained", [True, False])
def test_a_complained_address_is_never_mailed_again_by_a_sequence(app: Flask, session, smtp_server,  # type: ignore[no-untyped-def]
                                                                   complained: bool) -> None:
    contact, message_id = _sent(app, session)
    if complained:
        with app.app_context():
            process(session, sample("arf.eml", message_id), utcnow(), Policy.from_config(app.config))
            session.commit()
    for days in (3, 10, 30):  # the rest of the sequence falls due
        tick(app, now=later(days=days))
    assert (len(smtp_server.messages) == 1) is complained


@pytest.mark.parametrize("kind", ["imap", "pop3"])
def test_the_mailbox_is_read_over_a_real_connection_and_nothing_is_read_twice(  # type: ignore[no-untyped-def]
        app: Flask, session, runner, kind: str) -> None:
    contact, message_id = _sent(app, session)
    box = Box()
    box.add(sample("postfix.eml", message_id).replace(b"\n", b"\r\n"))
    box.add(b"Subject: out of office\r\n\r\nI am away until Monday.\r\n")
    with serve(kind, box) as port:
        app.config["MAIL_BOUNCE_MAILBOX"] = f"{kind}://rebotes:s3cret%20pass@127.0.0.1:{port}/INBOX"
        first = runner.invoke(args=["mail", "bounces"])
        again = runner.invoke(args=["mail", "bounces"])
    assert first.exit_code == 0, first.output
    assert "2 read; 1 suppressed" in first.output and "1 kept for review" in first.output
    assert "0 read" in again.output
    assert session.get(Suppression, email_hash(contact.email)).reason == "bounced"
    if kind == "imap":
        assert all(m.seen and not m.deleted for m in box.messages)  # flagged, left in the mailbox
    else:
        assert all(m.deleted for m in box.messages)  # POP3 has no flags: deleted after the outcome was stored
    reviews = runner.invoke(args=["mail", "reviews"])
    assert "out of office" not in reviews.output and "not a delivery report" in reviews.output


def test_a_wrong_password_is_a_clear_error(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    with serve("imap", Box()) as port:
        app.config["MAIL_BOUNCE_MAILBOX"] = f"imap://rebotes:wrong@127.0.0.1:{port}"
        result = runner.invoke(args=["mail", "bounces"])
    assert result.exit_code == 1 and "cannot read the bounce mailbox" in result.output


def test_a_mailbox_url_of_another_kind_is_refused_with_the_reason(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    app.config["MAIL_BOUNCE_MAILBOX"] = "http://example.com/"
    result = runner.invoke(args=["mail", "bounces"])
    assert result.exit_code == 1 and "imap://" in result.output


def test_the_worker_reads_the_mailbox_every_interval_and_survives_an_unreachable_one(  # type: ignore[no-untyped-def]
        app: Flask, session, caplog) -> None:
    contact, message_id = _sent(app, session)
    box = Box()
    box.add(sample("exim.eml", message_id).replace(b"\n", b"\r\n"))
    job = app.extensions["cabos.worker_jobs"]["bounce-mailbox"]
    with serve("pop3", box) as port:
        app.config["MAIL_BOUNCE_MAILBOX"] = f"pop3://rebotes:s3cret%20pass@127.0.0.1:{port}"
        job(app, lambda: False)
        box.add(sample("arf.eml", message_id).replace(b"\n", b"\r\n"))
        job(app, lambda: False)  # within MAIL_BOUNCE_INTERVAL: not read yet
    assert [m.deleted for m in box.messages] == [True, False]
    assert session.get(Suppression, email_hash(contact.email)).reason == "bounced"
    app.config["MAIL_BOUNCE_INTERVAL"] = 0
    app.config["MAIL_BOUNCE_MAILBOX"] = f"pop3://rebotes:x@127.0.0.1:{port}"  # nobody listens there now
    job(app, lambda: False)
    assert "bounce mailbox: cannot read it" in caplog.text
