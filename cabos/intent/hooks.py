"""Keep intent current as readings, downloads, forms, clicks and outcomes arrive (per person).

Every path that stores an event that counts rescores its contact in the same
transaction (request or batch) that stores it: a guide form and an email click
in their request (``after_event``), a hand-raiser form too (``after_form``, the
forms' contract), a sales outcome where it is recorded, guide downloads in the
download log's batch (``after_downloads``). Readings reach the database through tracking's write buffer, in batches, on
its writer thread; after each committed batch the contacts behind its engaged
readings are rescored. Anonymous visitors are not rescored here: scoring costs
about 2.5 ms of CPU per reading and runs in the web worker, which cut beacon
ingest to 0.12 of the bare baseline when every visitor was rescored
(bench/tracking_ingest.py). Their profiles are computed on demand
(`update_visitor`, `cabos intent recompute --visitors`). A failure here is
logged by the buffer and never loses a reading: `cabos intent recompute`
catches up.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.db import session_scope
from cabos.intent.rules import current_rules
from cabos.intent.store import update_contact
from cabos.tracking.models import Visitor
from cabos.tracking.store import Reading


def after_readings(app: Flask, readings: list[Reading]) -> int:
    """Rescore the contacts behind a written batch's engaged readings; return how many."""
    engaged = sorted({r.visitor_id for r in readings if r.visitor_id and r.engaged_ms > 0})
    if not engaged:
        return 0
    now = max(r.received_at for r in readings)
    with app.app_context():
        rules = current_rules()
        with session_scope(app) as session:
            contacts = sorted(set(session.scalars(
                select(Visitor.contact_id).where(Visitor.id.in_(engaged), Visitor.contact_id.is_not(None)))))
            for contact_id in contacts:
                update_contact(session, contact_id, now, rules)
    return len(contacts)


def after_event(session: Session, contact_id: int, now: datetime) -> None:
    """An event on the contact's trail was stored in ``session``: rescore them there (the caller commits)."""
    update_contact(session, contact_id, now)


def after_form(session: Session, contact_id: int, now: datetime) -> None:
    """A form (a guide form, a demo or contact-sales request) changed the contact's fields and trail: rescore them."""
    update_contact(session, contact_id, now)


def after_downloads(app: Flask, session: Session, contact_ids: set[int], now: datetime) -> None:
    """Rescore the contacts of a batch of downloads, in the transaction that writes the batch."""
    with app.app_context():
        rules = current_rules()
        for contact_id in sorted(contact_ids):
            update_contact(session, contact_id, now, rules)


def init_app(app: Flask) -> None:
    tracking = app.extensions.get("cabos.tracking")
    if tracking is not None:
        tracking.buffer.after_write = partial(after_readings, app)
    downloads = app.extensions.get("cabos.download_log")
    if downloads is not None:
        downloads.after_write = partial(after_downloads, app)
