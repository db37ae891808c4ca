"""The beacon rate limiter: a fixed window per key, answering allow or not (never a 429).

Counters live in this process (a dict and a lock, cheaper than the ``limits`` memory
store, which starts a timer thread per expiry and would cost more than the rest of a
beacon) unless ``RATELIMIT_STORAGE_URI`` names a dedicated store (Redis, memcached), which
several instances share through ``limits``. With the default ``database`` storage the
beacon limit stays per process: a write per beacon would cost more than the beacon, and
would fail while the database is away. So with N processes a visitor may get N times the
limit accepted: it guards against floods, it is not a quota.
"""

from __future__ import annotations

import threading
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from cabos.limits import storage as limit_storage


class LocalWindows:
    """Fixed windows in process memory; old windows are dropped as new ones start."""

    def __init__(self, limit: RateLimitItem) -> None:
        self.amount = limit.amount
        self.seconds = limit.get_expiry()
        self._window = -1
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        window = int(time.monotonic() // self.seconds)
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
        return count <= self.amount


class SharedWindows:
    """Fixed windows in a shared ``limits`` storage."""

    def __init__(self, limit: RateLimitItem, storage_uri: str) -> None:
        self.limit = limit
        self.limiter = FixedWindowRateLimiter(storage_from_string(storage_uri))

    def allow(self, key: str) -> bool:
        return self.limiter.hit(self.limit, "cabos-beacon", key)


def make(limit: str, storage_uri: str) -> LocalWindows | SharedWindows:
    item = parse(limit)
    if storage_uri.startswith("memory://") or limit_storage.is_database(storage_uri):
        return LocalWindows(item)
    return SharedWindows(item, storage_uri)
