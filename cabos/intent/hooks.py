"""Keep intent current as readings and forms arrive (incremental, per person).

Readings reach the database through tracking's write buffer, in batches, on
its writer thread; after each committed batch every engaged visitor in it is
rescored, and their contact if they have one. A failure here is logged by the
buffer and never loses a reading: `cabos intent recompute` catches up.
"""

from __future__ import annotations

from functools import partial

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.db import session_scope
from cabos.intent.rules import current_rules
from cabos.intent.store import update_contact, update_visitor
from cabos.tracking.models import Visitor
from cabos.tracking.store import Reading


def after_readings(app: Flask, readings: list[Reading]) -> int:
    """Rescore the visitors (and contacts) of a written batch; return how many visitors."""
    engaged = sorted({r.visitor_id for r in readings if r.visitor_id and r.engaged_ms > 0})
    if not engaged:
        return 0
    now = max(r.received_at for r in readings)
    with app.app_context():
        rules = current_rules()
        with session_scope(app) as session:
            for visitor_id in engaged:
                update_visitor(session, visitor_id, now, rules)
                contact_id = session.scalar(select(Visitor.contact_id).where(Visitor.id == visitor_id))
                if contact_id is not None:
                    update_contact(session, contact_id, now, rules)
    return len(engaged)


def after_form(session: Session, contact_id: int, now) -> None:  # type: ignore[no-untyped-def]
    """A form (or download) changed the contact's fields and trail: rescore them."""
    update_contact(session, contact_id, now)


def init_app(app: Flask) -> None:
    tracking = app.extensions.get("cabos.tracking")
    if tracking is not None:
        tracking.buffer.after_write = partial(after_readings, app)
