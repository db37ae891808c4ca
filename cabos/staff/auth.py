"""Who is asking: staff sessions (Flask-Login) for pages, bearer tokens for the API.

A session cookie names ``<user id>:<session version>`` and the time of login;
the user loads only while the account is active, the version still matches
(logout, password reset and deactivation bump it) and the login is younger
than STAFF_SESSION_HOURS. API routes (``/api/``) ignore the cookie: only a
bearer token opens them, so they need no CSRF token and a page cannot be
tricked into calling them with the staff member's cookie.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, current_app, redirect, request, session, url_for
from flask_login import LoginManager, current_user
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import Unauthorized

from cabos.db import get_session, utcnow
from cabos.staff.models import ROLES, ApiToken, StaffUser

F = TypeVar("F", bound=Callable[..., Any])
LOGIN_AT = "_staff_at"
TOKEN_PREFIX = "cabos_"


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def _load_user(user_id: str) -> StaffUser | None:
    if is_api_request():
        return None
    try:
        uid, version = (int(part) for part in user_id.split(":", 1))
    except ValueError:
        return None
    login_at = session.get(LOGIN_AT)
    max_age = float(current_app.config["STAFF_SESSION_HOURS"]) * 3600
    if not isinstance(login_at, (int, float)) or time.time() - login_at > max_age:
        return None
    user = get_session().get(StaffUser, uid)
    if user is None or not user.active or user.session_version != version:
        return None
    return user


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(session_: Session, user: StaffUser, name: str = "", now: datetime | None = None) -> str:
    """Create an API token for ``user``; the token itself is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session_.add(ApiToken(user_id=user.id, name=name[:100], token_hash=token_hash(token), created_at=now or utcnow()))
    session_.flush()
    return token


def user_for_token(session_: Session, token: str, now: datetime | None = None) -> StaffUser | None:
    """The active user a live token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session_.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token),
                                                 ApiToken.revoked_at.is_(None)))
    if row is None:
        return None
    user = session_.get(StaffUser, row.user_id)
    if user is None or not user.active:
        return None
    row.last_used_at = now or utcnow()
    return user


def _load_from_request(req: Any) -> StaffUser | None:
    if not is_api_request():
        return None
    scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    user = user_for_token(get_session(), token.strip())
    if user is not None:
        get_session().commit()  # last_used_at
    return user


def _unauthorized() -> Any:
    if is_api_request():
        raise Unauthorized("Send an API token: `Authorization: Bearer <token>` (create one with `cabos users token`).")
    return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))


def staff_required(*roles: str) -> Callable[[F], F]:
    """Only signed-in staff of ``roles`` (admins always): anonymous → login or 401, other roles → 403."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; roles are {ROLES}")

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return _unauthorized()
            if roles and current_user.role != "admin" and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        # Read by the route-inventory test: every staff endpoint says who may open it.
        wrapped.staff_roles = frozenset(roles or ROLES) | {"admin"}  # type: ignore[attr-defined]
        return cast(F, wrapped)

    return decorate


def current_staff() -> StaffUser:
    """The signed-in staff user (inside a ``staff_required`` view)."""
    return cast(StaffUser, current_user._get_current_object())  # type: ignore[attr-defined]


def init_app(app: Flask) -> None:
    """Flask-Login with our loaders."""
    # cabos.site.security already makes the cookie HttpOnly, SameSite=Lax (Secure behind HTTPS);
    # staff sign-in depends on it, so insist.
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SAMESITE"] in ("Lax", "Strict")
    manager = LoginManager(app)
    manager.user_loader(_load_user)
    manager.request_loader(_load_from_request)
    manager.unauthorized_handler(_unauthorized)
    manager.session_protection = "basic"
