"""The visitor cookie: a 128-bit random id, signed so a tampered cookie is worth nothing.

The cookie is first-party, HttpOnly, SameSite=Lax, Secure over HTTPS, and is set by the
tracking endpoint's answer (never by a page, which stays the same for everyone and
cacheable), only when consent allows. A cookie whose signature does not verify is treated
as absent: the next beacon starts a fresh visitor, so a forged id can never reach someone
else's trail or contact.
"""

from __future__ import annotations

import re
import secrets
from functools import lru_cache

from flask import Response, after_this_request, current_app, g, request
from itsdangerous import BadSignature, Signer
from werkzeug.http import dump_cookie
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response as BaseResponse

from cabos.tracking import consent

COOKIE = "cabos_vid"
MAX_AGE = 395 * 24 * 3600  # 13 months
_ID = re.compile(r"^[0-9a-f]{32}$")


def new_visitor_id() -> str:
    return secrets.token_hex(16)


def _signer() -> Signer:
    return Signer(current_app.secret_key, salt="cabos.visitor")  # type: ignore[arg-type]


def sign(visitor_id: str) -> str:
    return _signer().sign(visitor_id).decode()


@lru_cache(maxsize=32768)
def _verify(secret: str, value: str) -> str | None:
    # Returning visitors send the same cookie with every beacon: remember the verdicts.
    try:
        visitor_id = Signer(secret, salt="cabos.visitor").unsign(value).decode()
    except (BadSignature, UnicodeDecodeError):
        return None
    return visitor_id if _ID.match(visitor_id) else None


def verify(value: str | None) -> str | None:
    """The visitor id in a cookie value, or None if missing, malformed or tampered."""
    if not value or len(value) > 128:
        return None
    return _verify(current_app.secret_key, value)  # type: ignore[arg-type]


def cookie_visitor_id(req: Request | None = None) -> str | None:
    """The verified id in this request's cookie, whatever consent says (the consent endpoint needs it)."""
    return verify((req or request).cookies.get(consent.cookie_name(COOKIE)))


def current_visitor_id(create: bool = False) -> str | None:
    """The verified visitor of this request; None if absent, tampered or not to be tracked.

    ``create=True`` (an identification: lead form, email click) mints a visitor when consent
    allows and there is none yet, and sets its cookie on this request's response.
    """
    if consent.request_level() is not consent.Level.PERSONAL:
        return None
    visitor_id = g.get("cabos_new_visitor") or cookie_visitor_id()
    if visitor_id is None and create:
        visitor_id = g.cabos_new_visitor = new_visitor_id()

        @after_this_request
        def _set(response: Response) -> Response:
            set_cookie(response, visitor_id)
            return response

    return visitor_id


def cookie_header(visitor_id: str | None, req: Request | None = None) -> tuple[str, str]:
    """The Set-Cookie header that sets the visitor cookie, or deletes it (``visitor_id=None``)."""
    value = dump_cookie(consent.cookie_name(COOKIE), sign(visitor_id) if visitor_id else "",
                        max_age=MAX_AGE if visitor_id else 0,
                        expires=None if visitor_id else 0, path="/", secure=consent.secure(req),
                        httponly=True, samesite="Lax")
    return "Set-Cookie", value


def set_cookie(response: BaseResponse, visitor_id: str, req: Request | None = None) -> None:
    response.headers.add(*cookie_header(visitor_id, req))


def delete_cookie(response: BaseResponse, req: Request | None = None) -> None:
    response.headers.add(*cookie_header(None, req))
