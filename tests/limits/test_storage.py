"""Rate-limit counters in the database: shared by apps (processes, instances) on one database."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from flask import Flask
from limits import parse
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cabos import db
from cabos.limits.storage import DatabaseStorage
from cabos.limits.models import RateLimitCounter
from tests.guides.conftest import content_dir, csrf_token, submit  # noqa: F401 (guide content: a form to post)


def storage(app: Flask) -> DatabaseStorage:
    return DatabaseStorage("cabos-database://", engine=db.database(app).engine, secret=b"s3cret")


def test_counts_per_key_and_starts_a_new_window_once_expired(app: Flask, session: Session) -> None:
    store = storage(app)
    assert [store.incr("a", 60) for _ in range(3)] == [1, 2, 3]
    assert store.incr("b", 60, amount=5) == 5
    assert store.get("a") == 3 and store.get("b") == 5 and store.get("never") == 0
    assert time.time() + 50 < store.get_expiry("a") <= time.time() + 60
    session.execute(update(RateLimitCounter).values(expires_at=time.time() - 1))
    session.commit()
    assert store.get("a") == 0  # an expired window counts nothing
    assert store.incr("a", 60) == 1  # and the next hit starts a new one
    store.clear("a")
    assert store.get("a") == 0 and store.get("b") == 0 and store.check()
    assert store.reset() == 1


def test_keys_are_stored_hashed_never_as_addresses(app: Flask, session: Session) -> None:
    store = storage(app)
    store.incr("LIMITER/cabos/lead-forms/203.0.113.9/10/1/minute", 60)
    keys = session.scalars(select(RateLimitCounter.key)).all()
    assert len(keys) == 1 and "203.0.113" not in keys[0] and len(keys[0]) == 40
    other_secret = DatabaseStorage("cabos-database://", engine=db.database(app).engine, secret=b"other")
    assert other_secret.get("LIMITER/cabos/lead-forms/203.0.113.9/10/1/minute") == 0


def test_concurrent_hits_are_all_counted(app: Flask) -> None:
    store = storage(app)
    limiter = FixedWindowRateLimiter(store)
    item = parse("1000 per minute")
    allowed: list[bool] = []

    def hit() -> None:
        for _ in range(25):
            allowed.append(limiter.hit(item, "k"))

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed == [True] * 100
    assert limiter.get_window_stats(item, "k").remaining == 900


def test_a_form_limit_holds_across_two_apps_on_one_database(app_factory, content_dir: Path) -> None:  # type: ignore[no-untyped-def]
    one = app_factory(content_dir, FORM_RATE_LIMIT="3 per minute")
    two = app_factory(content_dir, FORM_RATE_LIMIT="3 per minute")
    assert one.config["RATELIMIT_STORAGE_URI"] == "database"  # the default
    a, b = one.test_client(), two.test_client()
    codes = [submit(client, token=csrf_token(client), email="").status_code for client in (a, b, a)]
    assert codes == [422, 422, 422]
    assert submit(b, token=csrf_token(b)).status_code == 429  # the fourth post, on the other app
    elsewhere = two.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert submit(elsewhere, token=csrf_token(elsewhere)).status_code == 303


def test_per_process_memory_counters_are_not_shared(app_factory, content_dir: Path) -> None:  # type: ignore[no-untyped-def]
    one = app_factory(content_dir, FORM_RATE_LIMIT="1 per minute", RATELIMIT_STORAGE_URI="memory://")
    two = app_factory(content_dir, FORM_RATE_LIMIT="1 per minute", RATELIMIT_STORAGE_URI="memory://")
    a, b = one.test_client(), two.test_client()
    assert submit(a, token=csrf_token(a), email="").status_code == 422
    assert submit(b, token=csrf_token(b), email="").status_code == 422  # its own count: why `database` is the default
    assert submit(a, token=csrf_token(a), email="").status_code == 429
