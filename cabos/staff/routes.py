"""Sign in, sign out and the staff home (the sections the role may open)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from flask import (Blueprint, Flask, Response, current_app, has_request_context, make_response, redirect,
                   render_template, request, session, url_for)
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter
from limits.storage import MemoryStorage
from flask_login import current_user, login_user, logout_user
from sqlalchemy.orm.exc import DetachedInstanceError

from cabos.contacts.capture import normalise_email
from cabos.db import get_session, utcnow
from cabos.staff import accounts, alerts
from cabos.staff.auth import LOGIN_AT, current_staff, staff_required
from cabos.staff.forms import LoginForm, LogoutForm
from cabos.staff.sections import home_for, sections_for
from cabos.staff.throttle import Throttle, remember_device

THROTTLE = "cabos.staff_throttle"

# Staff pages are private and change with every action: never cached; their URLs never leak.
# (The site-wide Content-Security-Policy of cabos.site.security applies here too.)
SECURITY_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


ROLE_LABELS = {"admin": _l("Administrator"), "marketer": _l("Marketing"), "sales": _l("Sales")}


def role_label(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a staff path on this site, never elsewhere."""
    if not target:
        return url_for("staff.home")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):  # CR/LF would split the Location header
        return url_for("staff.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/staff/") or "\\" in target \
            or target.startswith("//"):
        return url_for("staff.home")
    return target


def login() -> Any:
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    failed = False
    if form.validate_on_submit():
        db = get_session()
        email = normalise_email(form.email.data or "")[:254]
        throttle: Throttle = current_app.extensions[THROTTLE]
        verdict = throttle.check(request, email)
        if verdict.wait:  # the password is not even checked: guessing from here is slowed
            form.password.data = ""
            response = make_response(render_template("staff/login.html", form=form, failed=False,
                                                     wait=verdict.wait), 429)
            response.headers["Retry-After"] = str(verdict.wait)
            return response
        user = accounts.authenticate(db, form.email.data or "", form.password.data or "")
        if user is not None:
            target = safe_next(form.next.data)
            session.clear()  # nothing from before sign-in survives (session fixation)
            login_user(user)
            session[LOGIN_AT] = time.time()
            db.commit()
            response = redirect(target)
            remember_device(request, response, email)
            return response
        if throttle.failed(request, email) == throttle.alert_after:
            alerts.queue_failed_sign_ins(db, email, throttle.alert_after, utcnow())
            db.commit()
        failed = True
    elif request.method == "POST":
        failed = True
    # Unknown address, wrong password, inactive account: the same answer, the same work.
    form.password.data = ""
    return render_template("staff/login.html", form=form, failed=failed, wait=0), 200


def logout() -> Any:
    form = LogoutForm()
    if form.validate_on_submit() and current_user.is_authenticated:
        user = current_staff()
        accounts.end_sessions(user)
        get_session().commit()
    logout_user()
    session.clear()
    return redirect(url_for("staff.login"))


@staff_required()
def home() -> Any:
    view = home_for(current_staff().role)
    if view is not None:  # e.g. a salesperson's day (cabos.sales)
        return view()
    return render_template("staff/home.html", sections=sections_for(current_staff().role))


def _no_store(response: Response) -> Response:
    if request.path.startswith("/staff/") or request.path.startswith("/api/"):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def _context() -> dict[str, Any]:
    if not has_request_context() or not request.path.startswith("/staff/"):
        return {}
    try:
        role = current_user.role if current_user.is_authenticated else None
    except DetachedInstanceError:  # an error page after the request's session was rolled back
        role = None
    return {"staff_sections": sections_for(role), "logout_form": LogoutForm(formdata=None) if role else None}


def init_app(app: Flask) -> None:
    """Register the staff blueprint at /staff/ with a rate-limited sign-in."""
    limiter: Limiter = app.extensions["cabos.limiter"]
    failed_only = {"deduct_when": lambda response: response.status_code != 302, "methods": ["POST"]}
    limited = limiter.limit(lambda: current_app.config["STAFF_LOGIN_RATE_LIMIT"], scope="staff-login-ip",
                            **failed_only)(login)
    # Per account: growing delays that spare known devices and fresh sources (see throttle.py), never
    # a fixed limit per address, which let anyone lock the owner out.
    # With RATELIMIT_ENABLED off (the demo's simulation) Flask-Limiter has no storage: count in this process.
    app.extensions[THROTTLE] = Throttle(app, limiter.storage if limiter.enabled else MemoryStorage())
    alerts.init_app(app)
    bp = Blueprint("staff", __name__, url_prefix="/staff")
    bp.add_url_rule("/login", "login", limited, methods=["GET", "POST"])
    bp.add_url_rule("/logout", "logout", logout, methods=["POST"])
    bp.add_url_rule("/", "home", home, methods=["GET"])
    app.register_blueprint(bp)
    app.after_request(_no_store)
    app.context_processor(_context)
    app.jinja_env.globals["role_label"] = role_label
