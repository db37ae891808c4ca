"""Queries on one contact's events enter by the contact, never through the type index.

cabos never runs ANALYZE, so a SQLite file has no statistics; with a filter on both the contact
and the event type, SQLite's rules then pick ix_events_type_time and walk that type's events of
everyone (seconds at millions of events). `type || ''` keeps the type out of the index choice.
The days' pages have their own check (tests/sales/test_day.py); these are the other paths.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from cabos.contacts import proof
from cabos.contacts.models import Contact
from cabos.db import Database, utcnow
from cabos.nurture import broadcasts


def _plans(db: Database, run: Any) -> list[str]:
    statements: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, params, context, many) -> None:  # type: ignore[no-untyped-def]
        if " events" in statement:
            statements.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.sessions() as s:
            run(s)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert statements, "the path under test read no events"
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar() == 0
        return [" ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + st, p)) for st, p in statements]


@pytest.mark.parametrize("path", ["broadcast audience by stage", "repeated form"])
def test_one_contacts_events_are_read_by_contact(db: Database, path: str) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's planner without statistics")
    with db.sessions() as s:
        contact = Contact(email="ana@example.com", name="Ana", custom={}, created_at=utcnow())
        s.add(contact)
        s.commit()
        contact_id = contact.id

    def run(s: Session) -> None:
        if path == "broadcast audience by stage":
            broadcasts._stages_reached(s, [contact_id], ("decide",))
        else:
            proof._repeated(s, s.get(Contact, contact_id), "digest", utcnow() + timedelta(seconds=1))

    for plan in _plans(db, run):
        assert "ix_events_type_time" not in plan and "ix_events_contact_time" in plan, plan
