"""The write buffer: beacons are queued and written in batches, and none is lost at shutdown."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cabos.tracking import routes, store
from cabos.tracking.buffer import WriteBuffer
from tests.tracking.conftest import drops, readings, views


@pytest.fixture
def app_config() -> dict[str, Any]:
    # Buffered as in production, but the timer never fires within a test: flushes are explicit.
    return {"TRACKING_FLUSH_MS": 600_000, "TRACKING_BUFFER_SIZE": 5}


@pytest.fixture
def buffer(app: Flask) -> Any:
    buf = routes.state(app).buffer
    yield buf
    buf.close()


def test_beacons_wait_in_memory_until_the_flush(buffer: WriteBuffer, send, payload, articles,
                                                session: Session) -> None:
    body = payload(articles[0], engaged_ms=1000)
    send(body)
    send({**body, "seq": 1, "engaged_ms": 5000, "scroll_pct": 70})
    send(payload(articles[0], webdriver=True))
    assert len(buffer) == 2 and readings(session) == []
    assert buffer.flush() == 2
    [reading] = readings(session)  # two sends of one page view, coalesced in the batch
    assert (reading.engaged_ms, reading.scroll_pct) == (5000, 70)
    assert drops(session) == {"bot": 1} and views(session, articles[0].slug) == (1, 0)


def test_a_full_buffer_is_written_by_the_request_that_filled_it(buffer: WriteBuffer, send, payload, articles,
                                                                 session: Session) -> None:
    for i in range(4):
        send(payload(articles[i % len(articles)]))
    assert readings(session) == [] and buffer.due is False
    send(payload(articles[4]))  # the fifth fills it: written once that answer has gone out
    assert len(readings(session)) == 5 and len(buffer) == 0


def test_the_writer_thread_writes_a_quiet_queue(app: Flask, db, send, payload, articles, session: Session) -> None:
    import time
    buf = WriteBuffer(db, 50, 100)  # 50 ms: a site with little traffic
    routes.state(app).buffer, original = buf, routes.state(app).buffer
    try:
        send(payload(articles[0]))
        deadline = time.monotonic() + 10
        while not readings(session) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(readings(session)) == 1
    finally:
        routes.state(app).buffer = original
        buf.close()


def test_close_writes_what_is_left(buffer: WriteBuffer, send, payload, articles, session: Session) -> None:
    for doc in articles[:3]:
        send(payload(doc))
    buffer.close()  # what the process does at exit (atexit), e.g. on gunicorn's graceful shutdown
    assert len(readings(session)) == 3


def test_a_failed_write_keeps_the_batch_queued(buffer: WriteBuffer, send, payload, articles, session: Session,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    send(payload(articles[0]))
    calls = {"n": 0}
    real = store.write_batch

    def failing(*args: Any) -> Any:
        calls["n"] += 1
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr("cabos.tracking.buffer.write_batch", failing)
    with pytest.raises(OperationalError):
        buffer.flush(attempts=2)
    assert calls["n"] == 2 and len(buffer) == 1 and readings(session) == []
    monkeypatch.setattr("cabos.tracking.buffer.write_batch", real)
    assert buffer.flush() == 1 and len(readings(session)) == 1


def test_overload_sheds_beacons_with_a_reason(app: Flask, db, send, payload, articles, session: Session) -> None:
    buf = WriteBuffer(db, 600_000, 100)
    buf.hard_limit = 1
    routes.state(app).buffer, original = buf, routes.state(app).buffer
    try:
        assert send(payload(articles[0])).status_code == 204
        refused = send(payload(articles[1]))
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "30"
        assert "not stored" in refused.get_json()["detail"]
        assert len(buf) == 1
        buf.flush()
    finally:
        routes.state(app).buffer = original
        buf.close()
    assert len(readings(session)) == 1 and drops(session) == {"overload": 1}


def test_coalesce_keeps_the_deepest_and_the_earliest_start() -> None:
    from datetime import UTC, datetime, timedelta
    t = datetime(2026, 1, 1, tzinfo=UTC)
    a = store.Reading("article", "a", "learn", [], t, t, True, "v" * 32, "x" * 64, 100, 50, False)
    b = store.Reading("article", "a", "learn", [], t, t - timedelta(seconds=1), False, "v" * 32, "x" * 64,
                      50, 90, True, data={"ctas": ["guide"]})
    [merged] = store.coalesce([a, b])
    assert (merged.engaged_ms, merged.scroll_pct, merged.read_to_end, merged.first_send) == (100, 90, True, True)
    assert merged.started_at == t - timedelta(seconds=1) and merged.data == {}


EXIT_SCRIPT = """
import json, sys
from cabos.site import create_app
from cabos.tracking import tokens
app = create_app({"SECRET_KEY": "s", "DATABASE_URL": sys.argv[1], "CONTENT_DIR": sys.argv[2],
                  "TRACKING_FLUSH_MS": 600000, "SITE_URL": "http://localhost"})
client = app.test_client()
with app.app_context():
    docs = list(app.extensions["cabos.content"].library.articles.values())[:3]
    bodies = [{"token": tokens.view_token(d), "nonce": f"{i:032x}", "seq": 0, "engaged_ms": 1000,
               "scroll_pct": 10, "read_to_end": False} for i, d in enumerate(docs)]
for body in bodies:
    r = client.post("/t/e", data=json.dumps(body), headers={"User-Agent": sys.argv[3]})
    assert r.status_code == 204
print(len(app.extensions["cabos.tracking"].buffer))
"""


def test_a_process_that_exits_writes_its_queue(database_url: str, content_dir, session: Session) -> None:
    import subprocess
    import sys
    from tests.tracking.conftest import BROWSER_UA
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, database_url, str(content_dir), BROWSER_UA],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"  # all three were still queued when the process ended
    assert len(readings(session)) == 3


def test_while_the_database_is_away_requests_leave_writing_to_the_thread(send, payload, articles,
                                                                         app: Flask) -> None:
    from cabos.db import Database
    from cabos.tracking.buffer import WriteBuffer as Buffer

    away = Database("postgresql+psycopg://nobody@127.0.0.1:1/gone")  # every connection is refused
    buf = Buffer(away, 600_000, 2)
    routes.state(app).buffer, original = buf, routes.state(app).buffer
    try:
        assert send(payload(articles[0])).status_code == 204
        assert send(payload(articles[1])).status_code == 204  # full: this request tried to write, and failed
        assert len(buf) == 2 and buf._retry_at > 0  # the failed write set a back-off
        # Hold it (its first step is half a second, which a loaded machine can spend between two lines):
        buf._retry_at = time.monotonic() + 60
        assert not buf.due  # backing off: the next requests do not try again
        assert send(payload(articles[2])).status_code == 204 and len(buf) == 3
        buf.database = routes.state(app).buffer.database = original.database  # the database is back
        buf._retry_at = 0.0  # (the thread would retry once the back-off ends)
        assert buf.flush() == 3 and not buf.due
    finally:
        routes.state(app).buffer = original
        buf.close()
