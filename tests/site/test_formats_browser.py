"""One number and date style per language, on the pages people read: contact page, queue, dashboard, and an email.

The demo content is served once in Spanish and once in English; chromium reads the rendered text.
"""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cabos.contacts.capture import Lead
from cabos.db import utcnow
from cabos.sales.models import Handoff
from cabos.sales.notify import enqueue, message_for
from cabos.sales.outcomes import OutcomeInput, record_outcome
from cabos.staff.models import StaffUser
from tests.conftest import DEMO_CONTENT, STAFF_PASSWORD
from tests.sales.conftest import run_journey

pytestmark = pytest.mark.browser

MONTHS = {"es": "(ene|feb|mar|abr|may|jun|jul|ago|sept?|oct|nov|dic)", "en": "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"}
STYLE = {  # a moment, a decimal, a percentage, an amount of money: as each language writes them
    "es": {"moment": re.compile(rf"^\d{{1,2}} {MONTHS['es']} \d{{4}}, \d{{1,2}}:\d{{2}}$"),
           "clock": re.compile(r"^\d{1,2}:\d{2}$"), "decimal": re.compile(r"\d,\d"),
           "percent": re.compile(r"\d\u00a0%"), "money": re.compile(r"\d\u00a0€")},
    "en": {"moment": re.compile(rf"^{MONTHS['en']} \d{{1,2}}, \d{{4}}, \d{{1,2}}:\d{{2}}\u202f[AP]M$"),
           "clock": re.compile(r"^\d{1,2}:\d{2}\u202f[AP]M$"), "decimal": re.compile(r"\d\.\d"),
           "percent": re.compile(r"\d%"), "money": re.compile(r"€\d")},
}


@pytest.fixture(params=["es", "en"])
def content_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    root = tmp_path / f"content-{request.param}"
    shutil.copytree(DEMO_CONTENT, root)
    site = root / "site.yml"
    site.write_text(re.sub(r"(?m)^language: \w+$", f"language: {request.param}", site.read_text()))
    return root


def _language(app: Flask) -> str:
    with app.app_context():
        return app.extensions["cabos.content"].current().site.language


def _won_handoff(app: Flask, db: Any, seller: StaffUser) -> tuple[int, str]:
    """A contact handed off to ``seller`` and won (money on the dashboard); and the email the seller got."""
    with app.test_request_context("/"), db.sessions() as s:
        journey = run_journey(s)
        handoff = s.get(Handoff, journey.handoff.id)
        handoff.assigned_to = seller.id
        message = message_for(s, enqueue(s, handoff, utcnow()), utcnow())
        assert message is not None
        record_outcome(s, handoff, OutcomeInput("accepted"), s.get(StaffUser, seller.id), utcnow())
        record_outcome(s, handoff, OutcomeInput("won", revenue_cents=1_234_500, currency="EUR"),
                       s.get(StaffUser, seller.id), utcnow() + timedelta(seconds=1))
        open_one = run_journey(s, lead=Lead(email="luis@example.com", name="Luis Peña", fields={"company": "Peña SL"},
                                            consent_text="yes"), visitor="d" * 32)
        s.get(Handoff, open_one.handoff.id).assigned_to = seller.id
        s.commit()
        return journey.contact.id, message.get_content()


def test_each_language_has_one_style_on_every_screen_and_in_email(app: Flask, db, make_staff, live_server,
                                                                   chromium) -> None:
    language = _language(app)
    style, other = STYLE[language], STYLE["en" if language == "es" else "es"]
    seller = make_staff("sales", email="seller@staff.example", name="Marta")
    admin = make_staff("admin", email="admin@staff.example")
    contact_id, email = _won_handoff(app, db, seller)

    context = chromium.new_context()
    page = context.new_page()
    page.goto(live_server.url + "/staff/login")
    page.fill("#email", admin.email)
    page.fill("#password", STAFF_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/staff/")

    page.goto(live_server.url + f"/staff/contacts/{contact_id}")
    moments = [t.strip() for t in page.locator("main time").all_inner_texts() if ":" in t]
    odd = [t for t in moments if not (style["moment"].match(t) or style["clock"].match(t))]
    assert moments and not odd, odd
    panel = page.locator(".contact-head .panel").inner_text()  # "At handoff: score 31,5, grade A"
    assert style["decimal"].search(panel) and not other["decimal"].search(panel), panel
    interest = page.locator(".brief ol").first.inner_text()
    assert style["percent"].search(interest) and not other["percent"].search(interest), interest

    page.goto(live_server.url + "/staff/queue?status=all")
    score = page.locator("table.queue td.num").first.inner_text()
    assert not other["decimal"].search(score), score
    due = page.locator("table.queue time").first.inner_text()  # the open handoff's "respond by"
    assert style["moment"].match(due), due

    page.goto(live_server.url + "/staff/dashboard/?range=30d")
    main = " | ".join(page.locator("main td.num").all_inner_texts())  # the figures, not the prose
    assert style["money"].search(main) and not other["money"].search(main)
    assert style["percent"].search(main) and not other["percent"].search(main)
    context.close()

    assert style["percent"].search(email) and not other["percent"].search(email), email
    due_line = next(line for line in email.splitlines() if re.search(r"\d{4}, \d", line))
    moment = re.search(rf"{MONTHS[language]}.*?\d:\d\d(\u202f[AP]M)?|\d{{1,2}} {MONTHS[language]} \d{{4}}, \d+:\d\d",
                       due_line)
    assert moment is not None and style["moment"].match(moment.group(0).rstrip(".")), due_line
    # The words too, not only the figures: the seller's email is read in the site's language.
    words = {"es": ("Resumen y recorrido de lectura", "Por favor, responde"),
             "en": ("Brief and full reading trail", "Please respond by")}
    assert all(w in email for w in words[language]), email
    assert not any(w in email for w in words["en" if language == "es" else "es"]), email
