"""Download events, written in batches so that serving a cached PDF costs no database write.

A download appends a small record to an in-process buffer; a flusher thread
writes the buffer in one transaction every EVENT_FLUSH_SECONDS (and the
process writes what is left when it exits). With EVENT_FLUSH_SECONDS = 0 the
event is written within the request instead. At write time each record is
checked against its contact: a contact erased or whose address changed since
the link was made gets no event (the link carried a hash of that address).

``after_write(session, contact_ids, now)`` (intent scoring hooks in there) runs
in the transaction that writes the batch, so a stored download never sits next
to a stale score. If it fails, the downloads are written without it (scoring
catches up on the next event or ``cabos intent recompute``): nothing is lost.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.db import Database, utcnow
from cabos.tracking.models import Event

log = logging.getLogger("cabos.contacts.downloads")

MAX_PENDING = 50_000  # if the database is down for long, keep the newest this many


def email_hash(email: str) -> str:
    """The short hash of an address that download links carry and events are checked against."""
    return hashlib.sha256(email.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Download:
    contact_id: int
    email_hash: str  # of the address the link was made for
    slug: str
    stage: str | None
    problems: tuple[str, ...]
    occurred_at: datetime = field(default_factory=utcnow)
    data: dict[str, Any] = field(default_factory=dict)


class DownloadLog:
    """Buffers download events and writes them in batches."""

    def __init__(self, database: Database, interval: float = 1.0, max_batch: int = 500) -> None:
        self.database = database
        self.interval = interval
        self.max_batch = max_batch
        self._pending: list[Download] = []
        self.after_write: Callable[[Session, set[int], datetime], None] | None = None
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        # Whatever is still buffered when the worker exits is written then; the weak
        # reference lets an app (in tests, hundreds of them) be collected meanwhile.
        ref = weakref.ref(self)
        atexit.register(lambda: (s := ref()) is not None and s.close())

    def add(self, download: Download) -> None:
        """Record a download: written now (interval 0) or with the next batch."""
        with self._lock:
            self._pending.append(download)
            if len(self._pending) > MAX_PENDING:
                del self._pending[: len(self._pending) - MAX_PENDING]
            full = len(self._pending) >= self.max_batch
        if self.interval <= 0:
            self.flush()
            return
        self._ensure_flusher()
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Write every buffered event in one transaction; return how many were written."""
        with self._flushing:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                try:
                    rows = self._write(batch, self.after_write)
                except Exception:
                    if self.after_write is None:
                        raise
                    log.exception("rescoring after %d downloads failed; writing them without it", len(batch))
                    rows = self._write(batch, None)
            except SQLAlchemyError:
                log.exception("could not write %d download events; keeping them for the next try", len(batch))
                with self._lock:
                    self._pending[:0] = batch
                return 0
            if len(rows) < len(batch):
                log.info("%d downloads by contacts since erased or changed: not recorded", len(batch) - len(rows))
            return len(rows)

    def _write(self, batch: list[Download], after: Callable[[Session, set[int], datetime], None] | None
               ) -> list[dict[str, Any]]:
        with self.database.session() as session:
            ids = {d.contact_id for d in batch}
            emails = dict(session.execute(select(Contact.id, Contact.email).where(Contact.id.in_(ids))).all())
            rows = [_row(d) for d in batch
                    if d.contact_id in emails and email_hash(emails[d.contact_id]) == d.email_hash]
            if rows:
                session.execute(insert(Event), rows)
                if after is not None:
                    after(session, {r["contact_id"] for r in rows}, max(r["occurred_at"] for r in rows))
        return rows

    def close(self) -> None:
        """Stop the flusher and write what is left."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=5)
        self.flush()

    def _ensure_flusher(self) -> None:
        # A forked worker inherits the object but not the thread: start one per process.
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._stop.clear()
                self._thread = threading.Thread(target=_run, args=(weakref.ref(self),), daemon=True,
                                                name="cabos-download-log")
                self._thread.start()


def _run(ref: weakref.ReferenceType[DownloadLog]) -> None:
    while True:
        log_ = ref()
        if log_ is None or log_._stop.is_set():
            return
        wake, interval = log_._wake, log_.interval
        del log_  # do not keep the log alive while sleeping
        wake.wait(interval)
        wake.clear()
        log_ = ref()
        if log_ is None:
            return
        try:
            log_.flush()
        except Exception:  # never let the flusher die: the next round retries
            logging.getLogger("cabos.contacts.downloads").exception("download log flush failed")
        del log_


def _row(d: Download) -> dict[str, Any]:
    return {"type": "download", "occurred_at": d.occurred_at, "contact_id": d.contact_id, "visitor_id": None,
            "view_id": None, "content_kind": "guide", "content_slug": d.slug, "stage": d.stage,
            "problems": list(d.problems), "engaged_ms": 0, "scroll_pct": 0, "read_to_end": False, "data": d.data}
