"""/healthz (the process answers) and /readyz (database reachable, content loaded)."""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cabos.db import database

bp = Blueprint("health", __name__)
log = logging.getLogger("cabos.requests")


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    try:
        with database().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    library = current_app.extensions["cabos.content"].library
    checks["content"] = "ok" if library.articles or library.pages else "no content loaded"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


def _start() -> None:
    g.started = time.perf_counter()


def _log(response: Response) -> Response:
    # One line per request; no query string (tokens), no IP, no cookies: no personal data.
    started = g.get("started")
    if started is not None:
        rule = request.url_rule
        # A path with a token in it (downloads, email links, unsubscribe) is logged as its route.
        path = rule.rule if rule is not None and "token" in rule.arguments else request.path
        log.info("request", extra={"http": {
            "method": request.method, "path": path, "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 2),
            "endpoint": request.endpoint or "",
        }})
    return response


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
               "message": record.getMessage()}
        if http := getattr(record, "http", None):
            out.update(http)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    if app.config["LOG_FORMAT"] == "json":
        root = logging.getLogger()
        plain = [h for h in root.handlers if type(h) is logging.StreamHandler]
        if not plain:
            plain = [logging.StreamHandler()]
            root.addHandler(plain[0])
        for handler in plain:
            handler.setFormatter(JSONFormatter())
        app.before_request(_start)
        app.after_request(_log)
