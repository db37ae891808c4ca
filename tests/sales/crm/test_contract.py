"""The same contract against each CRM's local fake: push, pull back, rate limits, two workers, refusals, erase."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from cabos.contacts.personal_data import erase
from cabos.dashboard.metrics import wins
from cabos.dashboard.period import Period
from cabos.db import utcnow
from cabos.sales.crm import sync
from cabos.sales.crm.models import CrmCursor, CrmLink
from cabos.sales.models import Delivery, Handoff, HandoffOutcome
from cabos.sales.webhooks import deliver_due as deliver_webhooks, retry_now
from tests.conftest import staff_login
from tests.sales.crm.conftest import write_crm_yml
from tests.sales.crm.fakes import FakeCrm

EMAIL = "marta@almacenes-ruiz.es"


def crm_rows(db) -> list[Delivery]:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        rows = list(s.scalars(select(Delivery).where(Delivery.kind == "crm").order_by(Delivery.id)))
        s.expunge_all()
        return rows


def link_of(db, crm: str) -> CrmLink:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        link = s.scalars(select(CrmLink).where(CrmLink.crm == crm)).one()
        s.expunge(link)
        return link


def test_handoff_becomes_person_company_deal_and_note_and_a_won_deal_comes_back_as_revenue(
        app: Flask, db, journey, fake: FakeCrm, crm_name: str, make_staff, caplog) -> None:  # type: ignore[no-untyped-def]
    assert deliver_webhooks(app)["delivered"] == 1  # the assignee's email: CRM rows are not the webhooks' to send
    assert sync.deliver_due(app) == {"delivered": 1, "retry": 0, "failed": 0}
    people, companies, deals, notes = (fake.records(k) for k in ("person", "company", "deal", "note"))
    assert [p["email"] for p in people] == [EMAIL]
    assert [c["name"] for c in companies] == ["Almacenes Ruiz"]
    assert len(deals) == 1 and len(notes) == 1
    deal, note = deals[0], notes[0]
    assert deal["name"] == f"Almacenes Ruiz · cabos #{journey.handoff.id}"
    assert deal["person"] == people[0]["id"] and deal["company"] == companies[0]["id"]
    assert note["deal"] == deal["id"] and note["person"] == people[0]["id"]
    assert "¿Cada cuánto hacéis recuento" in note["text"]  # a question to ask, from problems.yml
    assert f"http://localhost/staff/contacts/{journey.contact.id}" in note["text"]  # the trail on cabos
    assert "Directora de operaciones" in str(people[0]["fields"])  # contact_fields: role mapped
    if crm_name == "hubspot":
        assert deal["stage"] == "appointmentscheduled" and deal["pipeline"] == "default"  # found by its label
    link = link_of(db, crm_name)
    assert (link.person_id, link.company_id, link.deal_id, link.note_id) == (
        people[0]["id"], companies[0]["id"], deal["id"], note["id"])
    assert sync.deliver_due(app) == {"delivered": 0, "retry": 0, "failed": 0}  # nothing is pushed twice

    # Won in the CRM (amount with decimals), plus deals cabos never pushed: paged through, skipped.
    for i in range(3):
        fake.win(fake.add_deal(f"Otra empresa {i}"), "990", "EUR")
    fake.win(deal["id"], "12500.50", "EUR")
    with caplog.at_level("INFO", logger="cabos.sales.crm"):
        counts = sync.poll(app, crm_name)
    assert counts["won"] == 1 and counts["unknown"] == 3
    assert "is not one cabos pushed" in caplog.text
    with db.sessions() as s:
        handoff = s.get(Handoff, journey.handoff.id)
        assert (handoff.status, handoff.revenue_cents, handoff.currency) == ("won", 1_250_050, "EUR")
        outcome = s.scalars(select(HandoffOutcome).where(HandoffOutcome.kind == "won")).one()
        assert outcome.staff_user_id is None and outcome.won_on == date(2026, 12, 1)
        today = utcnow().date()
        won = wins(s, Period(today - timedelta(days=30), today))
        assert [(w.revenue_cents, w.currency) for w in won] == [(1_250_050, "EUR")]
        assert s.get(CrmCursor, crm_name).position
    assert sync.poll(app, crm_name)["won"] == 0  # the cursor moved on; a repeat would be skipped anyway
    admin = make_staff("admin", email="admin@staff.example")
    page = staff_login(app.test_client(), admin).get("/staff/dashboard/").get_data(as_text=True)
    kpi = page.split('data-kpi="revenue">', 1)[1].split("<", 1)[0]
    assert "12.500" in kpi, kpi


def test_a_429_waits_as_told_a_lost_answer_is_found_again_and_a_lost_deal_maps_its_reason(
        app: Flask, db, journey, fake: FakeCrm, crm_name: str) -> None:  # type: ignore[no-untyped-def]
    method, path = fake.deal_create
    fake.script(method, path, 429, {"status": "error", "message": "You have reached your secondly limit.",
                                    "errorType": "RATE_LIMIT", "policyName": "SECONDLY"}, {"Retry-After": "30"})
    now = utcnow()
    assert sync.deliver_due(app, now) == {"delivered": 0, "retry": 1, "failed": 0}
    (row,) = crm_rows(db)
    assert row.status == "pending" and row.last_status == 429 and "rate limit" in row.last_error
    assert timedelta(seconds=29) <= row.next_attempt_at - now <= timedelta(seconds=31)
    assert sync.deliver_due(app, now + timedelta(seconds=5))["retry"] == 0  # not before Retry-After
    assert link_of(db, crm_name).person_id  # what was made before the 429 is kept

    # At the retry the CRM makes the deal but the answer never arrives: in doubt, retried, found.
    fake.script(method, path, drop=True)
    assert sync.deliver_due(app, now + timedelta(seconds=31))["retry"] == 1
    assert len(fake.records("deal")) == 1
    assert sync.deliver_due(app, now + timedelta(minutes=5))["delivered"] == 1
    assert len(fake.records("deal")) == 1 and len(fake.records("person")) == 1
    assert fake.count(method, path) == 3 - 1  # the 429 never reached the store; the drop did; no third create

    fake.lose(link_of(db, crm_name).deal_id, "Too expensive")
    assert sync.poll(app, crm_name)["lost"] == 1
    with db.sessions() as s:
        handoff = s.get(Handoff, journey.handoff.id)
        assert (handoff.status, handoff.outcome_reason) == ("lost", "Precio")


def test_a_push_cut_short_is_in_doubt_on_the_page_then_two_workers_finish_it_with_one_deal(
        app: Flask, db, journey, fake: FakeCrm, crm_name: str, make_staff, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with app.app_context(), db.sessions() as s:
        handoff = s.get(Handoff, journey.handoff.id)
        assert sync.enqueue_push(s, handoff, crm_name, utcnow()) is None  # queued once already
        s.commit()
    connector = sync.CONNECTORS[crm_name]
    push = connector.push

    def dies_after_the_deal(self, data, ids):  # type: ignore[no-untyped-def]
        push(self, data, ids)
        raise SystemExit("the worker was killed")  # after the CRM made everything, before cabos wrote it down

    monkeypatch.setattr(connector, "push", dies_after_the_deal)
    now = utcnow()
    with pytest.raises(SystemExit):
        sync.deliver_due(app, now)
    monkeypatch.setattr(connector, "push", push)
    (row,) = crm_rows(db)
    assert row.in_doubt and row.attempts == 0
    admin = make_staff("admin", email="admin@staff.example")
    page = staff_login(app.test_client(), admin).get("/staff/deliveries").get_data(as_text=True)
    assert "push stopped half-way" in page or "se cortó a medias" in page  # the deliveries page says so
    assert sync.deliver_due(app, now + timedelta(minutes=1))["delivered"] == 0  # still claimed

    results: list[dict[str, int]] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        results.append(sync.deliver_due(app, now + timedelta(minutes=6)))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(r["delivered"] for r in results) == [0, 1]
    assert [len(fake.records(k)) for k in ("person", "company", "deal", "note")] == [1, 1, 1, 1]  # found again
    assert not crm_rows(db)[0].in_doubt
    deal, note = fake.records("deal")[0], fake.records("note")[0]
    assert deal["person"] == fake.records("person")[0]["id"] and note["deal"] == deal["id"]


def test_a_refused_token_or_stage_fails_the_delivery_in_words_keeps_the_handoff_and_crm_test_names_the_fix(
        app: Flask, db, journey, fake: FakeCrm, crm_name: str, runner, content_dir: Path) -> None:  # type: ignore[no-untyped-def]
    good = fake.config()
    app.config.update(fake.config(fake.refuse_token))
    assert sync.deliver_due(app) == {"delivered": 0, "retry": 0, "failed": 1}
    (row,) = crm_rows(db)
    assert row.status == "failed" and row.last_status in (400, 401)
    expected = {"hubspot": "Authentication credentials not found", "pipedrive": "unauthorized access",
                "salesforce": "invalid client credentials"}[crm_name]
    assert expected in row.last_error and "cabos crm test" in row.last_error
    with db.sessions() as s:
        assert s.get(Handoff, journey.handoff.id).status == "new"
    result = runner.invoke(args=["crm", "test"])
    assert result.exit_code == 1 and expected in result.output

    # The token fixed, crm.yml now names a stage the CRM does not have.
    app.config.update(good)
    write_crm_yml(content_dir, crm_name, "Negociación")
    assert app.extensions["cabos.content"].maybe_reload()
    retry(app, db, row.id)
    assert sync.deliver_due(app)["failed"] == 1
    (row,) = crm_rows(db)
    assert "Negociación" in row.last_error and fake.records("deal") == []
    result = runner.invoke(args=["crm", "test"])
    stages = {"hubspot": "Appointment Scheduled (id appointmentscheduled)", "pipedrive": "Cualificado (id 1)",
              "salesforce": "Prospecting, Qualification"}[crm_name]
    assert result.exit_code == 1 and stages in result.output, result.output

    write_crm_yml(content_dir, crm_name)
    assert app.extensions["cabos.content"].maybe_reload()
    result = runner.invoke(args=["crm", "test"])
    assert result.exit_code == 0 and "credentials work" in result.output, result.output
    retry(app, db, row.id)  # staff press "Retry now" once it is fixed
    assert sync.deliver_due(app)["delivered"] == 1
    assert len(fake.records("deal")) == 1


def retry(app: Flask, db, delivery_id: int) -> None:  # type: ignore[no-untyped-def]
    with app.app_context(), db.sessions() as s:
        retry_now(s.get(Delivery, delivery_id), utcnow())
        s.commit()


def test_erasing_the_contact_deletes_the_person_and_the_note_in_the_crm(
        app: Flask, db, journey, fake: FakeCrm, crm_name: str) -> None:  # type: ignore[no-untyped-def]
    sync.deliver_due(app)
    deal_id = link_of(db, crm_name).deal_id
    with app.app_context(), db.sessions() as s:
        erase(s, EMAIL)
        s.commit()
    rows = crm_rows(db)
    assert [(r.event, r.contact_id, r.handoff_id) for r in rows] == [("crm.erase", None, None)]
    assert EMAIL not in str(rows[0].payload)  # only the CRM's ids are kept
    assert sync.deliver_due(app)["delivered"] == 1
    assert fake.records("person") == [] and fake.records("note") == []
    assert [d["id"] for d in fake.records("deal")] == [deal_id]  # the business's deal stays, with no name in it
    fake.win(deal_id, "100", "EUR")
    assert sync.poll(app, crm_name)["unknown"] == 1  # the contact is gone from cabos: logged and skipped


