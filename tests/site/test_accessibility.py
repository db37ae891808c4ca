"""WCAG 2.2 AA: axe-core (bundled with axe-playwright-python, nothing fetched) over every page type, public and staff.

Each page is opened in chromium and axe-core runs with the WCAG 2.0/2.1/2.2 A and AA rules; a
serious or critical violation fails the test with the rule, the element and the fix axe names.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from cabos.contacts.capture import Lead
from cabos.db import utcnow
from cabos.sales.models import Handoff
from cabos.staff.models import StaffUser
from tests.conftest import STAFF_PASSWORD
from tests.sales.conftest import run_journey

pytestmark = pytest.mark.browser
axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# Page types: home, lists, a guide landing, the new-link form, the error page (404; a 403 uses the same template).
PUBLIC = ["/", "/articulos/", "/guias", "/guias/guia-inventario-que-cuadra", "/guias/guia-inventario-que-cuadra/nuevo-enlace",
          "/no-such-page"]


def public_pages(app: Flask) -> list[str]:
    with app.app_context():
        library = app.extensions["cabos.content"].current()
        article = next(iter(library.articles.values()))
        problem = next(iter(library.problems))
        page = next(iter(library.pages.values()), None)
    extra = [f"/articulos/{article.slug}", f"/problemas/{problem}"] + ([f"/{page.slug}"] if page else [])
    return PUBLIC + extra


def serious(page: Any) -> list[str]:
    results = axe_playwright.Axe().run(page, options={"runOnly": {"type": "tag", "values": TAGS},
                                                      "resultTypes": ["violations"]})
    found = []
    for v in results.response["violations"]:
        if v["impact"] in ("serious", "critical"):
            targets = "; ".join(", ".join(map(str, n["target"])) + ": " + n["failureSummary"].splitlines()[-1].strip()
                                for n in v["nodes"][:3])
            found.append(f"{v['id']} ({v['impact']}): {v['help']} — {targets}")
    return found


def a_handed_off_contact(app: Flask, db: Any, seller: StaffUser) -> int:
    lead = Lead(email="sara.lopez@example.com", name="Sara López", fields={"company": "Alimentación SL",
                "role": "Jefa de almacén", "company_size": "50-199", "country": "ES"},
                custom={"referencias": "1.000 a 5.000"}, consent_text="yes")
    touch = {"source": "newsletter", "medium": "email", "at": (utcnow() - timedelta(days=3)).isoformat()}
    with app.test_request_context("/"), db.sessions() as s:
        journey = run_journey(s, lead=lead, touch=touch, visitor="c" * 32)
        s.get(Handoff, journey.handoff.id).assigned_to = seller.id
        s.commit()
        return journey.contact.id


def test_every_public_page_type_has_no_serious_violation_and_phones_reach_the_guide_form(app: Flask, live_server, chromium) -> None:
    context = chromium.new_context()
    page = context.new_page()
    problems = {}
    for path in public_pages(app):
        page.goto(live_server.url + path)
        if found := serious(page):
            problems[path] = found
        if path == "/guias/guia-inventario-que-cuadra":  # a wide screen has the form beside the text
            assert not page.locator(".jump-to-form a").is_visible()
    # Keyboard focus is visible on every focusable thing the keyboard reaches first.
    page.goto(live_server.url + "/")
    for _ in range(4):
        page.keyboard.press("Tab")
        ring = page.evaluate("(() => { const s = getComputedStyle(document.activeElement);"
                             " return [document.activeElement.tagName, s.outlineStyle, parseFloat(s.outlineWidth)]; })()")
        assert ring[1] == "solid" and ring[2] >= 2, ring
    # Phones: a guide landing's form comes after its text; a button on the first screen jumps to it.
    page.set_viewport_size({"width": 390, "height": 740})
    page.goto(live_server.url + "/guias/guia-inventario-que-cuadra")
    jump = page.locator(".jump-to-form a")
    assert jump.is_visible() and jump.bounding_box()["y"] < 740, "the button must be on the first screen"
    assert page.locator("#lead-form").bounding_box()["y"] > 740
    jump.click()
    page.wait_for_function("document.querySelector('#lead-form').getBoundingClientRect().top < 200")
    assert page.url.endswith("#lead-form")
    context.close()
    assert not problems, "\n".join(f"{path}:\n  " + "\n  ".join(v) for path, v in problems.items())


def test_every_staff_page_type_has_no_serious_violation_and_a_one_row_header_on_phones(app: Flask, db, make_staff, live_server, chromium) -> None:
    seller = make_staff("sales", email="seller@staff.example", name="Marta")
    admin = make_staff("admin", email="admin@staff.example")
    contact_id = a_handed_off_contact(app, db, seller)
    context = chromium.new_context()
    page = context.new_page()
    page.goto(live_server.url + "/staff/login")
    problems = {}
    if found := serious(page):
        problems["/staff/login"] = found
    page.fill("#email", admin.email)
    page.fill("#password", STAFF_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/staff/")
    paths = sorted(r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/staff/") and not r.arguments
                   and "GET" in (r.methods or ()) and not r.rule.endswith(".csv") and r.endpoint != "staff.login")
    for path in [*paths, f"/staff/contacts/{contact_id}"]:
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 200, path
        if found := serious(page):
            problems[path] = found
    # Phones: the staff header is one row, not a quarter of the screen.
    page.set_viewport_size({"width": 390, "height": 740})
    page.goto(live_server.url + "/staff/queue")
    height = page.locator(".staff-header").bounding_box()["height"]
    context.close()
    assert not problems, "\n".join(f"{path}:\n  " + "\n  ".join(v) for path, v in problems.items())
    assert height <= 60, f"the staff header takes {height:.0f} px of a 740 px screen"

