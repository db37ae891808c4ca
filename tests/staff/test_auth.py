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
    return {"STAFF_LOGIN_RATE_LIMIT": "4 per minute", "STAFF_LOGIN_ALERT_AFTER": 6}


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
    cookie, device = sorted(response.headers.getlist("Set-Cookie"), key=lambda c: c.startswith("cabos_staff_device"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "HttpOnly" in device and "SameSite=Strict" in device and "Path=/staff/login" in device
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


def from_address(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def sent_mail(app: Flask) -> list[Any]:
    from email import message_from_bytes, policy
    from pathlib import Path

    folder = Path(app.config["MAIL_FOLDER"])
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.glob("*.eml"))] \
        if folder.is_dir() else []


def test_a_stranger_cannot_lock_the_owner_out(app: Flask, make_staff) -> None:  # type: ignore[no-untyped-def]
    owner, admin = make_staff("sales"), make_staff("admin")
    laptop = from_address(app, "192.0.2.10")
    assert sign_in(laptop, owner.email, STAFF_PASSWORD).status_code == 302  # the owner's known device
    laptop.post("/staff/logout", data={"csrf_token": csrf_token(laptop, "/staff/")})
    # A spread-out attack: three wrong passwords from each of four addresses.
    codes = [sign_in(from_address(app, f"203.0.113.{i}"), owner.email, "wrong password here").status_code
             for i in range(4) for _ in range(3)]
    assert codes.count(200) >= 8 and set(codes) <= {200, 429}
    attacker = from_address(app, "203.0.113.1")
    refused = sign_in(attacker, owner.email, STAFF_PASSWORD)  # even the right password, from there: wait
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert sign_in(laptop, owner.email, STAFF_PASSWORD).status_code == 302  # the known device gets in
    assert sign_in(from_address(app, "198.51.100.9"), owner.email, STAFF_PASSWORD).status_code == 302  # a fresh source too
    # The owner and the admins are told, once, by the worker.
    from cabos.staff import alerts
    assert alerts.deliver(app) == 1 and alerts.deliver(app) == 0
    (message,) = sent_mail(app)
    assert owner.email in message["To"] and admin.email in message["To"]
    assert owner.email in message["Subject"]


def test_delays_grow_per_source_and_account(app: Flask, make_staff) -> None:
    user = make_staff("sales")
    app.config["STAFF_LOGIN_RATE_LIMIT"] = "100 per minute"
    client = from_address(app, "203.0.113.50")
    codes = [sign_in(client, user.email, "wrong password here").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 200]  # three free, the fourth starts a 1 s wait
    waiting = sign_in(client, user.email, "wrong password here")
    assert waiting.status_code == 429 and waiting.headers["Retry-After"] == "1"
    assert sign_in(from_address(app, "203.0.113.51"), user.email, STAFF_PASSWORD).status_code == 302


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
