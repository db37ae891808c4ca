"""Stored XSS in every attacker-controlled field, on every staff page, in a real browser: no script runs.

Lead-form fields, custom answers, UTM values, referrers, landing pages, email data and staff notes
are filled with payloads; Chromium opens each staff page signed in as an admin and as the
salesperson, and the test asserts that no payload ran, no dialog opened, and no payload became an
element or a javascript: link.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from cabos.contacts.capture import Lead
from cabos.db import utcnow
from cabos.sales.models import Handoff
from cabos.sales.outcomes import OutcomeInput, record_outcome
from cabos.staff.models import StaffUser
from cabos.tracking.models import Event
from tests.conftest import STAFF_PASSWORD
from tests.sales.conftest import run_journey

pytestmark = pytest.mark.browser

SCRIPT = "<script>window.__xss=1</script>"
IMG = '"><img src=x onerror="window.__xss=1">'
SVG = "'><svg onload=window.__xss=1>"
URL = "javascript:window.__xss=1//"
P = SCRIPT + IMG + SVG + "{{7*7}}"

CHECK = """() => ({
  ran: window.__xss !== undefined,
  injected: document.querySelectorAll('img[src="x"], svg[onload], [onerror], [onload]').length,
  inlineScripts: Array.from(document.scripts).filter(s => !s.src).length,
  jsLinks: document.querySelectorAll('a[href^="javascript:"], [src^="javascript:"]').length,
  shown: document.body.innerText.includes('<script>window.__xss=1</script>'),
})"""


def poison(app: Flask, db: Any, seller: StaffUser) -> int:
    touch = {"source": P, "medium": P, "campaign": P, "term": P, "content": P, "referrer": P, "landing": URL + IMG,
             "at": (utcnow() - timedelta(days=3)).isoformat()}
    lead = Lead(email="victim@example.com", name=P, fields={"company": P, "role": P, "company_size": P,
                                                            "country": P},
                custom={"sector": P, "notes": URL + SVG}, consent_text="yes")
    with app.test_request_context("/"), db.sessions() as s:
        j = run_journey(s, lead=lead, touch=touch, visitor="b" * 32)
        s.add(Event(type="email_click", occurred_at=utcnow() - timedelta(hours=1), contact_id=j.contact.id,
                    data={"url": URL + IMG, "subject": P, "touch": touch, "user_agent": P}))
        s.add(Event(type="email_sent", occurred_at=utcnow() - timedelta(hours=2), contact_id=j.contact.id,
                    data={"email": P, "subject": P}))
        handoff = s.get(Handoff, j.handoff.id)
        handoff.assigned_to = seller.id
        record_outcome(s, handoff, OutcomeInput("accepted"), s.get(StaffUser, seller.id), utcnow())
        s.commit()
        return j.contact.id


def staff_pages(app: Flask, contact_id: int) -> list[str]:
    pages = [r.rule for r in app.url_map.iter_rules()
             if r.rule.startswith("/staff/") and not r.arguments and "GET" in (r.methods or ())
             and not r.rule.endswith(".csv") and r.endpoint not in ("staff.login",)]
    return sorted(pages) + [f"/staff/contacts/{contact_id}", "/staff/queue?status=all",
                            f"/staff/contacts?q={P[:20]}", "/staff/deliveries?status=all"]


def test_no_payload_runs_on_any_staff_page(app: Flask, db, make_staff, live_server, chromium) -> None:
    seller = make_staff("sales", name=P, email="seller@staff.example")
    admin = make_staff("admin", email="admin@staff.example")
    contact_id = poison(app, db, seller)
    for user in (admin, seller):
        context = chromium.new_context()
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(live_server.url + "/staff/login")
        page.fill("#email", user.email)
        page.fill("#password", STAFF_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/staff/")
        visited = 0
        for path in staff_pages(app, contact_id):
            response = page.goto(live_server.url + path)
            assert response is not None
            if response.status == 403:
                continue
            assert response.status == 200, (user.role, path, response.status)
            result = page.evaluate(CHECK)
            assert result == {"ran": False, "injected": 0, "inlineScripts": 0, "jsLinks": 0,
                              "shown": result["shown"]}, (user.role, path, result)
            visited += 1
        page.goto(live_server.url + f"/staff/contacts/{contact_id}")
        assert page.evaluate(CHECK)["shown"], "the payload should be shown as text on the contact page"
        assert dialogs == []
        assert visited >= 5
        context.close()
