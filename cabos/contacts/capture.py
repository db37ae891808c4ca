"""Turn a filled-in form into a contact: one per email address, updated, never duplicated.

The edge (a request) decides the transaction: these functions add and flush,
never commit. Two submissions racing with the same new address make one of
them fail on the unique email at flush; the caller rolls back and runs the
capture again, which then finds the contact and updates it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.content.model import Document
from cabos.db import utcnow
from cabos.tracking.identity import identify
from cabos.tracking.models import Event, Visitor

# Deliberately plain: the address is confirmed by the mail that carries the link.
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
COLUMNS = {"name": 200, "company": 200, "role": 200, "company_size": 50, "country": 100}
CUSTOM_LIMIT = 200


def normalise_email(raw: str) -> str:
    """The comparable form of an address: trimmed, NFC, lower case."""
    return unicodedata.normalize("NFC", raw or "").strip().lower()


def valid_email(email: str) -> bool:
    """A deliverable-looking ``local@domain.tld``; internationalised domains allowed."""
    if len(email) > 254 or email.count("@") != 1:
        return False
    local, domain = email.split("@")
    if not local or len(local) > 64 or not _LOCAL.match(local):
        return False
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_domain.split(".")
    return len(labels) >= 2 and all(_LABEL.match(label) for label in labels) and not labels[-1].isdigit()


def clean_text(value: Any, limit: int) -> str:
    """Form or query text made safe to store: no control characters, trimmed, bounded."""
    text = _CONTROL.sub(" ", unicodedata.normalize("NFC", str(value or ""))).strip()
    return " ".join(text.split())[:limit]


def touch_from(args: Mapping[str, str], referrer: str | None, landing: str, now: datetime) -> dict[str, Any]:
    """Where a person came from: UTM parameters, the referring host, the page they landed on."""
    touch: dict[str, Any] = {k[4:]: clean_text(args.get(k), 200) for k in UTM_KEYS if args.get(k)}
    host = ""
    if referrer:
        try:
            host = clean_text(urlsplit(referrer).hostname, 200)
        except ValueError:
            host = ""
    if host:
        touch["referrer"] = host
    touch.setdefault("source", touch.get("referrer") or "direct")
    touch["landing"] = clean_text(landing, 300)
    touch["at"] = now.isoformat()
    return touch


@dataclass(frozen=True)
class Lead:
    """What a person typed into a guide's form, already validated."""

    email: str
    name: str
    fields: dict[str, str] = field(default_factory=dict)  # company, role, company_size, country
    custom: dict[str, str] = field(default_factory=dict)
    consent_text: str = ""  # the words they agreed to; empty if they did not tick the box


def upsert_contact(session: Session, lead: Lead, touch: dict[str, Any],
                   now: datetime | None = None) -> tuple[Contact, bool]:
    """Create the contact for ``lead.email`` or update it; return it and whether it is new."""
    now = now or utcnow()
    contact = session.scalar(select(Contact).where(Contact.email == lead.email))
    created = contact is None
    if contact is None:
        contact = Contact(email=lead.email, first_touch=touch, custom={}, created_at=now)
        session.add(contact)
    values = {"name": lead.name, **lead.fields}
    for column, limit in COLUMNS.items():
        # A later, shorter form must not erase what an earlier one asked for.
        if values.get(column):
            setattr(contact, column, clean_text(values[column], limit))
    if lead.custom:
        contact.custom = {**(contact.custom or {}),
                          **{k: clean_text(v, CUSTOM_LIMIT) for k, v in lead.custom.items() if v}}
    # A ticked consent box is not consent yet: it counts once confirmed (cabos.contacts.consent).
    contact.latest_touch = touch
    contact.updated_at = now
    session.flush()
    return contact, created


def record_event(session: Session, type_: str, contact: Contact, doc: Document,
                 data: dict[str, Any] | None = None, visitor_id: str | None = None,
                 now: datetime | None = None) -> Event:
    """Append one event about ``doc`` to the contact's trail."""
    if visitor_id is not None and session.get(Visitor, visitor_id) is None:
        visitor_id = None  # a cookie without a stored visitor: keep the event on the contact only
    event = Event(type=type_, occurred_at=now or utcnow(), contact_id=contact.id, visitor_id=visitor_id,
                  content_kind=doc.kind, content_slug=doc.slug, stage=doc.stage,
                  problems=list(doc.problems), data=data or {})
    session.add(event)
    return event


def capture(session: Session, lead: Lead, doc: Document, touch: dict[str, Any],
            visitor_id: str | None = None, now: datetime | None = None, form: str = "guide",
            via: str = "form", extra: dict[str, Any] | None = None) -> tuple[Contact, bool]:
    """A form was submitted by a proven owner of the address (or a new one): upsert, stitch, record.

    Callers decide who counts as proven: ``cabos.contacts.proof.submit`` sends everyone else's
    answers to a pending row instead.
    """
    now = now or utcnow()
    contact, created = upsert_contact(session, lead, touch, now)
    identify(session, visitor_id, contact, via=via)
    record_event(session, "form_submit", contact, doc, {
        "form": form,
        "fields": sorted(["name", "email", *lead.fields, *lead.custom]),
        "consent": bool(lead.consent_text),
        "new_contact": created,
        "touch": touch,
        **(extra or {}),
    }, visitor_id, now)
    session.flush()
    return contact, created
