"""Security headers on every response, proxy trust, and cookie hardening.

The Content-Security-Policy allows only our own scripts and styles: no inline
script, no inline style element, no third party. Pages therefore keep every
script in static files and pass data through data-* attributes. Images, frames
and media from other sites are allowed only from the origins site.yml lists
under ``embeds`` (and ``cabos check`` warns about any the pages would lose).
"""

from __future__ import annotations

import functools

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from cabos.content import current_library
from cabos.content.model import Embeds


def csp(embeds: Embeds = Embeds()) -> str:
    """The policy: our own code only, plus the images, frames and media site.yml's ``embeds`` allows."""
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        " ".join(["img-src 'self' data:", *embeds.images]),
        "font-src 'self'",
        "connect-src 'self'",
        *([" ".join(["frame-src 'self'", *embeds.frames])] if embeds.frames else []),
        *([" ".join(["media-src 'self'", *embeds.media])] if embeds.media else []),
        "form-action 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ])


CSP = csp()
_site_csp = functools.lru_cache(maxsize=16)(csp)


def https(app: Flask) -> bool:
    """Whether the public site is served over HTTPS (from SITE_URL or site.yml's base_url)."""
    return bool(app.config.get("HTTPS"))


def cookie_name(app: Flask, name: str) -> str:
    """`__Host-` prefixed behind HTTPS: the browser then insists on Secure, Path=/ and no Domain."""
    return f"__Host-{name}" if https(app) else name


def _headers(response: Response) -> Response:
    h = response.headers
    h.setdefault("Content-Security-Policy", _site_csp(current_library().site.embeds))
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def init_app(app: Flask) -> None:
    hops = int(app.config["TRUSTED_PROXY_HOPS"])
    if hops > 0:  # only trust X-Forwarded-* from as many proxies as we were told exist
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]
    site_url = app.config.get("SITE_URL") or app.extensions["cabos.content"].library.site.base_url
    app.config["HTTPS"] = str(site_url).startswith("https://")
    app.config.update(
        SESSION_COOKIE_NAME=cookie_name(app, "cabos_session"),
        SESSION_COOKIE_SECURE=https(app),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        PREFERRED_URL_SCHEME="https" if https(app) else "http",
    )
    app.after_request(_headers)
