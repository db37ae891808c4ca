"""Identity only on proof: a form can create a contact, but never borrow one.

A form with a new address creates the contact and joins the browser to it. A form
with an address that already belongs to a contact changes nothing stored and
stitches nothing, unless the browser proves it is that contact: its verified
visitor cookie is already joined to it. Otherwise the answers wait in a
``PendingSubmission`` until the emailed confirmation link is clicked; ``confirm``
then applies them and joins the browser that clicked. So a stranger who types
someone else's address can neither rename them nor pour readings into their trail.

The same answers posted twice (a double click, a reload) are stored once: the
submission's digest is looked up among the contact's recent ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cabos.contacts import consent
from cabos.contacts.capture import Lead, capture
from cabos.contacts.models import Contact, PendingSubmission
from cabos.content.model import Document
from cabos.tracking.identity import identify
from cabos.tracking.models import Event, Visitor

NEW, APPLIED, REPEATED, PENDING = "new", "applied", "repeated", "pending"
REPEAT_WINDOW = timedelta(hours=1)  # the same answers again within it are the same submission


@dataclass(frozen=True)
class Submission:
    """What became of a form: a new contact, answers applied or repeated, or answers pending proof."""

    contact: Contact
    status: str
    pending: PendingSubmission | None = None
    fresh: bool = True  # False when the same pending answers were already waiting (nothing to send again)

    @property
    def proven(self) -> bool:
        return self.status != PENDING


def digest(form: str, doc: Document, lead: Lead) -> str:
    payload = json.dumps([form, doc.kind, doc.slug, asdict(lead)], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def owns(session: Session, contact: Contact, visitor_id: str | None) -> bool:
    """The browser's verified visitor cookie is already joined to ``contact``."""
    if visitor_id is None:
        return False
    visitor = session.get(Visitor, visitor_id)
    return visitor is not None and visitor.contact_id == contact.id


def _repeated(session: Session, contact: Contact, key: str, now: datetime) -> bool:
    # `type || ''` is no index term: SQLite without statistics would read everyone's form
    # submissions of the window through ix_events_type_time instead of this contact's range.
    recent = session.scalars(select(Event.data).where(
        Event.contact_id == contact.id, (Event.type + "") == "form_submit", Event.occurred_at >= now - REPEAT_WINDOW))
    return any((data or {}).get("digest") == key for data in recent)


def submit(session: Session, lead: Lead, doc: Document, form: str, touch: dict[str, Any],
           visitor_id: str | None, now: datetime, extra: dict[str, Any] | None = None,
           language: str = "", list_name: str = "") -> Submission:
    """Store a validated form by the identity rule above; the caller commits and sends what is due.

    A ticked consent box (``lead.consent_text``, in ``language``) and a list to join
    (``list_name``) wait for the emailed confirmation in every case (double opt-in): a
    proven submission returns the pending row that asks for it, unless already confirmed.
    """
    key = digest(form, doc, lead)
    contact = session.scalar(select(Contact).where(Contact.email == lead.email))
    if contact is not None and not owns(session, contact, visitor_id):
        pending, fresh = _pend(session, contact, form, doc, touch, key, now,
                               {**asdict(lead), "extra": extra or {}, "language": language, "list": list_name,
                                "apply": True})
        return Submission(contact, PENDING, pending, fresh)
    if contact is not None and _repeated(session, contact, key, now):
        return Submission(contact, REPEATED)
    created = contact is None
    if created:
        # Claim the address now: if another request creates it meanwhile, this flush fails on the
        # unique email and the caller tries again, finding a contact this browser has not proven.
        session.add(Contact(email=lead.email, first_touch=touch, custom={}, created_at=now))
        session.flush()
    contact, _found = capture(session, lead, doc, touch, visitor_id, now, form=form,
                              extra={"digest": key, "new_contact": created, **(extra or {})})
    status = NEW if created else APPLIED
    wanted = bool(lead.consent_text) and not (
        consent.has_consent(session, contact, lead.consent_text, language)
        and (not list_name or consent.subscribed(session, contact, list_name)))
    if not wanted:
        return Submission(contact, status)
    ask, fresh = _pend(session, contact, form, doc, touch, key, now,
                       {"consent_text": lead.consent_text, "language": language, "list": list_name, "apply": False})
    return Submission(contact, status, ask, fresh)


def _pend(session: Session, contact: Contact, form: str, doc: Document, touch: dict[str, Any],
          key: str, now: datetime, answers: dict[str, Any]) -> tuple[PendingSubmission, bool]:
    waiting = session.scalar(select(PendingSubmission).where(
        PendingSubmission.contact_id == contact.id, PendingSubmission.digest == key,
        PendingSubmission.confirmed_at.is_(None), PendingSubmission.created_at >= now - REPEAT_WINDOW))
    if waiting is not None:
        return waiting, False
    row = PendingSubmission(contact_id=contact.id, form=form, content_kind=doc.kind, content_slug=doc.slug,
                            answers=answers, touch=touch, digest=key, created_at=now)
    session.add(row)
    session.flush()
    return row, True


def lead_of(pending: PendingSubmission, contact: Contact) -> Lead:
    """The answers a pending submission keeps, as the form's ``Lead`` again."""
    a = pending.answers or {}
    return Lead(email=contact.email, name=str(a.get("name") or ""), fields=dict(a.get("fields") or {}),
                custom=dict(a.get("custom") or {}), consent_text=str(a.get("consent_text") or ""))


def confirm(session: Session, pending: PendingSubmission, doc: Document, visitor_id: str | None,
            now: datetime) -> Contact | None:
    """The emailed link was clicked: apply the answers and consent, join this browser. None if already used."""
    claimed = session.execute(
        update(PendingSubmission).where(PendingSubmission.id == pending.id, PendingSubmission.confirmed_at.is_(None))
        .values(confirmed_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        return None  # used before, maybe by a second click a moment ago
    contact = session.get(Contact, pending.contact_id)
    if contact is None:
        return None
    answers = pending.answers or {}
    if answers.get("apply", True):
        extra = dict(answers.get("extra") or {})
        contact, _created = capture(session, lead_of(pending, contact), doc, pending.touch or {}, visitor_id, now,
                                    form=pending.form, via="email_confirm",
                                    extra={"digest": pending.digest, "confirmed": True, **extra})
    else:
        identify(session, visitor_id, contact, via="email_confirm")  # the answers were applied when sent
    text = str(answers.get("consent_text") or "")
    if text:
        language = str(answers.get("language") or "")
        consent.confirm(session, contact, form=pending.form, content=f"{doc.kind}/{doc.slug}", text=text,
                        language=language, given_at=pending.created_at, now=now)
        if answers.get("list"):
            consent.subscribe(session, contact, str(answers["list"]), pending.created_at, now)
    session.flush()
    return contact


def purge_unconfirmed(session: Session, before: datetime) -> int:
    """Delete answers whose confirmation never came (sent before ``before``); return how many."""
    return int(session.execute(
        delete(PendingSubmission).where(PendingSubmission.confirmed_at.is_(None), PendingSubmission.created_at < before)
        .execution_options(synchronize_session=False)).rowcount or 0)
