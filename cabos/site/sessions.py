"""Flask's cookie sessions, with the signing serializer built once per key.

Flask builds a new serializer on every request; on a cached article page that
was a quarter of the request's cost (bench/article_throughput.py).
"""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class SessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._cached: tuple[object, object, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if self._cached is None or self._cached[0] is not app or self._cached[1] != key:
            self._cached = (app, key, super().get_signing_serializer(app))
        return self._cached[2]
