"""One handler for every HTTP error: a page for people, JSON for programs."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

log = logging.getLogger("cabos.site")


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def render_error(exc: HTTPException) -> tuple[Response | str, int, dict[str, str]]:
    code = exc.code or 500
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()
    # The exception's own headers stay: Allow on a 405 (RFC 9110), WWW-Authenticate on a 401.
    headers = {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}
    if wants_json() or request.path.startswith(("/t/", "/api/")):
        return {"error": exc.name, "status": code, "detail": exc.description}, code, headers  # type: ignore[return-value]
    template = "404.html" if code == 404 else "error.html"
    return render_template(template, code=code, name=exc.name, description=exc.description), code, headers


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, render_error)

    @app.errorhandler(Exception)
    def unhandled(exc: Exception) -> tuple[Response | str, int, dict[str, str]]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(InternalServerError())

    @app.errorhandler(DBAPIError)
    def database_away(exc: DBAPIError) -> tuple[Response | str, int, dict[str, str]] | Response:
        # The database restarting or unreachable: a clear, temporary answer instead of a 500.
        # Pages that need no database (articles, guides' landing pages) keep being served.
        if not (exc.connection_invalidated or isinstance(exc, OperationalError)):
            return unhandled(exc)
        log.error("database unavailable on %s %s: %s", request.method, request.path,
                  (str(exc.orig or exc).splitlines() or [type(exc).__name__])[0])
        response = app.make_response(render_error(ServiceUnavailable(_("The service is briefly unavailable. "
                                                                       "Please try again in a minute."))))
        response.headers["Retry-After"] = "30"
        return response
