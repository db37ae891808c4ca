"""The beacon limits: fixed windows counted in each process and shared every second.

A beacon costs less than a database write, so it cannot write a counter. Each process counts
hits in memory; a background thread adds what it counted to a shared storage (the database's
``rate_limit_counters`` in one statement, or Redis/memcached through ``limits``) once a
``sync`` interval and reads back every process's total. A hit is allowed while *shared total as
of the last sync + this process's hits since* stays within the limit. So the limit holds across
workers and instances, give or take what the others accept within one interval; while the
storage is away each process keeps counting on its own and catches up when it is back.

Windows are wall-clock aligned (``time.time() // seconds``) so every instance counts the same one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

from limits import RateLimitItem

log = logging.getLogger("cabos.limits")


class Shared(Protocol):
    def incr(self, key: str, expiry: int, amount: int = 1) -> int: ...


class Windows:
    """Fixed windows per key; the limit of a key is chosen by its prefix (``v:…`` → ``limits["v"]``)."""

    def __init__(self, limits: Mapping[str, RateLimitItem], shared: Shared | None = None,
                 sync_seconds: float = 1.0) -> None:
        self.limits = dict(limits)
        self.shared = shared
        self.sync_seconds = sync_seconds
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}  # window key → hits not yet added to the shared storage
        self._known: dict[str, int] = {}  # window key → shared total at the last sync (ours included)
        self._sending: dict[str, int] = {}  # window key → hits on their way to the shared storage now
        self._local: dict[str, int] = {}  # window key → hits counted here, when nothing is shared
        self._window: dict[str, int] = {}  # prefix → current window number (to drop old keys)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._failing = False

    def _window_key(self, key: str) -> tuple[str, RateLimitItem] | None:
        prefix = key.split(":", 1)[0]
        limit = self.limits.get(prefix)
        if limit is None:
            return None
        seconds = limit.get_expiry()
        window = int(time.time() // seconds)
        if self._window.get(prefix) != window:
            self._window[prefix] = window
            stale = f"@{prefix}:"
            for table in (self._pending, self._known, self._sending, self._local):
                for old in [k for k in table if k.startswith(stale) and not k.startswith(f"@{prefix}:{window}:")]:
                    del table[old]
        return f"@{prefix}:{window}:{key}", limit

    def allow(self, key: str) -> bool:
        """Count a hit on ``key``; whether it is within its limit."""
        with self._lock:
            found = self._window_key(key)
            if found is None:
                return True
            wkey, limit = found
            if self.shared is None:
                count = self._local[wkey] = self._local.get(wkey, 0) + 1
                return count <= limit.amount
            pending = self._pending[wkey] = self._pending.get(wkey, 0) + 1
            # Hits being synced right now count too: they are in neither the known total nor pending.
            total = self._known.get(wkey, 0) + self._sending.get(wkey, 0) + pending
            self._start()
        return total <= limit.amount

    def _start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="cabos-beacon-limits", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.sync_seconds)
            self._wake.clear()
            self.sync()

    def sync(self) -> None:
        """Add this process's hits to the shared storage and learn everyone's totals."""
        if self.shared is None:
            return
        with self._lock:
            batch, self._pending = self._pending, {}
            for key, amount in batch.items():
                self._sending[key] = self._sending.get(key, 0) + amount
        if not batch:
            return
        expiry = int(max(limit.get_expiry() for limit in self.limits.values())) * 2
        try:
            totals = self._push(batch, expiry)
        except Exception as exc:  # the storage away: keep the hits, count them next time
            with self._lock:
                for key, amount in batch.items():
                    self._pending[key] = self._pending.get(key, 0) + amount
                    self._unsend(key, amount)
            if not self._failing:
                log.warning("beacon limits: shared counters unavailable, counting in this process: %s",
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            self._failing = True
            return
        self._failing = False
        with self._lock:
            for key, total in totals.items():
                self._known[key] = total
            for key, amount in batch.items():
                self._unsend(key, amount)

    def _unsend(self, key: str, amount: int) -> None:
        """``amount`` hits of ``key`` are no longer on their way (now in the known total, or pending again)."""
        left = self._sending.get(key, 0) - amount
        if left > 0:
            self._sending[key] = left
        else:
            self._sending.pop(key, None)

    def _push(self, batch: dict[str, int], expiry: int) -> dict[str, int]:
        many: Any = getattr(self.shared, "incr_many", None)
        if many is not None:
            return dict(many(batch, expiry))
        assert self.shared is not None
        return {key: self.shared.incr(key, expiry, amount) for key, amount in batch.items()}

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.sync()
        except Exception:  # exiting: what was not shared is lost, as a window ends anyway
            log.exception("beacon limits: last sync failed")
