"""Identity only on proof: a known address from another browser borrows nothing until its link is clicked.

And per-recipient limits: however many IPs post one address, it gets at most a few emails an hour.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact, PendingSubmission
from cabos.nurture.models import GuideMail
from cabos.tracking.models import Event, Visitor
from tests.guides.conftest import deliver, submit

CONFIRM_LINK = re.compile(r"http://localhost(/confirm\?token=[A-Za-z0-9_\-.]+)")


def _contact(session: Session) -> Contact:
    session.expire_all()
    [contact] = session.scalars(select(Contact))
    return contact


def _trail(session: Session, contact_id: int) -> list[tuple[str, str | None]]:
    return [(e.type, e.visitor_id) for e in session.scalars(
        select(Event).where(Event.contact_id == contact_id).order_by(Event.id))]


def _visitor_of(client: FlaskClient) -> str:
    cookie = client.get_cookie("cabos_vid")
    assert cookie is not None
    return cookie.value.split(".")[0]


def _confirm_links(tmp_path: Path) -> list[str]:
    links = []
    for eml in sorted((tmp_path / "mail").glob("*.eml")):
        message = message_from_bytes(eml.read_bytes(), policy=policy.default)
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        links += CONFIRM_LINK.findall(text)
    return links


def _press(client: FlaskClient, path: str):  # type: ignore[no-untyped-def]
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True))
    assert token and 'id="confirm-button"' in page.get_data(as_text=True)
    return client.post(path, data={"csrf_token": token.group(1)})


def test_a_known_address_from_another_browser_changes_nothing_until_the_emailed_link_is_clicked(
        app: Flask, client: FlaskClient, session: Session, tmp_path: Path) -> None:
    assert submit(client).status_code == 303  # Ana, from her own browser
    owner = _contact(session)
    trail = _trail(session, owner.id)
    before = (owner.name, owner.company, owner.role, owner.custom)
    deliver(app)

    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "192.0.2.66"
    resp = submit(stranger, name="Do Not Contact", f_company="Evil Corp", f_role="Intruder")
    assert resp.status_code == 200
    assert "Check your inbox" in resp.get_data(as_text=True)
    assert "token=" not in resp.get_data(as_text=True)  # no download link: that would log to Ana's trail
    contact = _contact(session)
    assert (contact.name, contact.company, contact.role, contact.custom) == before
    assert _trail(session, owner.id) == trail
    assert session.get(Visitor, _visitor_of(stranger)) is None  # not joined: not even a visitor row
    assert submit(stranger, name="Do Not Contact", f_company="Evil Corp", f_role="Intruder").status_code == 200
    assert session.scalar(select(func.count()).select_from(PendingSubmission)) == 1  # posted twice: kept once

    assert deliver(app).sent == 1  # one confirmation, to the address's owner
    [link] = _confirm_links(tmp_path)
    assert _contact(session).name == "Ana Pérez"  # an email scanner opening the link confirms nothing
    done = _press(stranger, link)
    assert done.status_code == 303 and "/guides/count-stock/thanks?token=" in done.headers["Location"]
    contact = _contact(session)
    assert (contact.name, contact.company, contact.role) == ("Do Not Contact", "Evil Corp", "Intruder")
    visitor = session.get(Visitor, _visitor_of(stranger))
    assert visitor is not None and visitor.contact_id == owner.id
    submits = [e for e in session.scalars(select(Event).where(Event.type == "form_submit").order_by(Event.id))]
    assert [e.data.get("confirmed", False) for e in submits] == [False, True]
    assert submits[-1].visitor_id == visitor.id

    again = stranger.get(link)  # the link works once
    assert again.status_code == 409
    page = again.get_data(as_text=True)
    assert "already been used" in page and 'href="/guides/count-stock"' in page


def test_forged_and_expired_confirmation_links_get_a_page_offering_a_new_one(
        app_factory, content_dir: Path, session: Session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(content_dir, CONFIRM_LINK_MAX_AGE=-1)
    assert submit(app.test_client()).status_code == 303
    assert submit(app.test_client(), name="Someone else").status_code == 200
    deliver(app)
    [link] = _confirm_links(tmp_path)
    client = app.test_client()
    expired = client.get(link)
    assert expired.status_code == 410 and "has expired" in expired.get_data(as_text=True)
    assert 'href="/guides/count-stock"' in expired.get_data(as_text=True)
    path, token = link.split("token=")
    for forged in (token[:-3] + "abc", "x" * 40, "../../etc/passwd", ""):
        resp = client.get(f"{path}token={forged}")
        assert resp.status_code == 403 and "does not work" in resp.get_data(as_text=True), forged
        assert client.post(f"{path}token={forged}").status_code in (400, 403)  # CSRF first
    assert _contact(session).name == "Ana Pérez"


def test_twenty_posts_for_one_address_from_twenty_ips_send_at_most_the_limit(
        app: Flask, session: Session) -> None:
    limit = int(str(app.config["MAIL_PER_RECIPIENT_LIMIT"]).split()[0])
    for n in range(20):
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = f"198.51.100.{n + 1}"
        assert submit(browser, name=f"Person {n}").status_code in (200, 303)
    assert session.scalar(select(func.count()).select_from(GuideMail)) == limit == 3
    assert deliver(app).sent == limit
    resend = app.test_client()
    page = resend.get("/guides/count-stock/new-link")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True))
    assert token
    answer = resend.post("/guides/count-stock/new-link", data={"csrf_token": token.group(1),
                                                               "email": "ana@example.com"})
    assert answer.status_code == 200 and "Check your inbox" in answer.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(GuideMail)) == limit  # the resend form counts too


def test_answers_never_confirmed_are_purged_once_their_link_has_expired(
        app: Flask, session: Session, runner) -> None:  # type: ignore[no-untyped-def]
    import time_machine
    from datetime import timedelta

    from cabos.db import utcnow

    assert submit(app.test_client()).status_code == 303
    assert submit(app.test_client(), name="Someone else").status_code == 200
    assert "removed 0 " in runner.invoke(args=["contacts", "purge-pending"]).output  # the link still works
    with time_machine.travel(utcnow() + timedelta(seconds=app.config["CONFIRM_LINK_MAX_AGE"] + 60)):
        result = runner.invoke(args=["contacts", "purge-pending"])
    assert "removed 1 " in result.output, result.output
    assert session.scalar(select(func.count()).select_from(PendingSubmission)) == 0
    assert _contact(session).name == "Ana Pérez"
