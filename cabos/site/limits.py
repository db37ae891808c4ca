"""Rate limits against bots: form posts per client IP, emails per recipient (Flask-Limiter).

Each app gets its own Limiter. Counters live in RATELIMIT_STORAGE_URI: by default
``database``, the app's own database (``limit_storage``), so a limit holds across
gunicorn workers and across instances; ``redis://…`` or ``memcached://…`` work too,
and ``memory://`` keeps them per process (one process only: tests, development).
The key is ``request.remote_addr``: behind proxies, ProxyFix (TRUSTED_PROXY_HOPS)
makes that the client's address.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, request
from flask_babel import gettext as _
from flask_limiter import Limiter
from limits import parse

from cabos.contacts.download_log import email_hash

from cabos import db
from cabos.limits import storage as limit_storage


def client_ip() -> str:
    return request.remote_addr or "unknown"


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    uri, options = limit_storage.resolve(app.config["RATELIMIT_STORAGE_URI"], db.database(app).engine,
                                         str(app.secret_key or "").encode())
    limiter = Limiter(client_ip, app=app, storage_uri=uri, storage_options=options, default_limits=[],
                      key_prefix="cabos")
    # Every limit in cabos is on a POST (forms, sign-in). Without this filter the limiter
    # resolves limits on every page view and download: a third of a cached download's cost.
    # A limit on a GET route would need this filter narrowed.
    limiter.request_filter(lambda: request.method in SAFE_METHODS)
    app.extensions["cabos.limiter"] = limiter


def form_limit(app: Flask, view: Callable[..., Any]) -> Callable[..., Any]:
    """``view`` with FORM_RATE_LIMIT applied to its POSTs (GETs are free)."""
    limiter: Limiter = app.extensions["cabos.limiter"]
    return limiter.limit(lambda: current_app.config["FORM_RATE_LIMIT"], methods=["POST"], scope="lead-forms",
                         error_message=lambda: _("Too many forms sent from your connection. "
                                                 "Please wait a minute and try again."))(view)


def recipient_allows(email: str) -> bool:
    """Count one email to ``email`` against MAIL_PER_RECIPIENT_LIMIT; False once it is used up.

    Public forms send to whatever address is typed in: without this, many IPs could
    flood one inbox. The counter is in the limiter's storage (shared by every process),
    keyed by a hash of the address, whatever the client's IP.
    """
    limiter: Limiter = current_app.extensions["cabos.limiter"]
    if not limiter.enabled:  # RATELIMIT_ENABLED off (the demo's replay, some tests): nothing is counted
        return True
    item = parse(str(current_app.config["MAIL_PER_RECIPIENT_LIMIT"]))
    return bool(limiter.limiter.hit(item, "cabos", "recipient", email_hash(email)))
