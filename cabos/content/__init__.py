"""Load, validate, index and render the content library; PDFs of guides."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, current_app
from werkzeug.http import http_date

from cabos.content.library import Library
from cabos.content.loader import Extension, LibraryLoader, load_library
from cabos.content.model import Document, Issue

__all__ = ["Library", "Document", "Issue", "load_library", "init_app", "current_library", "ContentStore"]

log = logging.getLogger("cabos.content")


class ContentStore:
    """Holds the current Library; reloads it when files change (dev mode)."""

    def __init__(self, root: Path, extensions: tuple[Extension, ...] = (), reload: bool = False) -> None:
        self.loader = LibraryLoader(root, extensions)
        self.reload_enabled = reload
        self._lock = threading.Lock()
        self._checked = 0.0
        self._stamp = self.loader.stamp()
        self.library = self.loader.load()
        self._mark_loaded()
        self._log_issues()

    def _mark_loaded(self) -> None:
        self.loaded_at = datetime.now(UTC).replace(microsecond=0)
        self.loaded_at_http = http_date(self.loaded_at)

    def current(self) -> Library:
        if self.reload_enabled and time.monotonic() - self._checked > 1.0:
            self.maybe_reload()
        release = self.library.next_release
        if release is not None and datetime.now(UTC) >= release:
            self.release()
        return self.library

    def release(self) -> None:
        """A scheduled piece's time has come: build the library again (unchanged files are not re-read)."""
        with self._lock:
            release = self.library.next_release
            if release is None or datetime.now(UTC) < release:
                return  # another thread released it
            self.library = self.loader.load()
            self._mark_loaded()
            log.info("content: published what was scheduled for %s", release.isoformat())

    def maybe_reload(self) -> bool:
        """Reload if any file changed; return whether it did."""
        with self._lock:
            self._checked = time.monotonic()
            stamp = self.loader.stamp()
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            self.library = self.loader.load()
            self._mark_loaded()
            self._log_issues()
            return True

    def _log_issues(self) -> None:
        for issue in self.library.issues:
            (log.error if issue.severity == "error" else log.warning)("content: %s", issue)


def init_app(app: Flask, extensions: tuple[Extension, ...] = ()) -> None:
    root = Path(app.config["CONTENT_DIR"]).resolve()
    app.extensions["cabos.content"] = ContentStore(root, extensions, bool(app.config["CONTENT_RELOAD"]))


def current_library() -> Library:
    return current_app.extensions["cabos.content"].current()

