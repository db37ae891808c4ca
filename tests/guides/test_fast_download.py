"""The download fast path answers exactly what the view would, and hands everything else over."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.tracking.models import Event
from tests.guides.conftest import submit, token_from

URL = "/guides/count-stock/download"


def _get(client: FlaskClient, token: str, **headers: str):  # type: ignore[no-untyped-def]
    return client.get(URL, query_string={"token": token}, headers=headers, buffered=True)


def test_a_cached_download_is_answered_before_flask_with_the_same_bytes_and_headers(
        client: FlaskClient, session: Session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    token = token_from(submit(client).headers["Location"])
    slow = _get(client, token)  # renders the PDF: the view answers
    assert slow.status_code == 200
    calls = []
    from cabos.site import guides
    monkeypatch.setattr(guides, "download", lambda slug: calls.append(slug))  # the view must not be reached
    # Flask looks views up in its own table: replace the entry there too.
    monkeypatch.setitem(client.application.view_functions, "guides.download", lambda slug: calls.append(slug))
    fast = _get(client, token)
    assert calls == []
    assert fast.status_code == 200
    assert fast.data == slow.data
    # Date and Expires are the time of each answer; Vary: Cookie (Flask's session was looked
    # at) means nothing on an answer no cache may store.
    clock, session_only = {"Date", "Expires"}, {"Vary"}
    assert {k: v for k, v in fast.headers.items() if k not in clock} == \
        {k: v for k, v in slow.headers.items() if k not in clock | session_only}
    assert set(fast.headers.keys()) == set(slow.headers.keys()) - session_only
    session.expire_all()
    assert len(session.scalars(select(Event).where(Event.type == "download")).all()) == 2


def test_everything_else_goes_to_the_view(client: FlaskClient) -> None:
    token = token_from(submit(client).headers["Location"])
    assert _get(client, token).status_code == 200
    assert _get(client, token, Range="bytes=0-9").status_code == 206
    etag = _get(client, token).headers["ETag"]
    assert _get(client, token, **{"If-None-Match": etag}).status_code == 304
    assert client.head(URL, query_string={"token": token}, buffered=True).status_code == 200
    assert _get(client, token[:-2]).status_code == 403
    assert _get(client, "").status_code == 403
    assert client.get("/guides/ship-on-time/download", query_string={"token": token}, buffered=True).status_code == 403
