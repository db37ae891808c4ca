"""The beacon limits' windows: hits on their way to the shared storage still count."""

from __future__ import annotations

import threading

from limits import parse

from cabos.limits.windows import Windows


class SlowShared:
    """Shared counters whose writes wait for a signal: a sync caught mid-way, as on a busy database."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.entered, self.release = threading.Event(), threading.Event()

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        self.entered.set()
        assert self.release.wait(10)
        self.counts[key] = self.counts.get(key, 0) + amount
        return self.counts[key]


def test_hits_counted_while_a_sync_is_under_way_still_hold_the_limit() -> None:
    shared = SlowShared()
    windows = Windows({"v": parse("3 per minute")}, shared, sync_seconds=3600)  # syncs only when told
    try:
        assert windows.allow("v:a") and windows.allow("v:a")
        sync = threading.Thread(target=windows.sync)
        sync.start()
        assert shared.entered.wait(10)  # two hits left pending, not yet in the shared total
        assert windows.allow("v:a")  # the third
        assert not windows.allow("v:a")  # the fourth: over, although the sync has not answered yet
        shared.release.set()
        sync.join(10)
        assert shared.counts and not windows.allow("v:a")
        windows.sync()
        assert max(shared.counts.values()) == 5  # every hit reached the shared total once
    finally:
        shared.release.set()
        windows.close()
