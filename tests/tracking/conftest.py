"""Beacons as the tracker sends them, and a look into what was stored."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cabos.content import Document, current_library
from cabos.tracking import tokens
from cabos.tracking.models import ContentView, DropCount, Event, Visitor

# A real browser's User-Agent: the test client's default ("Werkzeug/...") is not one.
BROWSER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")
HEADERS = {"User-Agent": BROWSER_UA, "Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}


def nonce() -> str:
    return secrets.token_hex(16)


@pytest.fixture
def articles(app: Flask) -> list[Document]:
    """The demo articles, newest first."""
    with app.app_context():
        return list(current_library().articles.values())


@pytest.fixture
def payload(app: Flask) -> Callable[..., dict[str, Any]]:
    """A valid beacon for ``doc``: payload(doc, engaged_ms=5000, ...)."""

    def build(doc: Document, **fields: Any) -> dict[str, Any]:
        with app.app_context():
            token = tokens.view_token(doc)
        body = {"token": token, "nonce": nonce(), "seq": 0, "engaged_ms": 1000, "scroll_pct": 10,
                "read_to_end": False, "age_ms": 1500, "ctas": [], "query": "", "referrer": "",
                "dnt": False, "webdriver": False}
        body.update(fields)
        return body

    return build


@pytest.fixture
def send(client: FlaskClient) -> Callable[..., Any]:
    """POST a beacon as sendBeacon does (text/plain); extra headers override the browser's."""

    def post(body: dict[str, Any] | bytes | str, headers: dict[str, str] | None = None,
             via: FlaskClient | None = None) -> Any:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        h = {**HEADERS, **(headers or {})}
        h = {k: v for k, v in h.items() if v is not None}
        # buffered: the answer is read and closed, as a server does (a full write buffer is
        # written when the answer's iterable closes)
        return (via or client).post("/t/e", data=data, headers=h, content_type="text/plain;charset=UTF-8",
                                    buffered=True)

    return post


def readings(session: Session) -> list[Event]:
    session.expire_all()
    return list(session.scalars(select(Event).where(Event.type == "reading").order_by(Event.id)))


def visitors(session: Session) -> list[Visitor]:
    session.expire_all()
    return list(session.scalars(select(Visitor).order_by(Visitor.created_at)))


def drops(session: Session) -> dict[str, int]:
    session.expire_all()
    rows = session.execute(select(DropCount.reason, func.sum(DropCount.count)).group_by(DropCount.reason))
    return {r: int(n) for r, n in rows}


def views(session: Session, slug: str) -> tuple[int, int]:
    session.expire_all()
    row = session.execute(select(func.sum(ContentView.views), func.sum(ContentView.untracked))
                          .where(ContentView.content_slug == slug)).one()
    return int(row[0] or 0), int(row[1] or 0)


def visitor_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("cabos_vid")
    return cookie.value if cookie else None
