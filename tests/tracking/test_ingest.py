"""The beacon endpoint and its pipeline: parse, validate, drop (each reason), enrich, store."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from cabos.content import Document
from cabos.tracking import ingest, tokens
from cabos.tracking.models import Visitor
from tests.tracking.conftest import BROWSER_UA, drops, nonce, readings, views, visitor_cookie, visitors


# -- parse and validate --------------------------------------------------------------------

GOOD = {"token": "t", "nonce": "0" * 32, "seq": 0, "engaged_ms": 0, "scroll_pct": 0, "read_to_end": False}


@pytest.mark.parametrize("body, reason", [
    (b"x" * 4097, "too_large"),
    (b"{", "not_json"),
    (b"\xff\xfe", "not_json"),
    (b'{"a": NaN}', "not_json"),
    (b"[" * 2000 + b"]" * 2000, None),  # deep nesting: refused, whichever way, never a crash
    (b"[]", "not_an_object"),
    (b'"text"', "not_an_object"),
])
def test_parse_rejects_what_is_not_a_small_json_object(body: bytes, reason: str) -> None:
    with pytest.raises(ingest.Invalid) as exc:
        ingest.parse(body)
    assert exc.value.reason == reason or reason is None


@pytest.mark.parametrize("change, field", [
    ({"seq": -1}, "seq"),
    ({"seq": True}, "seq"),
    ({"engaged_ms": 86_400_001}, "engaged_ms"),
    ({"engaged_ms": 1.5}, "engaged_ms"),
    ({"engaged_ms": "10"}, "engaged_ms"),
    ({"scroll_pct": 101}, "scroll_pct"),
    ({"scroll_pct": None}, "scroll_pct"),
    ({"read_to_end": 1}, "read_to_end"),
    ({"nonce": "A" * 32}, "nonce"),
    ({"nonce": "0" * 31}, "nonce"),
    ({"token": ""}, "token"),
    ({"token": "x" * 301}, "token"),
    ({"ctas": ["ok", "not ok"]}, "ctas"),
    ({"ctas": ["a"] * 21}, "ctas"),
    ({"ctas": "guide"}, "ctas"),
    ({"query": "q" * 1001}, "query"),
    ({"referrer": 5}, "referrer"),
    ({"dnt": "1"}, "dnt"),
    ({"age_ms": -5}, "age_ms"),
    ({"extra": 1}, "unknown field"),
])
def test_validate_names_the_field_out_of_bounds(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ingest.Invalid) as exc:
        ingest.validate({**GOOD, **change})
    assert exc.value.reason.startswith(field)


def test_validate_requires_every_core_field() -> None:
    for key in GOOD:
        with pytest.raises(ingest.Invalid):
            ingest.validate({k: v for k, v in GOOD.items() if k != key})
    beacon = ingest.validate({**GOOD, "ctas": ["guide", "guide", "demo"]})
    assert beacon.ctas == ("guide", "demo") and beacon.engaged_ms == 0 and beacon.age_ms == 0


@pytest.mark.parametrize("address, network", [
    ("203.0.113.77", "203.0.113.0"), ("2001:db8:abcd:12::1", "2001:db8:abcd::"), ("nonsense", ""), (None, ""),
])
def test_addresses_are_truncated(address: str | None, network: str) -> None:
    assert ingest.truncate_ip(address) == network


# -- the endpoint --------------------------------------------------------------------------

def test_one_page_view_is_one_reading_whose_depth_only_grows(send, payload, articles, session: Session) -> None:
    doc = articles[0]
    first = payload(doc, engaged_ms=4000, scroll_pct=30, seq=0)
    assert send(first).status_code == 204
    later = {**first, "seq": 1, "engaged_ms": 9000, "scroll_pct": 80, "read_to_end": True, "ctas": ["guide"]}
    assert send(later).status_code == 204
    stale = {**first, "seq": 2, "engaged_ms": 2000, "scroll_pct": 10, "read_to_end": False}
    assert send(stale).status_code == 204  # out of order: must not shrink anything
    [reading] = readings(session)
    assert (reading.engaged_ms, reading.scroll_pct, reading.read_to_end) == (9000, 80, True)
    assert reading.data["ctas"] == ["guide"]
    assert (reading.content_kind, reading.content_slug, reading.stage) == ("article", doc.slug, doc.stage)
    assert reading.problems == list(doc.problems)
    assert views(session, doc.slug) == (1, 0)


def test_first_beacon_sets_a_signed_httponly_visitor_cookie(client: FlaskClient, send, payload, articles,
                                                            session: Session) -> None:
    resp = send(payload(articles[0]))
    header = resp.headers["Set-Cookie"]
    assert "cabos_vid=" in header and "HttpOnly" in header and "SameSite=Lax" in header
    assert "Secure" not in header  # served over plain HTTP here
    assert resp.headers["Cache-Control"] == "no-store"
    send(payload(articles[1]))
    [visitor] = visitors(session)
    assert len(visitor.id) == 32 and int(visitor.id, 16) >= 0
    assert {r.visitor_id for r in readings(session)} == {visitor.id}
    assert visitor_cookie(client).startswith(visitor.id + ".")


def test_a_tampered_cookie_starts_a_fresh_visitor(client: FlaskClient, send, payload, articles,
                                                  session: Session) -> None:
    send(payload(articles[0]))
    real = visitor_cookie(client)
    vid = real.split(".")[0]
    forged = ("f" * 32) + real[32:]  # someone else's id with our signature
    client.set_cookie("cabos_vid", forged)
    resp = send(payload(articles[1]))
    assert "cabos_vid=" in resp.headers["Set-Cookie"]
    ids = {v.id for v in visitors(session)}
    assert len(ids) == 2 and vid in ids and "f" * 32 not in ids


def test_readings_with_no_engagement_are_stored_and_count_a_view(send, payload, articles, session: Session) -> None:
    send(payload(articles[0], engaged_ms=0, scroll_pct=0))
    [reading] = readings(session)
    assert reading.engaged_ms == 0
    assert views(session, articles[0].slug) == (1, 0)


def test_occurred_at_is_when_the_page_view_began(send, payload, articles, session: Session) -> None:
    send(payload(articles[0], age_ms=60_000))
    [reading] = readings(session)
    from cabos.db import utcnow
    age = (utcnow() - reading.occurred_at).total_seconds()
    assert 59 <= age <= 120


@pytest.mark.parametrize("headers", [{"DNT": "1"}, {"Sec-GPC": "1"}])
def test_dnt_and_gpc_keep_only_the_aggregate_count(client: FlaskClient, send, payload, articles,
                                                   session: Session, headers: dict[str, str]) -> None:
    client.set_cookie("cabos_vid", "x")  # even with a cookie from before
    resp = send(payload(articles[0]), headers=headers)
    assert resp.status_code == 204
    assert "cabos_vid=;" in resp.headers.get("Set-Cookie", "")  # deleted
    assert readings(session) == [] and visitors(session) == []
    assert views(session, articles[0].slug) == (1, 1)


def test_dnt_reported_by_the_page_counts_too(send, payload, articles, session: Session) -> None:
    resp = send(payload(articles[0], dnt=True))
    assert "Set-Cookie" not in resp.headers
    assert readings(session) == [] and views(session, articles[0].slug) == (1, 1)


def test_visitors_who_declined_are_not_tracked_as_individuals(client, send, payload, articles,
                                                              session: Session) -> None:
    client.set_cookie("cabos_consent", "no")
    resp = send(payload(articles[0]))
    assert "Set-Cookie" not in resp.headers
    assert readings(session) == [] and views(session, articles[0].slug) == (1, 1)


def test_only_the_first_send_of_a_view_counts_it(send, payload, articles, session: Session) -> None:
    body = payload(articles[0], dnt=True)
    for seq in range(3):
        send({**body, "seq": seq})
    assert views(session, articles[0].slug) == (1, 1)


# -- drops: 204, nothing stored but the count of the reason --------------------------------

@pytest.mark.parametrize("user_agent", [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0 Safari/537.36",
    "python-requests/2.32.3",
    "curl/8.5.0",
    "",
])
def test_bots_are_dropped(send, payload, articles, session: Session, user_agent: str) -> None:
    resp = send(payload(articles[0]), headers={"User-Agent": user_agent})
    assert resp.status_code == 204 and resp.data == b"" and "Set-Cookie" not in resp.headers
    assert readings(session) == [] and visitors(session) == []
    assert drops(session) == {"bot": 1}
    assert views(session, articles[0].slug) == (0, 0)


def test_automated_browsers_are_dropped(send, payload, articles, session: Session) -> None:
    send(payload(articles[0], webdriver=True))
    assert readings(session) == [] and drops(session) == {"bot": 1}


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": None, "Referer": "https://evil.example/page"},
    {"Sec-Fetch-Site": "cross-site"},
])
def test_beacons_from_other_sites_are_dropped(send, payload, articles, session: Session,
                                             headers: dict[str, str | None]) -> None:
    assert send(payload(articles[0]), headers=headers).status_code == 204
    assert readings(session) == [] and drops(session) == {"foreign_host": 1}


def test_beacons_without_origin_or_referer_are_kept(send, payload, articles, session: Session) -> None:
    send(payload(articles[0]), headers={"Origin": None, "Sec-Fetch-Site": None})
    assert len(readings(session)) == 1


def test_tokens_we_did_not_issue_are_dropped(app: Flask, send, payload, articles, session: Session) -> None:
    doc = articles[0]
    good = payload(doc)["token"]
    with app.app_context():
        other_kind = tokens.page_token("page", doc.slug)  # signed, but no page has that slug
    forged = good.replace(doc.slug, articles[1].slug)
    for token in [forged, good[:-2] + "xx", other_kind, "article:" + doc.slug]:
        send(payload(doc, token=token))
    assert readings(session) == []
    assert drops(session) == {"unknown_view": 4}


def test_expired_tokens_are_dropped(app: Flask, send, payload, articles, session: Session,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    body = payload(articles[0])
    max_age = app.config["TRACKING_VIEW_TOKEN_MAX_AGE"]
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + max_age + 60)
    send(body)
    assert readings(session) == [] and drops(session) == {"unknown_view": 1}


def test_tokens_are_the_same_for_everyone_within_a_period(app: Flask, articles: list[Document],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with app.app_context():
        first = tokens.view_token(articles[0])
        epoch = tokens.token_epoch()
        monkeypatch.setattr(time, "time", lambda: epoch + 5)
        assert tokens.view_token(articles[0]) == first
        half = app.config["TRACKING_VIEW_TOKEN_MAX_AGE"] // 2
        monkeypatch.setattr(time, "time", lambda: epoch + half + 1)
        later = tokens.view_token(articles[0])
        assert later != first
        assert tokens.verify_page_token(first) == ("article", articles[0].slug)  # still accepted


class TestRateLimit:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"TRACKING_RATE_LIMIT": "3 per minute"}

    def test_beacons_over_the_limit_are_dropped_not_refused(self, send, payload, articles,
                                                            session: Session) -> None:
        send(payload(articles[0]))  # counted against the address; the visitor has its own budget
        codes = [send(payload(articles[i % 3])).status_code for i in range(5)]
        assert codes == [204] * 5
        assert len(readings(session)) == 4
        assert drops(session) == {"rate_limit": 2}


def test_bad_payloads_get_400_with_a_reason_and_store_nothing(send, payload, articles, session: Session) -> None:
    for body in [b"not json", json.dumps({**payload(articles[0]), "scroll_pct": 150}), b"x" * 5000]:
        resp = send(body)
        assert resp.status_code == 400
        assert resp.json["detail"].startswith("invalid payload: ")
        assert "Set-Cookie" not in resp.headers
    assert readings(session) == [] and visitors(session) == [] and drops(session) == {}


def test_get_is_not_allowed_and_never_a_server_error(client: FlaskClient) -> None:
    assert client.get("/t/e").status_code == 405


def test_campaign_and_referrer_make_first_and_latest_touch(client, send, payload, articles,
                                                           session: Session) -> None:
    send(payload(articles[0], query="?utm_source=newsletter&utm_medium=email&utm_campaign=otono",
                 referrer="https://mail.example.com/inbox?id=secret", age_ms=30_000))
    send(payload(articles[1], referrer="http://localhost/articulos/", age_ms=20_000))  # our own site
    [visitor] = visitors(session)
    assert visitor.first_touch["source"] == "newsletter" and visitor.first_touch["campaign"] == "otono"
    assert visitor.first_touch["referrer"] == "mail.example.com"  # the host only: paths can hold personal data
    assert visitor.latest_touch == visitor.first_touch
    send(payload(articles[2], referrer="https://www.google.com/", age_ms=1000))
    session.expire_all()
    visitor = session.get(Visitor, visitor.id)
    assert visitor.latest_touch["source"] == "www.google.com"
    assert visitor.latest_touch["landing"].endswith(articles[2].slug)
    assert visitor.first_touch["campaign"] == "otono"
    first, second, third = readings(session)
    assert first.data["touch"]["campaign"] == "otono" and "touch" not in second.data
    assert first.data["network"] == "127.0.0.0"


def test_raw_addresses_are_never_stored(send, payload, articles, session: Session, db) -> None:
    send(payload(articles[0]), headers={"User-Agent": BROWSER_UA})
    from sqlalchemy import text
    with db.engine.connect() as conn:
        for table in ("events", "visitors", "content_views", "tracking_drops"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                assert "127.0.0.1" not in json.dumps([str(v) for v in row])


class TestBehindAProxy:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"TRUSTED_PROXY_HOPS": 1}

    def test_the_client_network_comes_from_the_trusted_proxy(self, send, payload, articles, session: Session) -> None:
        send(payload(articles[0]), headers={"X-Forwarded-For": "198.51.100.7"})
        [reading] = readings(session)
        assert reading.data["network"] == "198.51.100.0"


def test_the_blueprint_view_runs_the_same_pipeline(app: Flask, payload, articles, session: Session) -> None:
    # BeaconEndpoint answers POST /t/e before Flask; the view behind it (what url_for names) does the same.
    body = json.dumps(payload(articles[0]))
    with app.test_request_context("/t/e", method="POST", data=body, headers={"User-Agent": BROWSER_UA}):
        response = app.full_dispatch_request()
    assert response.status_code == 204 and "cabos_vid=" in response.headers["Set-Cookie"]
    assert len(readings(session)) == 1
    with app.test_request_context():
        from flask import url_for
        assert url_for("tracking.beacon_view") == "/t/e"


def test_an_unexpected_error_is_a_counted_204_not_a_500(client, send, payload, articles, session: Session,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ingest, "enrich", broken)
    assert send(payload(articles[0])).status_code == 204
    assert readings(session) == [] and drops(session) == {"error": 1}
