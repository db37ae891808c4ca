"""Sign-in, sign-out, revocation, rate limits, roles: the staff session as an attacker probes it."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cabos.staff import accounts
from cabos.staff.models import StaffUser
from tests.conftest import STAFF_PASSWORD, staff_login

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"STAFF_LOGIN_RATE_LIMIT": "4 per minute", "STAFF_LOGIN_ACCOUNT_RATE_LIMIT": "6 per hour"}


def csrf_token(client: FlaskClient, path: str = "/staff/login") -> str:
    match = CSRF.search(client.get(path).get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: FlaskClient, email: str, password: str, next_: str = "") -> Any:
    token = csrf_token(client)
    return client.post("/staff/login", data={"csrf_token": token, "email": email, "password": password,
                                             "next": next_})


def test_sign_in_rotates_the_session_and_sets_a_hardened_cookie(client: FlaskClient, make_staff) -> None:
    user = make_staff("sales")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker before sign-in"
    response = sign_in(client, user.email, STAFF_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"] == f"{user.id}:1"
    assert client.get("/staff/").status_code == 200


def test_sign_in_rehashes_with_production_parameters(client: FlaskClient, make_staff, db) -> None:
    user = make_staff("sales")
    sign_in(client, user.email, STAFF_PASSWORD)
    with db.sessions() as s:
        stored = s.get(StaffUser, user.id)
        assert stored is not None and "m=65536" in stored.password_hash and stored.last_login_at is not None


def _strip_token(body: str) -> str:
    return CSRF.sub("", body)


def test_unknown_user_wrong_password_and_inactive_account_get_identical_answers(app: Flask, make_staff) -> None:
    user = make_staff("sales", email="real@staff.example")
    make_staff("sales", email="gone@staff.example", active=False)
    answers = []
    for email, password in (("nobody@staff.example", "wrong password here"),
                            ("real@staff.example", "wrong password here"),
                            ("gone@staff.example", STAFF_PASSWORD)):
        client = app.test_client()
        response = sign_in(client, email, password)
        body = _strip_token(response.get_data(as_text=True)).replace(email, "EMAIL")
        answers.append((response.status_code, body, sorted(k for k in response.headers.keys() if k != "Set-Cookie")))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 200
    assert user.email not in answers[0][1]


def test_failed_sign_ins_are_rate_limited_per_ip(app: Flask, make_staff) -> None:
    user = make_staff("sales")
    client = app.test_client()
    codes = [sign_in(client, f"x{i}@staff.example", "wrong password here").status_code for i in range(5)]
    assert codes == [200, 200, 200, 200, 429]
    # Even the right password waits: the limit is on the address, not on the guess.
    assert sign_in(client, user.email, STAFF_PASSWORD).status_code == 429


def test_failed_sign_ins_are_rate_limited_per_account_across_ips(app: Flask, make_staff) -> None:
    user = make_staff("sales")
    codes = []
    for i in range(7):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{i + 1}"
        codes.append(sign_in(client, user.email, "wrong password here").status_code)
    assert codes[:6] == [200] * 6 and codes[6] == 429


def test_sign_in_without_csrf_token_is_refused(client: FlaskClient, make_staff) -> None:
    user = make_staff("sales")
    response = client.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD})
    assert response.status_code == 400


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/articulos/x",
                                    "javascript:alert(1)", "/staff/\r\nSet-Cookie: x=1", "/staff/\nLocation: //evil"])
def test_next_never_leaves_the_staff_pages(client: FlaskClient, make_staff, target: str) -> None:
    user = make_staff("sales")
    response = sign_in(client, user.email, STAFF_PASSWORD, next_=target)
    assert response.headers["Location"] == "/staff/"


def test_a_signed_in_visit_with_cr_lf_in_next_goes_home(staff_client) -> None:
    response = staff_client("sales").get("/staff/login?next=/staff/%0d%0aSet-Cookie:%20x=1")
    assert response.status_code == 302 and response.headers["Location"] == "/staff/"


def test_next_inside_staff_is_followed(client: FlaskClient, make_staff) -> None:
    user = make_staff("sales")
    assert sign_in(client, user.email, STAFF_PASSWORD, "/staff/queue?sort=due").headers["Location"] == \
        "/staff/queue?sort=due"


def test_anonymous_is_sent_to_sign_in_with_next(client: FlaskClient) -> None:
    response = client.get("/staff/queue?sort=due")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/login?next=")


def test_sign_out_revokes_a_copied_cookie(app: Flask, make_staff) -> None:
    user = make_staff("sales")
    client = app.test_client()
    sign_in(client, user.email, STAFF_PASSWORD)
    stolen = client.get_cookie("cabos_session")
    assert stolen is not None
    token = csrf_token(client, "/staff/")
    assert client.post("/staff/logout", data={"csrf_token": token}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("cabos_session", stolen.value)
    assert thief.get("/staff/").status_code == 302


def test_deactivation_ends_open_sessions(app: Flask, make_staff, db) -> None:
    user = make_staff("sales")
    client = staff_login(app.test_client(), user)
    assert client.get("/staff/").status_code == 200
    with db.sessions() as s:
        accounts.deactivate(s, s.get(StaffUser, user.id))
        s.commit()
    assert client.get("/staff/").status_code == 302


def test_password_reset_ends_open_sessions(app: Flask, make_staff, db) -> None:
    user = make_staff("sales")
    client = staff_login(app.test_client(), user)
    with db.sessions() as s:
        accounts.set_password(s.get(StaffUser, user.id), "a brand new passphrase")
        s.commit()
    assert client.get("/staff/").status_code == 302


def test_sessions_expire(app: Flask, make_staff) -> None:
    client = staff_login(app.test_client(), make_staff("sales"))
    with client.session_transaction() as sess:
        sess["_staff_at"] = time.time() - 13 * 3600
    assert client.get("/staff/").status_code == 302


def test_home_shows_the_sections_of_the_role(staff_client) -> None:
    sales = staff_client("sales").get("/staff/").get_data(as_text=True)
    admin = staff_client("admin").get("/staff/").get_data(as_text=True)
    assert "/staff/queue" in sales and "/staff/deliveries" not in sales
    assert "/staff/queue" in admin and "/staff/deliveries" in admin


def test_staff_pages_are_not_cached(staff_client) -> None:
    response = staff_client("sales").get("/staff/")
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
