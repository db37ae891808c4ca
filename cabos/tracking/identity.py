"""Identity stitching: a visitor becomes part of a contact's trail.

Called only where a person proved who they are (a CSRF-protected form post, a signed
email-click token), never from a beacon. It does not care how the identity was proven:
``via`` only labels the ``merge`` event on the trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.db import utcnow
from cabos.tracking.models import Event, Visitor
from cabos.tracking.store import ensure_visitors


def identify(session: Session, visitor_id: str | None, contact: Contact, via: str,
             now: datetime | None = None) -> None:
    """Link the visitor to the contact; its anonymous events join the contact's trail.

    Idempotent: the ``merge`` event is recorded the first time the visitor is linked to
    this contact; calling again only attaches events that arrived since. A contact can
    have several visitors (devices). First and latest touch carry over to the contact.
    """
    if visitor_id is None:
        return
    now = now or utcnow()
    if contact.id is None:
        session.flush()
    # Write the visitor row first: it is the lock that orders us with a concurrent batch of
    # beacons (store.write_batch writes visitor rows first too), so its readings are either
    # committed before our UPDATE below sees them, or written after with our link in place.
    ensure_visitors(session, {visitor_id: {}}, now)
    visitor = session.get(Visitor, visitor_id, with_for_update=True, populate_existing=True)
    assert visitor is not None
    linked_before = visitor.contact_id == contact.id
    previous = visitor.contact_id
    visitor.contact_id = contact.id
    visitor.last_seen_at = now
    attached = session.execute(
        update(Event).where(Event.visitor_id == visitor_id, Event.contact_id.is_(None))
        .values(contact_id=contact.id).execution_options(synchronize_session=False)
    ).rowcount
    contact.first_touch = earliest(contact.first_touch, visitor.first_touch)
    contact.latest_touch = latest(contact.latest_touch, visitor.latest_touch)
    if not linked_before:
        data: dict[str, Any] = {"via": via, "attached": attached}
        if previous is not None:
            data["relinked"] = True  # a shared device: earlier readings stay with the other person
        session.add(Event(type="merge", occurred_at=now, visitor_id=visitor_id, contact_id=contact.id, data=data))
    session.flush()


def _at(touch: dict[str, Any] | None) -> str:
    return str((touch or {}).get("at") or "")


def earliest(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any]:
    """The touch that happened first (ISO UTC times compare as strings); empty ones lose."""
    candidates = [t for t in (a, b) if t and _at(t)]
    return dict(min(candidates, key=_at)) if candidates else dict(a or b or {})


def latest(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any]:
    """The touch that happened last; empty ones lose."""
    candidates = [t for t in (a, b) if t and _at(t)]
    return dict(max(candidates, key=_at)) if candidates else dict(a or b or {})
