"""Accepted readings and drop counts wait in memory and are written in batches.

A beacon's request only validates and queues, so ingest costs about what a bare endpoint
costs; a thread per process writes the queue in one transaction when it holds
``TRACKING_BUFFER_SIZE`` items or ``TRACKING_FLUSH_MS`` after the first one waits, and
once more when the process exits (gunicorn's graceful shutdown runs ``atexit``), so
nothing accepted is lost on a deploy. A failed write is retried and its items stay
queued. ``TRACKING_FLUSH_MS = 0`` writes each beacon in its own request (tests).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import Counter
from datetime import date

from sqlalchemy.exc import DBAPIError

from cabos.db import Database
from cabos.tracking.store import Reading, touch_contacts, write_batch

log = logging.getLogger("cabos.tracking")


class WriteBuffer:
    def __init__(self, database: Database, flush_ms: int, size: int) -> None:
        self.database = database
        self.interval = flush_ms / 1000
        self.size = max(1, size)
        self.hard_limit = self.size * 100  # past this the database is not keeping up: shed load
        self._readings: list[Reading] = []
        self._drops: Counter[tuple[date, str]] = Counter()
        self._lock = threading.Lock()        # guards the queue
        self._writing = threading.Lock()     # one batch at a time per process
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @property
    def synchronous(self) -> bool:
        return self.interval <= 0

    def __len__(self) -> int:
        return len(self._readings)

    def add(self, reading: Reading) -> bool:
        """Queue one reading; False when the queue is full (the caller drops it as overload)."""
        with self._lock:
            if len(self._readings) >= self.hard_limit:
                return False
            self._readings.append(reading)
            full = len(self._readings) >= self.size
        self._after_add(full)
        return True

    def count_drop(self, reason: str, day: date) -> None:
        with self._lock:
            self._drops[(day, reason)] += 1
        self._after_add(False)

    def _after_add(self, full: bool) -> None:
        if self.synchronous:
            try:
                self.flush()
            except DBAPIError:
                pass  # logged and still queued: the next write takes it along
            return
        self._ensure_thread()
        if full:
            self._wake.set()

    def _ensure_thread(self) -> None:
        # Threads do not survive fork: a gunicorn worker starts its own on first use.
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="cabos-tracking-writer", daemon=True)
            self._thread.start()
            atexit.register(self.close)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the thread must outlive any one bad batch
                log.exception("tracking: writing a batch failed; it stays queued")
                time.sleep(self.interval)

    def flush(self, attempts: int = 3) -> int:
        """Write everything queued now, in transactions of at most ``size`` readings; return how many."""
        written = 0
        with self._writing:
            while True:
                with self._lock:
                    readings, self._readings = self._readings[:self.size], self._readings[self.size:]
                    drops, self._drops = self._drops, Counter()
                if not readings and not drops:
                    return written
                self._write(readings, drops, attempts)
                written += len(readings)

    def _write(self, readings: list[Reading], drops: Counter[tuple[date, str]], attempts: int) -> None:
        for attempt in range(attempts):
            try:
                with self.database.session() as session:
                    moved = write_batch(session, readings, drops)
                if moved:
                    with self.database.session() as session:
                        touch_contacts(session, moved)
                return
            except DBAPIError:
                # Deadlock, lock timeout, lost connection: the batch is whole or absent, try again.
                if attempt == attempts - 1:
                    with self._lock:
                        self._readings[:0] = readings
                        self._drops.update(drops)
                    log.exception("tracking: %d readings stay queued after %d attempts", len(readings), attempts)
                    raise
                time.sleep(0.05 * 2 ** attempt)

    def close(self) -> None:
        """Stop the writer thread and write what is left (process exit, app teardown)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=10)
        self._thread = None
        try:
            self.flush()
        except DBAPIError:
            log.error("tracking: %d readings could not be written at shutdown", len(self._readings))
