"""The salesperson's day: lifecycle stages, notes and next steps, Today, accounts, the queue's times, the API."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask_babel import gettext
from markupsafe import escape
from sqlalchemy import event, select

from cabos.contacts.models import Contact
from cabos.db import utcnow
from cabos.nurture.models import ACTIVE, EXITED, Enrolment
from cabos.sales import accounts
from cabos.sales.handoffs import create_handoff
from cabos.sales.models import Activity, Handoff
from cabos.sales.outcomes import OutcomeInput, record_outcome
from cabos.staff.models import StaffUser
from cabos.tracking.models import Event
from tests.conftest import staff_login
from tests.sales.conftest import DECIDE, reading
from tests.sales.test_access import api_client

TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def token(client, path: str) -> str:  # type: ignore[no-untyped-def]
    return TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def note(client, contact_id: int, **fields: str):  # type: ignore[no-untyped-def]
    data = {"csrf_token": token(client, f"/staff/contacts/{contact_id}"), "kind": "call", "body": "",
            "next_step": "", "due_on": "", **fields}
    return client.post(f"/staff/contacts/{contact_id}/notes", data=data)


def win(app: Flask, db, journey) -> None:  # type: ignore[no-untyped-def]
    with app.test_request_context("/"), db.sessions() as s:
        record_outcome(s, s.get(Handoff, journey.handoff.id), OutcomeInput("won", revenue_cents=500000,
                                                                          currency="EUR"),
                       s.get(StaffUser, journey.seller.id), utcnow())
        s.commit()


def test_a_won_contact_is_a_customer_never_handed_off_again_and_leaves_prospect_sequences(
        app: Flask, db, journey, staff_client) -> None:
    with db.sessions() as s:
        s.add(Enrolment(contact_id=journey.contact.id, sequence="bienvenida-inventario", round=2, status=ACTIVE,
                        next_step="x", step_index=1, next_due_at=utcnow(), enrolled_at=utcnow(), updated_at=utcnow(),
                        trigger={}))
        s.commit()
    win(app, db, journey)
    with db.sessions() as s:
        enrolment = s.scalar(select(Enrolment).where(Enrolment.round == 2))
        assert (enrolment.status, enrolment.exit_reason) == (EXITED, "customer")
        with app.test_request_context("/"):
            again = create_handoff(s, s.get(Contact, journey.contact.id), {"by": "test"}, utcnow())
        assert again.id == journey.handoff.id and again.status == "won"
    marketer = staff_client("marketer")
    body = marketer.get(f"/staff/contacts/{journey.contact.id}").get_data(as_text=True)
    assert "stage-customer" in body
    assert f"/staff/contacts/{journey.contact.id}/handoff" not in body
    api = api_client(app, journey.seller).get(f"/api/contacts/{journey.contact.id}").get_json()
    assert api["stage"] == "customer" and api["handoffs"][0]["stage"] == "customer"


def test_a_note_with_a_next_step_is_saved_on_the_trail_and_in_the_api(app: Flask, db, journey) -> None:
    client = staff_login(app.test_client(), journey.seller)
    due = (utcnow() + timedelta(days=2)).date().isoformat()
    response = note(client, journey.contact.id, body="Called: two warehouses, wants a demo", next_step="Send demo",
                    due_on=due)
    assert response.status_code == 302
    body = client.get(f"/staff/contacts/{journey.contact.id}").get_data(as_text=True)
    assert "two warehouses, wants a demo" in body and "Send demo" in body
    with db.sessions() as s:
        event = s.scalar(select(Event).where(Event.type == "activity"))
        assert event.data["next_step"] == "Send demo" and event.data["due_on"] == due
    api = api_client(app, journey.seller).get(f"/api/contacts/{journey.contact.id}/activities").get_json()
    assert api["activities"][0]["body"].startswith("Called") and api["activities"][0]["due_on"] == due
    # A new next step replaces the open one.
    note(client, journey.contact.id, body="Demo sent", next_step="Follow up", due_on=due)
    with db.sessions() as s:
        open_steps = s.scalars(select(Activity.next_step).where(Activity.done_at.is_(None))).all()
        assert open_steps == ["Follow up"]


@pytest.mark.parametrize("fields, message", [
    ({"body": "   "}, "Write what was said, or a next step."),
    ({"body": "x" * 2001}, "The note is too long (%(num)d characters; at most %(max)d)."),
    ({"body": "ok", "next_step": "y" * 301, "due_on": "2999-01-01"},
     "The next step is too long (%(num)d characters; at most %(max)d)."),
    ({"body": "ok", "next_step": "Call back", "due_on": "2020-01-01"},
     "The due date is in the past; choose today or later."),
    ({"body": "ok", "next_step": "Call back"}, "Give the next step a due date."),
    ({"body": "ok", "due_on": "not a date"}, "The due date is not a date; write it as YYYY-MM-DD."),
])
def test_bad_notes_get_the_form_back_with_the_error_and_the_text(app: Flask, db, journey, fields, message) -> None:
    client = staff_login(app.test_client(), journey.seller)
    response = note(client, journey.contact.id, **fields)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    with app.test_request_context("/"):
        expected = str(escape(gettext(message, num=len(fields["body"]) if "note" in message else 301, max=0)))
    assert expected.split("(")[0].strip() in body
    if fields["body"].strip():
        assert fields["body"][:50] in body  # nothing lost
    with db.sessions() as s:
        assert s.scalar(select(Activity)) is None


def test_api_refuses_bad_activities(app: Flask, journey) -> None:
    client = api_client(app, journey.seller)
    url = f"/api/contacts/{journey.contact.id}/activities"
    assert client.post(url, data="nope", content_type="application/json").status_code == 400
    assert client.post(url, json={"kind": "call", "body": ""}).status_code == 400
    assert client.post(url, json={"kind": "call", "body": "x", "next_step": "y", "due_on": 5}).status_code == 400
    assert client.post(url, json={"kind": "call", "body": "x", "next_step": "y", "due_on": "31-12"}).status_code == 400
    ok = client.post(url, json={"kind": "call", "body": "Spoke", "next_step": "Quote",
                                "due_on": (utcnow() + timedelta(days=1)).date().isoformat()})
    assert ok.status_code == 201 and ok.get_json()["next_step"] == "Quote"


def test_phone_is_captured_and_offered_as_tel_link(app: Flask, db, journey) -> None:
    client = staff_login(app.test_client(), journey.seller)
    url = f"/staff/contacts/{journey.contact.id}"
    bad = client.post(url + "/phone", data={"csrf_token": token(client, url), "phone": "<b>call me</b>"})
    assert bad.status_code == 400 and "Eso no parece un teléfono" in bad.get_data(as_text=True)
    client.post(url + "/phone", data={"csrf_token": token(client, url), "phone": "+34 912 345 678"})
    body = client.get(url).get_data(as_text=True)
    assert 'href="tel:+34912345678"' in body and 'href="mailto:marta@almacenes-ruiz.es"' in body


def test_the_api_sets_the_phone_of_ones_own_contacts_and_refuses_a_bad_one(app: Flask, journey,
                                                                          make_staff) -> None:
    url = f"/api/contacts/{journey.contact.id}"
    assert api_client(app, make_staff("sales")).patch(url, json={"phone": "600 000 000"}).status_code == 404
    assert api_client(app, make_staff("marketer")).patch(url, json={"phone": "600 000 000"}).status_code == 403
    client = api_client(app, journey.seller)
    saved = client.patch(url, json={"phone": "  (91) 234-56-78   x 12 "})
    assert saved.status_code == 200 and saved.get_json()["phone"] == "(91) 234-56-78 x 12"
    for body in ({"phone": "<b>call me</b>"}, {"phone": "1" * 41}, {"phone": 34912345678},
                 {"phone": "+34 912", "email": "x@example.com"}, {}, ["+34 912 345 678"]):
        refused = client.patch(url, json=body)
        assert refused.status_code == 400 and refused.get_json()["detail"], body
    assert client.get(url).get_json()["contact"]["phone"] == "(91) 234-56-78 x 12"  # the bad ones lost nothing
    assert client.patch(url, json={"phone": ""}).get_json()["phone"] == ""


def test_queue_waiting_is_time_waited_and_answer_by_only_while_unanswered(app: Flask, db, journey) -> None:
    client = staff_login(app.test_client(), journey.seller)
    with db.sessions() as s:
        h = s.get(Handoff, journey.handoff.id)
        h.created_at = utcnow() - timedelta(hours=7, minutes=5)
        s.commit()
    row = re.search(r'<td class="waited"[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>',
                    client.get("/staff/queue").get_data(as_text=True), re.S)
    assert "7 h" in row.group(1) and "<time" in row.group(2)
    with app.test_request_context("/"), db.sessions() as s:
        record_outcome(s, s.get(Handoff, journey.handoff.id), OutcomeInput("accepted"),
                       s.get(StaffUser, journey.seller.id), utcnow())
        s.commit()
    row = re.search(r'<td class="waited"[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>',
                    client.get("/staff/queue").get_data(as_text=True), re.S)
    assert "7 h" in row.group(1) and "<time" not in row.group(2)  # answered: no deadline shown


def test_today_lists_new_overdue_due_and_came_back(app: Flask, db, journey, make_staff) -> None:
    client = staff_login(app.test_client(), journey.seller)
    body = client.get("/staff/").get_data(as_text=True)  # a salesperson's home is their day
    new_part = body.split('id="new"')[1].split("</section>")[0]
    assert "Marta Ruiz" in new_part
    with app.test_request_context("/"), db.sessions() as s:
        late = create_handoff(s, s.get(Contact, _other_contact(s, "pedro@almacenes-ruiz.es")), {}, utcnow())
        late.assigned_to, late.due_at = journey.seller.id, utcnow() - timedelta(hours=1)
        s.commit()
    body = client.get("/staff/today").get_data(as_text=True)
    overdue_part = body.split('id="overdue"')[1].split("</section>")[0]
    assert "pedro@almacenes-ruiz.es" in overdue_part
    # A next step due today, and a reading after the last contact.
    note(client, journey.contact.id, body="Called", next_step="Send the quote",
         due_on=(utcnow()).astimezone(__import__("zoneinfo").ZoneInfo(app.config["SALES_TIMEZONE"])).date().isoformat())
    with app.test_request_context("/"), db.sessions() as s:
        reading(s, "como-evaluar-y-elegir-un-sga", utcnow() + timedelta(seconds=5), 60, 80,
                contact_id=journey.contact.id)
        s.commit()
    body = client.get("/staff/today").get_data(as_text=True)
    assert "Send the quote" in body.split('id="due"')[1].split("</section>")[0]
    back = body.split('id="back"')[1].split("</section>")[0]
    assert "Marta Ruiz" in back and "desde tu último contacto" in back


def test_came_back_counts_only_readings_after_the_last_contact_and_names_the_newest(app: Flask, db, journey,
                                                                                    make_staff) -> None:
    from cabos.content import current_library
    from cabos.sales import today, trail

    other = make_staff("sales", email="otro@staff.example")
    now = utcnow()
    with app.test_request_context("/"), db.sessions() as s:
        seller = s.get(StaffUser, journey.seller.id)
        s.add(Activity(contact_id=journey.contact.id, staff_user_id=seller.id, kind="call", body="Spoke",
                       occurred_at=now + timedelta(minutes=1)))  # the last contact: later than the handoff
        reading(s, "precios", now + timedelta(seconds=30), 30, 50, contact_id=journey.contact.id, kind="page")
        reading(s, DECIDE[0], now + timedelta(minutes=2), 60, 80, contact_id=journey.contact.id)
        s.add(Event(type="download", occurred_at=now + timedelta(minutes=3), contact_id=journey.contact.id,
                    content_kind="guide", content_slug="guia-inventario-que-cuadra", data={}))
        reading(s, "como-evaluar-y-elegir-un-sga", now + timedelta(minutes=4), 60, 80, contact_id=journey.contact.id)
        s.commit()
        (found,) = today.came_back(s, seller, now + timedelta(minutes=5))
        contact_id, last, readings, since = found
        assert (contact_id, readings) == (journey.contact.id, 2)  # not the page before the call, not the download
        assert abs(last - (now + timedelta(minutes=4))) < timedelta(seconds=1)
        assert abs(since - (now + timedelta(minutes=1))) < timedelta(seconds=1)
        library = current_library()
        titles = today.latest_titles(s, [found], lambda e: trail.title(e, library))
        assert titles == {journey.contact.id: library.articles["como-evaluar-y-elegir-un-sga"].title}
        assert today.came_back(s, s.get(StaffUser, other.id), now) == []  # someone else's contact


def test_the_days_pages_enter_the_events_by_contact_without_statistics(app: Flask, db, journey) -> None:
    """SQLite without ANALYZE statistics (as cabos leaves it) reads no contact's events through the type index.

    With a filter on both the contact and the type, SQLite's rules pick ix_events_type_time and walk
    every event of that type of everyone (seconds to minutes at millions of events).
    """
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's planner without statistics")
    statements: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, params, context, many) -> None:  # type: ignore[no-untyped-def]
        if " events" in statement:
            statements.append((statement, params))

    client = staff_login(app.test_client(), journey.seller)
    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        for path in ("/staff/today", f"/staff/contacts/{journey.contact.id}"):
            assert client.get(path).status_code == 200
        with db.sessions() as s:
            accounts.account_fields(s, [journey.contact.id], utcnow())
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert len(statements) >= 4
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar() == 0
        for statement, params in statements:
            plan = " ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
            assert "ix_events_type_time" not in plan, (statement, plan)


def _other_contact(s, email: str) -> int:  # type: ignore[no-untyped-def]
    contact = Contact(email=email, name="", company="Almacenes Ruiz")
    s.add(contact)
    s.flush()
    return contact.id


def test_accounts_group_a_company_domain_not_free_mail_and_refuse_self_merge(app: Flask, db, journey,
                                                                             staff_client) -> None:
    with db.sessions() as s:
        pedro = _other_contact(s, "pedro@almacenes-ruiz.es")
        ana = _other_contact(s, "ana.ruiz@gmail.com")
        luis = _other_contact(s, "luis@gmail.com")
        s.commit()
    marketer = staff_client("marketer")
    accounts.worker_job(app, lambda: False)  # the worker's batch: new contacts join their domain's account
    listing = marketer.get("/staff/accounts").get_data(as_text=True)
    assert listing.count("/staff/accounts/") == 1 and "gmail" not in listing
    account_id = int(re.search(r"/staff/accounts/(\d+)", listing).group(1))
    page = marketer.get(f"/staff/accounts/{account_id}").get_data(as_text=True)
    assert "Marta Ruiz" in page and "pedro@almacenes-ruiz.es" in page and "ana.ruiz" not in page
    assert "Inventario" in page or "inventario" in page  # combined interest
    # Placing a personal address by hand.
    url = f"/staff/contacts/{ana}"
    marketer.post(f"/staff/accounts/place/{ana}", data={"csrf_token": token(marketer, url),
                                                        "account": str(account_id)})
    assert "ana.ruiz@gmail.com" in marketer.get(f"/staff/accounts/{account_id}").get_data(as_text=True)
    refused = marketer.post(f"/staff/accounts/{account_id}/merge",
                            data={"csrf_token": token(marketer, url), "into": str(account_id)})
    assert refused.status_code == 400 and "consigo misma" in refused.get_data(as_text=True)
    assert marketer.get(f"/staff/accounts/{account_id}").status_code == 200


def test_the_account_is_a_fit_field_for_intent(app: Flask, db, journey, make_content) -> None:
    from cabos.intent.store import extra_fields
    from tests.intent.test_rules import issues_for

    with app.test_request_context("/"), db.sessions() as s:
        pedro = _other_contact(s, "pedro@almacenes-ruiz.es")
        reading(s, "como-evaluar-y-elegir-un-sga", utcnow() - timedelta(hours=1), 60, 80, contact_id=pedro)
        s.commit()
    accounts.worker_job(app, lambda: False)
    with app.test_request_context("/"), db.sessions() as s:
        got = extra_fields(s, [journey.contact.id, pedro], utcnow())
    # Marta read two days ago and today; Pedro read an hour ago: two people, both read this week.
    assert got[pedro] == {"account_people": 2, "account_readers_week": 2}
    assert got[journey.contact.id]["account_people"] == 2
    rule = "fit:\n  rules:\n    - {field: account_readers_week, between: [2, 1000], points: 40}\n"
    assert not [i for i in issues_for(make_content, rule) if "account_readers_week" in i]
