"""Consent: the modes, the choice endpoint, withdrawal, and the banner the pages carry."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.tracking import consent
from cabos.tracking.consent import Level
from cabos.tracking.models import Event
from tests.conftest import MINIMAL_SITE
from tests.tracking.conftest import HEADERS, drops, readings, views, visitor_cookie

ARTICLE = """---
title: Counting stock
summary: How to count.
problems: [bad-stock]
stage: learn
---
## One
Text.
"""


@pytest.mark.parametrize("mode, choice, signal, expected", [
    ("required", None, False, Level.NONE),
    ("required", "no", False, Level.NONE),
    ("required", "yes", False, Level.PERSONAL),
    ("required", "yes", True, Level.AGGREGATE),
    ("notice", None, False, Level.PERSONAL),
    ("notice", "no", False, Level.AGGREGATE),
    ("notice", None, True, Level.AGGREGATE),
    ("off", None, False, Level.PERSONAL),
    ("off", None, True, Level.AGGREGATE),
    ("off", "no", False, Level.AGGREGATE),
])
def test_levels(mode: str, choice: str | None, signal: bool, expected: Level) -> None:
    assert consent.level(mode, choice, signal) is expected


@pytest.mark.parametrize("headers, signal", [
    ({"DNT": "1"}, True), ({"Sec-GPC": "1"}, True), ({"DNT": "0"}, False), ({"Sec-GPC": "0"}, False), ({}, False)])
def test_privacy_signals(headers: dict[str, str], signal: bool) -> None:
    assert consent.privacy_signal(headers) is signal


def post_choice(client: FlaskClient, choice: str, **headers: str) -> object:
    return client.post("/t/consent", json={"choice": choice}, headers={**HEADERS, **headers})


def test_declining_withdraws_with_one_call(client: FlaskClient, send, payload, articles, session: Session) -> None:
    send(payload(articles[0]))
    assert visitor_cookie(client)
    resp = post_choice(client, "decline")
    assert resp.status_code == 204
    cookies = resp.headers.getlist("Set-Cookie")
    assert any(c.startswith("cabos_consent=no;") and "HttpOnly" not in c for c in cookies)
    assert any(c.startswith("cabos_vid=;") and "Expires=Thu, 01 Jan 1970" in c for c in cookies)
    assert visitor_cookie(client) is None
    [event] = session.scalars(select(Event).where(Event.type == "consent")).all()
    assert event.data == {"choice": "decline"} and event.visitor_id == readings(session)[0].visitor_id
    send(payload(articles[1]))  # after withdrawal: counted, not tracked
    assert len(readings(session)) == 1 and visitor_cookie(client) is None
    assert views(session, articles[1].slug) == (1, 1)


def test_accepting_sets_the_consent_cookie(client: FlaskClient) -> None:
    resp = post_choice(client, "accept")
    assert resp.status_code == 204
    assert client.get_cookie("cabos_consent").value == "yes"


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}])
def test_other_sites_cannot_choose_for_the_visitor(client: FlaskClient, headers: dict[str, str]) -> None:
    resp = post_choice(client, "accept", **headers)
    assert resp.status_code == 403 and resp.json["status"] == 403
    assert client.get_cookie("cabos_consent") is None


def test_the_choice_must_be_json(client: FlaskClient) -> None:
    # A cross-site HTML form can send this content type without a preflight: refused.
    resp = client.post("/t/consent", data={"choice": "accept"}, headers=HEADERS)
    assert resp.status_code == 400 and "JSON" in resp.json["detail"]
    for body in [{"choice": "maybe"}, {"choice": "accept", "x": 1}, {}]:
        assert client.post("/t/consent", json=body, headers=HEADERS).status_code == 400
    assert client.get_cookie("cabos_consent") is None


def test_pages_carry_the_banner_the_tracker_and_the_token_identically_for_everyone(client: FlaskClient, articles) -> None:
    url = f"/articulos/{articles[0].slug}"
    first = client.get(url, headers={"Cookie": "cabos_consent=yes; cabos_vid=abc"}).get_data(as_text=True)
    second = client.get(url).get_data(as_text=True)
    assert first == second
    assert 'id="consent"' in first and "hidden" in first.split('id="consent"')[1].split(">")[0]
    assert 'data-mode="notice"' in first and 'src="/static/js/tracker.js' in first
    assert f'data-view="article:{articles[0].slug}.' in first
    assert "Aceptar" in first and "Rechazar" in first  # the demo site is in Spanish
    assert "Set-Cookie" not in client.get(url).headers  # pages never set the visitor cookie


class TestRequiredMode:
    @pytest.fixture
    def content_dir(self, make_content) -> Path:
        site = MINIMAL_SITE.format(language="en") + "consent: required\n"
        return make_content({"site.yml": site, "articles/counting-stock.md": ARTICLE})

    def test_nothing_before_acceptance_then_tracked(self, client: FlaskClient, send, payload, articles,
                                                    session: Session) -> None:
        resp = send(payload(articles[0]))
        assert resp.status_code == 204 and "Set-Cookie" not in resp.headers
        assert readings(session) == [] and views(session, articles[0].slug) == (0, 0)
        assert drops(session) == {"consent": 1}
        post_choice(client, "decline")
        send(payload(articles[0]))
        assert readings(session) == [] and drops(session) == {"consent": 2}
        post_choice(client, "accept")
        resp = send(payload(articles[0]))
        assert "cabos_vid=" in resp.headers["Set-Cookie"]
        assert len(readings(session)) == 1

    def test_gpc_wins_over_acceptance(self, client: FlaskClient, send, payload, articles, session: Session) -> None:
        post_choice(client, "accept")
        resp = send(payload(articles[0]), headers={"Sec-GPC": "1"})
        assert "Set-Cookie" not in resp.headers
        assert readings(session) == [] and views(session, articles[0].slug) == (1, 1)

    def test_the_page_says_consent_is_required(self, client: FlaskClient) -> None:
        html = client.get("/articles/counting-stock").get_data(as_text=True)
        assert 'data-mode="required"' in html and "Accept" in html and "Decline" in html


class TestOffMode:
    @pytest.fixture
    def content_dir(self, make_content) -> Path:
        site = MINIMAL_SITE.format(language="en") + "consent: \"off\"\n"
        return make_content({"site.yml": site, "articles/counting-stock.md": ARTICLE})

    def test_no_banner_and_tracked_from_the_first_beacon(self, client: FlaskClient, send, payload, articles,
                                                         session: Session) -> None:
        html = client.get("/articles/counting-stock").get_data(as_text=True)
        assert 'id="consent"' not in html and 'data-mode="off"' in html
        send(payload(articles[0]))
        assert len(readings(session)) == 1
