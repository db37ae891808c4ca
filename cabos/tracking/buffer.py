"""Accepted readings and drop counts wait in memory and are written in batches.

A beacon's request only validates and queues, so ingest costs about what a bare endpoint
costs. The queue is written in one transaction per ``TRACKING_BUFFER_SIZE`` readings:

- when it is full, by the request that filled it, *after* its answer went out (the
  beacon endpoint's response iterable closes with ``flush_if_due``). Not by a thread:
  a writer thread releases and retakes the GIL at every SQLite step, and under load that
  convoy with the request thread cost more than the writing itself;
- when traffic is low, by a thread, ``TRACKING_FLUSH_MS`` after the last write;
- once more when the process exits (gunicorn's graceful shutdown runs ``atexit``), so
  nothing accepted is lost on a deploy.

Whatever hooks into ``after_write`` (intent scoring) runs on the thread, never in a
request: a request that wrote a batch only hands it over.

A failed write is retried and its items stay queued. While the database is away (a failed
batch), requests stop trying to write: only the thread does, backing off from half a second
to five, so beacons keep being answered at once and queue up to ``hard_limit`` readings; past
that, a beacon is refused with a 503 (counted as ``overload``). ``TRACKING_FLUSH_MS = 0``
writes each beacon in its own request, and runs ``after_write`` there too (tests).
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import date

from sqlalchemy.exc import DBAPIError

from cabos.db import Database
from cabos.tracking.spill import Spill
from cabos.tracking.store import Reading, touch_contacts, write_batch

log = logging.getLogger("cabos.tracking")


class WriterLock:
    """One batch writer at a time per SQLite file, across processes (a lock file beside it).

    SQLite has one writer anyway; taking turns here lets a worker skip instead of sleeping.
    PostgreSQL writers lock rows, not the database: no lock file there.
    """

    def __init__(self, database: Database) -> None:
        url = database.engine.url
        self.path = f"{url.database}.tracking-lock" if url.get_backend_name() == "sqlite" and url.database else None
        self._fd: int | None = None

    def acquire(self, wait: bool) -> bool:
        if self.path is None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class WriteBuffer:
    def __init__(self, database: Database, flush_ms: int, size: int, spill_dir: str | None = None) -> None:
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
        # Called with each batch once it is committed (intent scoring hooks in here);
        # a failure there is logged and never un-writes or re-queues the batch.
        self.after_write: Callable[[list[Reading]], None] | None = None
        self._written: list[list[Reading]] = []  # batches waiting for after_write (on the thread)
        self._pid = 0
        self._flushed_at = time.monotonic()
        self._file_lock = WriterLock(database)
        self._retry_at = 0.0   # after a failed batch, requests leave writing to the thread until then
        self._backoff = 0.0
        self.spill = Spill(spill_dir)
        self._away = False  # the last write failed: accepted readings go to the spill file too
        self._spilled: set[int] = set()  # ids of queued readings already in a spill file

    def replay(self) -> int:
        """Queue the readings that processes now gone spilled while the database was away."""
        readings = self.spill.claim()
        if readings:
            with self._lock:
                self._readings.extend(readings)
                self._spilled.update(id(r) for r in readings)
            self._after_add()
        return len(readings)

    @property
    def synchronous(self) -> bool:
        return self.interval <= 0

    def __len__(self) -> int:
        return len(self._readings)

    @property
    def due(self) -> bool:
        """A full batch is waiting: the request that sees this writes it once it has answered.

        Not while the database is failing: the thread retries, requests do not wait on it.
        """
        return len(self._readings) >= self.size and time.monotonic() >= self._retry_at

    def flush_if_due(self) -> None:
        if self.due:
            try:
                self.flush(wait=False)
            except DBAPIError:
                pass  # logged and still queued: the next write takes it along

    def add(self, reading: Reading) -> bool:
        """Queue one reading; False when the queue is full (the caller drops it as overload)."""
        with self._lock:
            if len(self._readings) >= self.hard_limit:
                return False
            if self._away:  # on disk before the beacon is answered: it survives a kill of this process
                self.spill.write([reading])
                self._spilled.add(id(reading))
            self._readings.append(reading)
        self._after_add()
        return True

    def count_drop(self, reason: str, day: date) -> None:
        with self._lock:
            self._drops[(day, reason)] += 1
        self._after_add()

    def _after_add(self) -> None:
        if self.synchronous:
            try:
                self.flush()
            except DBAPIError:
                pass  # logged and still queued: the next write takes it along
            return
        self._ensure_thread()

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
            self._run_after_write()
            if time.monotonic() - self._flushed_at < self.interval * 0.9:
                continue  # requests are writing full batches: stay out of their way
            try:
                self.flush()
            except Exception:  # the thread must outlive any one bad batch
                log.exception("tracking: writing a batch failed; it stays queued")
                self._stop.wait(max(self.interval, self._retry_at - time.monotonic()))
            self._run_after_write()

    def _run_after_write(self) -> None:
        while True:
            with self._lock:
                if not self._written:
                    return
                batch = self._written.pop(0)
            if self.after_write is None:
                continue
            try:
                self.after_write(batch)
            except Exception:  # the readings are stored; scoring catches up later
                log.exception("tracking: after-write hook failed for %d readings", len(batch))

    def flush(self, attempts: int = 3, wait: bool = True) -> int:
        """Write everything queued now, in transactions of at most ``size`` readings; return how many.

        ``wait=False`` (a request writing a full batch) gives up at once when another process
        is writing its batch to the same SQLite file: a later request takes it along, and no
        worker sleeps in SQLite's busy handler while requests queue behind it.
        """
        written = 0
        with self._lock:
            if not self._readings and not self._drops:  # nothing to write: no lock file, no database
                self._flushed_at = time.monotonic()
                return 0
        with self._writing:
            if not self._file_lock.acquire(wait):
                return 0
            try:
                while True:
                    with self._lock:
                        readings, self._readings = self._readings[:self.size], self._readings[self.size:]
                        drops, self._drops = self._drops, Counter()
                    if not readings and not drops:
                        self._flushed_at = time.monotonic()
                        with self._lock:
                            if not self._away and not self._readings and self.spill.holding:
                                self.spill.clear()
                                self._spilled.clear()
                        return written
                    self._write(readings, drops, attempts)
                    written += len(readings)
            finally:
                self._file_lock.release()

    def _write(self, readings: list[Reading], drops: Counter[tuple[date, str]], attempts: int) -> None:
        for attempt in range(attempts):
            try:
                with self.database.session() as session:
                    moved = write_batch(session, readings, drops)
                if moved:
                    with self.database.session() as session:
                        touch_contacts(session, moved)
                break
            except DBAPIError:
                # Deadlock, lock timeout, lost connection: the batch is whole or absent, try again.
                if attempt == attempts - 1:
                    with self._lock:
                        self._readings[:0] = readings
                        self._drops.update(drops)
                        self._away = True
                        try:
                            fresh = [r for r in self._readings if id(r) not in self._spilled]
                            self.spill.write(fresh)
                            self._spilled.update(id(r) for r in fresh)
                        except OSError:
                            log.exception("tracking: readings could not be spilled to %s", self.spill.folder)
                    self._backoff = min(5.0, max(0.5, self._backoff * 2))
                    self._retry_at = time.monotonic() + self._backoff
                    log.exception("tracking: %d readings stay queued after %d attempts (%d waiting)",
                                  len(readings), attempts, len(self._readings))
                    raise
                time.sleep(0.05 * 2 ** attempt)
        self._backoff, self._retry_at = 0.0, 0.0
        self._away = False
        if self.after_write is not None:
            with self._lock:
                self._written.append(readings)
            if self.synchronous or self._stop.is_set() or threading.current_thread() is self._thread:
                self._run_after_write()  # tests, shutdown, or already on the thread
            else:
                self._ensure_thread()
                self._wake.set()

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
        except (DBAPIError, OSError):
            log.error("tracking: %d readings could not be written at shutdown", len(self._readings))
        self._run_after_write()
