"""Every route of the app, walked from app.url_map: staff routes refuse anonymous users and wrong
roles; every state-changing route refuses a missing CSRF token, except an explicit allow-list.

A new staff route fails here until it is added to ACCESS with the roles that may open it.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import Rule

from tests.conftest import staff_login

ROLES = ("admin", "marketer", "sales")
EVERYONE = frozenset(ROLES)

# endpoint → the roles that may use it (admins always may). Routes under /staff/ and /api/ only.
ACCESS: dict[str, frozenset[str]] = {
    "staff.home": EVERYONE,
    "sales.queue": EVERYONE,
    "sales.queue_csv": EVERYONE,
    "sales.contacts": EVERYONE,
    "sales.contact": EVERYONE,
    "sales.hand_off": frozenset({"admin", "marketer"}),
    "sales.outcome": frozenset({"admin", "sales"}),
    "sales.assign": frozenset({"admin"}),
    "sales.deliveries": frozenset({"admin"}),
    "sales.retry": frozenset({"admin"}),
    "sales.today": frozenset({"admin", "sales"}),
    "sales.add_note": frozenset({"admin", "sales"}),
    "sales.set_phone": frozenset({"admin", "sales"}),
    "sales.step_done": frozenset({"admin", "sales"}),
    "sales.set_booking": frozenset({"admin", "sales"}),
    "accounts.list": EVERYONE,
    "accounts.account": EVERYONE,
    "accounts.place": EVERYONE,
    "accounts.merge": frozenset({"admin", "marketer"}),
    "dashboard.index": EVERYONE,
    "dashboard.table_csv": EVERYONE,
    "nurture_staff.deliverability": frozenset({"admin", "marketer"}),
    "mail_api.api_deliverability": frozenset({"admin", "marketer"}),
    "api.contacts": EVERYONE,
    "api.contact": EVERYONE,
    "api.patch_contact": frozenset({"admin", "sales"}),
    "api.trail": EVERYONE,
    "api.handoffs": EVERYONE,
    "api.handoff": EVERYONE,
    "api.outcome": frozenset({"admin", "sales"}),
    "api.activities": EVERYONE,
    "api.add_activity": frozenset({"admin", "sales"}),
    "nurture_staff.in_doubt": frozenset({"admin", "marketer"}),
    "nurture_staff.decide": frozenset({"admin", "marketer"}),
    "nurture_staff.decide_guide": frozenset({"admin", "marketer"}),
    "nurture_staff.decide_broadcast": frozenset({"admin", "marketer"}),
    "tracking_staff.drops": frozenset({"admin", "marketer"}),
    "previews.content": frozenset({"admin", "marketer"}),
    "nurture_pages.index": frozenset({"admin", "marketer"}),
    "audiences.index": frozenset({"admin", "marketer"}),
    "nurture_pages.preview": frozenset({"admin", "marketer"}),
    "nurture_pages.preview_html": frozenset({"admin", "marketer"}),
    "nurture_pages.test_send": frozenset({"admin", "marketer"}),
    "intent_staff.backtest": EVERYONE,
}
# Under /staff/ or /api/ but open to anyone, on purpose.
OPEN = {"staff.login": "the sign-in form", "staff.logout": "signing out needs no session (CSRF still applies)",
        "api.openapi": "the API description"}

# State-changing routes that take no form CSRF token, and why (by path prefix).
CSRF_EXEMPT = {
    "/t/": "the tracking beacons (reading, consent): sendBeacon from cached pages identical for everyone",
    "/e/u/": "one-click unsubscribe (RFC 8058): mail clients POST without a page",
    "/api/": "token-authenticated API: cookies do not authenticate /api/",
    "/mail/webhooks/": "mail providers' bounce and complaint webhooks: each verified by its provider's signature or credentials",
}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def is_staff(rule: Rule) -> bool:
    return rule.rule.startswith(("/staff/", "/api/"))


def url_for_rule(rule: Rule) -> str:
    values: dict[str, Any] = {}
    for arg in rule.arguments:
        converter = rule._converters[arg].__class__.__name__  # type: ignore[attr-defined]
        values[arg] = 1 if converter in ("IntegerConverter", "IdConverter") else "x"
    return rule.build(values, append_unknown=False)[1]  # type: ignore[index]


def methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def staff_rules(app: Flask) -> list[Rule]:
    return [r for r in app.url_map.iter_rules() if is_staff(r) and r.endpoint not in OPEN]


@pytest.fixture
def no_csrf_app(app_factory, content_dir) -> Flask:  # type: ignore[no-untyped-def]
    """The same app with CSRF off, so role checks are seen behind it."""
    return app_factory(content_dir, WTF_CSRF_ENABLED=False)


def test_every_staff_route_is_in_the_table(app: Flask) -> None:
    missing = sorted(r.endpoint for r in staff_rules(app) if r.endpoint not in ACCESS)
    assert not missing, f"new staff routes: add them to ACCESS with the roles that may use them: {missing}"


def test_every_staff_view_declares_its_roles_and_they_match_the_table(app: Flask) -> None:
    for rule in staff_rules(app):
        declared = getattr(app.view_functions[rule.endpoint], "staff_roles", None)
        assert declared is not None, f"{rule.endpoint} is not protected by staff_required"
        assert declared == ACCESS[rule.endpoint], f"{rule.endpoint}: declared {sorted(declared)}"


def test_anonymous_users_are_refused_everywhere(no_csrf_app: Flask) -> None:
    client = no_csrf_app.test_client()
    for rule in staff_rules(no_csrf_app):
        for method in methods(rule):
            response = client.open(url_for_rule(rule), method=method)
            if rule.rule.startswith("/api/"):
                assert response.status_code == 401, (rule.endpoint, method, response.status_code)
                assert response.is_json
            else:
                assert response.status_code == 302, (rule.endpoint, method, response.status_code)
                assert response.headers["Location"].startswith("/staff/login")


def _token_client(app: Flask, user: Any) -> Any:
    from cabos.db import session_scope
    from cabos.staff.auth import new_token
    from cabos.staff.models import StaffUser

    with app.app_context(), session_scope(app) as s:
        token = new_token(s, s.get(StaffUser, user.id))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_routes(no_csrf_app: Flask, make_staff, role: str) -> None:
    user = make_staff(role)
    page_client = staff_login(no_csrf_app.test_client(), user)
    api_client = _token_client(no_csrf_app, user)
    for rule in staff_rules(no_csrf_app):
        client = api_client if rule.rule.startswith("/api/") else page_client
        for method in methods(rule):
            response = client.open(url_for_rule(rule), method=method)
            code = response.status_code
            if role in ACCESS[rule.endpoint]:
                assert code not in (302, 401, 403) and code < 500, (role, rule.endpoint, method, code)
            else:
                assert code == 403, (role, rule.endpoint, method, code)


def test_a_session_cookie_does_not_open_the_api(app: Flask, make_staff) -> None:
    client = staff_login(app.test_client(), make_staff("admin"))
    assert client.get("/api/contacts").status_code == 401
    assert client.get("/staff/").status_code == 200


def test_every_state_changing_route_refuses_a_missing_csrf_token(app: Flask, make_staff) -> None:
    client = staff_login(app.test_client(), make_staff("admin"))
    checked = []
    for rule in app.url_map.iter_rules():
        for method in sorted(set(methods(rule)) & STATE_CHANGING):
            if rule.rule.startswith(tuple(CSRF_EXEMPT)):
                continue
            response = client.open(url_for_rule(rule), method=method, data={"anything": "1"})
            assert response.status_code == 400, (rule.endpoint, method, response.status_code)
            checked.append(rule.endpoint)
    assert {"staff.login", "staff.logout", "sales.outcome", "guides.landing"} <= set(checked)


def test_the_csrf_allow_list_names_real_routes(app: Flask) -> None:
    posts = [r.rule for r in app.url_map.iter_rules() if set(methods(r)) & STATE_CHANGING]
    stale = [prefix for prefix in CSRF_EXEMPT if not any(p.startswith(prefix) for p in posts)]
    assert not stale, f"stale entries: {stale}"
