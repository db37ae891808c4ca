"""The tracking endpoints under ``/t/``: the beacon, the consent choice, the OpenAPI document.

Both POST endpoints are exempt from the form CSRF token: pages are identical for every
visitor (cacheable), so they cannot carry one. Neither can be abused across sites:

- a beacon can only add to the sender's own reading (the visitor cookie is SameSite=Lax,
  so a cross-site POST carries none, and cross-site senders are dropped as
  ``foreign_host`` by their Origin/Referer/Sec-Fetch-Site);
- the consent choice must be ``application/json``, which another site cannot send
  without a CORS preflight we never grant, and is refused when Origin or Sec-Fetch-Site
  says it came from another site.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request

from cabos import db
from cabos.db import get_session, utcnow
from cabos.content.urls import site_url
from cabos.limits.windows import Windows
from cabos.tracking import beacon, consent, drops_page, ingest, openapi, ratelimit, tokens, visitors
from cabos.tracking.buffer import WriteBuffer
from cabos.tracking.models import Event, Visitor
from cabos.tracking.store import ensure_visitors

log = logging.getLogger("cabos.tracking")
bp = Blueprint("tracking", __name__, url_prefix="/t")


@dataclass
class Tracking:
    """Per-process tracking state: the write buffer and the beacon rate limiter."""

    buffer: WriteBuffer
    limiter: Windows

    def allow(self, key: str) -> bool:
        try:
            return self.limiter.allow(key)
        except Exception:  # a limiter store that is down must not cost readings
            log.exception("tracking: rate-limit store unavailable; beacon let through")
            return True


def state(app: Flask | None = None) -> Tracking:
    return (app or current_app).extensions["cabos.tracking"]


def _no_store(response: Response) -> Response:
    response.cache_control.no_store = True
    return response


@bp.post("/e")
def beacon_view() -> Any:
    """The beacon; ``beacon.BeaconEndpoint`` answers it before Flask, this names its URL."""
    return beacon.safely(request._get_current_object()).response()  # type: ignore[attr-defined]


def _body() -> bytes:
    return beacon.read_body(request._get_current_object())  # type: ignore[attr-defined]


@bp.post("/consent")
def consent_choice() -> Response:
    """Accept or decline; declining deletes the visitor cookie (withdrawal is this one call)."""
    req = request._get_current_object()  # type: ignore[attr-defined]
    if request.headers.get("Sec-Fetch-Site") == "cross-site" or (
            request.headers.get("Origin") is not None and beacon.source_host(req) not in beacon.own_hosts(req)):
        abort(403, description="consent can only be given from this site's pages")
    if request.mimetype != "application/json":
        abort(400, description="send the choice as JSON: {\"choice\": \"accept\"} or {\"choice\": \"decline\"}")
    try:
        raw = ingest.parse(_body())
    except ingest.Invalid as exc:
        abort(400, description=f"invalid payload: {exc.reason}")
    choice = raw.get("choice")
    if set(raw) != {"choice"} or choice not in ("accept", "decline"):
        abort(400, description="choice must be \"accept\" or \"decline\"")
    response = _no_store(Response(status=204))
    response.set_cookie(consent.cookie_name(consent.COOKIE),
                        consent.ACCEPTED if choice == "accept" else consent.DECLINED,
                        max_age=consent.MAX_AGE, secure=consent.secure(), samesite="Lax", path="/")
    visitor_id = visitors.cookie_visitor_id()
    if choice == "decline":
        visitors.delete_cookie(response)
    if visitor_id is not None:
        _record_consent(visitor_id, choice)
    return response


def _record_consent(visitor_id: str, choice: str) -> None:
    """The choice on the visitor's trail (and their contact's, if they identified)."""
    session = get_session()
    now = utcnow()
    ensure_visitors(session, {visitor_id: {}}, now)
    contact_id = session.get(Visitor, visitor_id).contact_id  # type: ignore[union-attr]
    session.add(Event(type="consent", occurred_at=now, visitor_id=visitor_id, contact_id=contact_id,
                      data={"choice": choice}))
    session.commit()


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(openapi.document(site_url("/")))


def _replay_on_first_request(app: Flask) -> None:
    """Queue what processes killed during an outage spilled, once per serving process: at its first
    request, not at start (``cabos serve`` builds the app before it execs gunicorn, and CLI commands
    build one too; neither should take the files)."""
    done = threading.Event()

    @app.before_request
    def _replay() -> None:
        if not done.is_set():
            done.set()
            try:
                state(app).buffer.replay()
            except OSError:
                log.exception("tracking: the spill files could not be read")


def _spill_dir(app: Flask) -> str:
    return str(app.config.get("TRACKING_SPILL_DIR") or os.path.join(app.instance_path, "tracking-spill"))


def _settings(app: Flask) -> tuple[int, int]:
    flush_ms = app.config.get("TRACKING_FLUSH_MS")
    if flush_ms is None:
        flush_ms = 0 if app.testing else 1000
    return int(flush_ms), int(app.config["TRACKING_BUFFER_SIZE"])


def _exempt_from_csrf(app: Flask) -> None:
    views = (beacon_view, consent_choice)
    csrf: Any = app.extensions.get("csrf")
    if csrf is not None:
        for view in views:
            csrf.exempt(view)
        return

    # CSRFProtect may be set up after us; our hook runs before its check, on every request,
    # until it is there.
    @app.before_request
    def _late_exempt() -> None:
        late: Any = app.extensions.get("csrf")
        if late is not None and not getattr(late, "_cabos_tracking_exempt", False):
            for view in views:
                late.exempt(view)
            late._cabos_tracking_exempt = True


def init_app(app: Flask) -> None:
    """Register /t/, the write buffer, the rate limiter, the ``view_token`` template global and the
    staff page of dropped beacons."""
    flush_ms, size = _settings(app)
    app.extensions["cabos.tracking"] = Tracking(
        buffer=WriteBuffer(db.database(app), flush_ms, size, spill_dir=_spill_dir(app)),
        limiter=ratelimit.make(app),
    )
    app.register_blueprint(bp)
    _replay_on_first_request(app)
    beacon.install(app)
    forms_limiter: Any = app.extensions.get("cabos.limiter")
    if forms_limiter is not None:
        # Beacons are rate limited inside the pipeline (a drop, 204), not with a 429.
        forms_limiter.request_filter(lambda: request.blueprint == "tracking")
    app.jinja_env.globals["view_token"] = tokens.view_token
    app.jinja_env.globals["consent_cookie"] = lambda: consent.cookie_name(consent.COOKIE)
    _exempt_from_csrf(app)
    drops_page.init_app(app)
