"""A ``limits`` storage in cabos's own database, so every process and instance shares counters.

Flask-Limiter keeps its counters in a ``limits`` storage. The in-memory one is per
process: under gunicorn (several workers) and behind a load balancer (several instances)
a limit of 10 per minute would really be 10 per minute *per process*. Redis or memcached
share counters, but are one more service to run; the database is already shared by every
instance, and rate-limited requests (form posts, sign-ins) write to it anyway.

``RATELIMIT_STORAGE_URI = "database"`` (the default) selects this storage. Each hit is one
atomic upsert (``INSERT … ON CONFLICT DO UPDATE … RETURNING``, on PostgreSQL and SQLite
alike), so two instances counting the same key at once never lose a hit. Expired rows are
deleted now and then by the process that hits them. Keys name a client address or a
sign-in email: they are stored as a keyed hash (BLAKE2b with the app's secret), so the
table holds no address and no email.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from typing import Any

from limits.storage import Storage
from sqlalchemy import Engine, case, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from cabos.limits.models import RateLimitCounter

SCHEME = "cabos-database"
SWEEP_EVERY = 1000  # hits between two deletions of expired rows, per process

table = RateLimitCounter.__table__


class DatabaseStorage(Storage):
    """Fixed-window counters in the ``rate_limit_counters`` table.

    Options: ``engine`` (the app's SQLAlchemy engine) and ``secret`` (bytes keying the hash of keys).
    """

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        engine = options.get("engine")
        if not isinstance(engine, Engine):
            raise ValueError(f"{SCHEME}:// needs the application's engine in storage options")
        self.engine = engine
        self.secret = bytes(options.get("secret") or b"")[:64]
        self._hits = itertools.count(1)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    def _key(self, key: str) -> str:
        return hashlib.blake2b(key.encode(), key=self.secret, digest_size=20).hexdigest()

    def _insert(self) -> Any:
        return (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(table)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        insert = self._insert().values(key=self._key(key), count=amount, expires_at=now + expiry)
        expired = table.c.expires_at <= now
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"count": case((expired, insert.excluded.count), else_=table.c.count + insert.excluded.count),
                  "expires_at": case((expired, insert.excluded.expires_at), else_=table.c.expires_at)},
        ).returning(table.c.count)
        with self.engine.begin() as conn:
            count = conn.execute(statement).scalar_one()
            if next(self._hits) % SWEEP_EVERY == 0:
                conn.execute(delete(table).where(table.c.expires_at < now))
        return int(count)

    def incr_many(self, amounts: dict[str, int], expiry: int) -> dict[str, int]:
        """Add to several counters in one statement; their totals after it, by key. This is how
        the beacon windows share counts: one write per process and second, not one per beacon."""
        if not amounts:
            return {}
        now = time.time()
        hashed = {self._key(key): key for key in amounts}
        insert = self._insert().values([{"key": h, "count": amounts[k], "expires_at": now + expiry}
                                        for h, k in sorted(hashed.items())])  # one lock order: no deadlock
        expired = table.c.expires_at <= now
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"count": case((expired, insert.excluded.count), else_=table.c.count + insert.excluded.count),
                  "expires_at": case((expired, insert.excluded.expires_at), else_=table.c.expires_at)},
        ).returning(table.c.key, table.c.count)
        with self.engine.begin() as conn:
            rows = conn.execute(statement).all()
            if next(self._hits) % SWEEP_EVERY == 0:
                conn.execute(delete(table).where(table.c.expires_at < now))
        return {hashed[key]: int(count) for key, count in rows}

    def get(self, key: str) -> int:
        with self.engine.connect() as conn:
            count = conn.execute(select(table.c.count).where(table.c.key == self._key(key),
                                                             table.c.expires_at > time.time())).scalar()
        return int(count or 0)

    def get_expiry(self, key: str) -> float:
        with self.engine.connect() as conn:
            expires = conn.execute(select(table.c.expires_at).where(table.c.key == self._key(key))).scalar()
        return float(expires) if expires is not None else time.time()

    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with self.engine.begin() as conn:
            count = conn.execute(select(func.count()).select_from(table)).scalar_one()
            conn.execute(delete(table))
        return int(count)

    def clear(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.key == self._key(key)))


def resolve(uri: str, engine: Engine, secret: bytes) -> tuple[str, dict[str, Any]]:
    """The storage URI and options Flask-Limiter gets for a RATELIMIT_STORAGE_URI setting."""
    if is_database(uri):
        return f"{SCHEME}://", {"engine": engine, "secret": secret}
    return uri, {}


def is_database(uri: str) -> bool:
    return uri.strip() in ("database", f"{SCHEME}://")
