"""Signed download links: thank-you page, the PDF, tampering, expiry, traversal, fresh links, real SMTP."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.site.download_links import make_token
from cabos.tracking.models import Event
from tests.guides.conftest import csrf_token, deliver, submit, token_from

SECRET = "test-secret-not-for-production"


def _download(client: FlaskClient, token: str, slug: str = "count-stock", **headers: str):  # type: ignore[no-untyped-def]
    # buffered: the file is read whole and closed, as a real server does
    return client.get(f"/guides/{slug}/download", query_string={"token": token}, headers=headers, buffered=True)


def _downloads(session: Session) -> list[Event]:
    session.expire_all()
    return list(session.scalars(select(Event).where(Event.type == "download")))


def _links_in(eml: bytes) -> list[str]:
    message = message_from_bytes(eml, policy=policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return re.findall(r"https?://\S+/download\?token=\S+", text)


@pytest.fixture
def token(client: FlaskClient) -> str:
    resp = submit(client)
    assert resp.status_code == 303
    return token_from(resp.headers["Location"])


def test_thank_you_page_shows_the_text_and_the_download_button(client: FlaskClient, token: str) -> None:
    page = client.get("/guides/count-stock/thanks", query_string={"token": token})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Thanks! Start with chapter one." in body
    assert f'href="/guides/count-stock/download?token={token}"' in body
    assert "We are also sending you the link by email" in body


def test_the_download_is_the_pdf_and_an_event_on_the_trail(client: FlaskClient, session: Session, token: str) -> None:
    resp = _download(client, token)
    assert resp.status_code == 200
    assert resp.mimetype == "application/pdf"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert "count-stock.pdf" in resp.headers["Content-Disposition"]
    assert resp.data.startswith(b"%PDF-")
    [event] = _downloads(session)
    contact = session.scalars(select(Contact)).one()
    assert (event.contact_id, event.content_kind, event.content_slug) == (contact.id, "guide", "count-stock")
    # A viewer fetching the rest of the file in pieces is the same download.
    part = _download(client, token, Range="bytes=100-199")
    assert part.status_code == 206 and len(part.data) == 100
    assert len(_downloads(session)) == 1
    assert _download(client, token).status_code == 200
    assert len(_downloads(session)) == 2


def _tampered(token: str) -> list[str]:
    payload, stamp, signature = token.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    other = make_token("another-secret", 1, "ana@example.com", "count-stock")
    return [flipped, token[:-4], payload + "." + stamp, "x" + token, other, "", "garbage",
            "eyJjIjoxfQ.AAAA.BBBB", token.replace(payload, payload[::-1])]


def test_tampered_links_get_a_friendly_page_never_a_file(client: FlaskClient, session: Session, token: str) -> None:
    for bad in _tampered(token):
        for endpoint in ("download", "thanks"):
            resp = client.get(f"/guides/count-stock/{endpoint}", query_string={"token": bad})
            assert resp.status_code == 403, (endpoint, bad)
            assert resp.mimetype == "text/html"
            body = resp.get_data(as_text=True)
            assert "This download link does not work" in body
            assert 'action="/guides/count-stock/new-link"' in body
    assert _downloads(session) == []


def test_links_expire_after_the_configured_time(client: FlaskClient, session: Session) -> None:
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        token = token_from(submit(client).headers["Location"])
    with time_machine.travel(start + timedelta(days=7) - timedelta(seconds=1), tick=False):
        assert _download(client, token).status_code == 200
    with time_machine.travel(start + timedelta(days=7, seconds=1), tick=False):
        resp = _download(client, token)
        assert resp.status_code == 410
        assert "This download link has expired" in resp.get_data(as_text=True)
        assert not resp.data.startswith(b"%PDF")
    assert len(_downloads(session)) == 1


def test_the_lifetime_is_a_setting(app_factory, content_dir: Path) -> None:  # type: ignore[no-untyped-def]
    client = app_factory(content_dir, DOWNLOAD_LINK_MAX_AGE=60).test_client()
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        token = token_from(submit(client).headers["Location"])
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert _download(client, token).status_code == 410


def test_a_token_for_guide_a_is_refused_for_guide_b(client: FlaskClient, token: str) -> None:
    for endpoint in ("download", "thanks"):
        resp = client.get(f"/guides/ship-on-time/{endpoint}", query_string={"token": token})
        assert resp.status_code == 403
        assert not resp.data.startswith(b"%PDF")


def test_a_link_never_puts_a_download_on_someone_elses_trail(client: FlaskClient, session: Session,
                                                               token: str) -> None:
    contact = session.scalars(select(Contact)).one()
    contact.email = "changed@example.com"
    session.commit()
    # The link stays good for its lifetime (it is signed, not stored), but its address hash no
    # longer matches: no event. Erased, and the id given to a newcomer: still no event.
    assert _download(client, token).status_code == 200
    session.delete(contact)
    session.commit()
    session.add(Contact(id=contact.id, email="newcomer@example.com", first_touch={}, latest_touch={}, custom={}))
    session.commit()
    assert _download(client, token).status_code == 200
    assert _downloads(session) == []


def test_downloads_are_written_in_batches_outside_tests(app_factory, content_dir: Path, session: Session) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(content_dir, DOWNLOAD_EVENTS_FLUSH_MS=3_600_000)
    client = app.test_client()
    token = token_from(submit(client).headers["Location"])
    assert _download(client, token).status_code == 200
    assert _download(client, token).status_code == 200
    assert _downloads(session) == []  # still in memory: serving the file wrote nothing
    downloads = app.extensions["cabos.download_log"]
    assert downloads.flush() == 2
    assert len(_downloads(session)) == 2
    assert _download(client, token).status_code == 200
    downloads.close()  # what a worker does when it stops
    assert len(_downloads(session)) == 3


def test_the_flusher_thread_writes_without_being_asked(app_factory, content_dir: Path, session: Session) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(content_dir, DOWNLOAD_EVENTS_FLUSH_MS=20)
    client = app.test_client()
    token = token_from(submit(client).headers["Location"])
    assert _download(client, token).status_code == 200
    for _ in range(500):  # wait for the thread (bounded), no timing asserted
        if _downloads(session):
            break
        time.sleep(0.01)
    assert len(_downloads(session)) == 1
    app.extensions["cabos.download_log"].close()


TRAVERSALS = [
    "/guides/../site.yml/download?token={t}",
    "/guides/..%2f..%2fsite.yml/download?token={t}",
    "/guides/%2e%2e%2fsite.yml/download?token={t}",
    "/guides/%2e%2e/download?token={t}",
    "/guides/..%5csite.yml/download?token={t}",
    "/guides/%252e%252e%252fsite.yml/download?token={t}",
    "/guides/count-stock/download/../../../etc/passwd?token={t}",
    "/guides/count-stock/download/..%2f..%2fetc%2fpasswd?token={t}",
    "/guides/count-stock%2f..%2f..%2fsite.yml/download?token={t}",
    "/guides/count-stock/download?token=../../etc/passwd",
    "/guides/count-stock/download?token=..%2f..%2fsite.yml",
    "/guides/count-stock/download?token=%2e%2e%2f%2e%2e%2fsite.yml",
    "/guides/count-stock/download?token={t}/../../site.yml",
    "/guides/count-stock/download?token={t}%2f..%2f..",
    "/guides/count-stock/download?token=..%5c..%5csite.yml",
    "/guides/count-stock/download?token=%00",
    "/guides/count-stock/thanks?token=../../etc/passwd",
]


@pytest.mark.parametrize("url", TRAVERSALS)
def test_path_traversal_in_any_part_of_the_url_is_404(client: FlaskClient, token: str, url: str) -> None:
    resp = client.get(url.format(t=token))
    assert resp.status_code == 404
    assert not resp.data.startswith(b"%PDF")


def test_a_fresh_link_goes_only_to_known_addresses_with_the_same_answer(
        client: FlaskClient, token: str, tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    assert deliver(client.application).sent == 1  # the form's email
    before = set(mail.glob("*.eml"))
    form = client.get("/guides/count-stock/new-link")
    assert form.status_code == 200
    csrf = csrf_token(client, "/guides/count-stock/new-link")
    known = client.post("/guides/count-stock/new-link", data={"csrf_token": csrf, "email": " ANA@example.com"})
    unknown = client.post("/guides/count-stock/new-link", data={"csrf_token": csrf, "email": "who@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True) == unknown.get_data(as_text=True)
    assert set(mail.glob("*.eml")) == before  # queued, not sent by the request
    assert deliver(client.application).sent == 1  # the fresh link's, to the known address only
    [new] = set(mail.glob("*.eml")) - before
    [link] = _links_in(new.read_bytes())
    path = urlsplit(link)
    assert client.get(f"{path.path}?{path.query}", buffered=True).status_code == 200
    invalid = client.post("/guides/count-stock/new-link", data={"csrf_token": csrf, "email": "nope"})
    assert invalid.status_code == 422
    assert "This does not look like an email address" in invalid.get_data(as_text=True)
    assert client.post("/guides/count-stock/new-link", data={"email": "ana@example.com"}).status_code == 400
