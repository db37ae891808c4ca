"""A guide's landing page is tracked like an article: its readings join the trail and count as interest."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.contacts.capture import record_event
from cabos.contacts.models import Contact
from cabos.content import Document, current_library
from cabos.db import utcnow
from cabos.intent import current_state
from cabos.intent.rules import current_rules
from cabos.intent.scoring import engagement_share
from cabos.tracking import tokens
from cabos.tracking.trail import trail
from tests.conftest import staff_login
from tests.guides.conftest import csrf_token
from tests.tracking.conftest import HEADERS, nonce, readings, views

GUIDE = "guia-inventario-que-cuadra"  # demo content: learn stage, problem inventario-descuadrado


@pytest.fixture
def guide(app: Flask) -> Document:
    with app.app_context():
        return current_library().guides[GUIDE]


def page_token(client: FlaskClient, path: str) -> str:
    """The page token the tracker would send: the data-view attribute of the page."""
    found = re.search(r'data-view="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found, f"{path} carries no data-view"
    return html.unescape(found.group(1))


def beacon(token: str, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {"token": token, "nonce": nonce(), "seq": 0, "engaged_ms": 1000, "scroll_pct": 10,
                               "read_to_end": False, "age_ms": 1500, "ctas": [], "query": "", "referrer": "",
                               "dnt": False, "webdriver": False}
    body.update(fields)
    return body


def fill_in_the_form(client: FlaskClient, guide: Document):  # type: ignore[no-untyped-def]
    return client.post(f"/guias/{guide.slug}", headers=HEADERS, data={
        "name": "Ana Pérez", "email": "ana@example.com", "f_company_size": "50-249",
        "csrf_token": csrf_token(client, f"/guias/{guide.slug}")})


def test_the_landing_page_carries_the_guides_page_token(app: Flask, client: FlaskClient, guide: Document) -> None:
    token = page_token(client, f"/guias/{guide.slug}")
    with app.app_context():
        assert tokens.verify_page_token(token) == ("guide", guide.slug)
        assert token == tokens.view_token(guide)
    # The form page answered with errors (422) is still the guide's page: still tracked.
    resp = client.post(f"/guias/{guide.slug}", headers=HEADERS, data={
        "name": "Ana", "email": "not-an-address", "csrf_token": csrf_token(client, f"/guias/{guide.slug}")})
    assert resp.status_code == 422
    assert f'data-view="{token}"' in resp.get_data(as_text=True)


def test_a_beacon_from_the_landing_page_is_a_reading_of_kind_guide(client: FlaskClient, send, guide: Document,
                                                                   session: Session) -> None:
    token = page_token(client, f"/guias/{guide.slug}")
    body = beacon(token, engaged_ms=20_000, scroll_pct=60, query="?utm_source=news&utm_campaign=otono")
    assert send(body).status_code == 204
    assert send({**body, "seq": 1, "engaged_ms": 45_000, "scroll_pct": 100, "read_to_end": True}).status_code == 204
    [reading] = readings(session)
    assert (reading.content_kind, reading.content_slug, reading.stage) == ("guide", guide.slug, guide.stage)
    assert reading.problems == list(guide.problems)
    assert (reading.engaged_ms, reading.scroll_pct, reading.read_to_end) == (45_000, 100, True)
    # The campaign's landing page is the guide's page on the site.
    assert reading.data["touch"]["landing"] == f"/guias/{guide.slug}"
    assert reading.data["touch"]["campaign"] == "otono"
    assert views(session, guide.slug) == (1, 0)  # one view, tracked


def test_landing_readings_before_the_form_join_the_trail_and_count_as_interest(
        app: Flask, client: FlaskClient, send, guide: Document, session: Session, make_staff) -> None:
    token = page_token(client, f"/guias/{guide.slug}")
    send(beacon(token, engaged_ms=300_000, scroll_pct=100, read_to_end=True, age_ms=320_000))  # anonymous, a full read
    resp = fill_in_the_form(client, guide)
    assert resp.status_code == 303, re.findall(r"field-error\">([^<]*)", resp.get_data(as_text=True))

    session.expire_all()
    contact = session.scalar(select(Contact).where(Contact.email == "ana@example.com"))
    events = trail(session, contact.id)
    [reading] = [e for e in events if e.type == "reading"]
    assert (reading.content_kind, reading.content_slug) == ("guide", guide.slug)
    assert [e for e in events if e.type == "merge"][0].data["attached"] == 1

    # Interest: like an article reading of the guide's stage (weight × share), on the guide's problems.
    with app.app_context():
        rules = current_rules()
        state = current_state(session, contact.id, utcnow(), rules)
    assert state is not None
    expected = rules.weight(guide.stage) * engagement_share(300_000, rules)
    [problem] = guide.problems
    assert state.assessment.problems[problem] == pytest.approx(expected, rel=0.01)
    [item] = state.assessment.items
    assert (item.kind, item.slug, item.visits) == ("guide", guide.slug, 1)

    # The staff trail names the guide and says it was its page, not the PDF.
    staff = staff_login(app.test_client(), make_staff("marketer"))
    page = staff.get(f"/staff/contacts/{contact.id}").get_data(as_text=True)
    trail_html = page[page.index('id="trail"'):]
    item_html = trail_html[trail_html.index('class="ev-reading"'):]
    item_html = item_html[:item_html.index("</li>")]
    assert f"«{guide.title}»" in html.unescape(item_html)
    assert "la página de la guía (no el PDF)" in html.unescape(item_html)  # the demo site is Spanish


def test_a_landing_reading_after_the_download_counts_once_with_the_guide(
        client: FlaskClient, send, guide: Document, session: Session, app: Flask) -> None:
    # The landing reading and the download are one item: the guide, counted by its best contribution.
    resp = fill_in_the_form(client, guide)
    assert resp.status_code == 303
    session.expire_all()
    contact = session.scalar(select(Contact).where(Contact.email == "ana@example.com"))
    with app.app_context():
        record_event(session, "download", contact, guide, {"via": "link"}, None, utcnow() - timedelta(seconds=5))
        session.commit()
    send(beacon(page_token(client, f"/guias/{guide.slug}"), engaged_ms=30_000))  # identified now: rescored
    with app.app_context():
        rules = current_rules()
        state = current_state(session, contact.id, utcnow(), rules)
    assert state is not None
    [item] = state.assessment.items
    assert (item.kind, item.slug, item.visits) == ("guide", guide.slug, 2)
    assert item.share == pytest.approx(rules.download_share)  # the download, the best of the two
