"""The beacon limits hold across processes (two apps on one database stand for two gunicorn workers or
two instances), a cookieless client cannot mint visitors without end, and rotating cookies gains nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from limits import parse
from sqlalchemy.orm import Session

from cabos.limits.windows import Windows
from cabos.tracking.routes import state
from tests.tracking.conftest import drops, readings, visitor_cookie, visitors


def sync(*apps: Flask) -> None:
    """What each process's background thread does once a second."""
    for app in apps:
        state(app).limiter.sync()


@pytest.mark.parametrize("app_config", [{"TRACKING_RATE_LIMIT": "4 per minute"}])
def test_the_visitor_limit_holds_across_two_processes(app: Flask, app_factory, content_dir: Path, send,  # type: ignore[no-untyped-def]
                                                      payload, articles, session: Session) -> None:
    other = app_factory(content_dir, TRACKING_RATE_LIMIT="4 per minute")
    first, second = app.test_client(), other.test_client()
    assert send(payload(articles[0]), via=first).status_code == 204  # mints the visitor (counted on the address)
    second.set_cookie("cabos_vid", visitor_cookie(first) or "")
    assert [send(payload(articles[0]), via=first).status_code for _ in range(4)] == [204] * 4
    sync(app)
    send(payload(articles[0]), via=second)  # the second process has not heard yet: one interval's slack
    sync(other, app)
    for _ in range(3):
        send(payload(articles[0]), via=second)
        send(payload(articles[0]), via=first)
    assert len(readings(session)) == 1 + 4 + 1  # per process it would have been 1 + 4 + 4
    assert drops(session) == {"rate_limit": 6}


@pytest.mark.parametrize("app_config", [{"TRACKING_NEW_VISITOR_LIMIT": "3 per minute"}])
def test_a_cookieless_client_mints_at_most_the_new_visitor_limit(app: Flask, send, payload, articles,  # type: ignore[no-untyped-def]
                                                                 session: Session) -> None:
    client = app.test_client(use_cookies=False)
    client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for _ in range(8):
        assert send(payload(articles[0]), via=client).status_code == 204
    assert len(visitors(session)) == 3 and len(readings(session)) == 3
    assert drops(session) == {"rate_limit": 5}


@pytest.mark.parametrize("app_config", [{"TRACKING_NETWORK_RATE_LIMIT": "5 per minute"}])
def test_rotating_cookies_stops_at_the_network_limit(app: Flask, send, payload, articles, session: Session) -> None:  # type: ignore[no-untyped-def]
    cookies = []
    for _ in range(3):
        minting = app.test_client()
        minting.environ_base["REMOTE_ADDR"] = "203.0.113.9"
        send(payload(articles[0]), via=minting)
        cookies.append(visitor_cookie(minting))
    for i in range(6):  # each beacon from another of the three visitors, same network
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = "203.0.113.10"  # the same /24
        client.set_cookie("cabos_vid", cookies[i % 3] or "")
        send(payload(articles[0]), via=client)
    assert len(readings(session)) == 5
    other_network = app.test_client()
    other_network.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    send(payload(articles[0]), via=other_network)
    assert len(readings(session)) == 6


class Away:
    """A shared storage that is down."""

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise ConnectionError("connection refused")


def test_loopback_is_a_proxy_in_front_not_a_network(app: Flask, send, payload, articles,  # type: ignore[no-untyped-def]
                                                     session: Session) -> None:
    app.config["TRACKING_NEW_VISITOR_LIMIT"] = "1 per minute"
    state(app).limiter.limits["m"] = parse("1 per minute")
    client = app.test_client(use_cookies=False)  # 127.0.0.1: nginx without TRUSTED_PROXY_HOPS, or a test
    for _ in range(3):
        send(payload(articles[0]), via=client)
    assert len(visitors(session)) == 3


def test_with_the_shared_storage_away_each_process_still_counts() -> None:
    windows = Windows({"v": parse("3 per minute")}, Away(), sync_seconds=3600)
    try:
        results = []
        for _ in range(5):
            results.append(windows.allow("v:a"))
            windows.sync()
        assert results == [True, True, True, False, False]
        assert windows.allow("x:unlimited")
    finally:
        windows.close()
