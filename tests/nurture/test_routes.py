"""The links in every email: click redirects (no open redirect) and RFC 8058 one-click unsubscribe."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import func, select

from cabos.contacts.models import Suppression
from cabos.contacts.privacy import email_hash
from cabos.nurture.links import click_token, unsubscribe_token
from cabos.nurture.models import Enrolment
from cabos.tracking.models import Event
from tests.conftest import SECRET
from tests.nurture.conftest import add_contact, guide_event, later, rows, tick

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


@pytest.fixture
def app_config(smtp_server) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return smtp_server.settings


@pytest.fixture
def sent(app: Flask, session, smtp_server):  # type: ignore[no-untyped-def]
    """Ana got the welcome email: (contact, outbox row, message)."""
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app)
    (row,) = rows(session)
    return contact, row, smtp_server.messages[0].message


def clicks(session) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(Event).where(Event.type == "email_click"))


def path(url: str) -> str:
    return urlsplit(url).path


def test_an_external_link_written_in_the_email_redirects_there(client, session, sent) -> None:  # type: ignore[no-untyped-def]
    _contact, row, _message = sent
    token = click_token(SECRET, row.id, "https://partner.example/tool?ref=cabos&x=1")
    response = client.get(f"/e/c/{token}", headers={"User-Agent": BROWSER})
    assert response.status_code == 302
    assert response.headers["Location"] == "https://partner.example/tool?ref=cabos&x=1"  # untouched: not ours
    assert response.headers["Referrer-Policy"] == "same-origin" and "no-store" in response.headers["Cache-Control"]
    assert clicks(session) == 1


@pytest.mark.parametrize("target", [
    "https://evil.example/", "https://partner.example/other", "http://localhost.evil.example/",
    "javascript:alert(1)", "https://localhost@evil.example/",
])
def test_a_signed_link_to_anywhere_else_goes_to_our_home_page(client, session, sent, target: str) -> None:  # type: ignore[no-untyped-def]
    _contact, row, _message = sent
    response = client.get(f"/e/c/{click_token(SECRET, row.id, target)}", headers={"User-Agent": BROWSER})
    assert response.status_code == 302 and response.headers["Location"] == "http://localhost/"
    assert clicks(session) == 0


@pytest.mark.parametrize("token", ["x", "eyJhIjoxfQ.broken.sig", "a" * 5000])
def test_a_tampered_click_token_is_a_404(client, sent, token: str) -> None:  # type: ignore[no-untyped-def]
    assert client.get(f"/e/c/{token}").status_code == 404


def test_a_tampered_click_signature_is_a_404(client, sent) -> None:  # type: ignore[no-untyped-def]
    _contact, row, _message = sent
    token = click_token(SECRET, row.id, "http://localhost/articles/stock-basics")
    forged = click_token("not-our-secret", row.id, "http://localhost/articles/stock-basics")
    assert client.get(f"/e/c/{token[:-3]}AAA").status_code == 404
    assert client.get(f"/e/c/{forged}").status_code == 404


def test_bots_and_head_requests_are_redirected_without_being_recorded(client, session, sent) -> None:  # type: ignore[no-untyped-def]
    _contact, row, _message = sent
    token = click_token(SECRET, row.id, "http://localhost/articles/stock-basics")
    assert client.get(f"/e/c/{token}", headers={"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}) \
        .status_code == 302
    assert client.head(f"/e/c/{token}", headers={"User-Agent": BROWSER}).status_code == 302
    assert clicks(session) == 0


def test_an_expired_click_link_still_redirects_but_records_nothing(app: Flask, client, session, sent) -> None:  # type: ignore[no-untyped-def]
    _contact, row, _message = sent
    app.config["NURTURE_CLICK_MAX_AGE"] = -1
    token = click_token(SECRET, row.id, "http://localhost/articles/stock-basics")
    response = client.get(f"/e/c/{token}", headers={"User-Agent": BROWSER})
    assert response.status_code == 302 and path(response.headers["Location"]) == "/articles/stock-basics"
    assert clicks(session) == 0


def test_get_only_shows_a_confirmation_and_changes_nothing(client, session, sent) -> None:  # type: ignore[no-untyped-def]
    contact, _row, message = sent
    url = message["List-Unsubscribe"].strip("<>")
    response = client.get(path(url))
    assert response.status_code == 200
    assert b'method="post"' in response.data and "Set-Cookie" not in response.headers
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert session.get(Suppression, email_hash(contact.email)) is None


def test_a_head_request_from_a_link_scanner_unsubscribes_nobody(app: Flask, session, sent) -> None:  # type: ignore[no-untyped-def]
    contact, _row, message = sent
    url = message["List-Unsubscribe"].strip("<>")
    client = app.test_client(use_cookies=False)
    assert client.head(path(url)).status_code == 200
    assert session.get(Suppression, email_hash(contact.email)) is None
    assert session.scalar(select(func.count()).select_from(Event).where(Event.type == "consent")) == 0


def test_a_cookieless_one_click_post_unsubscribes_and_nothing_more_is_sent(app: Flask, session, sent,  # type: ignore[no-untyped-def]
                                                                           smtp_server) -> None:
    contact, row, message = sent
    url = message["List-Unsubscribe"].strip("<>")
    # What a mail provider's server does: a bare POST, no cookie, no form token.
    client = app.test_client(use_cookies=False)
    response = client.post(path(url), data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert session.get(Suppression, email_hash(contact.email)) is not None
    session.expire_all()
    enrolment = session.scalar(select(Enrolment))
    assert enrolment is not None and (enrolment.status, enrolment.exit_reason) == ("exited", "unsubscribe")
    event = session.scalar(select(Event).where(Event.type == "consent"))
    assert event is not None and event.data["via"] == "one-click" and event.data["outbox"] == row.id
    # Again (providers retry): still fine, still one event.
    assert client.post(path(url), data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded").status_code == 200
    assert session.scalar(select(func.count()).select_from(Event).where(Event.type == "consent")) == 1
    for days in (3, 10, 30):
        assert tick(app, now=later(days=days)).sends.sent == 0
    assert len(smtp_server.messages) == 1


def test_the_one_click_post_is_exempt_from_csrf_while_other_forms_are_not(app: Flask, sent) -> None:  # type: ignore[no-untyped-def]
    assert app.config.get("WTF_CSRF_ENABLED", True)
    client = app.test_client(use_cookies=False)
    _contact, _row, message = sent
    assert client.post(path(message["List-Unsubscribe"].strip("<>"))).status_code == 200
    guide_form = client.post("/guides/stock-guide", data={"name": "X", "email": "x@example.com"})
    assert guide_form.status_code == 400


def test_a_tampered_unsubscribe_token_is_a_4xx_and_unsubscribes_nobody(app: Flask, session, sent) -> None:  # type: ignore[no-untyped-def]
    contact, row, message = sent
    client = app.test_client(use_cookies=False)
    token = path(message["List-Unsubscribe"].strip("<>")).rsplit("/", 1)[1]
    for bad in (token[:-4] + "AAAA", unsubscribe_token("not-our-secret", row.id, contact.id, contact.email), "x"):
        response = client.post(f"/e/u/{bad}", data="List-Unsubscribe=One-Click",
                               content_type="application/x-www-form-urlencoded")
        assert 400 <= response.status_code < 500
    assert session.get(Suppression, email_hash(contact.email)) is None


def test_a_token_for_another_address_unsubscribes_nobody(app: Flask, session, sent) -> None:  # type: ignore[no-untyped-def]
    contact, row, _message = sent
    token = unsubscribe_token(SECRET, row.id, contact.id, "someone-else@example.com")
    response = app.test_client().post(f"/e/u/{token}")
    assert response.status_code == 200
    assert session.get(Suppression, email_hash(contact.email)) is None
