"""The salesperson's day in a real browser: Today, a note with a next step, "won", the account page, phones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from cabos.contacts.models import Contact
from cabos.db import utcnow
from cabos.sales.handoffs import create_handoff
from tests.conftest import STAFF_PASSWORD

pytestmark = pytest.mark.browser

NO_SIDEWAYS = "() => document.scrollingElement.scrollWidth <= window.innerWidth + 1"
# Every label of the interest chart lies inside the drawing (nothing cut at an edge).
LABELS_INSIDE = """() => Array.from(document.querySelectorAll('.chart svg')).every(svg => {
  const box = svg.viewBox.baseVal;
  return Array.from(svg.querySelectorAll('text')).every(t => {
    const b = t.getBBox(); return b.x >= box.x - 0.5 && b.x + b.width <= box.x + box.width + 0.5; });
})"""


def sign_in(chromium: Any, url: str, email: str, **context: Any) -> Any:
    page = chromium.new_context(**context).new_page()
    page.goto(url + "/staff/login")
    page.fill("#email", email)
    page.fill("#password", STAFF_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/staff/")
    return page


def test_a_salespersons_day(app: Flask, db, journey, make_staff, live_server, chromium) -> None:
    admin = make_staff("admin", email="admin@staff.example")
    with app.test_request_context("/"), db.sessions() as s:
        pedro = Contact(email="pedro@almacenes-ruiz.es", name="Pedro Ruiz", company="Almacenes Ruiz")
        s.add(pedro)
        s.flush()
        late = create_handoff(s, pedro, {"by": "test"}, utcnow() - timedelta(days=3))
        late.assigned_to, late.due_at = journey.seller.id, utcnow() - timedelta(hours=2)
        s.commit()
    page = sign_in(chromium, live_server.url, journey.seller.email)
    # Today is the salesperson's home: the new handoff and the overdue one, each with why.
    assert "Marta Ruiz" in page.inner_text("#new") and "Pedro Ruiz" in page.inner_text("#overdue")

    # A note with a next step, saved, on the trail; the outcome form shows only the chosen outcome's fields.
    page.click(f"a[href='/staff/contacts/{journey.contact.id}']")
    page.fill("#note-body", "Llamada: dos almacenes, quiere una demo")
    page.fill("#note-step", "Enviar la demo")
    page.fill("#note-due", (utcnow() + timedelta(days=2)).date().isoformat())
    page.click(".note-form button[type=submit]")
    page.wait_for_url(f"**/staff/contacts/{journey.contact.id}#notes")
    assert "Enviar la demo" in page.inner_text("#notes")
    assert "dos almacenes, quiere una demo" in page.inner_text("#trail")
    assert page.is_hidden("#won-revenue")
    page.check("input[name=kind][value=won]")
    assert page.is_visible("#won-revenue") and page.is_hidden("#reason_lost")
    page.fill("#won-revenue", "12.500")
    page.click(".outcome-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".contact-head .badge.stage-customer").count() == 1
    assert page.locator("#outcome").count() == 0

    # An admin (who could hand a contact to sales) is not offered it for a customer.
    other = sign_in(chromium, live_server.url, admin.email)
    other.goto(live_server.url + f"/staff/contacts/{journey.contact.id}")
    assert other.locator(f"form[action='/staff/contacts/{journey.contact.id}/handoff']").count() == 0

    # The account: both people of Almacenes Ruiz, their combined interest.
    other.click(".contact-links a[href^='/staff/accounts/']")
    people = other.inner_text("table.people")
    assert "Marta Ruiz" in people and "Pedro Ruiz" in people
    assert other.locator("ol.interest li").count() >= 1

    # Phones: no sideways scrolling on the queue, today and the contact page; chart labels kept.
    phone = sign_in(chromium, live_server.url, journey.seller.email, viewport={"width": 375, "height": 800})
    for path in ("/staff/queue?status=all", "/staff/today", f"/staff/contacts/{journey.contact.id}"):
        phone.goto(live_server.url + path)
        assert phone.evaluate(NO_SIDEWAYS), path
    assert phone.evaluate(LABELS_INSIDE)
    for p in (page, other, phone):
        p.context.close()
