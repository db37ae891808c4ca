"""The staff page of sends in doubt: it lists unknown rows, and staff mark them sent, failed or send them again."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from cabos.db import utcnow
from cabos.nurture.models import OutboxMessage
from tests.nurture.conftest import add_contact, guide_event, rows, tick

PAGE = "/staff/nurture/in-doubt"
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
HOSTILE = '<script>alert("x")</script> Ana'


@pytest.fixture
def app_config(smtp_server) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {**smtp_server.settings}


@pytest.fixture
def in_doubt(app: Flask, session) -> OutboxMessage:  # type: ignore[no-untyped-def]
    """One welcome email whose sender died after handing it to the mail server."""
    guide_event(session, add_contact(session, email="ana+doubt@example.com", name=HOSTILE))
    session.commit()
    tick(app, send=False)
    (row,) = rows(session)
    session.execute(update(OutboxMessage).values(status="unknown", reason="sender_lost",
                                                 error="connection dropped <after DATA>",
                                                 sending_at=utcnow() - timedelta(hours=1)))
    session.commit()
    return rows(session)[0]


def _decide(client, row_id: int, mark: str):  # type: ignore[no-untyped-def]
    token = TOKEN.search(client.get(PAGE).get_data(as_text=True)).group(1)
    return client.post(f"{PAGE}/{row_id}", data={"csrf_token": token, "mark": mark})


def test_the_page_lists_a_send_in_doubt_with_the_contact_escaped(staff_client, in_doubt: OutboxMessage) -> None:  # type: ignore[no-untyped-def]
    response = staff_client("marketer").get(PAGE)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Ana" in html
    assert "<script>alert" not in html
    assert "ana+doubt@example.com" in html
    assert "<td>welcome<br>" in html  # the email's slug
    assert "sender_lost" in html and "connection dropped &lt;after DATA&gt;" in html
    assert f'action="{PAGE}/{in_doubt.id}"' in html
    for mark in ("sent", "failed", "requeue"):
        assert f'name="mark" value="{mark}"' in html


def test_the_page_says_when_nothing_is_in_doubt(staff_client) -> None:  # type: ignore[no-untyped-def]
    html = staff_client("marketer").get(PAGE).get_data(as_text=True)
    assert "No sends in doubt" in html and "<table" not in html


@pytest.mark.parametrize(("mark", "status", "said"), [
    ("sent", "sent", "marked as sent"),
    ("failed", "failed", "marked as failed"),
    ("requeue", "queued", "queued again"),
])
def test_staff_decide_each_way(staff_client, session, in_doubt: OutboxMessage, mark: str, status: str,  # type: ignore[no-untyped-def]
                               said: str) -> None:
    client = staff_client("marketer")
    response = _decide(client, in_doubt.id, mark)
    assert response.status_code == 302 and response.headers["Location"].endswith(PAGE)
    (row,) = rows(session)
    assert (row.status, row.reason) == (status, f"staff_{mark}")
    page = client.get(PAGE).get_data(as_text=True)
    assert said in page and "No sends in doubt" in page
    # A second decision (another tab, a colleague) changes nothing and says so.
    assert _decide(client, in_doubt.id, "sent").status_code == 302
    assert rows(session)[0].status == status
    assert "no longer in doubt" in client.get(PAGE).get_data(as_text=True)


def test_a_send_queued_again_goes_out_on_the_next_run(app: Flask, staff_client, session, smtp_server,  # type: ignore[no-untyped-def]
                                                     in_doubt: OutboxMessage) -> None:
    assert _decide(staff_client("admin"), in_doubt.id, "requeue").status_code == 302
    tick(app)
    assert rows(session)[0].status == "sent"
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ana+doubt@example.com"]]


def test_a_decision_needs_the_form_token(staff_client, session, in_doubt: OutboxMessage) -> None:  # type: ignore[no-untyped-def]
    client = staff_client("marketer")
    assert client.post(f"{PAGE}/{in_doubt.id}", data={"mark": "sent"}).status_code == 400
    assert client.post(f"{PAGE}/{in_doubt.id}", data={"csrf_token": "forged", "mark": "sent"}).status_code == 400
    assert rows(session)[0].status == "unknown"


def test_an_unknown_decision_is_refused(staff_client, session, in_doubt: OutboxMessage) -> None:  # type: ignore[no-untyped-def]
    assert _decide(staff_client("marketer"), in_doubt.id, "delete").status_code == 400
    assert rows(session)[0].status == "unknown"


def test_sales_may_neither_see_nor_decide(staff_client, session, in_doubt: OutboxMessage) -> None:  # type: ignore[no-untyped-def]
    client = staff_client("sales")
    assert client.get(PAGE).status_code == 403
    token = TOKEN.search(client.get("/staff/").get_data(as_text=True)).group(1)
    assert client.post(f"{PAGE}/{in_doubt.id}", data={"csrf_token": token, "mark": "sent"}).status_code == 403
    assert rows(session)[0].status == "unknown"
    assert PAGE not in client.get("/staff/").get_data(as_text=True)


def test_the_staff_menu_links_the_page_for_marketing(staff_client) -> None:  # type: ignore[no-untyped-def]
    home = staff_client("marketer").get("/staff/").get_data(as_text=True)
    assert f'href="{PAGE}"' in home


def test_a_guide_link_email_in_doubt_is_listed_and_can_be_sent_again(staff_client, app: Flask, session,  # type: ignore[no-untyped-def]
                                                                      smtp_server) -> None:
    from sqlalchemy import select

    from cabos.site.guide_mail import deliver
    from cabos.nurture.models import GuideMail

    contact = add_contact(session, email="luis+guide@example.com", name=HOSTILE)
    guide = next(iter(app.extensions["cabos.content"].library.guides))
    session.add(GuideMail(contact_id=contact.id, guide=guide, kind="form", status="unknown", reason="sender_lost",
                          error="timeout <after DATA>", sending_at=utcnow() - timedelta(hours=1),
                          next_attempt_at=utcnow() - timedelta(hours=1)))
    session.commit()
    row = session.scalars(select(GuideMail)).one()
    client = staff_client("marketer")
    html = client.get(PAGE).get_data(as_text=True)
    assert 'id="guide-mails"' in html and "luis+guide@example.com" in html and guide in html
    assert "<script>alert" not in html and "timeout &lt;after DATA&gt;" in html
    token = TOKEN.search(html).group(1)
    answer = client.post(f"{PAGE}/guide/{row.id}", data={"csrf_token": token, "mark": "requeue"})
    assert answer.status_code == 302
    session.expire_all()
    assert session.get(GuideMail, row.id).status == "queued"
    with app.app_context():
        deliver(app)
    assert [m.rcpt_tos for m in smtp_server.messages] == [["luis+guide@example.com"]]
    assert client.post(f"{PAGE}/guide/{row.id}", data={"csrf_token": token, "mark": "requeue"}).status_code == 302
    assert "no longer in doubt" in client.get(PAGE).get_data(as_text=True)


def test_a_broadcast_email_in_doubt_is_listed_beside_the_others(staff_client, session) -> None:  # type: ignore[no-untyped-def]
    from cabos.nurture.models import BroadcastRun, BroadcastSend

    contact = add_contact(session, email="eva+news@example.com", name=HOSTILE)
    session.add(BroadcastRun(slug="december-news", segment="everyone", subject="News", recipients=1))
    session.flush()
    row = BroadcastSend(broadcast="december-news", contact_id=contact.id, status="unknown", reason="sender_lost",
                        error="timeout", sending_at=utcnow() - timedelta(hours=1), next_attempt_at=utcnow())
    session.add(row)
    session.commit()
    client = staff_client("marketer")
    html = client.get(PAGE).get_data(as_text=True)
    table = html.split('id="broadcast-sends"')[1].split("</table>")[0]
    assert "eva+news@example.com" in table and "december-news" in table and "<script>alert" not in html
    token = TOKEN.search(html).group(1)
    assert client.post(f"{PAGE}/broadcast/{row.id}", data={"csrf_token": token, "mark": "sent"}).status_code == 302
    session.expire_all()
    assert session.get(BroadcastSend, row.id).status == "sent"
    assert 'id="broadcast-sends"' not in client.get(PAGE).get_data(as_text=True)
    assert client.post(f"{PAGE}/broadcast/{row.id}", data={"mark": "sent"}).status_code == 400  # no form token
