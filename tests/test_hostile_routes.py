"""Every route of the app, from its URL map, with hostile values in the path, the query and the body,
as a stranger, as staff of each role and through the API with a token: never a 5xx, never a traceback
in the log. Runs on SQLite and PostgreSQL (the suite's two passes); examples are bounded to keep it fast.
"""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import Rule

from cabos.db import session_scope
from cabos.staff.auth import new_token
from cabos.staff.models import StaffUser
from tests.conftest import staff_login
from tests.sales.conftest import run_journey

WALK = settings(max_examples=45, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])

INTS = st.sampled_from(["0", "-1", "1", "2", "2147483648", "9223372036854775808", "18446744073709551616",
                        "1" + "0" * 40, "+1", "1e3", "0x10", "٣"])
DATES = st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-30", "-0001-01-01", "99999-01-01", "2026-13-01",
                         "1970-01-01T00:00:00", ""])
CONTROL = st.sampled_from(["\x00", "\r\n", "\u202e", "\u2066", "\ufeff", "\x1b[2J", "\u200b", "\t", "\x7f"])
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.builds(lambda a, c, b: a + c + b, st.text(max_size=10), CONTROL, st.text(max_size=10)),
    st.sampled_from(["<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "%", "{{7*7}}", "a" * 5000,
                     "//evil.example/", "https://evil.example/", "javascript:alert(1)", "null", "[]", "{}"]),
)
VALUES = st.one_of(TEXT, INTS, DATES)
INVALID_UTF8 = st.sampled_from(["%ff", "%c0%af", "%ed%a0%80", "%fe%ff%00", "a%80b"])
# Query parameter and form field names the app reads somewhere, and a few it never does.
NAMES = ["from", "to", "range", "every", "page", "limit", "before", "sort", "status", "next", "v", "q", "kind",
         "email", "name", "password", "reason", "note", "revenue_cents", "currency", "won_on", "assignee",
         "decision", "mark", "choice", "phone", "booking_url", "body", "due_on", "f_company", "f_role",
         "f_company_size", "f_plazo", "consent", "website", "ref", "csrf_token", "utm_source", "token", "x"]
NESTED = "[" * 50_000 + "]" * 50_000


def _path_value(draw: Any, converter: str) -> str:
    if converter in ("IntegerConverter", "IdConverter"):
        return draw(INTS)
    return draw(st.one_of(TEXT.map(lambda s: quote(s, safe="") or "x"), INVALID_UTF8))


@st.composite
def requests(draw: Any, rules: list[Rule]) -> dict[str, Any]:
    rule = draw(st.sampled_from(rules))
    method = draw(st.sampled_from(sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})))
    path = rule.rule
    for arg in rule.arguments:
        converter = rule._converters[arg].__class__.__name__  # type: ignore[attr-defined]
        path = re.sub(r"<(?:[^:>]+:)?" + re.escape(arg) + ">", _path_value(draw, converter), path)
    query = draw(st.lists(st.tuples(st.sampled_from(NAMES), st.one_of(
        VALUES.map(lambda s: quote(s, safe="")), INVALID_UTF8)), max_size=3))
    url = path + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
    request: dict[str, Any] = {"method": method, "path": url}
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        kind = draw(st.sampled_from(["form", "files", "json", "nested", "bytes", "huge"]))
        if kind in ("form", "files"):
            fields = draw(st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=6))
            data: dict[str, Any] = dict(fields)
            if kind == "files":
                for name in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3)):
                    data[name] = (io.BytesIO(b"GIF89a\x00\xff"), "x.gif")
            request.update(data=data, content_type="multipart/form-data" if kind == "files" else None)
        elif kind == "json":
            value = draw(st.one_of(st.dictionaries(st.sampled_from(NAMES), st.one_of(
                VALUES, st.integers(), st.floats(allow_nan=False), st.none(), st.booleans(),
                st.lists(st.integers(), max_size=3))), st.lists(VALUES, max_size=3), VALUES, st.integers()))
            request.update(data=json.dumps(value), content_type="application/json")
        elif kind == "nested":
            request.update(data=NESTED, content_type=draw(st.sampled_from(["application/json", "text/plain"])))
        elif kind == "bytes":
            request.update(data=b"\xff\xfe\x00name=\xc0\xaf&email=%ff", content_type=draw(st.sampled_from(
                ["application/x-www-form-urlencoded", "application/json", "text/plain;charset=UTF-8",
                 "multipart/form-data; boundary=x"])))
        else:
            request.update(data=b"a=" + b"x" * 3_000_000, content_type="application/x-www-form-urlencoded")
    return request


@pytest.fixture
def app_config() -> dict[str, Any]:
    # CSRF off so hostile bodies reach the views (CSRF itself: tests/staff/test_route_inventory.py);
    # limits high so they do not stop the walk early.
    return {"WTF_CSRF_ENABLED": False, "FORM_RATE_LIMIT": "100000 per minute",
            "STAFF_LOGIN_RATE_LIMIT": "100000 per minute", "TRACKING_RATE_LIMIT": "100000 per minute",
            "TRACKING_NETWORK_RATE_LIMIT": "100000 per minute", "TRACKING_NEW_VISITOR_LIMIT": "100000 per minute"}


@pytest.fixture
def walk(app: Flask, db, make_staff, caplog: pytest.LogCaptureFixture):  # type: ignore[no-untyped-def]
    """(rules, clients by who they are, the check of one request)."""
    with app.test_request_context("/"), db.sessions() as session:
        run_journey(session)
        session.commit()
    users = {role: make_staff(role) for role in ("admin", "marketer", "sales")}
    with app.app_context(), session_scope(app) as s:
        token = new_token(s, s.get(StaffUser, users["admin"].id))
    clients: dict[str, FlaskClient] = {"stranger": app.test_client()}
    for role, user in users.items():
        clients[role] = staff_login(app.test_client(), user)
    api = app.test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    clients["api"] = api
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
    caplog.set_level(logging.WARNING)

    def check(client: FlaskClient, request: dict[str, Any]) -> None:
        caplog.clear()
        with client.open(request["path"], method=request["method"], data=request.get("data"),
                         content_type=request.get("content_type"), buffered=True) as response:
            status = response.status_code
        crashes = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
        assert status < 500, (status, request["method"], request["path"][:300])
        assert not crashes, (request["method"], request["path"][:300], crashes[0].getMessage())

    return rules, clients, check


@pytest.mark.parametrize("who", ["stranger", "admin", "marketer", "sales", "api"])
def test_no_route_answers_a_hostile_request_with_a_5xx(walk, who: str) -> None:  # type: ignore[no-untyped-def]
    rules, clients, check = walk
    if who == "api":
        rules = [r for r in rules if r.rule.startswith("/api/")]
    elif who != "stranger":
        rules = [r for r in rules if r.rule.startswith("/staff/")]

    @WALK
    @given(request=requests(rules))
    def one(request: dict[str, Any]) -> None:
        check(clients[who], request)

    one()
