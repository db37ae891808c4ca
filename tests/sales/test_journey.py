"""The brief and the trail of a scripted journey, checked field by field."""

from __future__ import annotations

import re

from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from cabos.content import current_library
from cabos.intent import current_state
from cabos.intent.rules import current_rules
from cabos.sales import brief as briefs
from cabos.sales import trail
from cabos.sales.models import Delivery, Handoff
from cabos.tracking.models import Event
from tests.conftest import staff_login
from tests.sales.conftest import DECIDE, GUIDE, LEARN, PROBLEM, VISITOR


def test_handoff_is_assigned_with_evidence_and_on_the_trail(app: Flask, db, journey) -> None:
    with db.sessions() as s:
        handoff = s.get(Handoff, journey.handoff.id)
        assert handoff.assigned_to == journey.seller.id
        assert handoff.status == "new" and handoff.open_contact_id == journey.contact.id
        assert handoff.grade == "A" and handoff.top_problem == PROBLEM
        assert handoff.evidence["mode"] == "purchase"
        assert isinstance(handoff.evidence["trigger"], dict)
        assert {i["slug"] for i in handoff.evidence["items"]} >= set(DECIDE) | set(LEARN)
        assert handoff.due_at > handoff.created_at
        event = s.scalar(select(Event).where(Event.contact_id == journey.contact.id, Event.type == "handoff"))
        assert event.data["handoff"] == handoff.id and event.data["assigned_to"] == journey.seller.id
        email = s.scalar(select(Delivery).where(Delivery.kind == "email"))
        assert email.target == str(journey.seller.id) and email.status == "pending"


def test_brief_field_by_field(app: Flask, db, journey) -> None:
    with app.test_request_context("/"), db.sessions() as s:
        contact = s.get(type(journey.contact), journey.contact.id)
        now = journey.handoff_at + timedelta(minutes=1)
        library = current_library()
        b = briefs.compose(s, contact, library, current_rules(), now)
        assert (b.mode, b.grade) == ("purchase", "A")
        assert b.mode_since == journey.switch_at
        assert "Directora de operaciones" in b.fit_reason
        top = b.problems[0]
        assert top.slug == PROBLEM and top.name == library.problems[PROBLEM].name
        assert top.share > 0.5
        by_slug = {r.slug: r for r in top.readings}
        assert set(DECIDE) | set(LEARN) <= set(by_slug)
        assert by_slug[DECIDE[0]].engaged_ms == 300_000 and by_slug[DECIDE[0]].evidence
        assert by_slug[DECIDE[0]].title == library.articles[DECIDE[0]].title
        assert by_slug[LEARN[0]].engaged_ms == 200_000 and not by_slug[LEARN[0]].evidence
        assert by_slug[LEARN[1]].visits == 1
        assert top.questions == library.problems[PROBLEM].questions
        assert [(d.slug, d.title) for d in b.downloads] == [(GUIDE, library.guides[GUIDE].title)]
        assert b.downloads[0].at == journey.form_at + timedelta(minutes=1)
        assert b.switch is not None and b.switch.at == journey.switch_at and b.switch.cause == "activity"
        assert {r.slug for r in b.switch.evidence} >= {DECIDE[0]}
        assert b.latest_touch["campaign"] == "inventario-q4" and b.latest_touch["source"] == "google"
        state = current_state(s, contact.id, now)
        assert b.score == state.score
        assert b.interest[0][0] == PROBLEM
        as_json = briefs.brief_json(b)
        assert as_json["purchase_mode"]["at"] == journey.switch_at.isoformat()
        assert as_json["problems"][0]["questions"] == list(library.problems[PROBLEM].questions)


def test_trail_is_newest_first_and_grouped_by_visit(app: Flask, db, journey) -> None:
    with app.test_request_context("/"), db.sessions() as s:
        page = trail.page(s, journey.contact.id)
        groups = [(v.visitor_id, [e.type for e in v.events]) for v in page.visits]
        # capture() stitches the visitor at the real time: the merge is the newest event.
        assert groups == [
            (VISITOR, ["merge"]),
            (None, ["handoff", "mode_change"]),
            (VISITOR, ["reading", "reading", "reading"]),  # back for the decide stage
            (None, ["email_click"]),  # two hours apart: two runs
            (None, ["email_sent"]),
            (None, ["grade_change"]),  # graded when the form told us who they are
            (VISITOR, ["download", "form_submit", "reading", "reading"]),  # the first visit, stitched
        ]
        decide_visit = page.visits[2]
        assert [e.content_slug for e in decide_visit.events] == ["precios", DECIDE[1], DECIDE[0]]
        first = page.visits[-1].events
        assert first[-1].content_slug == LEARN[0] and first[-1].engaged_ms == 200_000 and first[-1].scroll_pct == 90
        assert page.next_cursor is None


def test_trail_pages_with_a_cursor(app: Flask, db, journey) -> None:
    with db.sessions() as s:
        seen = []
        cursor = None
        while True:
            page = trail.page(s, journey.contact.id, cursor, limit=3)
            seen += [e.id for v in page.visits for e in v.events]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        everything = trail.page(s, journey.contact.id, limit=100)
        assert seen == [e.id for v in everything.visits for e in v.events]
        assert len(seen) == len(set(seen)) == everything.count


def test_contact_page_shows_the_brief_and_the_trail(app: Flask, journey) -> None:
    client = staff_login(app.test_client(), journey.seller)
    body = client.get(f"/staff/contacts/{journey.contact.id}").get_data(as_text=True)
    library = app.extensions["cabos.content"].library
    assert "Marta Ruiz" in body and "Almacenes Ruiz" in body
    assert library.problems[PROBLEM].questions[0] in body
    assert library.articles[DECIDE[0]].title in body
    assert library.guides[GUIDE].title in body
    assert "inventario-q4" in body
    # The chart is SVG drawn on the server; the only script is the outcome form's external helper.
    assert "<svg" in body and re.findall(r"<script[^>]*>", body) == [
        f'<script src="/static/js/staff.js?v={app.config["ASSET_VERSION"]}" defer>']


def test_queue_lists_the_handoff(app: Flask, journey) -> None:
    client = staff_login(app.test_client(), journey.seller)
    body = client.get("/staff/queue").get_data(as_text=True)
    assert f"/staff/contacts/{journey.contact.id}" in body
