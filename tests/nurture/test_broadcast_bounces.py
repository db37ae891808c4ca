"""Broadcasts in the Message-ID map: a complaint about a newsletter suppresses, counts per broadcast, and stops the next one."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from cabos.contacts.models import Suppression
from cabos.contacts.privacy import email_hash
from cabos.db import utcnow
from cabos.nurture.bounces.mailbox import process
from cabos.nurture.bounces.models import SentMessage
from cabos.nurture.bounces.record import Policy
from cabos.nurture.bounces.stats import deliverability
from cabos.nurture.broadcasts import BroadcastMailer
from tests.conftest import CabosRunner
from tests.nurture.conftest import FILES
from tests.nurture.test_bounces import sample
from tests.nurture.test_broadcasts import NEWSLETTER, add_contacts


@pytest.fixture
def content_dir(make_content):  # type: ignore[no-untyped-def]
    return make_content({**FILES, "segments/everyone.yml": "name: Everyone who agreed\nconsent: true\n",
                         "broadcasts/newsletter.md": NEWSLETTER,
                         "broadcasts/second.md": NEWSLETTER.replace("News for", "More news for")})


@pytest.fixture
def app_config(smtp_server) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return dict(smtp_server.settings)


def _send(app, slug: str) -> None:  # type: ignore[no-untyped-def]
    result = CabosRunner(app).invoke(args=["broadcast", "send", slug])
    assert result.exit_code == 0, result.output
    with app.app_context():
        BroadcastMailer(app).deliver()


def test_a_complaint_about_a_broadcast_is_counted_for_it_and_the_next_one_skips_the_address(  # type: ignore[no-untyped-def]
        app, session, smtp_server) -> None:
    recipients = add_contacts(session, 4)  # p1, p2, p3 (p0 never agreed and unsubscribed)
    _send(app, "newsletter")
    assert {d.rcpt_tos[0] for d in smtp_server.messages} == recipients
    to_p2 = next(d for d in smtp_server.messages if d.rcpt_tos == ["p2@example.com"])
    sent = session.scalar(select(SentMessage).where(SentMessage.message_id == to_p2.message["Message-ID"].strip("<>")))
    assert (sent.kind, sent.sequence) == ("broadcast", "newsletter")

    with app.app_context():
        complaint = sample("arf.eml", to_p2.message["Message-ID"], "p2@example.com")
        assert process(session, complaint, utcnow(), Policy.from_config(app.config)) == "suppressed"
        session.commit()
        (newsletter,) = [c for c in deliverability(session).sequences if c.kind == "broadcast"]
    assert (newsletter.sequence, newsletter.sent, newsletter.complaints, newsletter.suppressed) == ("newsletter", 3, 1, 1)
    assert session.get(Suppression, email_hash("p2@example.com")).reason == "complaint"

    before = len(smtp_server.messages)
    _send(app, "second")
    assert {d.rcpt_tos[0] for d in smtp_server.messages[before:]} == recipients - {"p2@example.com"}
