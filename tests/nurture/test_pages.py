"""The nurture pages as a marketer sees them: a month of a sequence in numbers, an email
previewed in the browser, a test send that arrives at the SMTP server."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from cabos.nurture.report import sequence_reports
from cabos.content import current_library
from tests.conftest import STAFF_PASSWORD, staff_login
from tests.nurture.conftest import add_contact, go_purchase, guide_event, later, tick

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


@pytest.fixture
def app_config(smtp_server) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return smtp_server.settings


def links(message: Any) -> list[str]:
    text = message.get_body(("plain",)).get_content()
    return re.findall(r"https?://[^\s)>\]]+", text)


def a_month(app: Flask, session: Any, client: Any, smtp_server: Any) -> None:
    """Five people ask for the guide. Ana clicks (twice), Bea unsubscribes, Carla's address bounces,
    Dora switches to purchase mode on day 1, Eva just reads her emails. A month of daily ticks."""
    people = {name: add_contact(session, f"{name}@example.com", name.title()) for name in
              ("ana", "bea", "carla", "dora", "eva")}
    for contact in people.values():
        guide_event(session, contact)
    session.commit()
    smtp_server.refuse("carla@example.com")
    tick(app, now=later(minutes=1))
    by_address = {d.rcpt_tos[0]: d.message for d in smtp_server.messages}
    assert sorted(by_address) == ["ana@example.com", "bea@example.com", "dora@example.com", "eva@example.com"]
    click = next(u for u in links(by_address["ana@example.com"]) if "/e/c/" in u)
    for _ in range(2):
        assert client.get(urlsplit(click).path, headers={"User-Agent": BROWSER}).status_code == 302
    unsubscribe = next(u for u in links(by_address["bea@example.com"]) if "/e/u/" in u)
    assert client.post(urlsplit(unsubscribe).path).status_code == 200
    go_purchase(app, session, people["dora"], at=later(days=1))
    session.commit()
    for day in range(1, 31):
        tick(app, now=later(days=day, minutes=2))


def test_the_numbers_of_a_month(app, session, client, smtp_server) -> None:  # type: ignore[no-untyped-def]
    a_month(app, session, client, smtp_server)
    with app.app_context():
        report = sequence_reports(session, current_library())["welcome"]
    assert (report.enrolled, report.active, report.completed) == (5, 0, 2)
    # Bea unsubscribed, Carla's address bounced, Dora (purchase mode and a fit) went to sales.
    assert report.exits == {"unsubscribe": 1, "bounced": 1, "handoff": 1}
    welcome, nxt, case = report.steps
    assert (welcome.sent, welcome.clicked, welcome.unsubscribed, welcome.bounced) == (4, 1, 1, 1)
    assert (nxt.sent, nxt.clicked, case.sent) == (2, 0, 2)  # Ana and Eva went on


@pytest.mark.browser
def test_a_marketer_sees_the_month_previews_an_email_and_sends_a_test(  # type: ignore[no-untyped-def]
        app, session, client, smtp_server, make_staff, live_server, chromium) -> None:
    a_month(app, session, client, smtp_server)
    marketer = make_staff("marketer", email="mara@staff.example", name="Mara")
    before = len(smtp_server.messages)
    page = chromium.new_page()
    try:
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{live_server.url}/staff/login")
        page.fill("input[name=email]", marketer.email)
        page.fill("input[name=password]", STAFF_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/staff/$"))
        page.click("text=Nurture")
        page.wait_for_selector("#sequence-welcome")

        def count(selector: str) -> str:
            return page.inner_text(f"#sequence-welcome {selector}").strip()

        assert [count(f"dd[data-count={k}]") for k in ("enrolled", "active", "completed")] == ["5", "0", "2"]
        assert [count(f"dd[data-count=exit-{k}]") for k in ("unsubscribe", "bounced", "handoff")] == ["1"] * 3
        welcome = "tr[data-step=welcome]"
        assert [count(f"{welcome} td[data-count={k}]").split()[0] for k in
                ("sent", "clicked", "unsubscribed", "bounced")] == ["4", "1", "1", "1"]

        page.click(f"#sequence-welcome {welcome} a")
        page.wait_for_selector("#email-text")
        assert "Count 50 random locations" in page.inner_text("#email-text")
        assert page.inner_text("#subject") == "Your stock guide, Mara"
        frame = page.frame_locator("#email-html")
        assert "Count 50 random locations" in frame.locator("body").inner_text()
        page.fill("#contact", "ana@example.com")  # as Ana would get it
        page.click("form.inline button")
        page.wait_for_selector("text=For Ana (ana@example.com).")
        assert page.inner_text("#subject") == "Your stock guide, Ana"

        page.click("#test-send")
        page.wait_for_selector("text=Test sent to mara@staff.example.")
        (test,) = smtp_server.messages[before:]
        assert test.rcpt_tos == ["mara@staff.example"]  # never to Ana
        assert test.message["Subject"] == "[Test] Your stock guide, Ana"
        assert "/e/c/" not in test.message.get_body(("plain",)).get_content()  # links as written
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        page.close()


def test_nurture_pages_are_for_marketers_and_bad_addresses_are_404(app, staff_client) -> None:  # type: ignore[no-untyped-def]
    marketer = staff_client("marketer")
    assert marketer.get("/staff/nurture/").status_code == 200
    assert marketer.get("/staff/nurture/welcome/nope").status_code == 404
    assert marketer.get("/staff/nurture/nope/welcome").status_code == 404
    assert marketer.get("/staff/nurture/welcome/welcome?contact=" + "x" * 5000).status_code == 200
    assert staff_client("sales").get("/staff/nurture/").status_code == 403
    assert marketer.post("/staff/nurture/welcome/welcome/test").status_code == 400  # no CSRF token
