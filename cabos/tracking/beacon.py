"""The beacon endpoint, ``POST /t/e``: a thin edge over the ingest pipeline.

Beacons are by far the most frequent request, and need nothing of what the rest of the
site runs per request (sessions, login, CSRF, form rate limits, page security headers).
So ``BeaconEndpoint`` answers them in front of Flask's request pipeline, inside an app
context; every other request goes on to Flask unchanged. The blueprint's ``/t/e`` view
calls the same ``handle`` (it is what ``url_for('tracking.beacon_view')`` names). When the
write buffer is full, the request that filled it writes the batch once its answer is out
(the answer's iterable closes with ``buffer.flush_if_due``).

Answers: 400 with a reason for a payload we cannot read (nothing stored or counted);
204 otherwise, stored or dropped alike, so a sender learns nothing about our filters. The
one exception is about us, not the sender: when the write buffer is full (the database has
been away or slow for long), 503 with Retry-After, and the reading is counted as an
``overload`` drop. A 204 means the reading is queued and will be written once. Never a 500:
an unexpected error is logged and counted as the ``error`` drop reason.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from flask import Flask, current_app
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import ClosingIterator

from cabos.content import Document, current_library
from cabos.db import utcnow
from cabos.tracking import consent, ingest, tokens, visitors
from cabos.tracking.consent import Level

if TYPE_CHECKING:  # the WSGI types exist only for type checkers
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("cabos.tracking")
requests_log = logging.getLogger("cabos.requests")
PATH = "/t/e"
ERROR = "error"  # drop reason: a bug, logged with its traceback
LANDING_ENDPOINTS = {"article": "public.article", "page": "public.page", "guide": "guides.landing"}


class Answer(NamedTuple):
    """What the beacon endpoint answers, as plain WSGI parts (cheaper than a Response)."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def response(self) -> Response:
        return Response(self.body, status=self.status, headers=self.headers)


def _answer(status: int, detail: str | None = None) -> Answer:
    if detail is None:
        return Answer("204 No Content", [("Cache-Control", "no-store")])
    body = json.dumps({"error": "Bad Request", "status": status, "detail": detail}).encode()
    return Answer(f"{status} Bad Request", [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                                             ("Content-Length", str(len(body)))], body)


_busy = json.dumps({"error": "Service Unavailable", "status": 503,
                    "detail": "overloaded: the reading was not stored; try again later"}).encode()
OVERLOADED = Answer("503 Service Unavailable", [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                                                ("Retry-After", "30"), ("Content-Length", str(len(_busy)))], _busy)


def source_host(req: Request) -> str | None:
    """Host of the page that sent the request: Origin, else Referer; '?' when unreadable."""
    origin = req.headers.get("Origin")
    if origin is not None:
        return ingest.host_of(origin) if origin != "null" else "?"
    return ingest.host_of(req.headers.get("Referer"))


def own_hosts(req: Request) -> frozenset[str]:
    return ingest.own_hosts(current_app.config.get("SITE_URL"), current_library().site.base_url,
                            extra=(req.host,))


def landing(doc: Document) -> str:
    """The content's path on the site (for touches), built without a request context."""
    paths: dict[tuple[str, str], str] = current_app.extensions["cabos.tracking.paths"]
    key = (doc.kind, doc.slug)
    path = paths.get(key)
    if path is None:
        endpoint = LANDING_ENDPOINTS[doc.kind]
        adapter = current_app.url_map.bind("localhost")
        path = adapter.build(endpoint, {"slug": doc.slug}) if endpoint in current_app.view_functions else "/"
        if len(paths) > 10_000:  # slugs come from content: bounded, but never let it grow for ever
            paths.clear()
        paths[key] = path
    return path


def context(req: Request) -> ingest.Context:
    address = req.remote_addr
    return ingest.Context(
        user_agent=req.headers.get("User-Agent", ""),
        client_key=ingest.client_key(address, current_app.secret_key.encode()),  # type: ignore[union-attr]
        network=ingest.truncate_ip(address),
        source_host=source_host(req),
        fetch_site=req.headers.get("Sec-Fetch-Site"),
        own_hosts=own_hosts(req),
        mode=consent.site_mode(),
        choice=consent.choice(req),
        signal=consent.privacy_signal(req.headers),
        visitor_id=visitors.cookie_visitor_id(req),
        now=utcnow(),
    )


def read_body(req: Request) -> bytes:
    if (req.content_length or 0) > ingest.MAX_BODY:
        raise ingest.Invalid("too_large")
    return req.stream.read(ingest.MAX_BODY + 1)


def handle(req: Request) -> Answer:
    """One beacon through the pipeline (needs an app context)."""
    try:
        payload = ingest.validate(ingest.parse(read_body(req)))
    except ingest.Invalid as exc:
        return _answer(400, f"invalid payload: {exc.reason}")
    state = current_app.extensions["cabos.tracking"]
    ctx = context(req)
    response = _answer(204)
    verdict = ingest.drop(payload, ctx, current_library(), tokens.verify_page_token, state.allow)
    if isinstance(verdict, ingest.Dropped):
        state.buffer.count_drop(verdict.reason, ctx.now.date())
        return response
    visitor_id = ctx.visitor_id if verdict.level is Level.PERSONAL else None
    minted = verdict.level is Level.PERSONAL and visitor_id is None
    if minted and ingest.limited(ctx.network) and not state.allow(f"m:{ctx.network}"):
        state.buffer.count_drop(ingest.RATE_LIMIT, ctx.now.date())  # a cookieless flood mints no visitors
        return response
    if minted:
        visitor_id = visitors.new_visitor_id()  # a missing or tampered cookie: a fresh visitor
    reading = ingest.enrich(payload, verdict, ctx, visitor_id, landing(verdict.doc))
    if not state.buffer.add(reading):
        state.buffer.count_drop(ingest.OVERLOAD, ctx.now.date())
        return OVERLOADED
    if minted:
        response.headers.append(visitors.cookie_header(visitor_id, req))
    elif verdict.level is not Level.PERSONAL and req.cookies.get(consent.cookie_name(visitors.COOKIE)):
        response.headers.append(visitors.cookie_header(None, req))  # DNT/GPC or declined: no visitor cookie stays
    return response


def safely(req: Request) -> Answer:
    """``handle``, with any unexpected error logged and answered 204 (never a 500)."""
    try:
        return handle(req)
    except Exception:
        log.exception("tracking: beacon failed")
        try:
            current_app.extensions["cabos.tracking"].buffer.count_drop(ERROR, utcnow().date())
        except Exception:
            log.exception("tracking: could not count the failed beacon")
        return _answer(204)


class BeaconEndpoint:
    """WSGI middleware: ``POST /t/e`` answered here, everything else passed on."""

    def __init__(self, app: Flask, inner: WSGIApplication) -> None:
        self.app = app
        self.inner = inner
        # Flask's per-request JSON log line never sees beacons: write theirs here.
        self.log_json = app.config.get("LOG_FORMAT") == "json"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.inner(environ, start_response)
        started = time.perf_counter() if self.log_json else 0.0
        req = Request(environ)
        with self.app.app_context():
            answer = safely(req)
        start_response(answer.status, answer.headers)
        if self.log_json:
            requests_log.info("request", extra={"http": {
                "method": "POST", "path": PATH, "status": int(answer.status[:3]),
                "ms": round((time.perf_counter() - started) * 1000, 2), "endpoint": "tracking.beacon_view"}})
        body = [answer.body] if answer.body else []
        buffer = self.app.extensions["cabos.tracking"].buffer
        if buffer.due:  # write the full batch once this answer has gone out
            return ClosingIterator(body, buffer.flush_if_due)
        return body


def install(app: Flask) -> None:
    """Put ``BeaconEndpoint`` in front of Flask, behind any ProxyFix (so client addresses stay right)."""
    app.extensions["cabos.tracking.paths"] = {}
    holder: Any = app
    attribute = "wsgi_app"
    # Go inside the middlewares already there (ProxyFix from security.init_app, guides'
    # FastDownloads; werkzeug's convention: the wrapped app is ``.app``).
    while hasattr(getattr(holder, attribute), "app") and not isinstance(getattr(holder, attribute), Flask):
        holder, attribute = getattr(holder, attribute), "app"
    setattr(holder, attribute, BeaconEndpoint(app, getattr(holder, attribute)))
