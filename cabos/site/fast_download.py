"""Cached guide downloads answered in front of Flask's request pipeline.

A download of a PDF that is already rendered, with a valid link, needs none of
what the site runs per request (sessions, CSRF, limits, templates): the link is
checked, the download is added to the event buffer and the file is handed to
the server (``wsgi.file_wrapper``: sendfile under gunicorn). Anything else (no
or bad token, a PDF not rendered yet, HEAD, byte ranges, conditional requests,
unknown guides) goes on to the ``guides.download`` view unchanged, which
answers it fully. Both answer the same bytes and headers for the same request.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from flask import Flask
from werkzeug.http import http_date
from werkzeug.wsgi import wrap_file

from cabos.contacts.download_log import Download
from cabos.content.pdf import pdf_inputs
from cabos.site import security
from cabos.site.download_links import LinkError, read_token

if TYPE_CHECKING:  # the WSGI types exist only for type checkers
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("cabos.guides")
# Requests these headers change are the view's: it knows ranges and conditional answers.
_VIEW_ONLY = ("HTTP_RANGE", "HTTP_IF_RANGE", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH",
              "HTTP_IF_UNMODIFIED_SINCE")


def download_headers(slug: str, version: str, size: int, mtime: float, secure: bool) -> list[tuple[str, str]]:
    """The headers of a full download: the view's, and the site's security headers."""
    headers = [
        ("Content-Type", "application/pdf"),
        ("Content-Length", str(size)),
        ("Last-Modified", http_date(int(mtime))),
        ("Date", http_date(time.time())),
        ("Expires", http_date(time.time())),
        ("Content-Disposition", f"attachment; filename={quote(slug)}.pdf"),
        ("ETag", f'"{version}"'),
        ("Accept-Ranges", "bytes"),
        ("Cache-Control", "private, no-store"),
        ("Referrer-Policy", "same-origin"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    # What security.py adds to every Flask response; tests/guides/test_fast_download.py fails if they drift.
    headers += [
        ("Content-Security-Policy", security.CSP),
        ("X-Frame-Options", "DENY"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if secure:
        headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return headers


class FastDownloads:
    """WSGI middleware: full GETs of cached guide PDFs with a valid link answered here."""

    def __init__(self, flask_app: Flask, inner: WSGIApplication, guides_word: str, download_word: str) -> None:
        self.flask = flask_app
        # `app` is the wrapped WSGI app, as in werkzeug's middlewares: whoever installs
        # another middleware later (the beacon endpoint) finds its way inside this one.
        self.app = inner
        self.pattern = re.compile(rf"^/{re.escape(guides_word)}/([a-z0-9-]{{1,200}})/{re.escape(download_word)}$")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        match = self.pattern.match(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") != "GET" or any(h in environ for h in _VIEW_ONLY):
            return self.app(environ, start_response)
        try:
            answered = self._serve(match.group(1), environ, start_response)
        except Exception:  # the view answers properly, and logs whatever is wrong
            log.exception("download fast path failed; handing over to the view")
            answered = None
        return answered if answered is not None else self.app(environ, start_response)

    def _serve(self, slug: str, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes] | None:
        config = self.flask.config
        library = self.flask.extensions["cabos.content"].current()
        doc = library.guides.get(slug)
        tokens = parse_qs(environ.get("QUERY_STRING", "")).get("token")
        if doc is None or not tokens:
            return None
        try:
            grant = read_token(config["SECRET_KEY"], tokens[0], slug, int(config["DOWNLOAD_LINK_MAX_AGE"]))
        except LinkError:
            return None
        base_url, names = pdf_inputs(config, library, doc)
        path = self.flask.extensions["cabos.pdfs"].cached_path(doc, library.site, base_url, names)
        if path is None:
            return None
        fh = open(path, "rb")  # noqa: SIM115 - the server closes it through the file wrapper
        try:
            stat = os.fstat(fh.fileno())
            version = path.stem.rsplit("--", 1)[-1]
            headers = download_headers(slug, version, stat.st_size, stat.st_mtime,
                                       environ.get("wsgi.url_scheme") == "https")
            self.flask.extensions["cabos.download_log"].add(Download(
                grant.contact_id, grant.email_hash, doc.slug, doc.stage, doc.problems, data={"file": version}))
            start_response("200 OK", headers)
            return wrap_file(environ, fh)
        except BaseException:
            fh.close()
            raise


def install(app: Flask, guides_word: str, download_word: str) -> None:
    """Put ``FastDownloads`` in front of Flask, behind any ProxyFix (so addresses and schemes stay right)."""
    holder: Any = app
    attribute = "wsgi_app"
    while hasattr(getattr(holder, attribute), "app") and not isinstance(getattr(holder, attribute), Flask):
        holder, attribute = getattr(holder, attribute), "app"
    setattr(holder, attribute, FastDownloads(app, getattr(holder, attribute), guides_word, download_word))
