"""`cabos nurture run|preview|simulate|stuck`: what a marketer and staff see."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import update

from cabos.db import utcnow
from cabos.intent.store import update_contact
from cabos.nurture.models import OutboxMessage
from tests.nurture.conftest import add_contact, guide_event, reading, rows, tick


def test_run_does_one_tick_and_says_what_it_did(app: Flask, session, runner) -> None:  # type: ignore[no-untyped-def]
    guide_event(session, add_contact(session))
    session.commit()
    result = runner.invoke(args=["nurture", "run"])
    assert result.exit_code == 0, result.output
    assert "enrolled 1; due 1; queued 1; sent 1" in result.output
    assert [r.status for r in rows(session)] == ["sent"]


def test_preview_shows_exactly_what_will_be_sent_and_when(app: Flask, session, runner) -> None:  # type: ignore[no-untyped-def]
    contact = add_contact(session)
    guide_event(session, contact)
    reading(session, contact, "stock-basics", "learn", ["bad-stock"])
    with app.app_context():
        update_contact(session, contact.id, utcnow())
    session.commit()
    tick(app)
    result = runner.invoke(args=["nurture", "preview", "welcome", "--contact", "ana@example.com"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Welcome to the stock guide (sequences/welcome.yml) for ana@example.com" in out
    assert "1. [welcome] welcome ·" in out and "· sent" in out
    assert "2. [next] next ·" in out and "(in 3.0 days) · will send" in out
    assert "Subject: Next: Stock compare" in out  # unread, on their problem, the next stage
    assert "3. [case] case ·" in out and "(in 10.0 days) · will send" in out
    assert "Subject: How Acme fixed their stock" in out
    assert "then: completes after the last step" in out
    assert "/e/c/" not in out  # links as written, nothing tracked


def test_preview_of_someone_not_enrolled_starts_now(app: Flask, session, runner) -> None:  # type: ignore[no-untyped-def]
    add_contact(session, "bob@example.com", "Bob")
    session.commit()
    result = runner.invoke(args=["nurture", "preview", "welcome", "--contact", "BOB@example.com"])
    assert result.exit_code == 0, result.output
    assert "not enrolled: as if they entered now" in result.output
    assert "Subject: Your stock guide, Bob" in result.output


def test_preview_names_what_is_wrong(app: Flask, session, runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["nurture", "preview", "nope", "--contact", "x@example.com"])
    assert result.exit_code == 1 and "no sequence 'nope' (known: welcome)" in result.output
    result = runner.invoke(args=["nurture", "preview", "welcome", "--contact", "x@example.com"])
    assert result.exit_code == 1 and "no contact with the address 'x@example.com'" in result.output


def test_simulate_projects_sends_per_step_and_exits(app: Flask, session, runner) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        guide_event(session, add_contact(session, f"p{i}@example.com", f"P{i}"))
    session.commit()
    tick(app)
    result = runner.invoke(args=["nurture", "simulate", "--days", "5"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "welcome: 3 contacts enrolled" in out
    assert "next" in out and "sends       3" in out
    assert "exits: still enrolled 3" in out
    result = runner.invoke(args=["nurture", "simulate", "--days", "30"])
    assert "exits: completed 3" in result.output


def test_stuck_lists_sends_in_doubt_and_staff_decide(app: Flask, session, runner) -> None:  # type: ignore[no-untyped-def]
    assert "no sends in doubt" in runner.invoke(args=["nurture", "stuck"]).output
    guide_event(session, add_contact(session))
    session.commit()
    tick(app, send=False)
    (row,) = rows(session)
    session.execute(update(OutboxMessage).values(status="unknown", reason="sender_lost",
                                                 sending_at=utcnow() - timedelta(hours=1)))
    session.commit()
    out = runner.invoke(args=["nurture", "stuck"]).output
    assert f"#{row.id} contact {row.contact_id} welcome/welcome (welcome)" in out and "sender_lost" in out
    result = runner.invoke(args=["nurture", "stuck", "--id", str(row.id), "--mark", "sent"])
    assert result.exit_code == 0 and f"outbox row {row.id}: sent" in result.output
    assert rows(session)[0].status == "sent"
    again = runner.invoke(args=["nurture", "stuck", "--id", str(row.id), "--mark", "requeue"])
    assert again.exit_code == 1 and "is not in 'unknown' state" in again.output
